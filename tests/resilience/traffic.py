"""Client traffic against a live server that may die at any moment: uploads (some large
and slow enough to be cut mid-stream), web-download imports from a slow loopback origin,
and deletes. What the server acknowledged is kept, to check it survived."""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

KiB, MiB = 1024, 1024 * 1024
PIECE = 128 * KiB  # what an uploading client sends at a time
CLIENT_TIMEOUT = 30.0
Work = Callable[[httpx.Client, random.Random], None]


@dataclass
class Ledger:
    """What clients were told, shared by the threads of every round."""

    uploaded: dict[str, str] = field(default_factory=dict)  # id -> sha256, answered 204
    deleted: set[str] = field(default_factory=set)  # answered 204 to DELETE
    deleting: set[str] = field(default_factory=set)  # DELETE sent, answered or not
    created: list[str] = field(default_factory=list)
    cut: dict[str, int] = field(default_factory=dict)  # operation -> requests cut off by a kill
    errors: list[str] = field(default_factory=list)  # answers no client should get
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_cut(self, operation: str) -> None:
        with self.lock:
            self.cut[operation] = self.cut.get(operation, 0) + 1


class Traffic:
    """Client threads that run until ``stop`` (or until the server is gone)."""

    def __init__(self, url: str, origin_url: str, ledger: Ledger, seed: int) -> None:
        self._url, self._origin_url = url, origin_url
        self._ledger = ledger
        self._random = random.Random(seed)
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(work, self._random.random()), daemon=True)
            for work in (self._upload, self._upload, self._upload, self._import, self._delete)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT)

    def _run(self, work: Work, seed: float) -> None:
        chooser = random.Random(seed)
        with httpx.Client(base_url=self._url, timeout=CLIENT_TIMEOUT) as api:
            while not self._stopping.is_set():
                try:
                    work(api, chooser)
                except httpx.TransportError:
                    self._ledger.count_cut(work.__name__.strip("_"))
                    return  # the server is gone
                except AssertionError as exc:
                    with self._ledger.lock:
                        self._ledger.errors.append(str(exc))
                    return

    def _create(self, api: httpx.Client) -> str:
        body = {"name": f"fault-{uuid.uuid4().hex[:8]}", "disk_format": "raw",
                "container_format": "bare"}  # fmt: skip
        response = api.post("/v2/images", json=body)
        assert response.status_code == 201, response.text
        image_id: str = response.json()["id"]
        with self._ledger.lock:
            self._ledger.created.append(image_id)
        return image_id

    def _upload(self, api: httpx.Client, chooser: random.Random) -> None:
        image_id = self._create(api)
        large = chooser.random() < 0.4
        size = chooser.randint(2 * MiB, 5 * MiB) if large else chooser.randint(1, 256 * KiB)
        data = chooser.randbytes(size)
        pause = 0.01 if large else 0.0  # large ones stream for a while: kills land mid-body

        def body() -> Iterator[bytes]:
            for offset in range(0, size, PIECE):
                yield data[offset : offset + PIECE]
                time.sleep(pause)

        response = api.put(
            f"/v2/images/{image_id}/file", content=body(),
            headers={"content-type": "application/octet-stream"},
        )  # fmt: skip
        if response.status_code == 204:
            with self._ledger.lock:
                self._ledger.uploaded[image_id] = hashlib.sha256(data).hexdigest()
        else:  # deleted before (404) or during (410) the upload, by the deleting thread
            assert response.status_code in (404, 410), response.text

    def _import(self, api: httpx.Client, chooser: random.Random) -> None:
        image_id = self._create(api)
        method = {"method": {"name": "web-download", "uri": self._origin_url}}
        response = api.post(f"/v2/images/{image_id}/import", json=method)
        assert response.status_code in (202, 404), response.text
        time.sleep(chooser.uniform(0.1, 0.3))  # one import runs at a time: no long queue

    def _delete(self, api: httpx.Client, chooser: random.Random) -> None:
        with self._ledger.lock:
            candidates = [i for i in self._ledger.created if i not in self._ledger.deleted]
        if len(candidates) < 3:
            time.sleep(0.02)
            return
        image_id = chooser.choice(candidates)
        with self._ledger.lock:
            self._ledger.deleting.add(image_id)
        response = api.delete(f"/v2/images/{image_id}")
        if response.status_code == 204:
            with self._ledger.lock:
                self._ledger.deleted.add(image_id)
        else:
            assert response.status_code == 404, response.text  # deleted by an earlier round
