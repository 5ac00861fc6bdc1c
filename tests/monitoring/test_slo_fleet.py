"""SLO arithmetic across a fleet: two worker processes share one Redis, each on its own fake
clock, and the report a third manager reads at 2026-01-01 10:30 matches windows computed by
hand (attainment, error budget left, burn rates over 1 h, 6 h and 3 d)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nexus_connector_core import ConnectorManager, PluginRegistry
from nexus_connector_core.testing import FakeClock

redis_plugin = pytest.importorskip("nexus_connector_redis.plugin")

pytestmark = pytest.mark.redis

W0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
#: When the report is read: 2026-01-01 10:30:40.
REPORT_AT = W0 + 10 * HOUR + 30 * MINUTE + 40


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return W0 + day * DAY + hour * HOUR + minute * MINUTE + second


def config(redis_url: str, prefix: str, vendor: str = "scripted") -> dict[str, Any]:
    return {
        "state": {"backend": "redis", "url": redis_url, "prefix": prefix},
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0},
        "connectors": {
            "sms": {
                "vendor": vendor,
                "resilience": {
                    "retry": {"max_attempts": 1},
                    "circuit_breaker": {"enabled": False},
                    "timeout": False,
                    "deadline": False,
                },
                "slo": {"availability": 0.99, "latency": {"p95": 0.5}, "window": "1d"},
            }
        },
    }


# What each worker does, by its fake clock: (when, [(body, calls), ...]).
WORKER_A = [
    (at(-2, 12), [("ok", 50), ("fail", 50)]),  # in the 3 d window only
    (at(-1, 12), [("ok", 400), ("fail", 2)]),  # 1 d and 3 d
    (at(0, 9, 30), [("ok", 100), ("fail", 4)]),  # 09:30: one minute before the 1 h window
    (at(0, 10, 30, 10), [("slow 0.6", 30), ("fail", 1)]),  # the current minute
]
WORKER_B = [
    (at(-1, 10, 30), [("ok", 20), ("fail", 20)]),  # the hour before the 1 d window: 3 d only
    (at(0, 5), [("ok", 200), ("slow 0.8", 100), ("fail", 3)]),  # 6 h, 1 d and 3 d
    (at(0, 9, 31), [("ok", 50), ("fail", 5), ("invalid", 7)]),  # the 1 h window's first minute
]


def commands(script: list[tuple[float, list[tuple[str, int]]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for when, calls in script:
        out.append({"at": when})
        out += [{"send": [body, count]} for body, count in calls]
    return [*out, {"flush": True}]


def test_two_processes_sharing_redis_report_the_hand_computed_windows(
    redis_url: str, workers: Any
) -> None:
    prefix = f"slo-{os.urandom(4).hex()}"
    a = workers.start({"wall": at(-2, 12), "config": config(redis_url, prefix)})
    b = workers.start({"wall": at(-1, 10, 30), "config": config(redis_url, prefix)})
    with ThreadPoolExecutor(2) as pool:  # both at once, each on its own clock
        answers = list(pool.map(lambda w: w[0].run(commands(w[1])), [(a, WORKER_A), (b, WORKER_B)]))
    a.close()
    b.close()
    assert all(answer["ok"] for run in answers for answer in run)
    assert all(run[-1]["flushed"] for run in answers)

    registry = PluginRegistry()
    registry.register(redis_plugin, name="redis")
    reader = ConnectorManager.from_config(
        config(redis_url, prefix, vendor="memory"),
        registry=registry,
        clock=FakeClock(wall=REPORT_AT),
    )
    with reader:
        report = reader.slo()
    (slo,) = report.slos
    availability, latency = slo.objectives
    assert (slo.name, availability.objective, latency.objective) == (
        "sms",
        "availability",
        "latency p95 <= 500ms",
    )

    # Availability: successes and failures that count (the 7 invalid requests are the
    # caller's: they count nowhere), by window.
    #   1 h  (09:31-10:30):            B 50 ok 5 fail; A 30 ok 1 fail            ->  80 / 6
    #   6 h  (04:31-10:30):            + B 300 ok 3 fail; A 100 ok 4 fail          -> 480 / 13
    #   1 d  (Dec 31 11:00 - Jan 1 10:59): + A 400 ok 2 fail                        -> 880 / 15
    #   3 d  (Dec 29 11:00 - Jan 1 10:59): + A 50 ok 50 fail; B 20 ok 20 fail       -> 950 / 85
    assert (availability.events, availability.bad) == (895, 15)
    assert availability.attainment == pytest.approx(880 / 895)
    assert availability.budget_left == pytest.approx(1 - 15 / (0.01 * 895))
    assert availability.burn_rates == pytest.approx(
        {"1h": (6 / 86) / 0.01, "6h": (13 / 493) / 0.01, "3d": (85 / 1035) / 0.01}
    )

    # Latency (p95 <= 0.5 s) over successful calls: the slow ones are B's 100 at 0.8 s
    # (05:00) and A's 30 at 0.6 s (10:30).
    #   1 h: 30 slow of 80; 6 h: 130 of 480; 1 d: 130 of 880; 3 d: 130 of 950
    assert (latency.events, latency.bad) == (880, 130)
    assert latency.attainment == pytest.approx(750 / 880)
    assert latency.budget_left == pytest.approx(1 - 130 / (0.05 * 880))
    assert latency.burn_rates == pytest.approx(
        {"1h": (30 / 80) / 0.05, "6h": (130 / 480) / 0.05, "3d": (130 / 950) / 0.05}
    )
