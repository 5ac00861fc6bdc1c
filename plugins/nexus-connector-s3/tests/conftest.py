"""Fixtures for the S3 plugin's tests: a local S3 (moto's server on 127.0.0.1) for the whole
session, and per test a fresh bucket behind the double (`nexus_connector_s3.testing`).

- ``local_s3``: the `LocalS3` (session); without moto the tests that need it skip (fail
  with ``NEXUS_REQUIRE_SERVICES=1``, as in CI);
- ``double``, ``s3_server``: the `S3Double` and the `FaultServer` serving it, per test;
- ``bucket``: a fresh, empty bucket;
- ``connector``/``environ``: the ``files`` connector's table (through the double) and the
  environment its credential references read;
- ``make_manager(*, async_=False, options=None, resilience=None, direct=False)``: a
  manager of that connector on the fake ``clock`` (``direct``: straight to moto, for bulk
  and timing work); closed at teardown.

No test reaches AWS: the AWS default chain is cut off from instance metadata and the
developer's files and variables for the whole session.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from nexus_connector_s3 import plugin
from nexus_connector_s3.testing import ACCESS_KEY_ID, SECRET_ACCESS_KEY, LocalS3, S3Double

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import NO_RETRY, FakeClock, FaultServer, ManagerFactory

#: make_manager(*, async_=False, options=None, resilience=None, direct=False)
MakeManager = Callable[..., Any]

#: The AWS environment of every test: no instance metadata, no developer files or keys.
AWS_ENVIRONMENT = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


@pytest.fixture(scope="session", autouse=True)
def _no_real_aws() -> Iterator[None]:
    """Keep botocore's credential chain and endpoint lookup on this machine."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in AWS_CLEARED:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def local_s3(_no_real_aws: None) -> Iterator[LocalS3]:
    """moto's S3 server, for the whole session."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        reason = 'moto[server] is not installed (pip install -e "plugins/nexus-connector-s3[test]")'
        if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (NEXUS_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    with LocalS3() as server:
        yield server


@pytest.fixture
def double(local_s3: LocalS3) -> S3Double:
    return S3Double(local_s3)


@pytest.fixture
def s3_server(double: S3Double) -> Iterator[FaultServer]:
    """A server on 127.0.0.1 answering as `double` for this test; stopped after it."""
    with FaultServer(default=double) as server:
        yield server


@pytest.fixture
def bucket(local_s3: LocalS3) -> str:
    return local_s3.create_bucket()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(plugin, "s3")
    return registry


@pytest.fixture
def environ() -> dict[str, str]:
    return {"S3_KEY": ACCESS_KEY_ID, "S3_SECRET": SECRET_ACCESS_KEY}


@pytest.fixture
def connector(s3_server: FaultServer, bucket: str) -> dict[str, Any]:
    """The ``files`` connector's table: S3 through the double, path-style."""
    return {
        "category": "cloud_storage",
        "vendor": "s3",
        "options": {"bucket": bucket, "endpoint_url": s3_server.url, "addressing_style": "path"},
        "credentials": {"access_key_id": "env:S3_KEY", "secret_access_key": "env:S3_SECRET"},
    }


@pytest.fixture
async def make_manager(
    connector: dict[str, Any],
    local_s3: LocalS3,
    registry: PluginRegistry,
    environ: dict[str, str],
    clock: FakeClock,
) -> AsyncIterator[MakeManager]:
    async with ManagerFactory(
        "files", connector, registry=registry, environ=environ, clock=clock, resilience=NO_RETRY
    ) as managers:

        def make(*, direct: bool = False, options: dict[str, Any] | None = None, **kw: Any) -> Any:
            straight = {"endpoint_url": local_s3.url} if direct else {}
            return managers(options={**(options or {}), **straight}, **kw)

        yield make
