"""An alert rule across a fleet: three worker processes share one Redis and each evaluates
the rules, but one leads, so the alert fires once, not three times; it resolves once (sent
by the worker that took the lease over when the first leader closed); and the webhook
deliveries, retried through the pipeline after a 503, verify with Standard Webhooks."""

from __future__ import annotations

import base64
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nexus_connector_core.webhooks import verify

pytestmark = pytest.mark.redis
pytest.importorskip("nexus_connector_redis.plugin")

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z
SECRET = "whsec_" + base64.b64encode(b"alert-signing-key-0123456789").decode()
RULE = "error_rate(sms) > 20% for 2m"


def setup(redis_url: str, prefix: str, receiver_url: str) -> dict[str, Any]:
    return {
        "wall": T0,
        "environ": {"OPS_WEBHOOK_SECRET": SECRET},
        "config": {
            "state": {"backend": "redis", "url": redis_url, "prefix": prefix},
            "observability": {"loggers": []},
            "alerting": {
                "evaluate_every": 0,
                "lease": 30.0,
                "sinks": {
                    "webhook": {"ops": {"url": receiver_url, "secret": "env:OPS_WEBHOOK_SECRET"}}
                },
            },
            "connectors": {
                "sms": {
                    "vendor": "scripted",
                    "resilience": {
                        "retry": {"max_attempts": 1},
                        "circuit_breaker": {"enabled": False},
                    },
                }
            },
            "alerts": {
                "sms-failing": {
                    "when": RULE,
                    "notify": ["log", "webhook:ops"],
                    "summary": "a fifth of SMS sends fail",
                }
            },
        },
    }


def evaluate_all(fleet: list[Any], when: float) -> list[dict[str, Any]]:
    answers = []
    for worker in fleet:
        worker.send({"at": when})
        answers.append(worker.send({"evaluate": True}))
    return answers


def evaluate_together(fleet: list[Any], when: float) -> list[dict[str, Any]]:
    """Every worker evaluates at the same moment: each command is written once all the
    threads are at the barrier, and the workers wait for nothing else."""
    for worker in fleet:
        worker.send({"at": when})
    barrier = threading.Barrier(len(fleet))

    def evaluate(worker: Any) -> dict[str, Any]:
        barrier.wait(timeout=30)
        return dict(worker.send({"evaluate": True}))

    with ThreadPoolExecutor(len(fleet)) as pool:
        return list(pool.map(evaluate, fleet))


def test_three_workers_evaluating_at_the_same_moment_elect_one_leader_who_fires_once(
    redis_url: str, workers: Any, webhook_receiver: Any
) -> None:
    prefix = f"alerts-{os.urandom(4).hex()}"
    fleet = [workers.start(setup(redis_url, prefix, webhook_receiver.url)) for _ in range(3)]
    for worker in fleet:
        worker.run([{"send": ["ok", 5]}, {"send": ["fail", 5]}])

    rounds = {}
    for step, when in (("pending", T0), ("still pending", T0 + 60), ("fires", T0 + 120),
                       ("still firing", T0 + 180), ("later", T0 + 240)):  # fmt: skip
        for worker in fleet:  # the lease is free again: every round is a race for it
            worker.send({"release": True})
        rounds[step] = evaluate_together(fleet, when)

    for step, answers in rounds.items():
        assert [a["led"] for a in answers].count(True) == 1, (step, answers)
    notices = {
        step: [n for a in answers for n in a["notifications"]] for step, answers in rounds.items()
    }
    assert notices == {
        "pending": [],
        "still pending": [],
        "fires": [["sms-failing", "firing"]],
        "still firing": [],
        "later": [],
    }
    text = "".join(worker.close() for worker in fleet)
    assert text.count("alert sms-failing firing") == 1, text
    firing = [r for r in webhook_receiver.requests if b"alert.firing" in r[2]]
    assert len(firing) == 1


def test_an_alert_fires_once_for_three_workers_resolves_and_its_webhook_verifies(
    redis_url: str, workers: Any, webhook_receiver: Any
) -> None:
    webhook_receiver.statuses = [503]  # the first delivery attempt fails: retried
    prefix = f"alerts-{os.urandom(4).hex()}"
    fleet = [workers.start(setup(redis_url, prefix, webhook_receiver.url)) for _ in range(3)]
    for worker in fleet:  # half of every worker's calls fail: 15 of 30 in the fleet
        worker.run([{"send": ["ok", 5]}, {"send": ["fail", 5]}])

    timeline = {
        "pending": evaluate_all(fleet, T0),
        "still pending": evaluate_all(fleet, T0 + 60),
        "fires": evaluate_all(fleet, T0 + 120),
        "still firing": evaluate_all(fleet, T0 + 180),
    }
    for step, answers in timeline.items():
        assert [a["led"] for a in answers].count(True) == 1, step
    notices = {
        step: [n for a in answers for n in a["notifications"]] for step, answers in timeline.items()
    }
    assert notices == {
        "pending": [],
        "still pending": [],
        "fires": [["sms-failing", "firing"]],
        "still firing": [],
    }
    leader = next(i for i, a in enumerate(timeline["fires"]) if a["led"])
    logs = [fleet[leader].close()]  # gives the lease up: another worker leads at once
    rest = [worker for i, worker in enumerate(fleet) if i != leader]
    for worker in rest:  # the failures leave the 5-minute window; calls succeed
        worker.run([{"at": T0 + 420}, {"send": ["ok", 50]}])
    resolved = evaluate_all(rest, T0 + 420)
    assert [a["led"] for a in resolved].count(True) == 1
    assert [n for a in resolved for n in a["notifications"]] == [["sms-failing", "resolved"]]
    logs += [worker.close() for worker in rest]

    text = "".join(logs)
    assert text.count("alert sms-failing firing") == 1, text
    assert text.count("alert sms-failing resolved") == 1, text

    requests = webhook_receiver.requests
    assert len(requests) == 3  # the firing notice twice (503, then 200), the resolved once
    assert requests[0][1]["webhook-id"] == requests[1][1]["webhook-id"]
    delivered = {}
    for path, headers, body in requests[1:]:
        assert path == "/hooks/nexus?team=ops"
        # The workers' clocks are fake (2026-01-01): pin verify's clock to the sender's.
        event = verify(
            "standard-webhooks",
            headers=headers,
            body=body,
            secret=SECRET,
            now=float(headers["webhook-timestamp"]),
        )
        delivered[event.data["type"]] = event.data["data"]
    assert set(delivered) == {"alert.firing", "alert.resolved"}
    firing, done = delivered["alert.firing"], delivered["alert.resolved"]
    assert (firing["rule"], firing["when"], firing["summary"]) == (
        "sms-failing",
        RULE,
        "a fifth of SMS sends fail",
    )
    assert firing["since"] == done["since"] == "2026-01-01T12:02:00Z"
    assert done["at"] == "2026-01-01T12:07:00Z"
    with pytest.raises(Exception, match="signature"):
        verify(
            "standard-webhooks",
            headers=requests[1][1],
            body=json.dumps({"forged": True}).encode(),
            secret=SECRET,
            now=float(requests[1][1]["webhook-timestamp"]),
        )
