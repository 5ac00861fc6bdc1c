"""SLOs: the arithmetic on hand-computed numbers, the config's checks, and how calls are
counted (off the hot path, once each, whatever the backend does)."""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    ConfigError,
    ConnectorError,
    ConnectorManager,
    PaymentDeclinedError,
    PluginRegistry,
    SmsMessage,
    StateBackendUnavailableError,
    VendorUnavailableError,
    load_config,
)
from nexus_connector_core._slo import (
    Objective,
    SloReader,
    SloSpec,
    WindowCounts,
    check_window,
    window_query,
)
from nexus_connector_core._slo_counts import CallCounter, failure_event, redact
from nexus_connector_core.state import MemoryStateBackend, SloCounts
from nexus_connector_core.testing import FakeClock

W0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# -- windows and arithmetic ---------------------------------------------------------------------


def test_a_window_is_the_current_bucket_and_the_ones_before_it() -> None:
    now = W0 + 10 * 3600 + 30 * 60 + 5  # 10:30:05
    hour = window_query("sms", 3600, now)
    assert (hour.resolution, hour.last - hour.first + 1) == (60, 60)
    assert hour.last == int(now // 60)
    day = window_query("sms", 86400, now)
    assert (day.resolution, day.first, day.last) == (3600, int(now // 3600) - 23, int(now // 3600))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("30s", "from 1m to 90d"),
        ("91d", "from 1m to 90d"),
        ("90s", "whole minutes"),
        ("7h30m", "expected a duration"),
        ("450m", "whole hours (beyond 6h)"),
        ("", "expected a duration"),
    ],
)
def test_a_window_is_refused_when_no_whole_bucket_count_makes_it(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check_window(text)


def test_counts_read_back_by_operation_and_for_the_whole_connector() -> None:
    sums = {"send|s": 8, "send|f": 2, "send|x": 1, "send|0.5": 6, "send|1.0": 2, "get|s": 4}
    send = WindowCounts.from_sums(sums, "send")
    assert (send.ok, send.failed, send.excluded, send.calls) == (8, 2, 1, 10)
    assert send.error_rate == 0.2
    assert WindowCounts.from_sums(sums).ok == 12


def test_a_percentile_is_the_upper_bound_of_the_bucket_holding_it() -> None:
    counts = WindowCounts(ok=100, latency=((0.1, 90), (0.5, 6), (2.0, 3), (math.inf, 1)))
    assert counts.percentile(0.50) == 0.1
    assert counts.percentile(0.95) == 0.5  # the 95th call is the 5th of the (0.1, 0.5] bucket
    assert counts.percentile(0.99) == 2.0
    assert counts.percentile(1.0) == math.inf
    assert counts.slower_than(0.5) == 4
    assert WindowCounts().percentile(0.95) is None


def test_burn_rate_is_the_bad_share_over_the_allowed_share() -> None:
    availability = Objective(kind="availability", target=0.999)
    latency = Objective(kind="latency", target=0.95, threshold=0.8)
    counts = WindowCounts(ok=990, failed=10, latency=((0.8, 940), (math.inf, 50)))
    assert availability.burn_rate(counts) == pytest.approx((10 / 1000) / 0.001)
    assert latency.burn_rate(counts) == pytest.approx((50 / 990) / 0.05)
    assert (availability.name, latency.name) == ("availability", "latency p95 <= 800ms")
    assert availability.burn_rate(WindowCounts()) == 0.0


def test_a_report_on_a_fake_clock_gives_attainment_budget_and_burn_rates() -> None:
    clock = FakeClock(wall=W0 + 12 * 3600)  # 12:00
    backend = MemoryStateBackend(clock=clock)
    spec = SloSpec(
        connector="pay",
        window=86400.0,
        objectives=(Objective(kind="availability", target=0.99),),
    )

    def add(at: float, ok: int, failed: int) -> None:
        minute, hour = int(at // 60), int(at // 3600)
        fields = {"charge|s": ok, "charge|f": failed}
        backend.slo_add(
            f"batch-{at}",
            [
                SloCounts(series="pay", resolution=60, bucket=minute, counts=fields, keep=1e6),
                SloCounts(series="pay", resolution=3600, bucket=hour, counts=fields, keep=1e6),
            ],
        )

    add(W0 + 11 * 3600 + 59 * 60, ok=90, failed=10)  # 11:59: in every window
    add(W0 + 8 * 3600, ok=200, failed=0)  # 08:00: 6 h, 1 d, 3 d
    add(W0 - 2 * 86400, ok=0, failed=100)  # two days ago: 3 d only
    reader = SloReader([spec])
    now = clock.time()
    report = reader.report(now, backend.slo_read(reader.queries(now)))
    (status,) = report.slos
    (objective,) = status.objectives
    assert (objective.events, objective.bad, objective.window) == (300, 10, "1d")
    assert objective.attainment == pytest.approx(290 / 300)
    assert objective.budget_left == pytest.approx(1 - 10 / (0.01 * 300))
    assert objective.burn_rates == pytest.approx(
        {"1h": (10 / 100) / 0.01, "6h": (10 / 300) / 0.01, "3d": (110 / 400) / 0.01}
    )


# -- the config ---------------------------------------------------------------------------------


def _problems(slo: dict[str, Any], category: str = "payment") -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {"connectors": {category: {"vendor": "memory", "slo": slo}}},
            registry=PluginRegistry(),
            environ={},
        )
    return {p.path or "": p.detail for p in caught.value.problems}


def test_an_slo_with_no_objective_is_refused_at_its_key_path() -> None:
    assert _problems({"window": "30d"}) == {
        "connectors.payment.slo": "an SLO needs availability = 0.999 or latency = { p95 = 0.8 }"
    }


@pytest.mark.parametrize(
    ("slo", "path", "message"),
    [
        ({"availability": 1.0}, "connectors.payment.slo.availability", "above 0 and at most"),
        ({"availability": math.nan}, "connectors.payment.slo.availability", "must be a number"),
        ({"latency": {"p100": 1.0}}, "connectors.payment.slo.latency.p100", "percentile"),
        ({"latency": {"p95": math.inf}}, "connectors.payment.slo.latency.p95", "must be a number"),
        ({"availability": 0.99, "window": "45s"}, "connectors.payment.slo.window", "1m to 90d"),
        (
            {"operations": {"refnud": {"availability": 0.99}}},
            "connectors.payment.slo.operations.refnud",
            "no operation 'refnud'",
        ),
        ({"availability": 0.99, "windw": "1d"}, "connectors.payment.slo.windw", "did you mean"),
    ],
)
def test_a_bad_slo_value_is_refused_with_its_key_path(
    slo: dict[str, Any], path: str, message: str
) -> None:
    problems = _problems(slo)
    assert path in problems, problems
    assert message in problems[path]


def test_an_operation_slo_inherits_the_connectors_window() -> None:
    config = load_config(
        {
            "connectors": {
                "payment": {
                    "vendor": "memory",
                    "slo": {
                        "availability": 0.999,
                        "window": "7d",
                        "operations": {"capture": {"latency": {"p99": 2.0}}},
                    },
                }
            }
        },
        registry=PluginRegistry(),
        environ={},
    )
    whole, capture = config.connectors["payment"].slos
    assert (whole.name, capture.name, capture.window) == ("payment", "payment.capture", 7 * 86400)
    assert capture.objectives == (Objective(kind="latency", target=0.99, threshold=2.0),)
    assert config.alerting.thresholds == (2.0,)


# -- counting -----------------------------------------------------------------------------------


def _manager(clock: FakeClock, **sms: Any) -> ConnectorManager:
    config = {
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0},
        "connectors": {
            "sms": {
                "vendor": "memory",
                "resilience": {"retry": {"max_attempts": 1}},
                "slo": {"availability": 0.99, "latency": {"p95": 0.25}},
                **sms,
            }
        },
    }
    return ConnectorManager.from_config(config, registry=PluginRegistry(), clock=clock)


def test_without_slo_or_rule_no_call_is_counted() -> None:
    with ConnectorManager.from_config(
        {"connectors": {"sms": {"vendor": "memory"}}}, registry=PluginRegistry()
    ) as manager:
        manager.sms.send(SmsMessage("+14155550100", "hi"))
        assert manager.monitor is None
        assert manager._runtime.observer.stats.events is None


def test_each_call_counts_once_in_a_minute_and_an_hour_bucket() -> None:
    clock = FakeClock(wall=W0)
    with _manager(clock, options={"latency": 0.3}) as manager:
        for _ in range(3):
            manager.sms.send(SmsMessage("+14155550100", "hi"))
        assert manager.monitor is not None
        assert len(manager.monitor.counter.events) == 3  # waiting for the flush
        assert manager.monitor.flush()
        assert not manager.monitor.counter.events
        (status,) = manager.slo().slos
    availability, latency = status.objectives
    assert (availability.events, availability.bad) == (3, 0)
    assert (latency.events, latency.bad) == (3, 3)  # 0.3 s each, over 0.25 s


def test_failures_the_caller_caused_count_against_no_slo() -> None:
    error = PaymentDeclinedError("card declined")
    assert failure_event("pay", "charge", error, 0.1, 5.0) == (
        "pay", "charge", 0.1, 5.0, False, "PaymentDeclinedError", None, "card declined",
    )  # fmt: skip
    unavailable = failure_event("pay", "charge", VendorUnavailableError("down"), 0.1, 5.0)
    assert unavailable is not None
    assert unavailable[4] is True


def test_a_call_its_caller_abandoned_counts_neither_way() -> None:
    assert failure_event("pay", "charge", asyncio.CancelledError(), 0.1, 5.0) is None
    assert failure_event("pay", "charge", KeyboardInterrupt(), 0.1, 5.0) is None


def test_another_librarys_cancellation_counts_neither_way() -> None:
    class Cancelled(BaseException):  # as trio's and anyio's cancellations are
        pass

    assert failure_event("pay", "charge", Cancelled(), 0.1, 5.0) is None


async def test_a_cancelled_async_call_is_not_counted() -> None:
    clock = FakeClock(wall=W0)
    config = {
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0},
        "connectors": {"sms": {"vendor": "memory", "slo": {"availability": 0.99}}},
    }
    manager = AsyncConnectorManager.from_config(config, registry=PluginRegistry(), clock=clock)
    gate = asyncio.Event()
    adapter = manager.sms.adapter

    async def hang(message: Any, ctx: Any) -> Any:
        await gate.wait()

    adapter.send = hang
    task = asyncio.create_task(manager.sms.send(SmsMessage("+14155550100", "hi")))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert manager.monitor is not None
    assert not manager.monitor.counter.events
    await manager.aclose()


