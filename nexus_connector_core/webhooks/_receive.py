"""`receive` / `areceive`: verify a delivery and handle it once, even when handling fails.

`verify(..., state=...)` takes a delivery's id as soon as the signature checks out, so a
handler that fails afterwards leaves the id taken and the sender's retry is refused as a
replay. `receive` holds the id only while the ``with`` block runs: if the block raises, the
id is given back and the retry is accepted; once it completes, the id stays taken.

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
from ._verifier import WebhookVerifier
from ._verify import (
    _SEEN,
    DEFAULT_MAX_BODY,
    DEFAULT_TOLERANCE,
    Body,
    SecretInput,
    _check,
    _reject_seen,
    _ttl,
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
    options: Mapping[str, Any] | msgspec.Struct | None = None,
    registry: PluginRegistry | None = None,
) -> Iterator[WebhookEvent]:
    """Verify a delivery (as `verify`) and hold its id while the block handles it.

    Raises `WebhookVerificationError` before the block runs for a bad or replayed delivery.
    """
    name, event, key = _check(
        verifier,
        headers=headers,
        body=body,
        secret=secret,
        url=url,
        now=now,
        tolerance=tolerance,
        max_body=max_body,
        options=options,
        registry=registry,
    )
    ttl = _ttl(tolerance)
    claim = state.idempotency_begin(key, _SEEN, ttl=ttl)
    _reject_seen(claim, name)
    owner = claim.owner
    assert owner is not None
    try:
        yield event
    except BaseException:
        state.idempotency_release(key, owner)
        raise
    state.idempotency_complete(key, owner, _SEEN, _HANDLED, ttl=ttl)


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
    options: Mapping[str, Any] | msgspec.Struct | None = None,
    registry: PluginRegistry | None = None,
) -> AsyncIterator[WebhookEvent]:
    """`receive` for asynchronous applications."""
    name, event, key = _check(
        verifier,
        headers=headers,
        body=body,
        secret=secret,
        url=url,
        now=now,
        tolerance=tolerance,
        max_body=max_body,
        options=options,
        registry=registry,
    )
    ttl = _ttl(tolerance)
    claim = await state.idempotency_begin(key, _SEEN, ttl=ttl)
    _reject_seen(claim, name)
    owner = claim.owner
    assert owner is not None
    try:
        yield event
    except BaseException:
        await state.idempotency_release(key, owner)
        raise
    await state.idempotency_complete(key, owner, _SEEN, _HANDLED, ttl=ttl)
