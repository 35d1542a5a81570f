"""SIGKILL the server at random moments while clients upload, import and delete; restart it
on the same data each time. Once the last restart's recovery has run, nothing is stuck
and catalogue and store agree (``invariants``), and what the server acknowledged holds.

``make test`` kills 20 times on SQLite with a filesystem store and 20 times on PostgreSQL
with Swift. ``LADING_FAULT_KILLS=N`` (by hand) kills N times on each of the four pairs.
The kill moments come from ``LADING_FAULT_SEED`` (default: random), which every failure
prints.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.clients.conftest import fetching_from
from tests.http_origin import Origin, serving
from tests.resilience.conftest import Deployment
from tests.resilience.invariants import Catalogue, wait_until_settled
from tests.resilience.server import LiveServer
from tests.resilience.traffic import Ledger, Traffic

pytestmark = pytest.mark.kills  # SIGKILL mid-request, on purpose (tests/conftest.py: tiers)

KILLS_VARIABLE = "LADING_FAULT_KILLS"
KILLS = int(os.environ.get(KILLS_VARIABLE, "20"))
DEPLOYMENTS = (
    ["sqlite-filesystem", "postgresql-swift", "sqlite-swift", "postgresql-filesystem"]
    if KILLS_VARIABLE in os.environ
    else ["sqlite-filesystem", "postgresql-swift"]
)
SEED = int(os.environ.get("LADING_FAULT_SEED", str(random.randrange(1 << 32))))
KILL_AFTER = (0.05, 0.6)  # seconds of traffic before the kill
SETTLE_TIMEOUT = 30.0
IMPORTED = random.Random(0).randbytes(512 * 1024)  # served at /slow in about 0.4 s


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(IMPORTED) as server:
        yield server


def server_settings(origin: Origin) -> dict[str, str]:
    return {
        "LADING_UPLOAD_STUCK_AFTER": "1",  # leases, pending blobs, temporaries: 1 s
        "LADING_TASK_LEASE": "1",  # an import cut off runs again 1 s after the kill
        **fetching_from(origin),
    }


@pytest.mark.parametrize("deployment", DEPLOYMENTS, indirect=True)
def test_kills_leave_nothing_behind(deployment: Deployment, origin: Origin) -> None:
    print(f"LADING_FAULT_SEED={SEED}, {KILLS} kills on {deployment.name}")
    chooser = random.Random(f"{SEED}/{deployment.name}")  # the same moments for a seed
    server = LiveServer(deployment.root, {**deployment.settings, **server_settings(origin)})
    ledger = Ledger()
    catalogue = Catalogue(deployment.database_url)
    half_done: set[tuple[str, str]] = set()  # (status or state, id) left by some kill
    temporaries = 0
    try:
        for round_number in range(KILLS):
            server.start()
            traffic = Traffic(server.url, origin.url("/slow"), ledger,
                              chooser.randrange(1 << 32))  # fmt: skip
            traffic.start()
            time.sleep(chooser.uniform(*KILL_AFTER))
            server.kill()
            traffic.stop()
            assert not ledger.errors, f"round {round_number}, seed {SEED}: {ledger.errors}"
            half_done |= catalogue.half_done()
            temporaries += len(deployment.store.temporaries())
        server.start()
        settled_in = wait_until_settled(catalogue, deployment.store, SETTLE_TIMEOUT)
        problems = catalogue.problems(deployment.store)
        assert not problems, f"seed {SEED}: {problems}"
        statuses = catalogue.statuses()
    finally:
        catalogue.close()
        server.stop()
    # The kills landed mid-upload and mid-import (a delete's window is narrower: the
    # counts say how often one was caught between its commit and its bytes' removal).
    interrupted = Counter(kind for kind, _ in half_done) + Counter(temporaries=temporaries)
    assert interrupted["saving"] and interrupted["importing"], interrupted
    kept = {i: sha for i, sha in ledger.uploaded.items() if i not in ledger.deleting}
    lost = {i: statuses.get(i) for i, sha in kept.items() if statuses.get(i) != ("active", sha)}
    assert not lost, f"seed {SEED}: acknowledged uploads lost: {lost}"
    gone = {i: statuses[i][0] for i in ledger.deleted if statuses[i][0] != "deleted"}
    assert not gone, f"seed {SEED}: acknowledged deletes undone: {gone}"
    print(f"left half done by the kills: {dict(interrupted)}; requests cut off: {ledger.cut}; "
          f"acknowledged: {len(ledger.uploaded)} uploads, "
          f"{len(ledger.deleted)} deletes; settled {settled_in:.1f} s after the last start; "
          f"{len(statuses)} artifacts; starts took {min(server.start_times):.1f} to "
          f"{max(server.start_times):.1f} s")  # fmt: skip
