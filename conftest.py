"""Suite-wide settings, and a guard over the whole test suite: no secret value reaches a
log record or the output pytest captured from any test.

Every value wrapped in a `Secret` during the session is remembered (values shorter than 8
characters are too likely to occur by chance to be told apart); every log record emitted
and every test's captured stdout, stderr and log are scanned for them when the session
ends. A finding fails the session and says where, without printing the value.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from nexus_connector_core import _credentials

# Property tests check behaviour, not speed: on a loaded CI machine a slow draw or a slow
# example must not fail the suite (timing claims live in benchmarks/).
settings.register_profile("nexus", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nexus")

_MIN_LENGTH = 8
_values: set[str] = set()
_findings: list[str] = []
_texts: list[tuple[str, str]] = []


class _Everything(logging.Handler):
    """Keeps the text of every record: its message, arguments and attached extras."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is still scanned raw
            text = f"{record.msg} {record.args}"
        extra = " ".join(repr(v) for k, v in vars(record).items() if k not in _STANDARD)
        _texts.append((f"log record {record.name}", f"{text} {extra}"))


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def pytest_configure(config: pytest.Config) -> None:
    original = _credentials.Secret.__init__

    def remembering(self: Any, value: str, *, reference: str | None = None) -> None:
        original(self, value, reference=reference)
        if isinstance(value, str) and len(value) >= _MIN_LENGTH:
            _values.add(value)

    _credentials.Secret.__init__ = remembering  # type: ignore[method-assign]
    logging.getLogger().addHandler(_Everything(level=logging.DEBUG))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, content in report.sections:
        _texts.append((f"{report.nodeid} ({name})", content))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for where, text in _texts:
        if any(value in text for value in _values):
            _findings.append(where)
    if _findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  - {where}" for where in sorted(set(_findings)))
        message = f"a secret value appeared in captured output or logs:\n{lines}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
