"""Suite-wide settings, and a guard over the whole test suite: no secret value reaches a
log record, an exception or the output pytest captured from any test.

Every value wrapped in a `Secret` during the session is remembered (values shorter than 8
characters are too likely to occur by chance to be told apart). Scanned for them when the
session ends: every log record emitted; every test's captured stdout, stderr and log; the
message and ``args`` of every `ConnectorError` made; and every exception a test caught with
``pytest.raises`` or let escape, with the chain a traceback would show (causes, contexts
not suppressed, notes). A secret counts as found written as it is, URL-encoded, or inside
any base64 run of the text (the credentials of an ``Authorization: Basic`` header). A
finding fails the session and says where, without printing the value.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, settings

from nexus_connector_core import _credentials, _errors

# Property tests check behaviour, not speed: on a loaded CI machine a slow draw or a slow
# example must not fail the suite (timing claims live in benchmarks/).
settings.register_profile("nexus", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nexus")

_MIN_LENGTH = 8
_values: set[str] = set()
_findings: list[str] = []
_texts: list[tuple[str, str]] = []
_current = ["(outside a test)"]
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")


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


def _exception_texts(error: BaseException | None) -> str:
    """What a traceback of `error` could show: each exception's text, args and notes."""
    parts: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen and len(seen) < 20:
        seen.add(id(error))
        parts += [str(error), repr(error.args), *getattr(error, "__notes__", [])]
        if error.__cause__ is not None:
            error = error.__cause__
        elif error.__context__ is not None and not error.__suppress_context__:
            error = error.__context__
        else:
            error = None
    return " ".join(parts)


def _shows_secret(text: str, values: set[str], forms: set[str]) -> bool:
    if any(form in text for form in forms):
        return True
    for run in _BASE64_RUN.findall(text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                continue
            if any(
                value in decoded or quote_plus(value, errors="replace") in decoded
                for value in values
            ):
                return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    original = _credentials.Secret.__init__

    def remembering(self: Any, value: str, *, reference: str | None = None) -> None:
        original(self, value, reference=reference)
        if isinstance(value, str) and len(value) >= _MIN_LENGTH:
            _values.add(value)

    _credentials.Secret.__init__ = remembering  # type: ignore[method-assign]
    logging.getLogger().addHandler(_Everything(level=logging.DEBUG))

    made = _errors.ConnectorError.__init__

    def recording(self: Any, message: str, **context: Any) -> None:
        made(self, message, **context)
        _texts.append((f"{_current[0]} (a {type(self).__name__})", f"{message} {self.args!r}"))

    _errors.ConnectorError.__init__ = recording  # type: ignore[method-assign]

    # Exceptions a test expected: pytest.raises' context manager sees each one.
    from _pytest import raises as _raises

    for name in ("RaisesExc", "RaisesContext"):
        kind = getattr(_raises, name, None)
        if kind is not None and hasattr(kind, "__exit__"):
            _watch_exits(kind)


def _watch_exits(kind: Any) -> None:
    exit_ = kind.__exit__

    def watching(self: Any, exc_type: Any, exc_val: Any, exc_tb: Any) -> Any:
        if isinstance(exc_val, BaseException):
            _texts.append(
                (f"{_current[0]} (caught {type(exc_val).__name__})", _exception_texts(exc_val))
            )
        return exit_(self, exc_type, exc_val, exc_tb)

    kind.__exit__ = watching


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _current[0] = item.nodeid
    try:
        return (yield)
    finally:
        _current[0] = "(outside a test)"


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if call.excinfo is not None:
        _texts.append((f"{item.nodeid} (raised)", _exception_texts(call.excinfo.value)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, content in report.sections:
        _texts.append((f"{report.nodeid} ({name})", content))


def _forms(values: set[str]) -> set[str]:
    """Each value as it is and URL-encoded (as a path segment and as a form field)."""
    return {
        form
        for v in values
        for form in (v, quote(v, safe="", errors="replace"), quote_plus(v, errors="replace"))
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    forms = _forms(_values)
    for where, text in _texts:
        if _shows_secret(text, _values, forms):
            _findings.append(where)
    if _findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  - {where}" for where in sorted(set(_findings)))
        message = f"a secret value appeared in output, logs or exceptions:\n{lines}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
