"""A worker process of the monitoring tests: ``python worker.py SETUP_JSON``.

It builds a `ConnectorManager` from ``setup["config"]`` on a `FakeClock` at ``setup["wall"]``
(epoch seconds), with the ``scripted`` SMS vendor, whose answer is the message's body: ``ok``,
``fail`` (unavailable), ``invalid`` (the caller's mistake) or ``slow SECONDS`` (a success
that takes that long on the fake clock). It then reads one JSON command a line on stdin and
answers each with one JSON line on stdout:

- ``{"at": EPOCH}``: move the fake clock on to that time;
- ``{"send": [BODY, COUNT]}``: make COUNT calls of connector ``sms`` with that body;
- ``{"flush": true}``: flush the call counts; ``{"evaluate": true}``: one evaluation (led or
  not, and the notifications sent); ``{"release": true}``: give the alerts lease up, if held;
- ``{"close": true}``: close the manager (flush, give the lease up) and exit.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from typing import Any

from nexus_connector_core import (
    ConnectorError,
    ConnectorManager,
    InvalidRequestError,
    PluginRegistry,
    SmsMessage,
    SmsReceipt,
    VendorUnavailableError,
    hookimpl,
)
from nexus_connector_core.testing import FakeClock


class Scripted:
    """An SMS vendor that answers as the message's body says."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:
        what, _, seconds = message.body.partition(" ")
        if what == "fail":
            raise VendorUnavailableError("scripted outage")
        if what == "invalid":
            raise InvalidRequestError("scripted refusal")
        if what == "slow":
            ctx.clock.sleep(float(seconds))
        return SmsReceipt(vendor="scripted", vendor_id="SM1", to=message.to)

    def get_status(self, request: Any, ctx: Any) -> Any:
        raise NotImplementedError


@hookimpl
def register_sms_vendors(register: Any) -> None:
    register("scripted", Scripted, async_impl=Scripted)


def main() -> None:
    setup = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    registry = PluginRegistry()
    registry.register(
        types.SimpleNamespace(__name__="scripted", register_sms_vendors=register_sms_vendors)
    )
    import nexus_connector_redis.plugin

    registry.register(nexus_connector_redis.plugin, name="redis")
    clock = FakeClock(wall=setup["wall"])
    manager = ConnectorManager.from_config(
        setup["config"], registry=registry, clock=clock, environ=setup.get("environ", {})
    )
    monitor = manager.monitor
    assert monitor is not None
    for line in sys.stdin:
        command = json.loads(line)
        answer: dict[str, Any] = {"ok": True}
        if "at" in command:
            clock.advance(max(command["at"] - clock.time(), 0.0))
        elif "send" in command:
            body, count = command["send"]
            failed = 0
            for _ in range(count):
                try:
                    manager.connector("sms").send(SmsMessage("+14155550100", body))
                except ConnectorError:
                    failed += 1
            answer["failed"] = failed
        elif "flush" in command:
            answer["flushed"] = monitor.flush()
        elif "evaluate" in command:
            evaluation = monitor.evaluate()
            answer["led"] = evaluation is not None
            answer["notifications"] = [
                [n.rule, n.status] for n in (evaluation.notifications if evaluation else ())
            ]
            answer["failures"] = list(evaluation.failures) if evaluation else []
        elif "release" in command:
            assert monitor.evaluator is not None
            monitor.evaluator.release(monitor.state)
        elif "close" in command:
            manager.close()
            print(json.dumps(answer), flush=True)
            return
        print(json.dumps(answer), flush=True)
    manager.close()


if __name__ == "__main__":
    main()
