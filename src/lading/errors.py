"""One hierarchy of errors. Each class carries its HTTP status and a short code.

Services raise these; each API face renders them in its own error shape, in one
place. Drivers translate their SDK's exceptions into these at their boundary and
keep the cause (``raise StoreUnavailable(...) from exc``).
"""

from __future__ import annotations


class LadingError(Exception):
    """Base class: a failure that a client can be told about."""

    status: int = 500
    code: str = "internalError"
    title: str = "Internal Server Error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(LadingError):
    status, code, title = 400, "badRequest", "Bad Request"


class Unauthorized(LadingError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    # lading's own tokens are bearer tokens; with Keystone, the challenge names it
    # (keystonemiddleware's ``Keystone uri="..."``).
    def __init__(self, message: str, challenge: str | None = None) -> None:
        super().__init__(message, {"www-authenticate": challenge or 'Bearer realm="lading"'})


class Forbidden(LadingError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(LadingError):
    status, code, title = 404, "itemNotFound", "Not Found"


class Conflict(LadingError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(LadingError):
    status, code, title = 410, "gone", "Gone"


class TooLarge(LadingError):
    status, code, title = 413, "overLimit", "Request Entity Too Large"


class PreconditionFailed(LadingError):
    status, code, title = 412, "preconditionFailed", "Precondition Failed"


class ChecksumMismatch(LadingError):
    """tus's checksum extension: the data did not match its Upload-Checksum."""

    status, code, title = 460, "checksumMismatch", "Checksum Mismatch"


class UnsupportedMediaType(LadingError):
    status, code, title = 415, "unsupportedMediaType", "Unsupported Media Type"


class RangeNotSatisfiable(LadingError):
    status, code, title = 416, "rangeNotSatisfiable", "Requested Range Not Satisfiable"

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message, {"content-range": f"bytes */{size}"})


# The OCI distribution specification's errors, by its codes (the registry face shows
# ``code`` as it is; the other faces treat them as their status's kin).


class NameInvalid(BadRequest):
    code = "NAME_INVALID"


class NameUnknown(NotFound):
    code = "NAME_UNKNOWN"


class DigestInvalid(BadRequest):
    code = "DIGEST_INVALID"


class BlobUnknown(NotFound):
    code = "BLOB_UNKNOWN"


class BlobUploadUnknown(NotFound):
    code = "BLOB_UPLOAD_UNKNOWN"


class BlobUploadInvalid(BadRequest):
    code = "BLOB_UPLOAD_INVALID"


class ManifestUnknown(NotFound):
    code = "MANIFEST_UNKNOWN"


class ManifestInvalid(BadRequest):
    code = "MANIFEST_INVALID"


class ManifestBlobUnknown(BadRequest):
    code = "MANIFEST_BLOB_UNKNOWN"


class Unsupported(BadRequest):
    code = "UNSUPPORTED"


class ClientDisconnected(LadingError):
    """The client went away mid-request; nobody is left to read the answer."""

    status, code, title = 400, "clientDisconnected", "Client Disconnected"


class CatalogueUnavailable(LadingError):
    """The catalogue's database cannot be reached, or refuses work for now (a restart, no
    connection slot, a lock held too long): the request may be sent again shortly."""

    status, code, title = 503, "catalogueUnavailable", "Service Unavailable"
    RETRY_AFTER = 5  # seconds: about what a database takes to restart or fail over

    def __init__(self, message: str) -> None:
        super().__init__(message, {"retry-after": str(self.RETRY_AFTER)})


class IdentityUnavailable(LadingError):
    """The identity service (Keystone) cannot validate a token now: not the token's fault."""

    status, code, title = 503, "identityUnavailable", "Service Unavailable"
    RETRY_AFTER = 5

    def __init__(self, message: str) -> None:
        super().__init__(message, {"retry-after": str(self.RETRY_AFTER)})


class StoreError(LadingError):
    """A store failed to read or write bytes."""

    status, code, title = 503, "storeUnavailable", "Service Unavailable"


class ReadOnlyStore(StoreError):
    """A write to a store that only reads (external locations)."""

    status, code, title = 400, "readOnlyStore", "Bad Request"


class StoreFull(StoreError):
    status, code, title = 507, "insufficientStorage", "Insufficient Storage"


class ObjectNotFound(StoreError):
    """A store has no object under a key the catalogue points at: data is missing."""

    status, code, title = 503, "dataUnavailable", "Service Unavailable"


class ObjectInUse(StoreError):
    """An object that something outside lading depends on (a copy-on-write clone of an
    RBD snapshot, made by Nova or Cinder): it stays until that is gone. Glance answers 409."""

    status, code, title = 409, "inUse", "Conflict"


class InvalidKey(StoreError):
    """A key that would escape the store or is otherwise malformed (keys are the
    server's own, so this is a server fault, never the client's)."""

    status, code, title = 500, "internalError", "Internal Server Error"


# Raised by the client (``lading.client``), never by the server.


class ServerUnreachable(LadingError):
    """The server could not be reached, or the connection broke off mid-answer."""

    status, code, title = 503, "serverUnreachable", "Service Unavailable"


class BadAnswer(LadingError):
    """The server answered something that is not what its API promises (a proxy's page)."""

    status, code, title = 502, "badAnswer", "Bad Gateway"


class DigestMismatch(LadingError):
    """Downloaded bytes do not match the artifact's digest."""

    status, code, title = 502, "digestMismatch", "Bad Gateway"


class TaskFailed(LadingError):
    """A task the client waited for ended in failure, or did not end in time."""

    status, code, title = 502, "taskFailed", "Bad Gateway"
