"""The background work of a manager that counts calls and evaluates alert rules.

A `Monitor` exists when the config has an SLO, an alert rule or ``[alerting] count_calls =
true``. It turns counting on in the observe step (`CallStats.count_into`), and one daemon
thread per manager then flushes the counts to the state backend every ``flush_every``
seconds and, every ``evaluate_every`` seconds, asks for the alerts lease and evaluates the
rules when it gets it. The thread talks to the backend synchronously: an async manager's
monitor uses the backend's non-blocking face (memory) or a synchronous twin built from the
same ``[state]`` settings (Redis), which it closes with the manager.

`flush` and `evaluate` may also be called directly (tests drive them on a fake clock, with
``evaluate_every = 0``). Closing the manager stops the thread, flushes what is left and gives
the lease up, so another worker leads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from ._alert_sinks import AlertSink, AlertSinkSettings
from ._alerting_config import AlertingSettings
from ._alerts import AlertEvaluator, Evaluation
from ._clock import Clock
from ._errors import ConnectorError, PluginError, StateBackendUnavailableError
from ._health import CallStats
from ._logging import library_logger
from ._slo_counts import CallCounter
from ._state import GuardPlan, StateBackend

__all__ = ["Monitor"]

_log = library_logger("nexus_connector.monitor")
#: Hour buckets outlive the longest window by this much.
_HOUR_MARGIN = 2 * 3600.0


class Monitor:
    """Counts calls for SLOs and rules, and evaluates the rules when this worker leads.

    Attributes:
        counter: the call counts not yet flushed, this process's totals and recent errors.
        evaluator: the alert rules' evaluator (None without rules).
    """

    def __init__(
        self,
        settings: AlertingSettings,
        *,
        clock: Clock,
        stats: CallStats,
        state: StateBackend,
        owns_state: bool,
        breaker_plans: Callable[[str, str | None], Sequence[GuardPlan]],
        background: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state = state
        self._owns_state = owns_state
        self._stats = stats
        self.counter = CallCounter(
            clock, settings.thresholds, hour_keep=settings.longest_window + _HOUR_MARGIN
        )
        self.evaluator: AlertEvaluator | None = None
        if settings.rules:
            self.evaluator = AlertEvaluator(
                settings.rules,
                _sinks(settings, clock),
                clock=clock,
                slos=settings.slos,
                breaker_plans=breaker_plans,
                lease=settings.lease,
            )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        stats.count_into(self.counter.events)
        if background:
            self._thread = threading.Thread(target=self._run, name="nexus-monitor", daemon=True)
            self._thread.start()

    # -- the work ---------------------------------------------------------------------------

    def flush(self) -> bool:
        """Send this worker's counts to the state backend now; False when some could not go
        (they are kept and sent again)."""
        return self.counter.flush(self.state)

    def evaluate(self) -> Evaluation | None:
        """Flush, then evaluate the rules if this worker leads (None when another does, when
        there are no rules, or when the backend cannot be reached)."""
        if self.evaluator is None:
            return None
        with self._lock:
            self.flush()
            try:
                return self.evaluator.evaluate(self.state)
            except StateBackendUnavailableError as exc:
                _log.warning("alert rules not evaluated: %s", exc)
                return None

    def _run(self) -> None:
        flush_every = self.settings.flush_every
        evaluate_every = self.settings.evaluate_every if self.evaluator is not None else 0.0
        # The first evaluation waits a whole interval: the fleet's counts arrive meanwhile,
        # and a short-lived process (a CLI command) never leads.
        next_evaluation = time.monotonic() + evaluate_every
        while not self._stop.wait(flush_every):
            try:
                if evaluate_every and time.monotonic() >= next_evaluation:
                    next_evaluation = time.monotonic() + evaluate_every
                    self.evaluate()
                else:
                    self.flush()
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure
                _log.exception("the monitor's background work failed; it goes on")

    # -- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the thread, flush what is left, give the lease up, release the sinks."""
        self._stats.count_into(None)
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.settings.flush_every + 30.0)
        try:
            self.flush()
            if self.evaluator is not None:
                self.evaluator.release(self.state)
        except StateBackendUnavailableError as exc:
            _log.warning("monitor closed without its last flush: %s", exc)
        finally:
            if self.evaluator is not None:
                for sink in self.evaluator.sinks.values():
                    close = getattr(sink, "close", None)
                    if callable(close):
                        close()
            if self._owns_state:
                self.state.close()


def _sinks(settings: AlertingSettings, clock: Clock) -> Mapping[str, AlertSink]:
    sinks: dict[str, AlertSink] = {}
    for name, target in settings.sinks.items():
        factory = target.registration.load()
        try:
            sinks[name] = factory(
                AlertSinkSettings(
                    sink=target.registration.key,
                    target=target.target,
                    options=target.options,
                    clock=clock,
                )
            )
        except ConnectorError:
            raise
        except Exception as exc:
            raise PluginError(
                f"alert sink {name!r} failed to start: {type(exc).__name__}",
                plugin=target.registration.plugin,
                distribution=target.registration.distribution,
            ) from exc
    return sinks
