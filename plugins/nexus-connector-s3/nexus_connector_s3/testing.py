"""A local S3 for tests, an application's or the plugin's: moto's S3 in server mode on
127.0.0.1 (the real S3 REST API: buckets, objects, multipart uploads, listings, presigned
URLs), and a double in front of it that checks the credentials and fails on cue.

- `LocalS3` starts moto's server on a free port (``pip install "moto[server]"``, the
  plugin's ``test`` extra) and inspects what it holds (`objects`, `list_multipart_uploads`).
- `S3Double` is the default responder of a core `FaultServer`: it refuses requests not
  signed with its access key (S3's ``InvalidAccessKeyId``), forwards the rest to a
  `LocalS3`, and answers S3's errors on cue (`fail_next`, `fail_when`, `s3_error`).

In an application's test::

    from nexus_connector_core import ConnectorManager
    from nexus_connector_core.testing import FaultServer
    from nexus_connector_s3.testing import ACCESS_KEY_ID, SECRET_ACCESS_KEY, LocalS3, S3Double

    with LocalS3() as s3, FaultServer(default=S3Double(s3)) as server:
        bucket = s3.create_bucket()
        files = {
            "category": "cloud_storage",
            "vendor": "s3",
            "options": {"bucket": bucket, "endpoint_url": server.url,
                        "addressing_style": "path"},
            "credentials": {"access_key_id": "env:KEY", "secret_access_key": "env:SECRET"},
        }
        environ = {"KEY": ACCESS_KEY_ID, "SECRET": SECRET_ACCESS_KEY}
        with ConnectorManager.from_config({"connectors": {"files": files}},
                                          environ=environ) as manager:
            manager.connector("files").put("invoices/1.pdf", b"%PDF")   # the app's code
        assert s3.objects(bucket) == {"invoices/1.pdf": b"%PDF"}

The signature itself is not checked (moto does not): `S3Double` checks the access key the
request names; the plugin's own tests check signatures against the presigned URLs that
moto serves. Tests never reach AWS: both servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlsplit

from nexus_connector_core.testing import Fault, ReceivedRequest

if TYPE_CHECKING:
    from nexus_connector_core.testing import StorageFaultKind

__all__ = [
    "ACCESS_KEY_ID",
    "FAULTS",
    "REGION",
    "SECRET_ACCESS_KEY",
    "LocalS3",
    "S3Double",
    "s3_error",
]

#: The access key `S3Double` accepts unless given another (AWS's documented example key).
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
#: A secret key to sign with (moto does not check signatures; the double checks the key id).
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: The region the local buckets are created in.
REGION = "us-east-1"

# Hop-by-hop headers the double does not pass on (it answers with a Content-Length).
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def s3_error(status: int, code: str, message: str, **headers: str) -> Fault:
    """An error answer in S3's format (``<Error><Code>...``); `headers` with ``_`` for ``-``.

    >>> fault = s3_error(503, "SlowDown", "Please reduce your request rate.", Retry_After="1")
    >>> fault.status_code, b"<Code>SlowDown</Code>" in fault.body
    (503, True)
    """
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()
    extra = {"Content-Type": "application/xml"}
    extra.update({name.replace("_", "-"): value for name, value in headers.items()})
    return Fault.respond(status, body, extra)


#: S3's answers for each fault of the core's storage conformance suite.
FAULTS: Mapping[StorageFaultKind, Fault] = {
    "transient": s3_error(
        500, "InternalError", "We encountered an internal error. Please try again."
    ),
    "auth": s3_error(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
}


class LocalS3:
    """moto's S3 server on 127.0.0.1 (a free port), started when made; `close` stops it.

    Buckets live as long as the process (moto keeps them in memory): make one per test
    with `create_bucket`.
    """

    _names = itertools.count(1)

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                'LocalS3 runs moto\'s S3 server: pip install "nexus-connector-s3[test]" '
                '(or "moto[server]")'
            ) from exc
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.host, self.port = host, port
        #: moto's origin: ``http://127.0.0.1:<port>``.
        self.url = f"http://{host}:{port}"
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """A botocore S3 client of moto's server, for a test's own look at the store."""
        with self._lock:
            if self._client is None:
                import botocore.session
                from botocore.config import Config

                self._client = botocore.session.Session().create_client(
                    "s3",
                    region_name=REGION,
                    endpoint_url=self.url,
                    aws_access_key_id=ACCESS_KEY_ID,
                    aws_secret_access_key=SECRET_ACCESS_KEY,
                    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
                )
            return self._client

    def create_bucket(self, name: str | None = None) -> str:
        """Make a bucket (a fresh name unless given) and return its name."""
        name = name or f"nexus-test-{next(self._names)}-{secrets.token_hex(4)}"
        self.client.create_bucket(Bucket=name)
        return name

    def seed(self, bucket: str, objects: Mapping[str, bytes]) -> None:
        """Store many objects at once, straight into moto's in-process store (2,500 keys
        take a tenth of a second, not the 20 s that as many requests would)."""
        from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key, content in objects.items():
            backend.put_object(bucket, key, content)

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket`, key to content."""
        found: dict[str, bytes] = {}
        for listing in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in listing.get("Contents", []):
                body = self.client.get_object(Bucket=bucket, Key=entry["Key"])["Body"]
                found[entry["Key"]] = body.read()
        return found

    def head(self, bucket: str, key: str) -> dict[str, Any]:
        """HeadObject of `key`: its ContentType, Metadata, ContentLength, ETag."""
        head: dict[str, Any] = self.client.head_object(Bucket=bucket, Key=key)
        return head

    def list_multipart_uploads(self, bucket: str) -> list[dict[str, Any]]:
        """The multipart uploads of `bucket` that were neither completed nor aborted."""
        uploads: list[dict[str, Any]] = self.client.list_multipart_uploads(Bucket=bucket).get(
            "Uploads", []
        )
        return uploads

    def close(self) -> None:
        """Stop the server."""
        if self._client is not None:
            self._client.close()
        self._server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalS3 {self.url}>"


