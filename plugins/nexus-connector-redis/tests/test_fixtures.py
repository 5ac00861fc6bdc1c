"""The Redis fixtures themselves, checked with plain redis-py: the servers are real, an
outage is a real outage, and the cluster serves every slot.

The fixtures mark these tests: ``redis`` for any server, ``cluster`` for the cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis
from redis.crc import key_slot

if TYPE_CHECKING:  # conftest is no importable module at run time (--import-mode=importlib)
    from conftest import RedisClusterNodes, RedisServer

SLOTS = 16384


def test_redis_server_answers_ping(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        assert client.ping()


def test_redis_server_is_on_loopback(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == redis_server.url
    if redis_server.restartable:  # a server we started, never the shared 6379
        assert redis_server.host == "127.0.0.1"
        assert redis_server.port != 6379


def test_unique_prefix_names_keys_no_test_wrote(
    unique_prefix: str, redis_server: RedisServer
) -> None:
    with redis_server.client() as client:
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


def test_cluster_covers_every_slot_on_three_nodes(redis_cluster: RedisClusterNodes) -> None:
    assert len(redis_cluster.ports) == 3
    with redis_cluster.client() as cluster:
        ranges = cluster.cluster_slots()
    covered = sorted(slot for start, end in ranges for slot in range(start, end + 1))
    assert covered == list(range(SLOTS))
    owners = {(node["primary"][0], node["primary"][1]) for node in ranges.values()}
    assert owners == {("127.0.0.1", port) for port in redis_cluster.ports}


def test_cluster_client_sets_and_gets_keys_in_different_slots(
    redis_cluster: RedisClusterNodes, unique_prefix: str
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
    redis_cluster: RedisClusterNodes, unique_prefix: str
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
