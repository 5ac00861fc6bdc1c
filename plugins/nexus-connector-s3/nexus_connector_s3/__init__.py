"""S3 cloud_storage vendor for Nexus Connector.

``vendor = "s3"`` stores objects in an S3 bucket — AWS, or any S3-compatible server through
``options.endpoint_url`` (MinIO, Cloudflare R2, Ceph) — with streaming multipart uploads,
streaming downloads and presigned GET/PUT URLs. botocore builds and signs each request;
the core's HTTP toolkit sends it. `nexus_connector_s3.testing` runs a local S3 for tests.

Names load on first use, so discovering the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = ["__version__", "AsyncS3StorageAdapter", "S3Options", "S3StorageAdapter"]

if TYPE_CHECKING:
    from ._adapter import AsyncS3StorageAdapter, S3StorageAdapter
    from ._options import S3Options
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncS3StorageAdapter": "_adapter",
            "S3StorageAdapter": "_adapter",
            "S3Options": "_options",
        },
    )
