"""Each S3 operation as a signed HTTP request, built by botocore: no I/O.

botocore does what S3 needs of a request — the endpoint (AWS's by region, or
``endpoint_url``), path or virtual-host addressing, the REST-XML serialization, the S3
customisations and Signature Version 4 — and would then send it with its own HTTP stack.
We stop it there: a ``before-send`` handler takes the signed request and raises it out of
botocore (`_Signed`), and the adapter sends it over the core's HTTP toolkit (wall-clock
deadlines, ``ctx.request_sent``, one error mapping), sync or async alike. botocore makes no
connection of its own to S3.

Without keys in the connector's credentials, botocore's default chain supplies them, and
looking them up may wait on the network (instance metadata, a container endpoint, SSO, a
``credential_process``); refreshable credentials refresh when a request is signed. So the
chain is looked up when a request is first signed, not when the client is made
(`_ChainCredentials`), and the async adapter signs in a worker thread when the credentials
are not fixed keys (`S3Requests.fixed_keys`).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import botocore.session
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, NoCredentialsError, ParamValidationError

from nexus_connector_core import AdapterSettings, ConfigError, InvalidRequestError

from ._options import S3Options, config_error, credentials_problem

__all__ = ["Call", "PartReader", "Request", "S3Requests", "s3_request"]

#: Headers botocore adds for its own HTTP stack that the toolkit's client must not send:
#: httpx does not wait for ``100 Continue`` (``Expect`` is not signed).
_UNSENT = frozenset({"expect"})


class Request(NamedTuple):
    """One request to S3 as a flow asks for it, before it is signed.

    Attributes:
        operation: S3's name for it (``PutObject``).
        params: botocore's parameters (``Key``, ``Body``...), the bucket aside.
        cleanup: an abort after a failure (see `Call`).
    """

    operation: str
    params: Mapping[str, Any]
    cleanup: bool = False


def s3_request(operation: str, *, cleanup: bool = False, **params: Any) -> Request:
    """The `Request` of `operation` with botocore's `params`."""
    return Request(operation, params, cleanup)


class Call(NamedTuple):
    """One signed request to S3.

    Attributes:
        operation: S3's name for it (``PutObject``), for reading its answer.
        method, url, headers: as signed; the URL is absolute.
        body: None, bytes, or a `PartReader` streamed as it is sent.
        cleanup: an abort after a failure: its sending says nothing about whether the
            call's own request reached S3.
    """

    operation: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | PartReader | None = None
    cleanup: bool = False


