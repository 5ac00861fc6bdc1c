"""Fixtures for the fsspec plugin's tests: connectors over fsspec's ``memory`` and ``file``
protocols, and over ``s3`` (s3fs) against moto's S3 server on 127.0.0.1.

- ``registry``: the built-in plugin and this one, registered in-process;
- ``memory_connector`` / ``file_connector``: the ``files`` connector's table over a fresh
  root (memory: a unique folder of fsspec's process-wide memory filesystem);
- ``moto_url``, ``s3_connector``: moto's server (session) and a table over a fresh bucket;
  without moto or s3fs those tests skip (fail with ``NEXUS_REQUIRE_SERVICES=1``).

No test reaches AWS: the AWS default chain is cut off from instance metadata and the
developer's files for the whole session.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nexus_connector_fsspec import plugin

from nexus_connector_core import PluginRegistry

#: The keys the s3 tests sign with (moto checks none).
S3_KEY, S3_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="session", autouse=True)
def _no_real_aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture
def registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register(plugin, "fsspec")
    return registry


@pytest.fixture
def memory_connector() -> dict[str, Any]:
    root = f"/nexus-tests/{secrets.token_hex(6)}"
    return {
        "category": "cloud_storage",
        "vendor": "fsspec",
        "options": {"protocol": "memory", "root": root},
    }


@pytest.fixture
def file_connector(tmp_path: Path) -> dict[str, Any]:
    return {
        "category": "cloud_storage",
        "vendor": "fsspec",
        "options": {"protocol": "file", "root": str(tmp_path / "objects")},
    }


@pytest.fixture(scope="session")
def moto_url(_no_real_aws: None) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, for the whole session."""
    try:
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        reason = 's3fs or moto[server] missing: pip install "nexus-connector-fsspec[test]"'
        if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (NEXUS_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(moto_url: str) -> Iterator[Any]:
    """A botocore client of moto's server, to make buckets with."""
    import botocore.session

    client = botocore.session.Session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=moto_url,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
    )
    yield client
    client.close()


@pytest.fixture
def s3_connector(moto_url: str, s3_client: Any) -> dict[str, Any]:
    bucket = f"fsspec-{secrets.token_hex(6)}"
    s3_client.create_bucket(Bucket=bucket)
    return {
        "category": "cloud_storage",
        "vendor": "fsspec",
        "options": {
            "protocol": "s3",
            "root": f"{bucket}/objects",
            "storage_options": {
                "endpoint_url": moto_url,
                "client_kwargs": {"region_name": "us-east-1"},
            },
        },
        "credentials": {"key": "env:FS_KEY", "secret": "env:FS_SECRET"},
    }


@pytest.fixture
def environ() -> dict[str, str]:
    return {"FS_KEY": S3_KEY, "FS_SECRET": S3_SECRET}