class _Flaky(MemoryStateBackend):
    """Refuses the first `down` additions; with `lost`, applies one but loses its answer."""

    def __init__(self, clock: FakeClock, *, down: int = 0, lost: int = 0) -> None:
        super().__init__(clock=clock)
        self.down, self.lost, self.batches = down, lost, []

    def slo_add(self, batch: str, counts: Any) -> None:
        self.batches.append(batch)
        if self.down:
            self.down -= 1
            raise StateBackendUnavailableError("down for the test")
        super().slo_add(batch, counts)
        if self.lost:
            self.lost -= 1
            raise StateBackendUnavailableError("the answer was lost")


def _counter_and_events(clock: FakeClock) -> CallCounter:
    counter = CallCounter(clock, hour_keep=86400.0)
    for _ in range(4):
        counter.events.append(("sms", "send", 0.01, clock.monotonic()))
    return counter


def _sum(backend: MemoryStateBackend) -> dict[str, int]:
    from nexus_connector_core.state import SloQuery

    minute = int(W0 // 60)
    query = SloQuery(series="sms", resolution=60, first=minute, last=minute)
    return backend.slo_read([query])[0]


def test_counts_that_could_not_be_sent_are_sent_again_with_the_same_batch_id() -> None:
    clock = FakeClock(wall=W0)
    backend = _Flaky(clock, down=2)
    counter = _counter_and_events(clock)
    assert not counter.flush(backend)
    assert not counter.flush(backend)
    assert counter.unsent == 1
    assert counter.flush(backend)
    assert len(set(backend.batches)) == 1
    assert _sum(backend)["send|s"] == 4


def test_a_batch_whose_answer_was_lost_is_counted_once() -> None:
    clock = FakeClock(wall=W0)
    backend = _Flaky(clock, lost=1)
    counter = _counter_and_events(clock)
    assert not counter.flush(backend)
    assert counter.flush(backend)
    assert _sum(backend)["send|s"] == 4


def test_a_backend_down_for_long_loses_only_the_oldest_batches_and_counts_them() -> None:
    clock = FakeClock(wall=W0)
    backend = _Flaky(clock, down=10_000)
    counter = CallCounter(clock, hour_keep=86400.0)
    for _ in range(125):
        counter.events.append(("sms", "send", 0.01, clock.monotonic()))
        counter.flush(backend)
    assert counter.unsent == 120
    assert counter.dropped == 5


def test_recent_errors_are_kept_redacted_for_the_dashboard() -> None:
    clock = FakeClock(wall=W0)
    with _manager(clock, options={"fail_first": 1, "failure": "invalid"}) as manager:
        with pytest.raises(ConnectorError):
            manager.sms.send(SmsMessage("+14155550100", "hi"))
        assert manager.monitor is not None
        manager.monitor.flush()
        (error,) = manager.monitor.counter.recent_errors["sms"]
    assert (error.operation, error.vendor, error.error) == ("send", "memory", "InvalidRequestError")
    assert redact(
        "rejected +1 (415) 555-0100 for ada@example.com token sk_live_abcdefghijklmnopqrstuvwx"
    ) == ("rejected [phone] for [email] token [redacted]")


@pytest.mark.redis
async def test_an_async_manager_on_redis_counts_through_a_blocking_twin_it_closes(
    redis_url: str,
) -> None:
    pytest.importorskip("nexus_connector_redis")
    config = {
        "state": {"backend": "redis", "url": redis_url, "prefix": f"aslo-{os.urandom(4).hex()}"},
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0},
        "connectors": {"sms": {"vendor": "memory", "slo": {"availability": 0.99}}},
    }
    manager = AsyncConnectorManager.from_config(config, clock=FakeClock(wall=W0))
    for _ in range(3):
        await manager.sms.send(SmsMessage("+14155550100", "hi"))
    monitor = manager.monitor
    assert monitor is not None
    assert monitor.state is not manager.state  # a synchronous twin of the same Redis
    assert await asyncio.to_thread(monitor.flush)
    (status,) = (await manager.slo()).slos
    assert status.objectives[0].events == 3
    closed: list[bool] = []
    close = monitor.state.close
    monitor.state.close = lambda: closed.append(True) or close()  # type: ignore[method-assign]
    await manager.aclose()
    assert closed == [True]  # the twin is closed with the manager
