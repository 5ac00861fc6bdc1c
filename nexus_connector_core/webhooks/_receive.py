"""`receive` / `areceive`: verify a delivery and handle it once, even when handling fails.

`verify(..., state=...)` takes a delivery's id as soon as the signature checks out, so a
handler that fails afterwards leaves the id taken and the sender's retry is refused as a
replay. `receive` holds the id only while the ``with`` block runs: if the block raises, the
id is given back and the retry is accepted; once it completes, the id is remembered as
`verify` remembers it. While the block runs, the id is held on a short lease that a
heartbeat keeps extending, so a duplicate is refused however long the handler takes, and a
process that dies mid-handler frees the id within one lease.

>>> with receive("github", headers=h, body=b, secret=s, state=backend) as event:  # doctest: +SKIP
...     save_order(event.data)        # raise, and GitHub's retry will be let in
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from ._event import WebhookEvent
from ._headers import HeadersInput
from ._lease import DEFAULT_LEASE, AsyncHeartbeat, Heartbeat, Lease
from ._verifier import WebhookVerifier
from ._verify import (
    _SEEN,
    DEFAULT_MAX_BODY,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOLERANCE,
    Body,
    SecretInput,
    _check,
    _reject_seen,
)

if TYPE_CHECKING:
    from .._plugins import PluginRegistry
    from .._state import AsyncStateBackend, StateBackend

__all__ = ["areceive", "receive"]

_HANDLED = b"handled"


@contextmanager
def receive(
    verifier: str | WebhookVerifier,
    *,
    state: StateBackend,
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
) -> Iterator[WebhookEvent]:
    """Verify a delivery (as `verify`) and hold its id while the block handles it.

    The id is held for `lease` seconds (one minute) and the lease is extended every
    `heartbeat` seconds (a third of the lease) by a thread, until the block ends; then the
    id is remembered as handled (for `replay_window`, or twice the tolerance and a minute
    for a delivery with a signed timestamp), or given back when the block raised.

    Raises `WebhookVerificationError` before the block runs for a bad or replayed delivery.
    """
    checked = _check(
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
    claim = state.idempotency_begin(checked.key, _SEEN, ttl=held.ttl)
    _reject_seen(claim, checked.name)
    owner = claim.owner
    assert owner is not None
    try:
        with Heartbeat(state, held, owner):
            yield checked.event
    except BaseException:
        state.idempotency_release(checked.key, owner)
        raise
    state.idempotency_complete(checked.key, owner, _SEEN, _HANDLED, ttl=checked.remember)


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
    """`receive` for asynchronous applications: the heartbeat is a task."""
    checked = _check(
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
    claim = await state.idempotency_begin(checked.key, _SEEN, ttl=held.ttl)
    _reject_seen(claim, checked.name)
    owner = claim.owner
    assert owner is not None
    try:
        async with AsyncHeartbeat(state, held, owner):
            yield checked.event
    except BaseException:
        await state.idempotency_release(checked.key, owner)
        raise
    await state.idempotency_complete(checked.key, owner, _SEEN, _HANDLED, ttl=checked.remember)
