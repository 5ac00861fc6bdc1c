"""A worker process for the multi-process tests: ``python worker.py SCENARIO JSON``.

It builds what the scenario needs, prints ``ready``, waits for the go file (so that all
workers start together), runs, and prints one JSON line with its result. ``skew`` shifts
this process's clocks (``time.time`` and ``time.monotonic``) by that many seconds before
anything else runs: a host whose clock is wrong.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_REAL_TIME, _REAL_MONOTONIC = time.time, time.monotonic


def _skew(seconds: float) -> None:
    time.time = lambda: _REAL_TIME() + seconds  # type: ignore[assignment]
    time.monotonic = lambda: _REAL_MONOTONIC() + seconds  # type: ignore[assignment]


def _wait_for(go: str) -> None:
    print("ready", flush=True)
    deadline = _REAL_MONOTONIC() + 30
    while not os.path.exists(go):
        if _REAL_MONOTONIC() > deadline:
            raise SystemExit("no go signal within 30 s")
        time.sleep(0.001)


def _backend(args: dict[str, Any]) -> Any:
    from nexus_connector_redis import RedisOptions, RedisStateBackend

    from nexus_connector_core import SYSTEM_CLOCK
    from nexus_connector_core.state import BackendSettings

    options = RedisOptions(
        url=args["url"],
        cluster=args.get("cluster", False),
        timeout=5.0,
        record_delay=args.get("record_delay", 0.05),
    )
    return RedisStateBackend(
        BackendSettings(options=options, clock=SYSTEM_CLOCK, prefix=args["prefix"])
    )


def _plans(args: dict[str, Any]) -> tuple[Any, Any]:
    from nexus_connector_core.state import BreakerPolicy, GuardPlan, LimitPolicy

    scope = f"{args['prefix']}-scope"
    breaker = GuardPlan(
        scope=scope,
        breaker_key=f"{scope}:breaker",
        breaker=BreakerPolicy(
            window=args.get("window", 8),
            min_calls=args.get("window", 8),
            failure_rate=0.5,
            open_for=args.get("open_for", 3600.0),
            half_open_calls=args.get("trials", 2),
            half_open_max_wait=0.0,
        ),
    )
    limit = GuardPlan(
        scope=scope,
        limit_key=f"{scope}:limit",
        limit=LimitPolicy(rate=args.get("capacity", 10), per=3600.0),
    )
    return breaker, limit


def run(scenario: str, args: dict[str, Any]) -> Any:
    if args.get("skew"):
        _skew(float(args["skew"]))
    if scenario == "idempotent_purchase":
        return _idempotent_purchase(args)
    backend = _backend(args)
    breaker, limit = _plans(args)
    _wait_for(args["go"])
    if args.get("wait"):  # let time pass on the server's clock (which no fake can move)
        time.sleep(args["wait"])
    if scenario == "limit":
        return sum(backend.admit(limit).allowed for _ in range(args["tries"]))
    if scenario == "fail":  # admit and record failures; report how many were admitted
        admitted = 0
        for _ in range(args["tries"]):
            admission = backend.admit(breaker)
            if admission.allowed:
                admitted += 1
                backend.record(breaker, admission, failed=True, duration=0.0)
        return admitted
    if scenario == "fail_and_die":  # record failures, then end without a chance to flush
        for _ in range(args["tries"]):
            backend.record(breaker, backend.admit(breaker), failed=True, duration=0.0)
        print(json.dumps(args["tries"]), flush=True)
        os._exit(0)
    if scenario == "state":
        return backend.breaker(breaker).state
    if scenario == "trial":
        return backend.admit(breaker).trial
    if scenario == "token_lock":
        return backend.token_lock(f"{args['prefix']}:token", ttl=60.0)
    if scenario == "oauth_token":
        return _oauth_token(backend, args)
    raise SystemExit(f"unknown scenario {scenario}")


def _oauth_token(backend: Any, args: dict[str, Any]) -> Any:
    """Every thread of every process asks for a token the shared backend does not hold."""
    from nexus_connector_core.auth import OAuth2ClientCredentials

    auth = OAuth2ClientCredentials(
        args["token_url"], "client-1", "client-secret-1", state=backend, lock_ttl=10.0
    )
    with ThreadPoolExecutor(args["threads"]) as pool:
        tokens = list(pool.map(lambda _: auth.get_token().reveal(), range(args["threads"])))
    return sorted(set(tokens))


def _idempotent_purchase(args: dict[str, Any]) -> Any:
    """Purchase through a full manager with the Redis state backend and an HTTP vendor."""
    import httpx

    from nexus_connector_core import (
        ConnectorManager,
        Money,
        Payment,
        PaymentRequest,
        PluginRegistry,
        Registrar,
        hookimpl,
    )

    class HttpPayments:
        """Purchases at the test's vendor server; the other operations are not needed."""

        def __init__(self, settings: Any) -> None:
            self.client = httpx.Client(base_url=args["vendor_url"])

        def purchase(self, request: PaymentRequest, ctx: Any) -> Payment:
            form = {"amount": request.amount.amount}
            body = self.client.post("/v1/payment_intents", data=form).json()
            return Payment(
                vendor="httppay",
                vendor_id=body["id"],
                status="succeeded",
                amount=request.amount,
                captured=request.amount,
                refunded=Money(0, request.amount.currency),
            )

        def _unused(self, request: Any, ctx: Any) -> Any:
            raise NotImplementedError

        authorize = capture = refund = void = get = _unused

    @hookimpl
    def register_payment_vendors(register: Registrar) -> None:
        register("httppay", HttpPayments)

    import nexus_connector_redis.plugin

    registry = PluginRegistry()
    registry.register(
        types.SimpleNamespace(__name__="http", register_payment_vendors=register_payment_vendors)
    )
    registry.register(nexus_connector_redis.plugin, name="redis")
    config = {
        "connectors": {"payment": {"vendor": "httppay"}},
        "state": {"backend": "redis", "url": args["url"], "prefix": args["prefix"]},
    }
    with ConnectorManager.from_config(config, registry=registry) as manager:
        request = PaymentRequest(amount=Money(1999, "EUR"), payment_method="pm_card_visa")

        def buy() -> str:
            return manager.payment.purchase(request, idempotency_key=args["key"]).vendor_id

        _wait_for(args["go"])
        with ThreadPoolExecutor(args["threads"]) as pool:
            return list(pool.map(lambda _: buy(), range(args["threads"])))


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], json.loads(sys.argv[2]))), flush=True)
