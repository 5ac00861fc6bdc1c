"""fsspec cloud_storage vendor for Nexus Connector.

``vendor = "fsspec"`` stores objects in any filesystem fsspec knows — Google Cloud Storage
(gcsfs), Azure Blob (adlfs), SFTP (paramiko), S3 (s3fs), local folders, memory — chosen by
``options.protocol``, under ``options.root``.

Names load on first use, so discovering the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = ["__version__", "AsyncFsspecStorageAdapter", "FsspecOptions", "FsspecStorageAdapter"]

if TYPE_CHECKING:
    from ._adapter import AsyncFsspecStorageAdapter, FsspecStorageAdapter
    from ._options import FsspecOptions
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncFsspecStorageAdapter": "_adapter",
            "FsspecStorageAdapter": "_adapter",
            "FsspecOptions": "_options",
        },
    )
