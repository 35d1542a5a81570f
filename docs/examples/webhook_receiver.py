"""A small receiver of lading's webhooks: check the signature, drop repeats, act.

It needs only the standard library; copy ``verify`` into your service. Run it as

    python webhook_receiver.py PORT SECRET

to print every event that lading delivers to http://127.0.0.1:PORT/ with that secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE = 300  # seconds a delivery's timestamp may be from this clock


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """Whether lading sent ``body`` with these headers (looked up as lading writes their
    names; most frameworks' headers ignore case anyway) within ``TOLERANCE`` seconds."""
    timestamp = headers.get("X-Lading-Timestamp") or ""
    sent = headers.get("X-Lading-Signature") or ""
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE:
        return False  # an old delivery played again, or a clock far off
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sent)


class Receiver(BaseHTTPRequestHandler):
    secret = ""
    seen: set[str] = set()  # event ids handled already: a delivery may come more than once

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not verify(self.secret, self.headers, body):
            self.send_response(401)
        else:
            event = json.loads(body)
            if event["id"] not in self.seen:
                self.seen.add(event["id"])
                print(event["type"], json.dumps(event["data"]), flush=True)
            self.send_response(204)  # any 2xx: delivered; anything else: lading tries again
        self.end_headers()


if __name__ == "__main__":
    Receiver.secret = sys.argv[2]
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
