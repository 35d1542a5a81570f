"""Slow clients cannot stop the server: 2,000 connections that send a request's head at a
byte a second (and reconnect when dropped) while a normal client keeps asking, on the
default settings. bench/slow_clients.py runs the attack (a minute of it for the figures
in docs/reliability.md); here it runs for 15 s."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from tests.services_required import unavailable

SLOW_CLIENTS = Path(__file__).resolve().parents[2] / "bench" / "slow_clients.py"
CONNECTIONS = 2000
DURATION = 15  # seconds under attack: three rounds of the 5 s header timeout
HEADER_TIMEOUT = 5.0  # the default of server.header_timeout


def test_slow_heads_do_not_keep_others_waiting(tmp_path: Path) -> None:
    # The attack's sockets are files of its process, which raises its soft limit to this.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 100:
        unavailable(f"{CONNECTIONS} connections need more open files than {hard}", "ulimit -Hn")
    report_path = tmp_path / "report.json"
    command = [
        sys.executable, str(SLOW_CLIENTS), "--connections", str(CONNECTIONS),
        "--duration", str(DURATION), "--open", "--data-dir", str(tmp_path),
        "--report", str(report_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert report_path.exists(), result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["answered"] == report["probes"] >= DURATION * 2, report
    # 1 s is the goal, measured alone by bench/slow_clients.py (0.34 s); here three other
    # test workers share the two cores, so the bound leaves room (the old settings: 30 s).
    assert report["p99_s"] <= 3.0, report
    slow = report["slow"]
    # Each was let go after the header timeout, and came back (as an attacker does).
    assert slow["closed_by_server"] >= CONNECTIONS * (DURATION // HEADER_TIMEOUT - 1), report
    assert HEADER_TIMEOUT <= slow["held_p50_s"] < HEADER_TIMEOUT + 1, report
    assert result.returncode == 0, result.stdout + result.stderr
