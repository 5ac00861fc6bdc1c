"""Alerts at work on a fake clock: the rules' states (pending, firing, reminders, resolved),
one leader among the managers sharing a backend, the sinks (log, webhook through the
pipeline, a plugin's) and their config."""

from __future__ import annotations

import base64
import contextlib
import logging
import types
from typing import Any

import pytest

from nexus_connector_core import (
    ConfigError,
    ConnectorError,
    ConnectorManager,
    PluginRegistry,
    SmsMessage,
    hookimpl,
    load_config,
)
from nexus_connector_core._alert_sinks import AlertDeliveryError, AlertNotification
from nexus_connector_core._alerts import AlertState, step
from nexus_connector_core.state import MemoryStateBackend
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.webhooks import verify

W0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z
SECRET = "whsec_" + base64.b64encode(b"a-signing-key-for-the-tests").decode()


# -- the states ---------------------------------------------------------------------------------


def test_a_rule_fires_after_holding_for_its_hold_then_reminds_then_resolves() -> None:
    state = AlertState()
    timeline = []
    for now, holds in [
        (0, True),
        (60, True),
        (120, True),
        (180, True),
        (3720, True),
        (3800, False),
    ]:
        state, notice = step(state, holds, W0 + now, hold=120.0, repeat=3600.0)
        timeline.append((now, state.status, notice))
    assert timeline == [
        (0, "pending", None),
        (60, "pending", None),
        (120, "firing", "firing"),
        (180, "firing", None),
        (3720, "firing", "firing"),  # a reminder: an hour after it fired
        (3800, "inactive", "resolved"),
    ]
    assert (state.fired, state.last_fired, state.last_resolved) == (1, W0 + 120, W0 + 3800)


def test_a_pending_rule_that_stops_holding_goes_back_without_a_notice() -> None:
    pending, _ = step(AlertState(), True, W0, hold=300.0, repeat=3600.0)
    state, notice = step(pending, False, W0 + 60, hold=300.0, repeat=3600.0)
    assert (state.status, state.since, notice) == ("inactive", None, None)


def test_a_rule_without_for_fires_at_once() -> None:
    state, notice = step(AlertState(), True, W0, hold=0.0, repeat=3600.0)
    assert (state.status, notice) == ("firing", "firing")


# -- the leader ---------------------------------------------------------------------------------


def _config(**alerting: Any) -> dict[str, Any]:
    return {
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0, **alerting},
        "connectors": {
            "sms": {
                "vendor": "memory",
                "options": {"fail_first": 4},
                "resilience": {"retry": {"max_attempts": 1}, "circuit_breaker": {"enabled": False}},
            }
        },
        "alerts": {"sms-failing": {"when": "error_rate(sms, 1h) > 20% for 1m", "repeat": "30m"}},
    }


def _fail(manager: ConnectorManager, calls: int) -> None:
    for _ in range(calls):
        with contextlib.suppress(ConnectorError):
            manager.sms.send(SmsMessage("+14155550100", "hi"))


def test_managers_sharing_a_backend_have_one_leader_whose_successor_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(wall=W0)
    shared = MemoryStateBackend(clock=clock)
    first = ConnectorManager.from_config(
        _config(), registry=PluginRegistry(), clock=clock, state=shared
    )
    second = ConnectorManager.from_config(
        _config(), registry=PluginRegistry(), clock=clock, state=shared
    )
    assert first.monitor is not None
    assert second.monitor is not None
    _fail(first, 5)  # 4 of 5 fail
    assert first.monitor.evaluate() is not None  # leads: pending
    assert second.monitor.evaluate() is None
    clock.advance(60)
    caplog.set_level(logging.WARNING, logger="nexus_connector.alerts")
    fired = first.monitor.evaluate()
    assert fired is not None
    assert [(n.rule, n.status) for n in fired.notifications] == [("sms-failing", "firing")]
    first.close()  # gives the lease up

    clock.advance(60)
    carried = second.monitor.evaluate()
    assert carried is not None
    assert carried.states == {"sms-failing": "firing"}
    assert carried.notifications == ()  # not announced twice
    clock.advance(30 * 60)
    reminder = second.monitor.evaluate()
    assert reminder is not None
    assert [(n.status, n.reminder) for n in reminder.notifications] == [("firing", 1)]
    clock.advance(40 * 60)  # the failures have left the hour's window
    resolved = second.monitor.evaluate()
    assert resolved is not None
    assert [n.status for n in resolved.notifications] == ["resolved"]
    report = second.alerts()
    assert (report.rules[0].status, report.rules[0].fired) == ("inactive", 1)
    second.close()
    assert [r.getMessage() for r in caplog.records] == [
        "alert sms-failing firing: error_rate(sms, 1h) > 20% for 1m",
        "alert sms-failing firing (reminder 1): error_rate(sms, 1h) > 20% for 1m",
    ]


def test_a_leader_deposed_before_storing_sends_nothing() -> None:
    clock = FakeClock(wall=W0)

    class Deposing(MemoryStateBackend):
        def lease_store(self, name: str, owner: str, data: bytes, *, keep: float) -> bool:
            self.lease_release(name, owner)  # another worker took over meanwhile
            return super().lease_store(name, owner, data, keep=keep)

    config = _config()
    config["alerts"]["sms-failing"]["when"] = "error_rate(sms) > 20%"
    with ConnectorManager.from_config(
        config, registry=PluginRegistry(), clock=clock, state=Deposing(clock=clock)
    ) as manager:
        _fail(manager, 5)
        assert manager.monitor is not None
        assert manager.monitor.evaluate() is None


