"""The checks of a webhook delivery, shared by `verify`, `receive` and their async twins.

The order is fixed and the same for every scheme: body size, then the verifier (headers,
signature), then the signed timestamp against the tolerance, then (with a state backend)
replay. A delivery is rejected with `WebhookVerificationError` only once it is known to be
bad, so a forged delivery can neither use up a message id nor tell which check it passed.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

import msgspec

from .._credentials import Secret
from .._errors import ConfigError, PluginError, WebhookVerificationError
from ._event import WebhookEvent, decode_body
from ._headers import Headers, HeadersInput
from ._verifier import VerifiedDelivery, WebhookVerifier

if TYPE_CHECKING:
    from .._plugins import PluginRegistry
    from .._state import IdempotencyClaim

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_REPLAY_WINDOW",
    "DEFAULT_TOLERANCE",
    "SEEN",
    "Body",
    "Checked",
    "SecretInput",
    "check",
    "reject_seen",
]

#: Seconds a signed timestamp may lie before or after now (Slack's and Stripe's five minutes).
DEFAULT_TOLERANCE: Final = 300.0
#: Seconds a delivery's id is remembered: three days. Senders deliver an event again under
#: its id for that long (GitHub lets you redeliver the last 3 days' deliveries, 7 on GitHub
#: Enterprise Server: raise it there; Shopify retries for 4 hours), and for a scheme that
#: signs no time (GitHub's, Shopify's) nothing else bounds a replay.
DEFAULT_REPLAY_WINDOW: Final = 3 * 86400.0
#: Seconds added to a signed delivery's replay claim for clocks that disagree: a host whose
#: clock is behind accepts the delivery for that much longer than the host that took it.
_CLOCK_SKEW: Final = 60.0
#: The longest a replay claim is kept, whatever the tolerance or window (a year).
_MAX_REMEMBER: Final = 366 * 86400.0
#: Bytes of body accepted before anything is parsed or hashed.
DEFAULT_MAX_BODY: Final = 1024 * 1024

#: One secret: text (as the vendor's dashboard shows it), raw bytes, or a `Secret`.
SecretInput: TypeAlias = str | bytes | Secret
Body: TypeAlias = bytes | bytearray | memoryview | str

#: The one fingerprint of replay claims: a second claim of an id is never "conflict" but
#: "in_flight" (or "done"), all of which mean "seen before".
SEEN = b"webhook-seen"


class Checked(NamedTuple):
    """A delivery that passed every check but the replay check (which is I/O)."""

    #: The verifier's key.
    name: str
    event: WebhookEvent
    #: The replay claim's key in the state backend.
    key: str
    #: Seconds the claim must be kept for a replay to be rejected.
    remember: float


def check(
    verifier: str | WebhookVerifier,
    *,
    headers: HeadersInput,
    body: Body,
    secret: SecretInput | Sequence[SecretInput] | None,
    url: str | None,
    now: float | datetime | None,
    tolerance: float,
    max_body: int,
    replay_window: float,
    options: Mapping[str, Any] | msgspec.Struct | None,
    registry: PluginRegistry | None,
) -> Checked:
    """Everything but the replay check: the event, its replay key and how long to keep it."""
    if not tolerance >= 0:  # also refuses NaN, which would disable the check
        raise ValueError(f"tolerance must be a number of seconds >= 0, not {tolerance}")
    if not 0 < replay_window <= _MAX_REMEMBER:
        raise ValueError(
            f"replay_window must be a number of seconds above 0, at most a year "
            f"({_MAX_REMEMBER:g}), not {replay_window}"
        )
    name, impl = _resolve(verifier, options, registry)
    try:
        raw = _body_bytes(body, max_body)
        keys = _secret_bytes(secret)
        view = Headers(headers)
        at = _epoch(now)
        try:
            delivery = impl.verify(headers=view, body=raw, secrets=keys, url=url, now=at)
            if not isinstance(delivery, VerifiedDelivery):
                raise TypeError(
                    f"verify() returned {type(delivery).__name__}, not VerifiedDelivery"
                )
        except WebhookVerificationError:
            raise
        except Exception as exc:
            # A verifier must reject, not crash; one that crashes still rejects, and the
            # cause stays chained for whoever debugs the plugin.
            raise WebhookVerificationError(
                f"malformed delivery: the {name} verifier failed with {type(exc).__name__}"
            ) from exc
        timestamp = _within_tolerance(delivery.timestamp, at, tolerance)
    except WebhookVerificationError as exc:
        exc.verifier = exc.verifier or name
        raise
    data = delivery.data
    if data is msgspec.UNSET:
        data = decode_body(raw, view.get("content-type"))
    event = WebhookEvent(id=delivery.id, timestamp=timestamp, body=raw, data=data, verifier=name)
    return Checked(
        name, event, _replay_key(name, delivery, raw), _remember(event, tolerance, replay_window)
    )


def _resolve(
    verifier: str | WebhookVerifier,
    options: Mapping[str, Any] | msgspec.Struct | None,
    registry: PluginRegistry | None,
) -> tuple[str, WebhookVerifier]:
    if not isinstance(verifier, str):
        if options is not None:
            raise TypeError("options configure a verifier found by key; configure an instance")
        return str(getattr(verifier, "name", None) or type(verifier).__name__), verifier
    if registry is None:
        from .._plugins import default_registry

        registry = default_registry()
    registration = registry.find("webhook_verifier", verifier)
    impl = registration.load()
    options_type = registration.options_type()
    if options_type is not None:
        try:
            impl = impl(msgspec.convert(options or {}, options_type, from_attributes=True))
        except (msgspec.ValidationError, ValueError) as exc:
            raise ConfigError(f"webhook verifier {verifier!r}: {exc}", path="options") from None
    elif options is not None:
        raise ConfigError(f"webhook verifier {verifier!r} takes no options", path="options")
    if not callable(getattr(impl, "verify", None)):
        raise PluginError(
            f"webhook verifier {verifier!r} from plugin {registration.plugin!r} is a "
            f"{type(impl).__name__}, not a WebhookVerifier: register an instance",
            plugin=registration.plugin,
            distribution=registration.distribution,
        )
    return verifier, impl


def _body_bytes(body: Body, max_body: int) -> bytes:
    size = body.nbytes if isinstance(body, memoryview) else len(body)
    if isinstance(body, str):
        try:
            body = body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise WebhookVerificationError("body is not valid text; pass the raw bytes") from None
        size = len(body)
    if size > max_body:
        raise WebhookVerificationError(f"body too large: {size} bytes, the limit is {max_body}")
    return bytes(body)


def _secret_bytes(secret: SecretInput | Sequence[SecretInput] | None) -> list[bytes]:
    if secret is None:
        given: Sequence[SecretInput] = ()
    elif isinstance(secret, str | bytes | Secret):
        given = (secret,)
    else:
        given = secret
    keys: list[bytes] = []
    for one in given:
        if isinstance(one, Secret):
            keys.append(one.reveal().encode())
        elif isinstance(one, str):
            keys.append(one.encode())
        elif isinstance(one, bytes | bytearray):
            keys.append(bytes(one))
        else:
            raise TypeError(f"a webhook secret is a str, bytes or Secret, not {type(one).__name__}")
    keys = [key for key in keys if key]
    if not keys:
        # Fail closed: an empty key is one every forger knows.
        raise WebhookVerificationError("no secret configured: pass secret= (one or several)")
    return keys


def _epoch(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite number of seconds since the epoch, not {now}")
    return float(now)


def _within_tolerance(timestamp: float | None, now: float, tolerance: float) -> datetime | None:
    if timestamp is None:
        return None
    off = now - timestamp
    if off > tolerance:
        raise WebhookVerificationError(
            f"timestamp too old: signed {off:.0f} s ago, the tolerance is {tolerance:g} s"
        )
    if -off > tolerance:
        raise WebhookVerificationError(
            f"timestamp too new: signed {-off:.0f} s in the future, the tolerance is "
            f"{tolerance:g} s"
        )
    if not -tolerance <= off <= tolerance:  # NaN from a verifier: fail closed
        raise WebhookVerificationError("timestamp is not a number")
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookVerificationError("timestamp out of range") from None


def _replay_key(name: str, delivery: VerifiedDelivery, body: bytes) -> str:
    # Hashed: ids are the sender's text, and backends build keys (Redis hash tags) from it.
    digest = hashlib.sha256(name.encode() + b"\0")
    if delivery.id is not None:
        digest.update(b"id\0" + delivery.id.encode("utf-8", "surrogatepass"))
    else:
        digest.update(f"content\0{delivery.timestamp}\0".encode() + body)
    return f"webhook:{digest.hexdigest()[:40]}"


def _remember(event: WebhookEvent, tolerance: float, replay_window: float) -> float:
    """Seconds to keep a delivery's replay claim.

    A signed timestamp keeps the delivery acceptable until it is `tolerance` old: a claim
    taken when it was signed `tolerance` in the future must last two tolerances (both checks
    are inclusive), plus the skew of a host whose clock is behind. An id is kept for the
    replay window whatever the timestamp: senders deliver an event again under its id, signed
    afresh, for days. Only a delivery keyed by its timestamp and body (Slack's) needs no more
    than the tolerance: a retry signs a new timestamp, so it is a new key anyway.
    """
    signed = 2 * tolerance + _CLOCK_SKEW if event.timestamp is not None else 0.0
    by_id = replay_window if event.id is not None or event.timestamp is None else 0.0
    return min(max(signed, by_id), _MAX_REMEMBER)


def reject_seen(claim: IdempotencyClaim, name: str) -> None:
    if claim.status != "acquired":
        raise WebhookVerificationError("replayed", verifier=name)
