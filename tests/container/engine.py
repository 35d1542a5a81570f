"""Debian's buildah and podman, set up for this machine: a storage, a base image and the
Containerfile's image, cached between runs so that only the first run pays for them.

Rootful, on the overlay driver, with a storage of the tests' own under the cache folder
(``LADING_CONTAINER_CACHE``, else ``~/.cache/lading/container``), never the host's.

No registry of images is reached (this project's machines reach PyPI and Debian's
packages only), so the Containerfile's ``BASE`` is an image made here: Debian bookworm's
minbase with python3 and its venv module, made by mmdebstrap from Debian's mirror into a
tarball and imported. It is made again after ``BASE_MAX_AGE``.

What this machine needs, each set in ``containers.conf`` below:

- ``runtime = "runc"``: crun 1.8 refuses to start any container on a host whose cgroups are
  hybrid with a controller on the v2 hierarchy ("cgroups in hybrid mode not supported, drop
  all controllers from cgroupv2"), even with ``--cgroups=disabled``; runc runs them.
- ``default_ulimits``: rootful podman asks for 1,048,576 open files and, having lowered its
  own RLIMIT_NPROC to 32,768, that many processes or more; a sandbox without
  CAP_SYS_RESOURCE cannot raise either, and the runtime fails ("error setting rlimits").
  The limits the tests have are asked for instead.
- buildah builds with ``--isolation=chroot``: its RUN steps need no runtime, no cgroup and
  no network namespace (pip reaches PyPI through the host's network).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.services_required import unavailable

ROOT = Path(__file__).resolve().parents[2]
CACHE_VARIABLE = "LADING_CONTAINER_CACHE"
MIRROR_VARIABLE = "LADING_CONTAINER_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
BASE_IMAGE = f"localhost/lading-test-base:{SUITE}"
IMAGE = "localhost/lading:test"
BUILD_STAGE = "localhost/lading-test-build:latest"
BASE_MAX_AGE = 30 * 86400  # seconds: Debian's security fixes reach the base monthly
BASE_TIMEOUT = 600.0  # mmdebstrap: about 2 minutes here, mostly downloads
BUILD_TIMEOUT = 900.0  # a first build installs every dependency from PyPI: about 2.5 minutes
COMMAND_TIMEOUT = 120.0
# podman lowers its own RLIMIT_NPROC to this before it starts the runtime.
PODMAN_NPROC = 32768
# The host's CA bundle, mounted into the build's RUN steps for pip (PIP_CERT): a machine
# whose HTTPS goes through a proxy of its own CA reaches PyPI with it, and the file stays
# out of every layer.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_BUNDLE = "/etc/ssl/host-ca.crt"


@dataclass(frozen=True)
class Engine:
    """buildah and podman on the cache's storage."""

    podman: str
    buildah: str
    cache: Path
    env: dict[str, str]

    def run(self, *arguments: str, timeout: float = COMMAND_TIMEOUT,
            check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """``podman ARGUMENTS``; a failure fails the test with podman's words."""
        result = subprocess.run(
            [self.podman, *arguments], capture_output=True, text=True, timeout=timeout,
            check=False, env=self.env,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(arguments)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def inspect(self, image: str) -> dict[str, object]:
        found: list[dict[str, object]] = json.loads(self.run("image", "inspect", image).stdout)
        return found[0]


def cache_folder() -> Path:
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lading" / "container"


def engine() -> Engine:
    """The tools on the cache's storage; skipped (failed under LADING_REQUIRE_SERVICES) where
    buildah or podman are missing or cannot run rootful."""
    podman, buildah = shutil.which("podman"), shutil.which("buildah")
    if podman is None or buildah is None:
        unavailable("the container tests need buildah and podman",
                    "apt-get install buildah podman runc mmdebstrap")  # fmt: skip
    if os.geteuid() != 0:
        unavailable("the container tests run rootful podman: they need root", "run as root")
    cache = cache_folder()
    cache.mkdir(parents=True, exist_ok=True)
    # podman takes a run root of at most 50 characters: one per cache folder, under /run.
    digest = hashlib.sha256(str(cache).encode()).hexdigest()[:12]
    runroot = Path("/run") / f"lading-container-{digest}"
    graphroot = cache / "storage"
    (cache / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graphroot}"\nrunroot = "{runroot}"\n'
    )
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], PODMAN_NPROC)
    (cache / "containers.conf").write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile[0]}:{nofile[1]}", "nproc={nproc}:{nproc}"]\n'
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    # Images are named in full: no search registries, no short-name prompts.
    (cache / "registries.conf").write_text("unqualified-search-registries = []\n")
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(cache / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(cache / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(cache / "registries.conf"),
    }
    return Engine(podman=podman, buildah=buildah, cache=cache, env=env)


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """One maker of the base and builder of the image at a time (two test runs on one
    machine share the cache)."""
    with (cache / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def base_image(tools: Engine) -> str:
    """The Debian base, from the cached tarball (made first where missing or old)."""
    tarball = tools.cache / f"base-{SUITE}.tar"
    stale = not tarball.exists() or time.time() - tarball.stat().st_mtime > BASE_MAX_AGE
    if stale:
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            unavailable("the container tests make their base image with mmdebstrap",
                        "apt-get install mmdebstrap")  # fmt: skip
        partial = tarball.with_suffix(".partial.tar")
        mirror = os.environ.get(MIRROR_VARIABLE, DEFAULT_MIRROR)
        made = subprocess.run(
            [mmdebstrap, "--variant=minbase", f"--include={BASE_PACKAGES}", "--mode=root",
             "--format=tar", SUITE, str(partial), mirror],
            capture_output=True, text=True, timeout=BASE_TIMEOUT, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise AssertionError(f"mmdebstrap failed:\n{made.stderr[-4000:]}")
        partial.replace(tarball)
    present = tools.run("image", "exists", BASE_IMAGE, check=False).returncode == 0
    if stale or not present:
        tools.run(
            "import",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", "ENV LANG=C.UTF-8",
            str(tarball), BASE_IMAGE, timeout=BUILD_TIMEOUT,
        )  # fmt: skip
    return BASE_IMAGE


def build_image(tools: Engine) -> str:
    """The Containerfile's image, with buildah, on the cached layers: after the first
    build only what changed is built again (the source: seconds; pyproject.toml: every
    dependency)."""
    with locked(tools.cache):
        base = base_image(tools)
        ca = []
        if HOST_CA_BUNDLE.exists():
            ca = ["--volume", f"{HOST_CA_BUNDLE}:{BUILD_CA_BUNDLE}:ro",
                  "--build-arg", f"PIP_CERT={BUILD_CA_BUNDLE}"]  # fmt: skip
        log = tools.cache / "build.log"
        # The build stage is tagged too: the cached layers under it (every dependency) then
        # belong to an image, and the prune below leaves them for the next build.
        for target, tag in (("build", BUILD_STAGE), (None, IMAGE)):
            stage = [] if target is None else ["--target", target]
            with log.open("w") as output:
                built = subprocess.run(
                    [tools.buildah, "build", "--layers", "--isolation=chroot", *stage,
                     "--build-arg", f"BASE={base}", *ca, "--tag", tag,
                     "--file", str(ROOT / "Containerfile"), str(ROOT)],
                    stdout=output, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT,
                    check=False, env=tools.env,
                )  # fmt: skip
            if built.returncode != 0:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                raise AssertionError(f"buildah build failed (all of it in {log}):\n{tail}")
        # The images of earlier builds, no longer tagged, would fill the cache's disk.
        tools.run("image", "prune", "--force", check=False)
    return IMAGE
