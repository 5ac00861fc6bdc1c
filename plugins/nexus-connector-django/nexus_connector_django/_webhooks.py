"""Signed webhooks as a Django signal: `webhook_view` verifies each delivery with a named
verifier, refuses replays through the state backend, and sends `webhook_received`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from http import HTTPStatus
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from nexus_connector_core import (
    PluginRegistry,
    Secret,
    WebhookVerificationError,
    default_registry,
)
from nexus_connector_core.webhooks import (
    DEFAULT_MAX_BODY,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOLERANCE,
    SecretInput,
    receive,
)

from ._managers import manager

__all__ = ["webhook_received", "webhook_status", "webhook_view"]

#: Sent once per verified delivery, with ``sender`` the endpoint's name (the verifier's key
#: unless `webhook_view` was given another) and ``event`` the `WebhookEvent`. A receiver
#: that raises makes the answer a 500 and gives the delivery's id back, so the sender's
#: retry is accepted; once every receiver has returned, the id is remembered and a replay
#: is refused.
webhook_received = Signal()

_PROBLEM = "application/problem+json"


def webhook_view(
    verifier: str,
    *,
    secret: SecretInput | Sequence[SecretInput],
    name: str | None = None,
    options: Mapping[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_body: int = DEFAULT_MAX_BODY,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    registry: PluginRegistry | None = None,
) -> Callable[[HttpRequest], HttpResponse]:
    """A view receiving the deliveries of `verifier` (``stripe``, ``twilio``, ``github``,
    ``slack``, ``shopify``, ``standard-webhooks``, ``hmac`` with `options`...).

    >>> urlpatterns = [                                                   # doctest: +SKIP
    ...     path("webhooks/stripe/", webhook_view("stripe", secret=settings.STRIPE_WHSEC)),
    ... ]
    >>> @receiver(webhook_received, sender="stripe")                      # doctest: +SKIP
    ... def on_stripe(sender, event, **kwargs):
    ...     fulfil(event.data["data"]["object"]["id"])

    The view takes POST only (405 otherwise), needs no CSRF token, and answers 200 once every
    receiver of `webhook_received` has returned; 401 when the delivery's signature or
    timestamp does not check out, 400 for a replayed delivery or a body it will not read
    (over `max_body` bytes), both as ``application/problem+json`` saying why. Replays are
    refused through the process's state backend (`manager().state`: Redis, when the
    workers are many). `secret` may list several secrets (rotation); a scheme that signs
    the URL (Twilio) is given the URL the request was made to.

    Mistakes show when the URLconf loads: `PluginError` for a verifier no installed plugin
    offers, `ValueError` for an empty `secret` or a limit out of range (`max_body` from 1
    byte to `MAX_BODY_LIMIT`, a finite `tolerance`, a `replay_window` of at most a year).
    """
    given = [secret] if isinstance(secret, str | bytes | Secret) else list(secret)
    if not any(given):
        raise ValueError(f"webhook_view({verifier!r}): secret is empty; give the signing secret")
    _check_limits(tolerance, max_body, replay_window)
    (registry or default_registry()).find("webhook_verifier", verifier)
    sender = name or verifier

    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        body = request.read(max_body + 1)  # verification refuses more: no need to read it
        with ExitStack() as handling:
            try:
                event = handling.enter_context(
                    receive(
                        verifier,
                        state=manager().state,
                        headers=request.headers,
                        body=body,
                        secret=secret,
                        url=request.build_absolute_uri(),
                        tolerance=tolerance,
                        max_body=max_body,
                        replay_window=replay_window,
                        options=options,
                        registry=registry,
                    )
                )
            except WebhookVerificationError as exc:
                return _problem(webhook_status(exc), str(exc))
            # Leaving the block keeps the id, or gives it back if a receiver raised.
            webhook_received.send(sender=sender, event=event)
        return HttpResponse(status=200)

    return view


def _problem(status: int, detail: str) -> JsonResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    return JsonResponse({**body, "detail": detail}, status=status, content_type=_PROBLEM)


def webhook_status(error: WebhookVerificationError) -> int:
    """400 for a replay or a body that is not read; 401 for anything else: a delivery
    whose sender is not proven (signature missing, malformed or wrong; timestamp stale)."""
    reason = error.reason
    if reason == "replayed" or reason.startswith(("body too large", "body is not valid text")):
        return 400
    return 401


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