# -- sinks --------------------------------------------------------------------------------------


def _notification(status: str = "firing") -> AlertNotification:
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(W0, UTC)
    return AlertNotification(
        id="msg_test", rule="r", status=status, when="calls(sms) > 1", since=at, at=at
    )


def _webhook(url: str, **options: Any) -> Any:
    from nexus_connector_core._alert_sinks import (
        AlertSinkSettings,
        WebhookAlertSink,
        WebhookSinkOptions,
    )
    from nexus_connector_core._credentials import Secret

    return WebhookAlertSink(
        AlertSinkSettings(
            sink="webhook",
            target="ops",
            options=WebhookSinkOptions(url=url, secret=Secret(SECRET), **options),
            clock=FakeClock(wall=W0),
        )
    )


def test_the_webhook_sink_retries_a_503_through_the_pipeline_with_one_webhook_id(
    webhook_receiver: Any,
) -> None:
    webhook_receiver.statuses = [503, 429]
    sink = _webhook(webhook_receiver.url)
    sink.notify(_notification())
    sink.close()
    ids = {headers["webhook-id"] for _, headers, _ in webhook_receiver.requests}
    assert (len(webhook_receiver.requests), ids) == (3, {"msg_test"})
    _, headers, body = webhook_receiver.requests[-1]
    event = verify("standard-webhooks", headers=headers, body=body, secret=SECRET, now=W0)
    assert event.data["type"] == "alert.firing"
    assert event.data["data"]["when"] == "calls(sms) > 1"


def test_the_webhook_sink_does_not_retry_a_refusal_and_says_so_without_its_url(
    webhook_receiver: Any,
) -> None:
    webhook_receiver.statuses = [400]
    sink = _webhook(webhook_receiver.url)
    with pytest.raises(AlertDeliveryError) as caught:
        sink.notify(_notification())
    sink.close()
    assert len(webhook_receiver.requests) == 1
    assert "webhook 'ops' did not take alert 'r' (firing): InvalidRequestError" in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)


OPS = "alerting.sinks.webhook.ops"
URL = "https://ops.example"


@pytest.mark.parametrize(
    ("options", "path", "message"),
    [
        ({}, f"{OPS}.url", "missing required key"),
        ({"url": "ftp://ops.example", "secret": "env:S"}, OPS, "http"),
        ({"url": URL, "secret": "env:MISSING"}, f"{OPS}.secret", "MISSING"),
        ({"url": URL, "secret": "env:S", "max_attempts": 0}, f"{OPS}.max_attempts", "1 to 20"),
    ],
)
def test_a_webhook_target_is_checked_with_its_key_path(
    options: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "connectors": {"sms": {"vendor": "memory"}},
                "alerts": {"x": {"when": "calls(sms) > 1", "notify": ["webhook:ops"]}},
                "alerting": {"sinks": {"webhook": {"ops": options}}},
            },
            registry=PluginRegistry(),
            environ={"S": SECRET},
        )
    problems = {p.path or "": p.detail for p in caught.value.problems}
    assert any(key.startswith(path) and message in detail for key, detail in problems.items()), (
        problems
    )
    assert SECRET not in str(caught.value)


def test_a_sink_target_no_rule_uses_and_a_sink_without_a_target_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "connectors": {"sms": {"vendor": "memory"}},
                "alerts": {"x": {"when": "calls(sms) > 1", "notify": ["webhook"]}},
                "alerting": {
                    "sinks": {"webhook": {"spare": {"url": "https://o.example", "secret": "x"}}}
                },
            },
            registry=PluginRegistry(),
            environ={},
        )
    problems = {p.path: p.detail for p in caught.value.problems}
    assert "write webhook:<name>" in problems["alerts.x.notify[0]"]
    assert "no rule notifies webhook:spare" in problems["alerting.sinks.webhook.spare"]


def test_a_plugin_offers_its_own_sink_under_register_alert_sinks() -> None:
    received: list[AlertNotification] = []

    class Pager:
        def __init__(self, settings: Any) -> None:
            self.target = settings.target

        def notify(self, notification: AlertNotification) -> None:
            received.append(notification)

    @hookimpl
    def register_alert_sinks(register: Any) -> None:
        register("pager", Pager, description="pages whoever is on call")

    registry = PluginRegistry()
    registry.register(
        types.SimpleNamespace(__name__="pager", register_alert_sinks=register_alert_sinks)
    )
    config = _config()
    config["alerts"]["sms-failing"] = {"when": "error_rate(sms) > 20%", "notify": ["pager:ops"]}
    clock = FakeClock(wall=W0)
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        _fail(manager, 5)
        assert manager.monitor is not None
        manager.monitor.evaluate()
    assert [(n.rule, n.status) for n in received] == [("sms-failing", "firing")]
    assert "pager" in registry.keys("alert_sink")


def test_a_lease_no_longer_than_the_evaluation_interval_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "connectors": {"sms": {"vendor": "memory"}},
                "alerting": {"evaluate_every": 60.0, "lease": 30.0},
            },
            registry=PluginRegistry(),
            environ={},
        )
    assert caught.value.path == "alerting.lease"
    assert "must be longer than evaluate_every (60 s)" in caught.value.detail
