"""The TLS context of lading's outgoing connections (fetches, webhooks, Swift).

Loading the system's certificate authorities costs about 70 ms, which every new client
paid; an ``SSLContext`` can be shared by any number of clients and threads, so a process
makes one, the first time one is wanted.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context() -> ssl.SSLContext:
    """The context that verifies servers against the system's certificate authorities."""
    return httpx.create_ssl_context()
