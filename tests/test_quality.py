"""The code checks the test command runs: mypy --strict on the core, ruff lint and format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_is_clean() -> None:
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run("ruff", "format", "--no-cache", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


_MIDDLEWARE = """
from __future__ import annotations

from typing import TypeVar

from nexus_connector_core.pipeline import AsyncHandler, CallContext, Handler, Middleware

Req = TypeVar("Req")
Res = TypeVar("Res")


class Typed:
    def wrap(self, handler: Handler[Req, Res]) -> Handler[Req, Res]:
        return handler

    def wrap_async(self, handler: AsyncHandler[Req, Res]) -> AsyncHandler[Req, Res]:
        return handler


class Bare:  # a bare Handler is Handler[Any, Any]: still fine under --strict
    def wrap(self, handler: Handler) -> Handler:
        return handler

    def wrap_async(self, handler: AsyncHandler) -> AsyncHandler:
        return handler


class Wrong:
    def wrap(self, handler: Handler[Req, Res]) -> Handler[Req, Res]:
        def step(request: Req, ctx: CallContext) -> Res:
            handler(request, ctx)
            return "done"  # not the result it was handed

        return step

    def wrap_async(self, handler: AsyncHandler[Req, Res]) -> AsyncHandler[Req, Res]:
        return handler


STEPS: list[Middleware] = [Typed(), Bare(), Wrong()]
"""


def test_mypy_checks_what_a_middleware_hands_back(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(_MIDDLEWARE)
    cache = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache, "steps.py"],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    line = _MIDDLEWARE.splitlines().index(
        '            return "done"  # not the result it was handed'
    )
    assert errors == [
        f'steps.py:{line + 1}: error: Incompatible return value type (got "str", expected '
        '"Res")  [return-value]'
    ], result.stdout + result.stderr
