"""docs/examples/lading.service started by systemd itself: systemd booted as PID 1 of a
podman container (the Debian base, its systemd, the image's lading), the unit's user made
by systemd-sysusers from docs/examples/lading.sysusers at boot, and lading serving under
the whole sandbox of the unit.

The container is privileged: systemd sets up each of the unit's namespaces (ProtectSystem=,
PrivateTmp=, PrivateUsers=, ...) with mounts and unshare(2), which a container's default
capabilities and seccomp profile refuse.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from tests.container.engine import BASE_IMAGE, BUILD_TIMEOUT, ROOT, Engine

pytestmark = pytest.mark.server

EXAMPLES = ROOT / "docs" / "examples"
SYSTEMD_IMAGE = "localhost/lading-test-systemd:latest"
BOOT_TIMEOUT = 90.0
# The unit's settings name /etc/lading/lading.toml: the data in its state directory.
CONTAINERFILE = """\
FROM {base}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd \\
    && rm -rf /var/lib/apt/lists/*
COPY --from={image} /opt/lading /opt/lading
COPY lading.sysusers /etc/sysusers.d/lading.conf
COPY lading.service /etc/systemd/system/lading.service
RUN install -d -m 0755 /etc/lading \\
    && printf 'data_dir = "/var/lib/lading"\\n' > /etc/lading/lading.toml \\
    && systemctl enable lading.service
CMD ["/lib/systemd/systemd"]
"""
# Run inside the container by lading's Python: an image's bytes through the unit's server.
ROUND_TRIP = """
import hashlib, os, httpx
payload = os.urandom(1024 * 1024 + 5)
with httpx.Client(base_url="http://127.0.0.1:9292", timeout=30) as client:
    image = client.post("/v2/images", json={"name": "systemd", "disk_format": "raw",
                                           "container_format": "bare"}).json()["id"]
    stored = client.put(f"/v2/images/{image}/file", content=payload,
                        headers={"content-type": "application/octet-stream"})
    assert stored.status_code == 204, stored.text
    assert client.get(f"/v2/images/{image}/file").content == payload
print(hashlib.sha256(payload).hexdigest())
"""
# Every path under the state directory, with its owner.
OWNERS = """
import json, os
found = {}
for folder, folders, files in os.walk("/var/lib/lading"):
    for name in [folder, *(os.path.join(folder, f) for f in files)]:
        found[name] = os.stat(name).st_uid
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def systemd_image(tools: Engine, image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    context = tmp_path_factory.mktemp("systemd-image")
    for name in ("lading.service", "lading.sysusers"):
        (context / name).write_bytes((EXAMPLES / name).read_bytes())
    (context / "Containerfile").write_text(CONTAINERFILE.format(base=BASE_IMAGE, image=image))
    built = subprocess.run(
        [tools.buildah, "build", "--layers", "--isolation=chroot", "--tag", SYSTEMD_IMAGE,
         str(context)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False, env=tools.env,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return SYSTEMD_IMAGE


def test_systemd_starts_the_unit_and_it_serves_within_its_sandbox(
    tools: Engine, systemd_image: str
) -> None:
    name = f"lading-test-systemd-{uuid.uuid4().hex[:12]}"
    tools.run("run", "--detach", "--name", name, "--privileged", "--systemd=always",
              systemd_image)  # fmt: skip
    try:
        wait_active(tools, name)
        inside = ["exec", name]
        user = tools.run(*inside, "getent", "passwd", "lading").stdout.split(":")
        uid = int(user[2])
        assert 0 < uid < 1000, user  # a system user, made at boot by systemd-sysusers
        pid = tools.run(*inside, "systemctl", "show", "--property=MainPID", "--value",
                        "lading.service").stdout.strip()  # fmt: skip
        status = tools.run(*inside, "cat", f"/proc/{pid}/status").stdout
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()
        assert uids[1:] == [str(uid)] * 4, status
        capabilities = next(line for line in status.splitlines() if line.startswith("CapBnd:"))
        assert capabilities.split()[1] == "0" * 16  # CapabilityBoundingSet= (empty)
        assert "NoNewPrivs:\t1" in status
        assert "Seccomp:\t2" in status  # SystemCallFilter=: a filter of its own
        python = "/opt/lading/bin/python3"
        tools.run(*inside, python, "-c", ROUND_TRIP)
        owners: dict[str, int] = json.loads(tools.run(*inside, python, "-c", OWNERS).stdout)
        assert "/var/lib/lading/lading.db" in owners
        assert set(owners.values()) == {uid}, owners
        # The sandbox holds: the system read-only to the server, home folders hidden, its
        # state directory (and its own /tmp) the places it may write.
        mountinfo = tools.run(*inside, "cat", f"/proc/{pid}/mountinfo").stdout
        options = {line.split()[4]: line.split()[5].split(",") for line in mountinfo.splitlines()}
        for read_only in ("/", "/home", "/root"):
            assert "ro" in options[read_only], (read_only, options)
        for writable in ("/var/lib/lading", "/tmp"):
            assert "rw" in options[writable], (writable, options)
        assert "/etc/lading" not in options  # the root's: read-only
        security = tools.run(*inside, "systemd-analyze", "security", "--no-pager",
                             "lading.service").stdout  # fmt: skip
        assert "Overall exposure level for lading.service: 1." in security
    finally:
        logs = tools.run("exec", name, "journalctl", "--no-pager", "-u", "lading.service",
                         check=False).stdout  # fmt: skip
        tools.run("rm", "--force", "--time", "5", name, check=False)
        (tools.cache / "systemd-journal.log").write_text(logs)


def wait_active(tools: Engine, name: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        state = tools.run("exec", name, "systemctl", "is-active", "lading.service",
                          check=False).stdout.strip()  # fmt: skip
        if state == "active":
            health = tools.run("exec", name, "/opt/lading/bin/python3", "-c",
                               "import httpx; print(httpx.get('http://127.0.0.1:9292/healthcheck')"
                               ".status_code)", check=False)  # fmt: skip
            if health.stdout.strip() == "200":
                return
        elif state == "failed":
            break
        time.sleep(0.5)
    journal = tools.run("exec", name, "journalctl", "--no-pager", "-u", "lading.service",
                        check=False)  # fmt: skip
    pytest.fail(f"lading.service is {state!r}:\n{journal.stdout[-4000:]}{journal.stderr}")
