"""S3 object bodies in the emulator without holding an object in memory.

moto keeps each object in a spooled temporary file (on disk past 5 MB) but reads a PUT's body
whole (werkzeug's request.data, then copies), reads the object whole for every GET, ranged ones
included, and joins a multipart upload's parts in memory when it completes: the emulator peaked
at 896 MB for a 160 MB file the splitter read (issue 16). Here a PutObject's or UploadPart's
body goes from the socket into the key's file a chunk at a time, a GET answers with the byte
range of the file, read a chunk at a time as the response is written
(infra/local/emulator_speedups.py sends a body of many chunks as it comes), and a completed
upload's parts are copied into the object's file a chunk at a time. What a client sees does not
change: the same bytes, headers, ranges, ETag and checksums.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from infra.local.moto_patches import has_attributes, install, original

# Read and written at a time: large enough that the Python per chunk costs nothing next to
# the copy, small enough that a dozen GETs at once hold a dozen MiB.
OBJECT_CHUNK_BYTES = 1024 * 1024


# PUTs whose body moto parses (XML configurations), not an object's bytes: left to moto.
_CONFIGURATION_QUERIES = ("acl", "tagging", "retention", "legal-hold")


def apply_object_streaming() -> None:
    _get_object_streamed()
    _multipart_joined_on_disk()
    _put_bodies_streamed()


class ObjectBody:
    """Bytes `start` to `stop` of a moto key's file, read a chunk at a time when iterated.

    moto's range handling takes `len()` and a slice of the body it is given, and Flask sends an
    iterable body as it comes: both work on this as they do on bytes.
    """

    def __init__(self, key: Any, start: int = 0, stop: int | None = None) -> None:
        self._key = key
        self._start = start
        self._stop = int(key.size) if stop is None else stop

    def __len__(self) -> int:
        return max(0, self._stop - self._start)

    def __getitem__(self, part: slice) -> ObjectBody:
        if not isinstance(part, slice) or part.step not in (None, 1):
            raise TypeError("an object body is sliced by a contiguous range only")
        start, stop, _ = part.indices(len(self))
        return ObjectBody(self._key, self._start + start, self._start + max(start, stop))

    def __iter__(self) -> Iterator[bytes]:
        position = self._start
        while position < self._stop:
            # The key's lock keeps another reader's seek out from between this one's seek and read.
            with self._key.lock:
                self._key._value_buffer.seek(position)
                chunk = self._key._value_buffer.read(min(OBJECT_CHUNK_BYTES, self._stop - position))
            if not chunk:
                raise OSError(f"object {self._key.name} ended at byte {position} of {self._stop}")
            position += len(chunk)
            yield chunk


class _KeyWithStreamedValue:
    """A moto key whose `value` is its file, not its bytes; everything else is the key's."""

    def __init__(self, key: Any) -> None:
        self._key = key

    @property
    def value(self) -> ObjectBody:
        return ObjectBody(self._key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._key, name)


class ObjectFile:
    """An object's bytes in a spooled file of their own, which the new key takes as its file.

    A received body (PutObject, UploadPart) or a completed multipart upload. `md5`: the bytes'
    MD5 in hex, when it was computed as they came (the key's ETag, which moto would otherwise
    compute by reading the file again); `taken` once a key owns the file.
    """

    def __init__(self, file: IO[bytes], size: int, md5: str | None = None) -> None:
        self.file = file
        self.size = size
        self.md5 = md5
        self.taken = False

    def __len__(self) -> int:
        # moto tests a body's truth (`self.body or b""`): an empty one is falsy, as b"" is.
        return self.size


