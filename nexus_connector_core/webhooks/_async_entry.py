"""`averify` and `areceive`: check a webhook delivery with a verifier found by key, and
handle it once.

`averify(..., state=...)` takes a delivery's id as soon as the signature checks out, so a
handler that fails afterwards leaves the id taken and the sender's retry is refused as a
replay. `areceive` holds the id only while the ``async with`` block runs: if the block
raises, the id is given back and the retry is accepted; once it completes, the id is
remembered as `averify` remembers it. While the block runs, the id is held on a short lease
that a heartbeat keeps extending, so a duplicate is refused however long the handler takes,
and a process that dies mid-handler frees the id within one lease.

>>> async with areceive("github", headers=h, body=b, secret=s, state=db) as e:  # doctest: +SKIP
...     save_order(e.data)        # raise, and GitHub's retry will be let in
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from ._event import WebhookEvent
from ._headers import HeadersInput
from ._lease import DEFAULT_LEASE, AsyncHeartbeat, Lease
from ._verifier import WebhookVerifier
from ._verify import (
    DEFAULT_MAX_BODY,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOLERANCE,
    SEEN,
    Body,
    SecretInput,
    check,
    reject_seen,
)

if TYPE_CHECKING:
    from .._plugins import PluginRegistry
    from .._state import AsyncStateBackend

__all__ = ["areceive", "averify"]

_HANDLED = b"handled"


async def averify(
    verifier: str | WebhookVerifier,
    *,
    headers: HeadersInput,
    body: Body,
    secret: SecretInput | Sequence[SecretInput] | None,
    url: str | None = None,
    now: float | datetime | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_body: int = DEFAULT_MAX_BODY,
    state: AsyncStateBackend | None = None,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    options: Mapping[str, Any] | msgspec.Struct | None = None,
    registry: PluginRegistry | None = None,
) -> WebhookEvent:
    """Verify a webhook delivery; the `WebhookEvent`, or `WebhookVerificationError` with a reason.

    >>> event = await averify("github", headers=request.headers, body=raw_body,
    ...                       secret=["new-secret", "old-secret"])    # doctest: +SKIP
    >>> event.data["action"]                                    # doctest: +SKIP
    'opened'

    Args:
        verifier: a registered key (``github``, ``slack``, ``shopify``, ``standard-webhooks``,
            ``hmac``, or a plugin's ``stripe``...) or a `WebhookVerifier` instance.
        headers: the request headers, any case; a mapping or (name, value) pairs.
        body: the raw body as received (text is encoded as UTF-8; pass bytes when you can).
        secret: one secret or several, any of which may match (rotation).
        url: the full URL the delivery was posted to, for schemes that sign it (Twilio).
        now: the current time (seconds since the epoch or an aware datetime); pin it in
            tests and when replaying a logged delivery.
        tolerance: seconds a signed timestamp may be off, in either direction.
        max_body: larger bodies are rejected before anything is parsed or hashed.
        state: a state backend that remembers message ids, so a delivery seen before is
            rejected with reason ``"replayed"``. Ids are remembered for `replay_window`. A
            scheme without ids (Slack) is keyed by its timestamp and body, remembered while
            the tolerance could still accept it: twice the tolerance, plus a minute for
            hosts whose clocks disagree (without a timestamp either, by its body, for
            `replay_window`). `StateBackendUnavailableError` passes through: it
            is not the delivery's fault, and the sender will retry. The id is taken when
            verification succeeds: if your handler fails afterwards, the sender's retry of
            that id is rejected; use `areceive` to give the id back when handling fails. An
            id the vendor does not sign (GitHub's, Shopify's) stops duplicate deliveries, not
            an attacker who replays a captured one under a new id; only a signed timestamp
            bounds that.
        replay_window: seconds to remember a delivery's id (three days by default, the
            longest GitHub redelivers; at most a year).
        options: the verifier's configuration, for keys that take one (``hmac``: see
            `HmacOptions`).
        registry: where to find `verifier` by key (default: every installed plugin).

    Raises:
        WebhookVerificationError: the delivery is rejected; `reason` says why. Malformed or
            missing headers are rejections too, never another exception.
        PluginError: no installed plugin offers the key (the message lists those that do).
        ConfigError: `options` do not fit the verifier.
    """
    checked = check(
        verifier,
        headers=headers,
        body=body,
        secret=secret,
        url=url,
        now=now,
        tolerance=tolerance,
        max_body=max_body,
        replay_window=replay_window,
        options=options,
        registry=registry,
    )
    if state is not None:
        claim = await state.idempotency_begin(checked.key, SEEN, ttl=checked.remember)
        reject_seen(claim, checked.name)
    return checked.event


@asynccontextmanager
async def areceive(
    verifier: str | WebhookVerifier,
    *,
    state: AsyncStateBackend,
    headers: HeadersInput,
    body: Body,
    secret: SecretInput | Sequence[SecretInput] | None,
    url: str | None = None,
    now: float | datetime | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_body: int = DEFAULT_MAX_BODY,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    lease: float = DEFAULT_LEASE,
    heartbeat: float | None = None,
    options: Mapping[str, Any] | msgspec.Struct | None = None,
    registry: PluginRegistry | None = None,
) -> AsyncIterator[WebhookEvent]:
    """Verify a delivery (as `averify`) and hold its id while the block handles it.

    The id is held for `lease` seconds (one minute) and the lease is extended every
    `heartbeat` seconds (a third of the lease) by a heartbeat (a task, or a thread for the
    synchronous twin), until the block ends; then the id is remembered as handled (for
    `replay_window`, or twice the tolerance and a minute for a delivery with a signed
    timestamp), or given back when the block raised.

    Raises `WebhookVerificationError` before the block runs for a bad or replayed delivery.
    """
    checked = check(
        verifier,
        headers=headers,
        body=body,
        secret=secret,
        url=url,
        now=now,
        tolerance=tolerance,
        max_body=max_body,
        replay_window=replay_window,
        options=options,
        registry=registry,
    )
    held = Lease(checked.key, checked.name, ttl=lease, interval=heartbeat)
    claim = await state.idempotency_begin(checked.key, SEEN, ttl=held.ttl)
    reject_seen(claim, checked.name)
    owner = claim.owner
    assert owner is not None
    try:
        async with AsyncHeartbeat(state, held, owner):
            yield checked.event
    except BaseException:
        await state.idempotency_release(checked.key, owner)
        raise
    await state.idempotency_complete(checked.key, owner, SEEN, _HANDLED, ttl=checked.remember)
