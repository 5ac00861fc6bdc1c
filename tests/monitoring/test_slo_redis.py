"""SLO counts on Redis: a flush is one round trip however many connectors, minutes and hours
it carries, and the keys the counts occupy stay bounded over a 30-day window of traffic.

Redis expires keys on its own clock, which a test's fake clock cannot move: a month of fake
traffic takes seconds, in which no key expires. So the keys are followed on the fake clock
instead: after each flush, every key the flush wrote (new, or with new contents: ``DUMP``
tells) expires, on the fake clock, its ``PTTL`` after the flush; a key's count is then what
Redis would hold had the month taken a month.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any
from unittest.mock import patch

import pytest

from nexus_connector_core import (
    ConnectorError,
    ConnectorManager,
    EmailMessage,
    PluginRegistry,
    SmsMessage,
)
from nexus_connector_core.testing import FakeClock

redis = pytest.importorskip("redis")
redis_plugin = pytest.importorskip("nexus_connector_redis.plugin")

pytestmark = pytest.mark.redis

W0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def _manager(redis_url: str, prefix: str, clock: FakeClock) -> ConnectorManager:
    """Two connectors with a 30-day SLO each on a Redis state backend; nothing but the
    test's own `flush` talks to Redis (no breaker, outcomes sent at once, the monitor's
    thread waiting a minute before its first flush)."""
    quiet = {"retry": {"max_attempts": 1}, "circuit_breaker": {"enabled": False}}
    slo = {"availability": 0.999, "latency": {"p95": 0.8}, "window": "30d"}
    config = {
        "state": {"backend": "redis", "url": redis_url, "prefix": prefix, "record_delay": 0},
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0, "flush_every": 60},
        "connectors": {
            "sms": {"vendor": "memory", "resilience": quiet, "slo": slo},
            "email": {"vendor": "memory", "resilience": quiet, "slo": slo},
        },
    }
    registry = PluginRegistry()
    registry.register(redis_plugin, name="redis")
    return ConnectorManager.from_config(config, registry=registry, clock=clock)


@contextlib.contextmanager
def _round_trips() -> Iterator[Callable[[], int]]:
    """Counts the requests redis-py writes, each then waiting for its replies: one round
    trip (a pipeline is one write), as benchmarks/redis_guard.py counts them."""
    count = 0
    connection_class = redis.connection.AbstractConnection
    send = connection_class.send_packed_command

    def counted(connection: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal count
        count += 1
        send(connection, *args, **kwargs)

    with patch.object(connection_class, "send_packed_command", counted):
        yield lambda: count


def _send(manager: ConnectorManager) -> None:
    manager.sms.send(SmsMessage("+14155550100", "Your code is 481516"))
    manager.email.send(
        EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text=".")
    )


def test_a_flush_of_slo_counts_is_one_round_trip_to_redis(redis_url: str) -> None:
    clock = FakeClock(wall=W0 + 59 * MINUTE)
    prefix = f"slo-trips-{os.urandom(4).hex()}"
    with _manager(redis_url, prefix, clock) as manager:
        monitor = manager.monitor
        assert monitor is not None
        _send(manager)
        assert monitor.flush()  # connects and loads the scripts: not counted
        # Two connectors, each over two minutes and two hours (59:00 to 60:20), successes
        # and a failure of the caller's.
        for _ in range(3):
            _send(manager)
            clock.advance(40.0)
        with contextlib.suppress(ConnectorError):  # a refused recipient: counted apart
            manager.email.send(
                EmailMessage(
                    sender="shop@example.com", to=["x@reject.example"], subject="Hi", text="."
                )
            )
        pending = len(monitor.counter.events)

        with _round_trips() as trips:
            assert monitor.flush()
            flushed = trips()

        client = redis.Redis.from_url(redis_url)
        keys = [k.decode() for k in client.scan_iter(f"{prefix}:*", count=1000)]
        client.close()
    assert pending == 7
    assert flushed == 1
    series = {key.split("{slo:", 1)[1].split("}", 1)[0] for key in keys if "{slo:" in key}
    assert series == {"sms", "email"}
    buckets = [key for key in keys if key.rsplit(":", 2)[-2] in ("60", "3600")]
    assert len(buckets) >= 2 * (2 + 2)  # both series' minutes and hours of the counted flush


def test_the_slo_keys_stay_bounded_over_a_30_day_window_of_traffic(redis_url: str) -> None:
    clock = FakeClock(wall=W0)
    prefix = f"slo-keys-{os.urandom(4).hex()}"
    client = redis.Redis.from_url(redis_url)
    expires: dict[bytes, float] = {}  # key -> when it expires, on the fake clock
    seen: dict[bytes, bytes] = {}  # key -> its DUMP after the last flush
    alive_after_flush: list[int] = []
    flush_every, send_every, days = 12 * HOUR, 20 * MINUTE, 33
    with _manager(redis_url, prefix, clock) as manager:
        monitor = manager.monitor
        assert monitor is not None
        for step in range(int(days * DAY / send_every)):
            _send(manager)
            clock.advance(send_every)
            if (step + 1) % int(flush_every / send_every):
                continue
            assert monitor.flush()
            now = clock.time()
            keys = list(client.scan_iter(f"{prefix}:*", count=5000))
            with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.dump(key)
                    pipe.pttl(key)
                replies = pipe.execute()
            for key, dumped, pttl in zip(keys, replies[::2], replies[1::2], strict=True):
                assert pttl > 0, f"{key!r} never expires"
                if seen.get(key) != dumped:  # written by this flush
                    seen[key] = dumped
                    expires[key] = now + pttl / 1000
            alive_after_flush.append(sum(1 for when in expires.values() if when > now))
    client.close()

    # Per connector, at most: the minute buckets of the last two flushes (each 12 h of
    # 20-minute traffic: 36, kept 6 h 3 min), the hour buckets of the 30-day window and its
    # 2 h margin plus one flush's 12 hours, and one batch marker (kept 10 min).
    bound = 2 * (2 * 36 + (30 * 24 + 2 + 12) + 1)
    assert max(alive_after_flush) <= bound, max(alive_after_flush)
    # Once the window is full (the last 2 days), the count stops growing...
    assert len(set(alive_after_flush[-4:])) == 1, alive_after_flush
    # ...bounded by expiry: the month wrote several times as many keys as stay.
    assert len(expires) > 3 * max(alive_after_flush)