def _get_object_streamed() -> None:
    """GetObject answers with the object's file, read as it is sent, not `key.value` whole."""
    from moto.s3.responses import S3Response

    patch = "get_object_streamed"
    get_object = original(patch, S3Response, "get_object", ("self",))
    original(patch, S3Response, "_get_key", ("self", "validate_storage_class"))

    def get_object_streamed(self: Any) -> Any:
        # moto makes an S3Response for each request: shadowing its _get_key touches this one only.
        get_key = self._get_key

        def streamed_key(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
            key, not_modified = get_key(*args, **kwargs)
            return _KeyWithStreamedValue(key), not_modified

        self._get_key = streamed_key
        try:
            return get_object(self)
        finally:
            del self._get_key

    install(S3Response, "get_object", get_object_streamed)


def _multipart_joined_on_disk() -> None:
    """CompleteMultipartUpload copies the parts into the object's file, not through one bytes."""
    from moto.s3.models import FakeKey, FakeMultipart

    patch = "multipart_joined_on_disk"
    value = original(patch, FakeKey, "value", ("self",))
    set_bytes = original(patch, value, "fset", ("self", "new_value"))
    original(patch, FakeMultipart, "complete", ("self", "body"))
    probe = FakeKey("probe", b"", account_id="123456789012", region_name="us-east-1")
    try:
        # What ObjectBody and set_value read and replace on a key.
        has_attributes(
            patch, probe, ["lock", "_value_buffer", "_max_buffer_size", "contentsize", "size", "_etag"]
        )
    finally:
        probe.dispose()

    def set_value(self: Any, new_value: Any) -> None:
        if not isinstance(new_value, ObjectFile):
            if len(new_value) > self._max_buffer_size:
                # Straight to disk: spooled into memory first, it was copied twice more.
                self._value_buffer.rollover()
            set_bytes(self, new_value)
            return
        self._value_buffer.close()
        self._value_buffer = new_value.file
        self.contentsize = new_value.size
        new_value.taken = True
        if self._etag is None and new_value.md5 is not None:
            self._etag = new_value.md5

    install(FakeKey, "value", property(value.fget, set_value))
    install(FakeMultipart, "complete", _complete)


def _put_bodies_streamed() -> None:
    """PutObject and UploadPart bodies go into the new key's file as they come off the socket.

    moto reads a body whole (request.data) and copies it on its way to the key's file: the
    emulator held about the bytes uploaded (+100 MB of resident memory after a 100 MB
    PutObject, +66 MB after the same file in 8 MiB parts; issue 16). Here the body is read a
    chunk at a time into a spooled file (its MD5, and the checksum moto would compute, as it
    comes), and moto's request handling gets that file as the body it would have read.
    """
    from moto.s3.responses import S3Response

    patch = "put_bodies_streamed"
    key_response = original(patch, S3Response, "key_response", ("self", "request", "full_url", "headers"))
    original(patch, S3Response, "setup_class", ("self", "request", "full_url", "headers"))

    def key_response_streamed(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        if not is_object_body_put(request):
            return key_response(self, request, full_url, headers)
        received = receive_body(request)
        # moto makes an S3Response for each request: shadowing its setup_class touches this one only.
        setup_class = self.setup_class

        def setup_with_received_body(*args: Any, **kwargs: Any) -> None:
            setup_class(*args, **kwargs)
            self.body = self.raw_body = received

        self.setup_class = setup_with_received_body
        try:
            return key_response(self, request, full_url, headers)
        finally:
            del self.setup_class
            if not received.taken:  # the request failed before a key took the file
                received.file.close()

    install(S3Response, "key_response", key_response_streamed)


def is_object_body_put(request: Any) -> bool:
    """A PutObject or UploadPart with a plain body of known length: what is streamed.

    Bodies in aws-chunked framing (signed chunks, or trailing checksums, which botocore sends
    over HTTPS only) are left to moto, which decodes them in memory.
    """
    if request.method != "PUT" or request.content_length is None:
        return False
    if "x-amz-copy-source" in request.headers:
        return False
    if request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
        return False
    if "aws-chunked" in request.headers.get("Content-Encoding", ""):
        return False
    if "uploadId" in request.args:
        return "partNumber" in request.args
    return not any(query in request.args for query in _CONFIGURATION_QUERIES)


def receive_body(request: Any) -> ObjectFile:
    """The request's body, read a chunk at a time into a spooled file.

    A checksum algorithm named without its value is one moto computes over the body: it is
    computed here as the body comes, and given to moto as the header a client could have sent
    (moto answers and keeps either the same way).
    """
    from moto.settings import get_s3_default_key_buffer_size
    from moto.utilities.utils import md5_hash

    size = request.content_length
    file: IO[bytes] = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())  # noqa: SIM115
    if size > get_s3_default_key_buffer_size():
        file.rollover()  # type: ignore[attr-defined]
    md5 = md5_hash()
    algorithm = request.headers.get("x-amz-sdk-checksum-algorithm", "")
    checksum_header = f"x-amz-checksum-{algorithm.lower()}"
    computed = running_checksum(algorithm) if algorithm and checksum_header not in request.headers else None
    received = 0
    try:
        while chunk := request.stream.read(OBJECT_CHUNK_BYTES):
            file.write(chunk)
            md5.update(chunk)
            if computed is not None:
                computed[0](chunk)
            received += len(chunk)
    except BaseException:
        file.close()
        raise
    if computed is not None:
        environ_name = "HTTP_" + checksum_header.upper().replace("-", "_")
        request.environ[environ_name] = base64.b64encode(computed[1]()).decode()
    return ObjectFile(file, received, md5.hexdigest())


def _complete(self: Any, body: Any) -> tuple[ObjectFile, str, tuple[str, str, int] | None]:
    """moto's FakeMultipart.complete, with the parts copied into a file and checksums streamed.

    moto disposes of the parts (closes their files) before it makes the new key, so their bytes
    are copied here, a chunk at a time, into the file the key then takes as its own.
    """
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
    from moto.s3.models import MultipartChecksumBuilder
    from moto.settings import S3_UPLOAD_PART_MIN_SIZE, get_s3_default_key_buffer_size
    from moto.utilities.utils import md5_hash

    builder = MultipartChecksumBuilder(
        self.metadata.get("x-amz-checksum-algorithm"), self.metadata.get("x-amz-checksum-type")
    )
    composite = builder.checksum_type == "COMPOSITE"
    update, digest = running_checksum(builder.checksum_algorithm)
    joined: IO[bytes] = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())  # noqa: SIM115
    md5s = bytearray()
    size = count = 0
    last = None
    for number, etag in body:
        part = self.parts.get(number)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise InvalidPart()
        if last is not None and last.contentsize < S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        md5s.extend(codecs.decode(part.etag.replace('"', ""), "hex"))
        if composite:
            builder.addPart(part.value)  # one part at a time: each part has a checksum of its own
        for chunk in ObjectBody(part):
            joined.write(chunk)
            size += len(chunk)
            if not composite:
                update(chunk)
        last, count = part, count + 1
    if not count:
        raise MalformedXML
    full_etag = md5_hash()
    full_etag.update(bytes(md5s))
    checksum = (
        builder.build() if composite else (builder.checksum_type, base64.b64encode(digest()).decode(), 1)
    )
    return ObjectFile(joined, size), f"{full_etag.hexdigest()}-{count}", checksum


def running_checksum(algorithm: str) -> tuple[Callable[[bytes], None], Callable[[], bytes]]:
    """moto's compute_checksum (moto/s3/utils.py) fed a chunk at a time: (update, digest).

    The same algorithms and the same fallbacks: CRC32C without the crc32c package, and
    CRC64NVME without awscrt, are CRC32, as moto computes them.
    """
    from moto.core.compat import HAS_CRT

    if algorithm not in ("CRC32", "CRC32C", "CRC64NVME"):
        hashed = hashlib.sha1(usedforsecurity=False) if algorithm == "SHA1" else hashlib.sha256()
        return hashed.update, hashed.digest
    crc: Callable[[bytes, int], int] = binascii.crc32
    width = 4
    if algorithm == "CRC32C":
        try:
            import crc32c  # type: ignore[import-not-found]

            crc = crc32c.crc32c
        except ImportError:
            pass
    elif algorithm == "CRC64NVME" and HAS_CRT:
        from awscrt import checksums  # type: ignore[import-not-found]

        crc, width = checksums.crc64nvme, 8
    state = [0]

    def update(chunk: bytes) -> None:
        state[0] = crc(chunk, state[0])

    return update, lambda: state[0].to_bytes(width, "big")
