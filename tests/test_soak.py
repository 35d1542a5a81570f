"""bench/soak.py, run for a few seconds with small images, so that it cannot rot: every
kind of request is made, every check passes, and the report says so. One client: it
starts with one request of each kind, which another client could not get in the way of
(by deleting the only image, say)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.soak

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


def test_a_short_soak_runs_clean(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [
        sys.executable, str(SOAK), "--duration", "1", "--concurrency", "1",
        "--min-size", "10KB", "--max-size", "1MiB", "--rss-interval", "0.5",
        "--data-dir", str(tmp_path), "--report", str(report_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    kinds = report["kinds"]
    assert set(kinds) == {"upload", "download", "range", "list", "patch", "delete", "import"}
    for kind, figures in kinds.items():
        assert figures["count"] >= 1 and figures["errors"] == 0, kind
        assert 0 < figures["p50_ms"] <= figures["p99_ms"], kind
    assert kinds["download"]["bytes"] > 0 and kinds["range"]["bytes"] > 0
    assert len(report["rss"]["samples"]) >= 2 and report["rss"]["max_mib"] > 0
    assert "upload" in result.stdout and "server RSS" in result.stdout
