"""Secrets lading must keep for a while (the credentials of a URL a task will fetch),
sealed with Fernet (AES-128-CBC + HMAC-SHA256) so the database never holds them in clear.

The key comes from ``secret_key`` in settings, which every process sharing a database
must have alike; without it, each data directory has its own key file, made when the
first process starts, which is enough for one node.
"""

from __future__ import annotations

import base64
import json
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lading.errors import LadingError
from lading.lazy import LazyModule
from lading.settings import Settings

if TYPE_CHECKING:
    from cryptography import fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf import hkdf
else:  # cryptography's OpenSSL: only once a secret is sealed or opened (lading.lazy)
    fernet = LazyModule("cryptography.fernet")
    hashes = LazyModule("cryptography.hazmat.primitives.hashes")
    hkdf = LazyModule("cryptography.hazmat.primitives.kdf.hkdf")

KEY_FILE = "secret.key"


class Unsealable(LadingError):
    """Sealed with another key: this process's ``secret_key`` differs from the sealer's."""


class Sealer:
    def __init__(self, settings: Settings) -> None:
        # The key is read (or made) once, at start-up, not on the event loop.
        secret = settings.secret_key
        self._material = secret.get_secret_value().encode() if secret else _key_file(settings)

    @cached_property
    def _fernet(self) -> fernet.Fernet:
        derive = hkdf.HKDF(hashes.SHA256(), 32, salt=None, info=b"lading sealing").derive
        return fernet.Fernet(base64.urlsafe_b64encode(derive(self._material)))

    def seal(self, secret: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secret).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except fernet.InvalidToken:
            raise Unsealable(
                "a secret was sealed with another key: give every lading process sharing "
                "the database the same secret_key"
            ) from None
        return opened


def _key_file(settings: Settings) -> bytes:
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _create_private(path, os.urandom(32))
    return path.read_bytes()


def _create_private(path: Path, content: bytes) -> None:
    """A new file only its owner can read, appearing whole (written aside, then linked);
    when another process made it first, theirs stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()
