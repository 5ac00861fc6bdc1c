"""``[connectors.<name>.options]`` of the ``s3`` cloud_storage vendor."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from nexus_connector_core import ConfigError
from nexus_connector_core.http import HttpTransport

__all__ = ["MIB", "S3Options"]

MIB = 1024 * 1024
#: S3's limits: a part is 5 MiB to 5 GiB (the last may be smaller), a single PUT at most
#: 5 GiB, an upload at most 10,000 parts.
MIN_PART = 5 * MIB
MAX_PART = 5 * 1024 * MIB
MAX_PARTS = 10_000

# S3's bucket naming rules (general purpose buckets), which MinIO and R2 share.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENDPOINT = re.compile(r"https?://[^\s/@?#]+(/[^\s?#]*)?")


class S3Options(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the bucket is and how objects travel::

        [connectors.files]
        category = "cloud_storage"
        vendor = "s3"
        options = { bucket = "acme-invoices", region = "eu-central-1" }
        credentials = { access_key_id = "env:AWS_ACCESS_KEY_ID",
                        secret_access_key = "env:AWS_SECRET_ACCESS_KEY" }

    For MinIO, R2, Ceph or a local server, set `endpoint_url` (and usually
    ``addressing_style = "path"``). Without credentials the AWS default chain is used
    (environment, shared files, SSO, container or instance roles).
    """

    #: The bucket every key lives in: 3 to 63 lower-case letters, digits, dots and hyphens.
    bucket: str
    #: The region the bucket is in (signing needs it; R2 takes ``auto``).
    region: str = "us-east-1"
    #: The S3 API origin to use instead of AWS's (``http://127.0.0.1:9000`` for MinIO,
    #: ``https://<account>.r2.cloudflarestorage.com`` for R2); None: AWS, by region.
    endpoint_url: str | None = None
    #: ``path`` (``<endpoint>/<bucket>/<key>``, what most S3-compatible servers need),
    #: ``virtual`` (``<bucket>.<endpoint>/<key>``) or ``auto`` (botocore decides; on AWS,
    #: without `endpoint_url`, ``virtual``, so that presigned URLs name the region's
    #: endpoint).
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    #: Objects larger than this many bytes go up as a multipart upload, in `part_size`
    #: parts (0 to 5 GiB; a single PUT takes at most 5 GiB). Up to this many bytes of an
    #: object are held in memory while it is sent.
    multipart_threshold: Annotated[int, msgspec.Meta(ge=0, le=MAX_PART)] = MIN_PART
    #: Bytes per part of a multipart upload, 5 MiB (S3's minimum) to 5 GiB: one part is
    #: held in memory at a time. Raised for an object of known size that would need more
    #: than 10,000 parts.
    part_size: Annotated[int, msgspec.Meta(ge=MIN_PART, le=MAX_PART)] = MIN_PART
    #: Seconds an HTTP request may take when the pipeline gives no per-attempt timeout,
    #: from 0.001 to 86400; the connector's ``resilience.timeout`` wins whenever set.
    timeout: Annotated[float, msgspec.Meta(ge=0.001, le=86_400)] = 60.0
    #: The asynchronous adapter's transport: ``auto`` (aiohttp's under httpx's API when
    #: ``nexus-connector-core[aiohttp]`` is installed, else httpx's), ``httpx`` or
    #: ``aiohttp``. The synchronous adapter always uses httpx's.
    transport: HttpTransport = "auto"

    def __post_init__(self) -> None:
        if not _BUCKET.fullmatch(self.bucket) or ".." in self.bucket:
            raise ValueError(
                f"bucket {self.bucket!r} is not a valid bucket name: 3 to 63 lower-case "
                "letters, digits, dots and hyphens, starting and ending with a letter or digit"
            )
        if not _REGION.fullmatch(self.region):
            raise ValueError(
                f"region {self.region!r} must be a region name such as 'eu-central-1' "
                "(letters, digits, '-' and '_')"
            )
        if self.endpoint_url is not None and not _ENDPOINT.fullmatch(self.endpoint_url):
            raise ValueError(
                "endpoint_url must be an http:// or https:// origin such as "
                "'http://127.0.0.1:9000', without credentials, query or fragment"
            )


def credentials_problem(names: set[str]) -> str | None:
    """What is wrong with the credential names a connector gave, or None."""
    known = {"access_key_id", "secret_access_key", "session_token"}
    unknown = sorted(names - known)
    if unknown:
        return (
            f"unknown credential {unknown[0]!r}; the s3 vendor takes access_key_id, "
            "secret_access_key and session_token"
        )
    if ("access_key_id" in names) != ("secret_access_key" in names):
        return "give both access_key_id and secret_access_key, or neither (the AWS chain)"
    if "session_token" in names and "access_key_id" not in names:
        return "session_token goes with access_key_id and secret_access_key"
    return None


def config_error(connector: str, problem: str) -> ConfigError:
    """A credentials problem as the error naming the connector's credentials table."""
    return ConfigError(problem, path=f"connectors.{connector}.credentials")
