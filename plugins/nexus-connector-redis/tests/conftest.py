"""Real Redis servers for the plugin's tests, all on 127.0.0.1 (never fakeredis), from
`nexus_connector_redis.testing`.

Fixtures:

- ``redis_url`` (session): the server the tests share, by the repository's rule
  (`nexus_connector_redis.testing.redis_url`): ``REDIS_URL`` when set, else a
  ``redis-server`` this session starts on a free port.
- ``restartable_redis`` (function): a `RedisServer` of the test's own that it may stop (the
  process exits) and start again on the same port, for outage tests.
- ``launch_redis`` (function): starts servers of the test's own with extra ``redis-server``
  arguments (``launch_redis("--requirepass", "pw")``); stopped after the test.
- ``redis_cluster`` (session): a three-node `RedisCluster` (no replicas) on free ports.
- ``unique_prefix`` (function): a random key prefix, so tests never collide on a shared server.

Where the ``redis-server`` (or, for the cluster, ``redis-cli``) binary is missing, the tests
that need it skip with the reason; with ``NEXUS_REQUIRE_SERVICES=1`` (``.ci/run`` sets it)
they fail instead. Tests using these fixtures get the ``redis`` marker, and cluster tests
the ``cluster`` marker too, so ``-m "not cluster"`` or ``-m redis`` selects them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from nexus_connector_redis import testing
from nexus_connector_redis.testing import RedisCluster, RedisServer

#: The fixtures that give a test a Redis server, or the cluster.
SERVERS = frozenset({"redis_url", "restartable_redis", "launch_redis"})
CLUSTER = "redis_cluster"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the local three-node Redis Cluster the tests start"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the servers it uses, so it can be selected (or left out) with -m."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & (SERVERS | {CLUSTER}):
            item.add_marker(pytest.mark.redis)
        if CLUSTER in fixtures:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the server the session's tests share."""
    with testing.redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop and start again on the same port."""
    with RedisServer(workdir=tmp_path) as server:
        yield server


@pytest.fixture
def launch_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start servers of this test's own with extra ``redis-server`` arguments."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(*extra_args: str) -> RedisServer:
            workdir = tmp_path / f"server-{next(numbers)}"
            workdir.mkdir()
            return stack.enter_context(RedisServer(*extra_args, workdir=workdir))

        yield start


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """Three ``redis-server --cluster-enabled yes`` nodes joined by ``redis-cli --cluster
    create``; ready once every node reports ``cluster_state:ok`` (~3 s)."""
    with RedisCluster(workdir=tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def unique_prefix() -> str:
    """A key prefix no other test uses (hex only: no hash-tag braces, no separators)."""
    return f"test-{os.urandom(6).hex()}"
