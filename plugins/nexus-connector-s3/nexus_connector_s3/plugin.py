"""Entry-point module: registers the ``s3`` cloud_storage vendor by name.

Nothing here imports botocore, httpx or the adapter: they load when a connector first uses
S3.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_s3"


@hookimpl
def register_cloud_storage_vendors(register: Registrar) -> None:
    register(
        "s3",
        f"{_PACKAGE}._adapter:S3StorageAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncS3StorageAdapter",
        options=f"{_PACKAGE}._options:S3Options",
        # None required: without access_key_id / secret_access_key the AWS default chain
        # (environment, shared files, SSO, container and instance roles) is used.
        credentials=(),
        description="S3 and S3-compatible stores (MinIO, R2, Ceph): botocore-signed, over httpx",
    )
