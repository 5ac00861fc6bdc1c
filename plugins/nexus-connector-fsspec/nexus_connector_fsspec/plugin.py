"""Entry-point module: registers the ``fsspec`` cloud_storage vendor by name.

Nothing here imports fsspec or the adapter: they load when a connector first uses it.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_fsspec"


@hookimpl
def register_cloud_storage_vendors(register: Registrar) -> None:
    register(
        "fsspec",
        f"{_PACKAGE}._adapter:FsspecStorageAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncFsspecStorageAdapter",
        options=f"{_PACKAGE}._options:FsspecOptions",
        # None required: each credential given is passed to the filesystem by its name.
        credentials=(),
        description="any fsspec filesystem (gcs, abfs, sftp, s3, file, memory...)",
    )
