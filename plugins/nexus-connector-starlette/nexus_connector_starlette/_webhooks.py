"""`webhook_route`: signed webhooks verified, replays refused, each event handed to an async
handler once."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nexus_connector_core import PluginRegistry, Secret, WebhookVerificationError, default_registry
from nexus_connector_core.webhooks import (
    DEFAULT_MAX_BODY,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOLERANCE,
    SecretInput,
    WebhookEvent,
    areceive,
)

from ._handlers import problem_response
from ._lifespan import get_manager

__all__ = ["WebhookHandler", "webhook_route"]

#: What handles a verified delivery: its answer, or None for an empty 200.
WebhookHandler = Callable[[WebhookEvent], Awaitable[Response | None]]


def webhook_route(
    path: str,
    verifier: str,
    handler: WebhookHandler,
    *,
    secret: SecretInput | Sequence[SecretInput],
    name: str | None = None,
    options: Mapping[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_body: int = DEFAULT_MAX_BODY,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    registry: PluginRegistry | None = None,
) -> Route:
    """A POST route at `path` receiving the deliveries of `verifier` (``stripe``, ``twilio``,
    ``github``, ``slack``, ``shopify``, ``standard-webhooks``, ``hmac`` with `options`...).

    >>> async def on_stripe(event: WebhookEvent) -> None:               # doctest: +SKIP
    ...     await fulfil(event.data["data"]["object"]["id"])
    >>> app = FastAPI(lifespan=lifespan("connectors.toml"), routes=[
    ...     webhook_route("/webhooks/stripe", "stripe", on_stripe, secret=WHSEC)])  # doctest: +SKIP

    Each verified delivery is handed to `handler` once: the answer is the handler's
    response, or an empty 200. The delivery's id is held while the handler runs, through
    the app's state backend (`get_manager(request).state`; Redis when the workers are many):
    a duplicate is refused meanwhile and after, and if the handler raises, the id is given
    back (the answer is a 500) so that the sender's retry is taken. A delivery whose
    signature or timestamp does not check out is a 401, a replay or a body over `max_body`
    bytes (not read further) a 400, both as problem details saying why. `secret` may list
    several secrets (rotation); a scheme that signs the URL (Twilio) gets the request's URL
    (behind a proxy, run the server with its proxy headers on).

    Mistakes show when the route is made: `PluginError` for a verifier no installed plugin
    offers, `ValueError` for an empty `secret` or a limit out of range (`max_body` from 1
    byte to `MAX_BODY_LIMIT`, a finite `tolerance`, a `replay_window` of at most a year).
    """
    given = [secret] if isinstance(secret, str | bytes | Secret) else list(secret)
    if not any(given):
        raise ValueError(f"webhook_route({verifier!r}): secret is empty; give the signing secret")
    _check_limits(tolerance, max_body, replay_window)
    (registry or default_registry()).find("webhook_verifier", verifier)

    async def endpoint(request: Request) -> Response:
        body = await _read(request, max_body)
        async with AsyncExitStack() as handling:
            try:
                event = await handling.enter_async_context(
                    areceive(
                        verifier,
                        state=get_manager(request).state,
                        headers=list(request.headers.items()),
                        body=body,
                        secret=secret,
                        url=str(request.url),
                        tolerance=tolerance,
                        max_body=max_body,
                        replay_window=replay_window,
                        options=options,
                        registry=registry,
                    )
                )
            except WebhookVerificationError as exc:
                return problem_response(exc)
            # Leaving the block keeps the id, or gives it back if the handler raised.
            answer = await handler(event)
        return answer if answer is not None else Response(status_code=200)

    return Route(path, endpoint, methods=["POST"], name=name)


async def _read(request: Request, limit: int) -> bytes:
    """The body, up to one byte over `limit`: enough for verification to refuse it."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


#: The largest `max_body` a webhook endpoint takes: deliveries are small; this bounds memory.
MAX_BODY_LIMIT = 64 * 1024 * 1024
_YEAR = 366 * 86400.0


def _check_limits(tolerance: float, max_body: int, replay_window: float) -> None:
    """Refuse, when the endpoint is made, a limit that would fail or disable every check."""
    if isinstance(max_body, bool) or not isinstance(max_body, int):
        raise ValueError(f"max_body must be a whole number of bytes, not {max_body!r}")
    if not 1 <= max_body <= MAX_BODY_LIMIT:
        raise ValueError(f"max_body must be from 1 to {MAX_BODY_LIMIT} bytes, not {max_body}")
    if not (isinstance(tolerance, int | float) and 0 <= tolerance < math.inf):
        raise ValueError(f"tolerance must be a finite number of seconds >= 0, not {tolerance!r}")
    if not (isinstance(replay_window, int | float) and 0 < replay_window <= _YEAR):
        raise ValueError(
            f"replay_window must be seconds above 0, at most a year, not {replay_window!r}"
        )
