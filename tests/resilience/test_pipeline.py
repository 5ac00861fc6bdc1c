"""The resilience pipeline on the embedded vendors: idempotency, rate limits under
concurrency, cache, bulkhead, retry budget, per-operation settings, fail-open/closed."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nexus_connector_core import (
    Address,
    AsyncConnectorManager,
    ConfigError,
    ConnectorManager,
    EmailMessage,
    IdempotencyConflictError,
    Money,
    Parcel,
    PaymentDeclinedError,
    PaymentRequest,
    PluginRegistry,
    RateLimitExceededError,
    Shipment,
    SmsMessage,
    StateBackendUnavailableError,
    VendorUnavailableError,
    limit_key,
)
from nexus_connector_core.testing import FakeClock

PURCHASE = PaymentRequest(amount=Money(1999, "EUR"), payment_method="pm_card_visa")
SMS = SmsMessage("+14155550100", "Your code is 4242")


def _config(connector: str, **table: Any) -> dict[str, Any]:
    table.setdefault("vendor", "memory")
    return {"connectors": {connector: table}}


def _manager(connector: str, clock: FakeClock | None = None, **table: Any) -> ConnectorManager:
    return ConnectorManager.from_config(_config(connector, **table), clock=clock)


# -- rate limits: exact under concurrency -------------------------------------------------


def test_a_rate_limit_admits_exactly_the_bucket_from_eight_threads(clock: FakeClock) -> None:
    limit = {"rate_limit": {"rate": 10, "per": 1.0, "burst": 25}}
    with _manager("sms", clock, resilience=limit) as manager:
        barrier = threading.Barrier(8)

        def worker() -> tuple[int, int]:
            barrier.wait()
            sent = refused = 0
            for _ in range(10):
                try:
                    manager.sms.send(SMS)
                    sent += 1
                except RateLimitExceededError as exc:
                    refused += exc.local  # our own limiter, not the vendor's 429
            return sent, refused

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: worker(), range(8)))
        assert sum(s for s, _ in results) == 25  # the clock never moved: no refill
        assert sum(r for _, r in results) == 80 - 25
        assert len(manager.sms.adapter.calls) == 25


async def test_a_rate_limit_admits_exactly_the_bucket_from_fifty_tasks(clock: FakeClock) -> None:
    limit = {"rate_limit": {"rate": 5, "per": 1.0, "burst": 20}}
    config = _config("sms", resilience=limit)
    async with AsyncConnectorManager.from_config(config, clock=clock) as manager:

        async def worker() -> bool:
            try:
                await manager.sms.send(SMS)
            except RateLimitExceededError:
                return False
            return True

        results = await asyncio.gather(*(worker() for _ in range(50)))
        assert results.count(True) == 20
        clock.advance(1.0)  # five tokens come back per second
        more = await asyncio.gather(*(worker() for _ in range(50)))
        assert more.count(True) == 5


def test_a_local_rejection_says_when_to_come_back_and_is_not_retried(clock: FakeClock) -> None:
    limit = {"rate_limit": {"rate": 2, "per": 1.0}}
    with _manager("sms", clock, resilience=limit) as manager:
        manager.sms.send(SMS)
        manager.sms.send(SMS)
        with pytest.raises(RateLimitExceededError) as caught:
            manager.sms.send(SMS)
        assert caught.value.retry_after == pytest.approx(0.5)
        assert clock.sleeps == []


def test_waiting_for_a_token_spaces_calls_out_instead_of_failing(clock: FakeClock) -> None:
    limit = {"rate_limit": {"rate": 4, "per": 1.0, "burst": 1, "wait": True}}
    with _manager("sms", clock, resilience=limit) as manager:
        for _ in range(4):
            manager.sms.send(SMS)
        assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25])


def test_waiting_never_outlasts_the_deadline(clock: FakeClock) -> None:
    limit = {"rate_limit": {"rate": 1, "per": 10.0, "wait": True}, "deadline": 5.0}
    with _manager("sms", clock, resilience=limit) as manager:
        manager.sms.send(SMS)
        with pytest.raises(RateLimitExceededError):
            manager.sms.send(SMS)  # the next token is 10 s away, the deadline 5 s
        assert clock.sleeps == []


def test_limits_can_be_per_caller_key(clock: FakeClock) -> None:
    limit = {"rate_limit": {"rate": 1, "per": 60.0, "per_key": True}}
    with _manager("sms", clock, resilience=limit) as manager:
        with limit_key("tenant-a"):
            manager.sms.send(SMS)
            with pytest.raises(RateLimitExceededError):
                manager.sms.send(SMS)
        with limit_key("tenant-b"):
            manager.sms.send(SMS)  # another tenant has its own bucket
        assert len(manager.sms.adapter.calls) == 2


# -- idempotency --------------------------------------------------------------------------


def test_a_repeated_key_returns_the_stored_result_without_a_vendor_call() -> None:
    with _manager("payment") as manager:
        first = manager.payment.purchase(PURCHASE, idempotency_key="order-1")
        again = manager.payment.purchase(PURCHASE, idempotency_key="order-1")
        assert again == first
        assert len(manager.payment.adapter.calls) == 1


def test_the_same_key_with_a_different_request_is_a_conflict() -> None:
    with _manager("payment") as manager:
        manager.payment.purchase(PURCHASE, idempotency_key="order-1")
        other = PaymentRequest(amount=Money(2999, "EUR"), payment_method="pm_card_visa")
        with pytest.raises(IdempotencyConflictError, match="different request"):
            manager.payment.purchase(other, idempotency_key="order-1")
        assert len(manager.payment.adapter.calls) == 1


def test_a_declined_payment_is_replayed_not_retried() -> None:
    declined = PaymentRequest(amount=Money(100, "USD"), payment_method="pm_card_chargeDeclined")
    with _manager("payment") as manager:
        for _ in range(2):
            with pytest.raises(PaymentDeclinedError) as caught:
                manager.payment.purchase(declined, idempotency_key="order-2")
            assert caught.value.code == "card_declined"
        assert len(manager.payment.adapter.calls) == 1


def test_a_failure_that_may_pass_later_frees_the_key() -> None:
    config = {"options": {"fail_first": 1}, "resilience": {"retry": {"enabled": False}}}
    with _manager("payment", **config) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.payment.purchase(PURCHASE, idempotency_key="order-3")
        payment = manager.payment.purchase(PURCHASE, idempotency_key="order-3")
        assert payment.status == "succeeded"
        assert len(manager.payment.adapter.calls) == 2


def test_a_send_that_may_have_gone_out_keeps_its_key_in_doubt() -> None:
    # The memory email vendor takes no idempotency keys, as SMTP: after a failure that may
    # have delivered, a repeat with the same key must not reach it again.
    message = EmailMessage(sender="a@b.example", to=["c@d.example"], text="welcome")
    config = {"options": {"fail_first": 1}, "resilience": {"retry": {"enabled": False}}}
    with _manager("email", **config) as manager:
        with pytest.raises(VendorUnavailableError) as first:
            manager.email.send(message, idempotency_key="welcome-42")
        assert first.value.maybe_processed
        with pytest.raises(VendorUnavailableError, match="ended in doubt") as again:
            manager.email.send(message, idempotency_key="welcome-42")
        assert again.value.maybe_processed
        assert not again.value.retryable
        assert len(manager.email.adapter.calls) == 1

        manager.email.send(message, idempotency_key="welcome-43")  # checked, a new key
        assert len(manager.email.adapter.calls) == 2


def test_stored_outcomes_expire_after_their_ttl(clock: FakeClock) -> None:
    resilience = {"idempotency": {"ttl": 60.0}}
    with _manager("payment", clock, resilience=resilience) as manager:
        manager.payment.purchase(PURCHASE, idempotency_key="order-4")
        clock.advance(61.0)
        manager.payment.purchase(PURCHASE, idempotency_key="order-4")
        assert len(manager.payment.adapter.calls) == 2


def test_twenty_concurrent_duplicates_reach_the_vendor_once_from_threads() -> None:
    # A slow vendor (real time) makes the duplicates overlap with the first call.
    with _manager("payment", options={"latency": 0.2}) as manager:
        barrier = threading.Barrier(20)

        def buy() -> str:
            barrier.wait()
            return manager.payment.purchase(PURCHASE, idempotency_key="order-5").vendor_id

        with ThreadPoolExecutor(20) as pool:
            ids = list(pool.map(lambda _: buy(), range(20)))
        assert len(set(ids)) == 1
        assert len(manager.payment.adapter.calls) == 1


async def test_twenty_concurrent_duplicates_reach_the_vendor_once_from_tasks() -> None:
    config = _config("payment", options={"latency": 0.2})
    async with AsyncConnectorManager.from_config(config) as manager:
        payments = await asyncio.gather(
            *(manager.payment.purchase(PURCHASE, idempotency_key="order-6") for _ in range(20))
        )
        assert len({p.vendor_id for p in payments}) == 1
        assert len(manager.payment.adapter.calls) == 1


def test_a_concurrent_duplicate_can_be_told_to_fail_instead_of_wait() -> None:
    config = {"options": {"latency": 0.3}, "resilience": {"idempotency": {"wait": False}}}
    with _manager("payment", **config) as manager:
        started = threading.Event()

        def first() -> None:
            started.set()
            manager.payment.purchase(PURCHASE, idempotency_key="order-7")

        thread = threading.Thread(target=first)
        thread.start()
        started.wait()
        time.sleep(0.05)  # let the first call claim the key (real concurrency, real time)
        with pytest.raises(IdempotencyConflictError, match="still in flight"):
            manager.payment.purchase(PURCHASE, idempotency_key="order-7")
        thread.join()


def test_a_key_can_be_derived_from_request_fields() -> None:
    resilience = {"idempotency": {"derive_from": ["metadata.order_id"]}}
    request = PaymentRequest(
        amount=Money(500, "EUR"), payment_method="pm_card_visa", metadata={"order_id": "A-17"}
    )
    with _manager("payment", resilience=resilience) as manager:
        first = manager.payment.purchase(request)
        assert manager.payment.purchase(request) == first
        assert len(manager.payment.adapter.calls) == 1


# -- retries on the embedded vendors -------------------------------------------------------


def test_an_email_without_an_idempotency_key_is_not_resent_after_a_vendor_fault(
    clock: FakeClock,
) -> None:
    message = EmailMessage(sender="a@b.example", to=["c@d.example"], text="hi")
    with _manager("email", clock, options={"fail_first": 1}) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.email.send(message)
        assert len(manager.email.adapter.calls) == 1


def test_a_vendor_that_honours_keys_is_retried_with_one_key(clock: FakeClock) -> None:
    with _manager("payment", clock, options={"fail_first": 2}) as manager:
        payment = manager.payment.purchase(PURCHASE)
        assert payment.status == "succeeded"
        assert len(manager.payment.adapter.calls) == 3
        assert len(clock.sleeps) == 2


def test_an_operation_can_override_the_connector_policies(clock: FakeClock) -> None:
    resilience = {
        "retry": {"max_attempts": 4},
        "operations": {"get": {"retry": {"max_attempts": 1}}},
    }
    with _manager("payment", clock, options={"fail_first": 10}, resilience=resilience) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.payment.get("pay_x")
        assert len(manager.payment.adapter.calls) == 1
        with pytest.raises(VendorUnavailableError):
            manager.payment.void("pay_x")
        assert len(manager.payment.adapter.calls) == 1 + 4
        policies = manager.payment.settings.resilience
        assert (policies["get"].retry.max_attempts, policies["void"].retry.max_attempts) == (1, 4)


def test_the_retry_budget_stops_a_retry_storm(clock: FakeClock) -> None:
    resilience = {
        "retry": {"max_attempts": 5, "budget": {"ratio": 0.1, "min_per_second": 0.0}},
        "circuit_breaker": {"enabled": False},
    }
    with _manager(
        "shipping", clock, options={"fail_first": 10_000}, resilience=resilience
    ) as manager:
        for _ in range(20):
            with pytest.raises(VendorUnavailableError):
                manager.shipping.track("EZ1000000001")
        # 20 first attempts earn 2 retries, where an unbudgeted policy would make 80.
        assert len(manager.shipping.adapter.calls) == 20 + 2


# -- cache ----------------------------------------------------------------------------------


def _address() -> Address:
    return Address(street1="1 Main St", city="Springfield", postal_code="12345", country="US")


def test_read_results_are_cached_until_their_ttl(clock: FakeClock) -> None:
    shipment = Shipment(
        from_address=_address(), to_address=_address(), parcels=[Parcel(weight=500)]
    )
    with _manager("shipping", clock, resilience={"cache": {"ttl": 30.0}}) as manager:
        first = manager.shipping.rates(shipment)
        assert manager.shipping.rates(shipment) == first
        assert len(manager.shipping.adapter.calls) == 1
        clock.advance(31.0)
        manager.shipping.rates(shipment)
        assert len(manager.shipping.adapter.calls) == 2


def test_writes_and_failures_are_never_cached(clock: FakeClock) -> None:
    resilience = {"cache": {"ttl": 30.0}, "retry": {"enabled": False}}
    with _manager("payment", clock, options={"fail_first": 1}, resilience=resilience) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.payment.purchase(PURCHASE)
        first = manager.payment.purchase(PURCHASE)
        second = manager.payment.purchase(PURCHASE)
        assert first.vendor_id != second.vendor_id
        assert manager.payment.get(first.vendor_id) == manager.payment.get(first.vendor_id)
        assert [op for op, _ in manager.payment.adapter.calls].count("get") == 1


# -- bulkhead -------------------------------------------------------------------------------


def test_the_bulkhead_caps_calls_in_flight() -> None:
    resilience = {"bulkhead": {"max_concurrent": 2}}
    with _manager("sms", options={"latency": 0.3}, resilience=resilience) as manager:
        barrier = threading.Barrier(5)

        def send() -> str:
            barrier.wait()
            try:
                manager.sms.send(SMS)
            except RateLimitExceededError as exc:
                return str(exc)
            return "sent"

        with ThreadPoolExecutor(5) as pool:
            results = list(pool.map(lambda _: send(), range(5)))
        assert results.count("sent") == 2
        assert all("bulkhead full: 2 calls already in flight" in r for r in results if r != "sent")


# -- the state backend failing ----------------------------------------------------------------


class _DownBackend:
    """A state backend that cannot be reached."""

    def admit(self, *args: object, **kwargs: object) -> Any:
        raise StateBackendUnavailableError("redis://10.0.0.1 timed out", backend="stub")

    record = admit

    def close(self) -> None:
        pass


def _guarded(fail_mode: str) -> dict[str, Any]:
    return {
        "connectors": {
            "sms": {"vendor": "memory", "resilience": {"idempotency": {"enabled": False}}}
        },
        "state": {"fail_mode": fail_mode},
    }


def test_fail_open_calls_the_vendor_and_logs_when_the_backend_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ConnectorManager.from_config(_guarded("open"), state=_DownBackend()) as manager:
        assert manager.sms.send(SMS).vendor == "memory"
        assert manager.unguarded_calls == 1
    assert "state backend unavailable" in caplog.text


def test_fail_closed_refuses_the_call_when_the_backend_is_down() -> None:
    with ConnectorManager.from_config(_guarded("closed"), state=_DownBackend()) as manager:
        with pytest.raises(StateBackendUnavailableError):
            manager.sms.send(SMS)
        assert manager.sms.adapter.calls == []


# -- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "path", "fragment"),
    [
        (
            {"resilience": {"retry": {"max_atempts": 2}}},
            "connectors.sms.resilience.retry.max_atempts",
            "did you mean 'max_attempts'",
        ),
        (
            {"resilience": {"retry": {"retry_on": ["Oops"]}}},
            "connectors.sms.resilience.retry.retry_on",
            "unknown error class 'Oops'",
        ),
        (
            {"resilience": {"circuit_breaker": {"failure_rate": 2}}},
            "connectors.sms.resilience.circuit_breaker.failure_rate",
            "above 0 and at most 1, got 2",
        ),
        (
            {"resilience": {"rate_limit": {"per": 1}}},
            "connectors.sms.resilience.rate_limit.rate",
            "missing required key",
        ),
        (
            {"resilience": {"operations": {"sned": {}}}},
            "connectors.sms.resilience.operations.sned",
            "send, get_status",
        ),
        (
            {"resilience": {"operations": {"send": {"timeout": "soon"}}}},
            "connectors.sms.resilience.operations.send.timeout",
            "expected",
        ),
        (
            {"resilience": {"operations": {"get_status": {"circuit_breaker": {"min_calls": 4}}}}},
            "connectors.sms.resilience.operations.get_status.circuit_breaker",
            'shared by every operation of this connector; set scope = "operation" here',
        ),
        (
            {
                "resilience": {
                    "rate_limit": {"rate": 5, "per": 1.0},
                    "operations": {"send": {"rate_limit": {"rate": 50}}},
                }
            },
            "connectors.sms.resilience.operations.send.rate_limit",
            "differs from the rate limit of the connector's table",
        ),
        (
            {
                "resilience": {
                    "retry": {"budget": {"ratio": 0.2}},
                    "operations": {"send": {"retry": {"budget": {"ratio": 0.5}}}},
                }
            },
            "connectors.sms.resilience.operations.send.retry.budget",
            "a connector has one retry budget",
        ),
        (
            {"fallback": ["memory"]},
            "connectors.sms.fallback[0]",
            "already in this connector's chain",
        ),
        (
            {"fallback": ["twilio"]},
            "connectors.sms.fallback[0]",
            "pip install nexus-connector-twilio",
        ),
        (
            {"fallback": [{"vendor": "memory", "options": {"x": 1}}]},
            "connectors.sms.fallback[0].vendor",
            "already",
        ),
    ],
)
def test_resilience_and_fallback_errors_name_their_path(
    table: dict[str, Any], path: str, fragment: str, registry: PluginRegistry
) -> None:
    with pytest.raises(ConfigError) as caught:
        ConnectorManager.from_config(_config("sms", **table), registry=registry)
    problems = {p.path: p.detail for p in caught.value.problems}
    assert path in problems, problems
    assert fragment in problems[path]


def test_an_operation_may_have_a_breaker_of_its_own(registry: PluginRegistry) -> None:
    breaker = {"scope": "operation", "min_calls": 4}
    resilience = {"operations": {"get_status": {"circuit_breaker": breaker}}}
    config = _config("sms", resilience=resilience)
    with ConnectorManager.from_config(config, registry=registry) as manager:
        settings = manager.sms.settings.resilience
        assert settings["get_status"].circuit_breaker.min_calls == 4
        assert settings["send"].circuit_breaker.scope == "connector"


def test_state_settings_are_checked(registry: PluginRegistry) -> None:
    # The built-in plugin only: as on a machine without nexus-connector-redis.
    with pytest.raises(ConfigError) as caught:
        ConnectorManager.from_config(
            {"state": {"backend": "redis", "fail_mode": "maybe"}}, registry=registry
        )
    problems = {p.path: p.detail for p in caught.value.problems}
    assert "expected one of: 'open', 'closed'" in problems["state.fail_mode"]
    assert "pip install nexus-connector-redis" in problems["state.backend"]


def test_operation_overrides_merge_into_the_connector_policies() -> None:
    resilience = {
        "timeout": 3.0,
        "retry": {"max_attempts": 5, "backoff": "fibonacci"},
        "operations": {"capture": {"retry": {"max_attempts": 2}}},
    }
    with _manager("payment", resilience=resilience) as manager:
        capture = manager.payment.settings.resilience["capture"]
        assert (capture.timeout, capture.retry.max_attempts, capture.retry.backoff) == (
            3.0,
            2,
            "fibonacci",
        )


def test_fail_open_warning_goes_to_the_resilience_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nexus_connector.resilience")
    with ConnectorManager.from_config(_guarded("open"), state=_DownBackend()) as manager:
        manager.sms.send(SMS)
    assert [r.name for r in caplog.records] == ["nexus_connector.resilience"]


def test_token_requests_can_have_policies_of_their_own() -> None:
    resilience = {
        "retry": {"max_attempts": 4},
        "operations": {"oauth_token": {"retry": {"max_attempts": 6}}},
    }
    with _manager("sms", resilience=resilience) as manager:
        policies = manager.sms.settings.resilience
        assert (
            policies["oauth_token"].retry.max_attempts,
            policies["send"].retry.max_attempts,
        ) == (6, 4)
