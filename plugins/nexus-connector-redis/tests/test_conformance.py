"""The core's state-backend conformance suite, unchanged, against a real redis-server and a
real 3-node Redis Cluster. The server's clock decides, so waits are real (and short)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nexus_connector_redis import AsyncRedisStateBackend, RedisOptions, RedisStateBackend
from nexus_connector_redis.testing import RedisCluster

from nexus_connector_core import SYSTEM_CLOCK
from nexus_connector_core.state import BackendSettings
from nexus_connector_core.testing import BackendHarness, StateBackendConformance


def _harness(url: str, prefix: str, *, cluster: bool = False) -> tuple[BackendHarness, Any, Any]:
    settings = BackendSettings(
        options=RedisOptions(url=url, cluster=cluster, timeout=2.0, connect_timeout=2.0),
        clock=SYSTEM_CLOCK,
        prefix=prefix,
    )
    sync, async_ = RedisStateBackend(settings), AsyncRedisStateBackend(settings)
    delay = settings.options.record_delay
    return BackendHarness.on_server_clock(sync, async_, record_delay=delay), sync, async_


@pytest.mark.redis
class TestRedisStateBackend(StateBackendConformance):
    @pytest.fixture
    async def harness(self, redis_url: str, unique_prefix: str) -> AsyncIterator[BackendHarness]:
        harness, sync, async_ = _harness(redis_url, unique_prefix)
        yield harness
        sync.close()
        await async_.aclose()


@pytest.mark.redis
@pytest.mark.cluster
class TestRedisClusterStateBackend(StateBackendConformance):
    @pytest.fixture
    async def harness(
        self, redis_cluster: RedisCluster, unique_prefix: str
    ) -> AsyncIterator[BackendHarness]:
        harness, sync, async_ = _harness(redis_cluster.url, unique_prefix, cluster=True)
        yield harness
        sync.close()
        await async_.aclose()
