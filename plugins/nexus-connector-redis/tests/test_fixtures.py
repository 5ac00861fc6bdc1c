"""The Redis fixtures, and `nexus_connector_redis.testing` under them, checked with plain
redis-py: the servers are real, an outage is a real outage, the cluster serves every slot,
and a missing server is a skip, or a failure where services are required.

The fixtures mark these tests: ``redis`` for any server, ``cluster`` for the cluster.
"""

from __future__ import annotations

import doctest
import os
import unittest
from urllib.parse import urlsplit

import pytest
import redis
from nexus_connector_redis import testing
from nexus_connector_redis.testing import RedisCluster, RedisServer, RedisUnavailableError
from redis.crc import key_slot

SLOTS = 16384


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def test_the_shared_server_answers_ping(redis_url: str) -> None:
    with _client(redis_url) as client:
        assert client.ping()


def test_the_shared_server_is_redis_url_or_one_started_on_a_free_loopback_port(
    redis_url: str,
) -> None:
    if os.environ.get("REDIS_URL"):
        assert redis_url == os.environ["REDIS_URL"]
    else:  # a server we started, never the developer's 6379
        parts = urlsplit(redis_url)
        assert (parts.hostname, parts.port != 6379) == ("127.0.0.1", True)


def test_unique_prefix_names_keys_no_test_wrote(unique_prefix: str, redis_url: str) -> None:
    with _client(redis_url) as client:
        assert not client.keys(f"{unique_prefix}*")
        assert client.set(f"{unique_prefix}:k", "v", nx=True, ex=60)
    assert not {"{", "}"} & set(unique_prefix)  # no hash tag of its own


def test_stopping_interrupts_a_client_and_starting_recovers_it(
    restartable_redis: RedisServer,
) -> None:
    with restartable_redis.client() as client:
        client.set("survives-restart", "no")
        restartable_redis.stop()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        restartable_redis.start()
        assert client.ping()  # the same client, reconnected to the same port
        assert client.get("survives-restart") is None  # nothing persisted


def test_restartable_server_restarts_on_the_same_port(restartable_redis: RedisServer) -> None:
    port = restartable_redis.port
    with restartable_redis.client() as client:
        before = client.info("server")["process_id"]
        restartable_redis.stop()
        restartable_redis.start()
        after = client.info("server")["process_id"]
    assert restartable_redis.port == port
    assert after != before


def test_cluster_covers_every_slot_on_three_nodes(redis_cluster: RedisCluster) -> None:
    assert len(redis_cluster.ports) == 3
    with redis_cluster.client() as cluster:
        ranges = cluster.cluster_slots()
    covered = sorted(slot for start, end in ranges for slot in range(start, end + 1))
    assert covered == list(range(SLOTS))
    owners = {(node["primary"][0], node["primary"][1]) for node in ranges.values()}
    assert owners == {("127.0.0.1", port) for port in redis_cluster.ports}


def test_cluster_client_sets_and_gets_keys_in_different_slots(
    redis_cluster: RedisCluster, unique_prefix: str
) -> None:
    keys = [f"{unique_prefix}:{n}" for n in range(30)]
    assert len({key_slot(key.encode()) for key in keys}) > 1
    with redis_cluster.client() as cluster:
        for key in keys:
            cluster.set(key, key, ex=60)
        assert [cluster.get(key) for key in keys] == [key.encode() for key in keys]
        nodes = {cluster.get_node_from_key(key).port for key in keys}
    assert nodes == set(redis_cluster.ports)  # 30 random keys miss a node ~never


def test_cluster_keys_with_one_hash_tag_share_a_slot_for_scripts(
    redis_cluster: RedisCluster, unique_prefix: str
) -> None:
    keys = [f"{unique_prefix}:{{sms:twilio}}:{name}" for name in ("breaker", "limit", "budget")]
    with redis_cluster.client() as cluster:
        touched = cluster.eval(
            "for i, key in ipairs(KEYS) do redis.call('SET', key, i, 'EX', 60) end return #KEYS",
            len(keys),
            *keys,
        )
        assert touched == 3
        assert cluster.get(keys[2]) == b"3"


# -- the rule for finding a server ---------------------------------------------------------------


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """No REDIS_URL, and no redis-server on PATH."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")


@pytest.mark.usefixtures("nowhere")
def test_without_a_server_the_test_is_skipped_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEXUS_REQUIRE_SERVICES", raising=False)
    expected = r"`redis-server` is not on PATH: install Redis .*, or set REDIS_URL"

    with pytest.raises(unittest.SkipTest, match=expected), testing.redis_url():
        pass


@pytest.mark.usefixtures("nowhere")
def test_without_a_server_where_services_are_required_the_test_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_REQUIRE_SERVICES", "1")

    with pytest.raises(RedisUnavailableError, match="NEXUS_REQUIRE_SERVICES=1"):
        with testing.redis_url():
            pass
    with pytest.raises(RedisUnavailableError):
        RedisServer()


def test_a_redis_url_that_does_not_answer_is_no_server_and_its_password_never_shows(
    monkeypatch: pytest.MonkeyPatch, restartable_redis: RedisServer
) -> None:
    port = restartable_redis.port
    restartable_redis.stop()
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2-password@127.0.0.1:{port}/0")
    monkeypatch.delenv("NEXUS_REQUIRE_SERVICES", raising=False)

    with pytest.raises(unittest.SkipTest) as skipped, testing.redis_url():
        pass

    assert f"redis://127.0.0.1:{port}/0" in str(skipped.value)
    assert "hunter2" not in str(skipped.value)


def test_a_redis_url_that_answers_is_used_as_it_is(
    monkeypatch: pytest.MonkeyPatch, restartable_redis: RedisServer
) -> None:
    monkeypatch.setenv("REDIS_URL", restartable_redis.url)

    with testing.redis_url() as url:
        assert url == restartable_redis.url


def test_a_server_started_for_the_session_is_gone_when_the_block_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with testing.redis_url() as url, _client(url) as client:
        assert client.ping()
    with _client(url) as client, pytest.raises(redis.ConnectionError):
        client.ping()


@pytest.mark.usefixtures("redis_url")  # the examples' rule: a skip without a server
def test_the_documented_examples_run() -> None:
    results = doctest.testmod(testing)

    assert results.attempted > 0
    assert results.failed == 0