#: fail_when(predicate, fault): which requests get a fault instead of an answer.
Predicate = Callable[[ReceivedRequest], bool]


class S3Double:
    """Answers S3 requests like S3, by forwarding them to a `LocalS3` (see the module).

    Args:
        local: the server that holds the buckets.
        access_key_id: the only access key accepted, in a signed request's
            ``Authorization`` header or a presigned URL's ``X-Amz-Credential``.
    """

    def __init__(self, local: LocalS3, *, access_key_id: str = ACCESS_KEY_ID) -> None:
        self.local = local
        self.access_key_id = access_key_id
        self._plans: list[tuple[Predicate, Fault, list[int]]] = []
        self._lock = threading.Lock()

    def fail_next(self, kind: StorageFaultKind) -> None:
        """Answer the next request with `FAULTS[kind]`."""
        self.fail_when(lambda request: True, FAULTS[kind])

    def fail_when(self, predicate: Predicate, fault: Fault, *, times: int = 1) -> None:
        """Answer the next `times` requests for which `predicate` holds with `fault` (any
        `Fault`: an S3 error, a reset after the request was read, a stall...)."""
        with self._lock:
            self._plans.append((predicate, fault, [times]))

    def __call__(self, request: ReceivedRequest) -> Fault:
        """The answer to one request."""
        with self._lock:
            for predicate, fault, left in self._plans:
                if left[0] > 0 and predicate(request):
                    left[0] -= 1
                    return fault
        if self._key_of(request) != self.access_key_id:
            return FAULTS["auth"]
        return self._forward(request)

    def _key_of(self, request: ReceivedRequest) -> str | None:
        match = _CREDENTIAL.search(request.headers.get("authorization", ""))
        if match:
            return match[1]
        query = parse_qs(urlsplit(request.path).query)
        credential = query.get("X-Amz-Credential", [""])[0]
        return credential.split("/")[0] or None

    def _forward(self, request: ReceivedRequest) -> Fault:
        connection = http.client.HTTPConnection(self.local.host, self.local.port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in _HOP}
            headers["content-length"] = str(len(request.body))
            connection.request(request.method, request.path, body=request.body, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            extra = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP}
            if request.method == "HEAD":
                extra["Content-Length"] = answer.getheader("content-length") or "0"
                body = b""
            return Fault.respond(answer.status, body, extra)
        finally:
            connection.close()
