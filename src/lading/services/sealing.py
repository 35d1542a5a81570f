"""Secrets lading must keep for a while (the credentials of a URL a task will fetch),
sealed with Fernet (AES-128-CBC + HMAC-SHA256) so the database never holds them in clear.

The key comes from ``secret_key`` in settings, which every process sharing a database
must have alike; without it, each data directory makes its own key file on first use,
which is enough for one node.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lading.errors import LadingError
from lading.settings import Settings

KEY_FILE = "secret.key"


class Unsealable(LadingError):
    """Sealed with another key: this process's ``secret_key`` differs from the sealer's."""


class Sealer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fernet: Fernet | None = None

    def seal(self, secret: dict[str, Any]) -> str:
        return self._key().encrypt(json.dumps(secret).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._key().decrypt(sealed.encode()))
        except InvalidToken:
            raise Unsealable(
                "a secret was sealed with another key: give every lading process sharing "
                "the database the same secret_key"
            ) from None
        return opened

    def _key(self) -> Fernet:
        if self._fernet is None:
            secret = self._settings.secret_key
            material = secret.get_secret_value().encode() if secret else self._key_file()
            derived = HKDF(hashes.SHA256(), 32, salt=None, info=b"lading sealing").derive(material)
            self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        return self._fernet

    def _key_file(self) -> bytes:
        path = self._settings.data_dir / KEY_FILE
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