class PartReader(io.RawIOBase):
    """A seekable, read-only file over a list of byte chunks, never joined into one copy:
    botocore reads it to sign the payload and seeks back, then the adapter streams it."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = [c for c in chunks if c]
        self._starts: list[int] = []
        total = 0
        for chunk in self._chunks:
            self._starts.append(total)
            total += len(chunk)
        self.size = total
        self._position = 0

    def __len__(self) -> int:
        return self.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = min(max(base + offset, 0), self.size)
        return self._position

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left for -1): a chunk itself when the read covers
        exactly one, else one joined copy, never a buffer and its copy."""
        left = self.size - self._position
        size = left if size is None or size < 0 else min(size, left)
        pieces: list[bytes] = []
        while size > 0:
            index = self._index(self._position)
            chunk = self._chunks[index]
            offset = self._position - self._starts[index]
            count = min(len(chunk) - offset, size)
            pieces.append(chunk if count == len(chunk) else chunk[offset : offset + count])
            self._position += count
            size -= count
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        written = 0
        while written < len(view) and self._position < self.size:
            index = self._index(self._position)
            chunk = self._chunks[index]
            offset = self._position - self._starts[index]
            count = min(len(chunk) - offset, len(view) - written)
            view[written : written + count] = chunk[offset : offset + count]
            written += count
            self._position += count
        return written

    def _index(self, position: int) -> int:
        low, high = 0, len(self._starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self._starts[middle] <= position:
                low = middle
            else:
                high = middle - 1
        return low


class _ChainCredentials:
    """The AWS default chain's credentials, looked up when a request is first signed rather
    than when the client is made (see the module).

    botocore asks a client's credentials for no more than what is here: frozen credentials
    to sign with (a refreshable set refreshes then) and deferred properties for endpoint
    rules. No credentials anywhere is botocore's `NoCredentialsError`, at signing, as it
    is without this; the chain is asked again on the next request.
    """

    method = "nexus-connector-deferred-chain"

    def __init__(self, resolver: Any) -> None:
        self._resolver = resolver
        self._lock = threading.Lock()
        self._found: Any = None

    def _credentials(self) -> Any:
        with self._lock:
            if self._found is None:
                self._found = self._resolver.load_credentials()
            if self._found is None:
                raise NoCredentialsError()
            return self._found

    def get_frozen_credentials(self) -> Any:
        return self._credentials().get_frozen_credentials()

    def get_deferred_property(self, name: str) -> Callable[[], Any]:
        return lambda: getattr(self._credentials(), name, None)


class _DeferredChain:
    """A session's credential provider that hands out `_ChainCredentials`."""

    def __init__(self, resolver: Any) -> None:
        self._resolver = resolver

    def load_credentials(self) -> _ChainCredentials:
        return _ChainCredentials(self._resolver)


class _Signed(Exception):  # noqa: N818 - not an error: how a signed request leaves botocore
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("signed")
        self.request = request


def _capture(request: AWSPreparedRequest, **_: Any) -> None:
    raise _Signed(request)


class S3Requests:
    """Builds and signs the requests of one connector's bucket (see the module).

    The botocore client is configured never to retry (the pipeline retries), to compute
    checksums only where S3 requires them (S3-compatible servers differ on the newer
    trailing checksums), and to sign with Signature Version 4, presigned URLs included.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        options: S3Options = settings.options
        problem = credentials_problem(set(settings.credentials))
        if problem:
            raise config_error(settings.connector, problem)
        self.connector = settings.connector
        self.bucket = options.bucket
        keys: dict[str, str] = {}
        if "access_key_id" in settings.credentials:
            keys["aws_access_key_id"] = settings.secret("access_key_id")
            keys["aws_secret_access_key"] = settings.secret("secret_access_key")
            if "session_token" in settings.credentials:
                keys["aws_session_token"] = settings.secret("session_token")
        style = options.addressing_style
        if style == "auto" and options.endpoint_url is None:
            # On AWS, botocore's "auto" presigns on the legacy global endpoint
            # (<bucket>.s3.amazonaws.com) whatever the region, which a bucket outside
            # us-east-1 answers with a redirect or SignatureDoesNotMatch (boto/boto3#1982,
            # #3015). "virtual" is what "auto" picks for requests anyway, and botocore still
            # falls back to path addressing for a bucket name that is not DNS-safe.
            style = "virtual"
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": style},
            retries={"total_max_attempts": 1, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        #: Whether the connector gives the keys: signing then waits on nothing.
        self.fixed_keys = bool(keys)
        session: Any = botocore.session.Session()
        if not keys:
            chain = session.get_component("credential_provider")
            session.register_component("credential_provider", _DeferredChain(chain))
        self.client: Any = session.create_client(
            "s3",
            region_name=options.region,
            endpoint_url=options.endpoint_url,
            config=config,
            **keys,
        )
        self.client.meta.events.register_first("before-send.s3", _capture)
        mapping = self.client.meta.method_to_api_mapping.items()
        self._methods = {api: method for method, api in mapping}
        #: The service model, for reading answers.
        self.model: Any = self.client.meta.service_model
        #: The origin requests go to, for messages and proxies.
        self.origin: str = self.client.meta.endpoint_url

    def sign(self, wanted: Request) -> Call:
        """The signed request of `wanted` (may wait on the credential chain: see the
        module)."""
        return self.call(wanted.operation, cleanup=wanted.cleanup, **wanted.params)

    def call(self, operation: str, *, cleanup: bool = False, **params: Any) -> Call:
        """The signed request of `operation` (``PutObject``) with `params` (botocore's)."""
        try:
            getattr(self.client, self._methods[operation])(Bucket=self.bucket, **params)
        except _Signed as signed:
            request = signed.request
            # botocore keeps the exception in a local of a frame its traceback holds: a
            # cycle that would keep the request (a part's data) alive until the next
            # garbage collection. Cut it, so a part is freed once sent.
            signed.__traceback__ = None
        except BotoCoreError as exc:
            raise self._refused(exc) from None
        else:  # pragma: no cover - botocore always reaches before-send
            raise RuntimeError(f"botocore sent {operation} without signing it through us")
        items: Any = request.headers.items()  # botocore keeps some values as bytes
        headers = {
            name: value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for name, value in items
            if name.lower() not in _UNSENT
        }
        body: Any = request.body
        if body is not None and not isinstance(body, bytes | PartReader):
            body = body.read()  # a file botocore made of a small body (an XML document)
        return Call(operation, request.method, request.url, headers, body or None, cleanup)

    def presign(self, method: str, key: str, expires_in: int) -> str:
        """A URL granting `method` (GET or PUT) on `key` for `expires_in` seconds."""
        operation = "get_object" if method == "GET" else "put_object"
        try:
            url: str = self.client.generate_presigned_url(
                operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        except BotoCoreError as exc:
            raise self._refused(exc) from None
        return url

    def _refused(self, exc: BotoCoreError) -> Exception:
        if isinstance(exc, NoCredentialsError):
            return ConfigError(
                "no AWS credentials: set access_key_id and secret_access_key (as references "
                "such as env:AWS_ACCESS_KEY_ID), or configure the AWS default chain",
                path=f"connectors.{self.connector}.credentials",
            )
        if isinstance(exc, ParamValidationError):
            return InvalidRequestError(
                f"S3 would refuse the request: {type(exc).__name__}", maybe_processed=False
            )
        # Credential refresh failures and the like: named by class, never by their text,
        # which may quote a credential source.
        return InvalidRequestError(
            f"botocore could not build the request ({type(exc).__name__})", maybe_processed=False
        )

    def close(self) -> None:
        """Close botocore's (unused) connection pool."""
        self.client.close()
