"""glance-download: an image's data, formats and some properties from another region's
image service (Glance, or another lading), as Glance's import method of that name.

The request names the region, the interface (``public`` unless told) and the remote
image's id. The import task finds the ``image`` endpoint of that region in the catalogue
of the caller's Keystone token (kept sealed in the task's input; Keystone is asked again
when the task runs), reads the remote image's document with that token (it must be
active), then fetches ``/v2/images/{id}/file`` as web-download fetches a URL, checked
against the size and digests the remote gave. The image takes the remote's
``disk_format``, ``container_format`` and the properties whose names start with one of
``[glance_download_properties] extra_properties``, once the data is in place; a failure
leaves it as it was, queued.

The endpoint is exempt from the fetch rules (lading.url_rules), as a webhook's URL is: a
caller names a region, never a URL, and only Keystone's administrators write the
catalogue, where they registered lading itself; the endpoint is the operator's choice,
and between the regions of one cloud usually an internal address the rules would refuse.
A redirect from it to elsewhere passes the rules as any URL does, and the token goes to
the endpoint's origin only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from lading.domain import CONTAINER_FORMATS, DISK_FORMATS, SEALED
from lading.errors import BadRequest, Conflict, Forbidden, LadingError, NotFound
from lading.lazy import LazyModule
from lading.serial_thread import SerialThread
from lading.services.access import Caller
from lading.services.fetching import Credentials, Fetch, FetchFailed
from lading.services.sealing import Sealer
from lading.services.transfers import Expected
from lading.services.validation import BASE_FIELDS, MAX_NAME, check_property, is_uuid
from lading.settings import Settings
from lading.url_rules import UrlRefused, UrlRules, guarded_client

if TYPE_CHECKING:
    import httpx

    from lading.services.keystone import KeystoneTokens  # keystoneauth1: only with Keystone
else:  # only once an image is downloaded (lading.lazy)
    httpx = LazyModule("httpx")

METHOD = "glance-download"
TOKEN = f"{SEALED}keystone_token"  # the caller's, never shown with the task
SERVICE_TYPE = "image"
# An image document is a few KiB; a remote that sends more is not a Glance.
DOCUMENT_LIMIT = 1024 * 1024
DOCUMENT_SECONDS = 60.0  # to read it whole: a remote that drips bytes holds no task
HASH_ALGOS = ("sha256", "sha384", "sha512")  # the remote's os_hash_algo that can be checked
HASH_DEPTH = 2  # chunks waiting for the hashing thread


@dataclass(frozen=True, slots=True)
class RemoteImage:
    """What the other region says of its image, checked."""

    data_url: str
    size: int
    disk_format: str
    container_format: str
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    properties: dict[str, str]


class GlanceDownload:
    def __init__(self, settings: Settings, keystone: KeystoneTokens, sealer: Sealer) -> None:
        self._rules = UrlRules(settings.fetch)
        self._prefixes = tuple(settings.glance_download_properties.extra_properties)
        self._keystone = keystone
        self._sealer = sealer

    def parse(self, caller: Caller, method: Mapping[str, Any]) -> dict[str, Any]:
        """The task's input for the request's ``method``: 400 at once, as Glance answers,
        for what is missing or malformed; the region and interface are looked up by the
        task (a region naming nothing fails it)."""
        for name in ("glance_region", "glance_image_id"):
            if name not in method:
                raise BadRequest(f"'{name}' needs to be set for the glance-download method")
        region, image_id = method["glance_region"], method["glance_image_id"]
        interface = method.get("glance_service_interface", "public")
        for name, value in (("glance_region", region), ("glance_service_interface", interface)):
            if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
                raise BadRequest(f"{name} must be a string of 1 to {MAX_NAME} characters")
        if not isinstance(image_id, str) or not is_uuid(image_id):
            raise BadRequest(f"the remote image id does not look like a UUID: {image_id!r}")
        if caller.keystone_token is None:
            raise BadRequest("glance-download reads the other region with the caller's "
                             "Keystone token: call with one")  # fmt: skip
        return {
            "glance_region": region,
            "glance_image_id": image_id,
            "glance_service_interface": interface,
            TOKEN: self._sealer.seal({"token": caller.keystone_token}),
        }

    async def describe(self, task_input: Mapping[str, Any]) -> RemoteImage:
        """The remote image, found through the catalogue; NotFound, Conflict (not
        active) or FetchFailed (the remote answers nonsense) otherwise."""
        token = self._token(task_input)
        region, image_id = task_input["glance_region"], task_input["glance_image_id"]
        endpoint = await self._keystone.endpoint(
            token, SERVICE_TYPE, region, task_input["glance_service_interface"]
        )
        base = endpoint.rstrip("/")
        rules = self._trusting(base)
        url = f"{base}/v2/images/{image_id}"
        # identity: a document is read as it comes, never inflated (a gzip bomb)
        headers = {"x-auth-token": token, "accept": "application/json",
                   "accept-encoding": "identity"}  # fmt: skip
        try:
            async with (
                _within(DOCUMENT_SECONDS, url),
                guarded_client(rules) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code == 404:
                    raise NotFound(f"region {region!r} has no image {image_id} that the "
                                   "caller may see")  # fmt: skip
                if response.status_code in (401, 403):
                    raise Forbidden(f"{url} refused the caller's token "
                                    f"({response.status_code})")  # fmt: skip
                if response.status_code != 200:
                    raise FetchFailed(f"{url} answered {response.status_code}")
                body = await _bounded(response.aiter_raw(), url)
        except httpx.HTTPError as exc:
            raise FetchFailed(f"reading {url} failed: {exc}") from None
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise FetchFailed(f"{url} answered something that is not JSON") from None
        return self._remote(document, f"{url}/file")

    def fetch(self, task_input: Mapping[str, Any], remote: RemoteImage) -> Fetch:
        """The remote image's data, with the caller's token (to its origin only)."""
        credentials = Credentials(auth_token=self._token(task_input))
        return Fetch(remote.data_url, self._trusting(remote.data_url), credentials)

    @staticmethod
    def expected(remote: RemoteImage) -> Expected:
        """The digests the upload itself checks (md5 and sha256; ``checked`` the others)."""
        sha256 = remote.os_hash_value if remote.os_hash_algo == "sha256" else None
        return Expected(remote.checksum, sha256)

    @staticmethod
    async def checked(chunks: AsyncIterable[bytes], remote: RemoteImage) -> AsyncIterator[bytes]:
        """The chunks, failing at their end (before the data is kept) when the remote's
        os_hash_value of an algorithm the upload does not compute (a Glance's sha512)
        does not match."""
        if remote.os_hash_algo in (None, "sha256"):
            async for chunk in chunks:
                yield chunk
            return
        assert remote.os_hash_algo is not None and remote.os_hash_value is not None
        digest = hashlib.new(remote.os_hash_algo)
        thread = SerialThread("lading-remote-hash", HASH_DEPTH)
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                await thread.submit(digest.update, chunk)  # off the event loop
                yield chunk
            await thread.drain()
        finally:
            thread.close()
        if size != remote.size:  # the clearer error first (more is refused as it comes)
            raise BadRequest(f"received {size} bytes but {remote.size} were announced")
        if digest.hexdigest() != remote.os_hash_value.lower():
            raise BadRequest(f"the data's {remote.os_hash_algo} is {digest.hexdigest()}, not "
                             f"{remote.os_hash_value} as the other region says")  # fmt: skip

    def _token(self, task_input: Mapping[str, Any]) -> str:
        return str(self._sealer.open(task_input[TOKEN])["token"])

    def _trusting(self, url: str) -> UrlRules:
        try:
            return self._rules.trusting(url)
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise UrlRefused(f"the catalogue's endpoint {url!r} is not a URL: {exc}") from None

    def _remote(self, document: Any, data_url: str) -> RemoteImage:
        """The remote's document, checked as any input from outside is."""
        if not isinstance(document, dict):
            raise FetchFailed("the other region answered something that is not an image")
        status = document.get("status")
        if status != "active":
            raise Conflict(f"the remote image is {str(status)[:64]!r}: only an active image "
                           "is downloaded")  # fmt: skip
        size = document.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise FetchFailed(f"the remote image's size is not known: {str(size)[:64]!r}")
        disk_format, container_format = (document.get(name) for name in
                                         ("disk_format", "container_format"))  # fmt: skip
        if disk_format not in DISK_FORMATS or container_format not in CONTAINER_FORMATS:
            formats = f"{str(disk_format)[:32]!r}, {str(container_format)[:32]!r}"
            raise FetchFailed(f"the remote image's formats ({formats}) are not lading's")
        checksum = document.get("checksum")
        if checksum is not None and not _is_hex(checksum, 16):
            raise FetchFailed("the remote image's checksum is not an md5 digest")
        algo, value = document.get("os_hash_algo"), document.get("os_hash_value")
        if value is not None:
            if algo not in HASH_ALGOS:
                raise FetchFailed(f"the remote image's os_hash_algo {str(algo)[:32]!r} "
                                  f"cannot be checked here ({', '.join(HASH_ALGOS)})")  # fmt: skip
            if not _is_hex(value, hashlib.new(algo).digest_size):
                raise FetchFailed(f"the remote image's os_hash_value is not a {algo} digest")
        properties = {}
        for name, found in document.items():
            if name in BASE_FIELDS or not name.startswith(self._prefixes):
                continue
            try:
                check_property(name, found)
            except LadingError as exc:
                raise FetchFailed(f"the remote image's property: {exc}") from None
            properties[name] = found
        return RemoteImage(data_url, size, disk_format, container_format, checksum,
                           algo if value is not None else None, value, properties)  # fmt: skip


@contextlib.asynccontextmanager
async def _within(seconds: float, url: str) -> AsyncIterator[None]:
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        raise FetchFailed(f"{url} did not answer within {seconds:.0f} s") from None


async def _bounded(chunks: AsyncIterable[bytes], url: str) -> bytes:
    """A document's bytes, refused past DOCUMENT_LIMIT (as they come, not all received)."""
    pieces, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > DOCUMENT_LIMIT:
            raise FetchFailed(f"{url} answered more than {DOCUMENT_LIMIT} bytes: not an image")
        pieces.append(chunk)
    return b"".join(pieces)


def _is_hex(value: Any, size: int) -> bool:
    if not isinstance(value, str) or len(value) != 2 * size:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True
