"""The middleware interface: extra steps in the call pipeline, from a plugin.

A plugin registers a `MiddlewareFactory` under ``register_middleware``; a connector lists its
key in ``middleware = [...]``. The factory gets `StepSettings` (connector, category, vendor,
operation, clock) and returns a `Middleware` — an object whose ``wrap(handler)`` and
``wrap_async(handler)`` return the handler with the step around it — or None to stay out of
that pipeline. `TransformMiddleware` is the base for steps that change requests or results
without caring whether the call is sync or async. See docs/plugins.md.
"""

from __future__ import annotations

from ._context import CallContext
from ._pipeline import (
    AsyncHandler,
    Handler,
    Middleware,
    MiddlewareFactory,
    StepSettings,
    TransformMiddleware,
)

__all__ = [
    "AsyncHandler",
    "CallContext",
    "Handler",
    "Middleware",
    "MiddlewareFactory",
    "StepSettings",
    "TransformMiddleware",
]
