"""A local Stripe for tests, an application's or the plugin's: real HTTP on 127.0.0.1, Stripe's
v1 PaymentIntents and Refunds API with its rules, its objects and its idempotency.

`StripeDouble` is the default responder of a core `FaultServer`. It checks every request as
Stripe documents it (the path, ``Authorization: Bearer`` with the secret key, a
form-encoded body with nested keys such as ``metadata[order_id]``, known parameters, a
well-formed ``Stripe-Version``) and answers in Stripe's formats: PaymentIntent, Charge and
Refund objects as JSON, errors as ``{"error": {"type", "code", "decline_code", "message",
"param"}}``. Point a connector's ``options.base_url`` at the server and give it the
double's key (`API_KEY` unless you chose another). In an application's test:

>>> from nexus_connector_core import ConnectorManager, Money, PaymentRequest
>>> from nexus_connector_core.testing import FaultServer
>>> from nexus_connector_stripe.testing import API_KEY, StripeDouble
>>> stripe = StripeDouble()
>>> with FaultServer(default=stripe) as server:
...     payment = {
...         "vendor": "stripe",
...         "credentials": {"api_key": "env:STRIPE_SECRET_KEY"},
...         "options": {"base_url": server.url},
...     }
...     with ConnectorManager.from_config(
...         {"connectors": {"payment": payment}}, environ={"STRIPE_SECRET_KEY": API_KEY}
...     ) as manager:
...         # in a real test: the application's own code
...         held = manager.payment.authorize(
...             PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
...         )
...         captured = manager.payment.capture(held.vendor_id, Money(1500, "USD"))
...         refund = manager.payment.refund(held.vendor_id, Money(500, "USD"))
...         payment = manager.payment.get(held.vendor_id)
>>> payment.status, str(payment.captured), str(payment.refunded)
('partially_refunded', '15.00 USD', '5.00 USD')
>>> [(charge["amount"], charge["amount_captured"]) for charge in stripe.charges]
[(1999, 1500)]

**Test payment methods** are Stripe's: ``pm_card_visa``, ``pm_card_mastercard`` and the
others of `PAYMENT_METHODS` succeed; those of `DECLINES` are declined with Stripe's code
and decline code (``pm_card_chargeDeclined``: ``card_declined`` / ``generic_decline``);
any other id is ``resource_missing``, as at Stripe. A customer must be one of the double's
``customers``.

**Idempotency** is Stripe's (docs.stripe.com/api/idempotent_requests): the first POST with
an ``Idempotency-Key`` that passes validation is executed and its answer, error or not,
kept for 24 hours; the same key with the same parameters gets that answer again, with
``Idempotent-Replayed: true``; with other parameters or another path a 400
``idempotency_error``; while the first is still executing a 409. A request that fails
validation is not kept, so it may be retried with its key.

**Faults**: ``server.script(FAULTS["rate_limited"])`` (or any `stripe_error`) makes the next
answer a refusal before Stripe's API runs; `StripeDouble.reset_after_processing` makes the
next requests act and then lose their answer (the connection is reset), the case where only
the idempotency key tells the retry apart from a new charge; `StripeDouble.fail_executions`
makes them fail with a 500 kept for their key, as Stripe keeps it.

The double implements the semantics of `API_VERSION` (2025-03-31.basil): a partial capture
and a cancellation do not count as refunds of the Charge. Codes it makes up where Stripe's
documentation names none: refunding a PaymentIntent that has no captured charge answers
``payment_intent_unexpected_state``.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from nexus_connector_core import CURRENCY_EXPONENTS
from nexus_connector_core.testing import Fault, ReceivedRequest

if TYPE_CHECKING:
    from nexus_connector_core.testing import PaymentFaultKind

__all__ = [
    "API_KEY",
    "API_VERSION",
    "DECLINES",
    "FAULTS",
    "Hold",
    "PAYMENT_METHODS",
    "RETRY_AFTER",
    "StripeDouble",
    "form_of",
    "idempotency_keys",
    "posts",
    "signature_header",
    "stripe_error",
]

#: The secret key the double accepts unless given another.
API_KEY = "sk_test_nexusdouble0123456789abcdefABCDEF"
#: The API version whose semantics the double implements.
API_VERSION = "2025-03-31.basil"
#: The Retry-After (seconds) of ``FAULTS["rate_limited"]``.
RETRY_AFTER = 2

#: Test payment methods that succeed (docs.stripe.com/testing).
PAYMENT_METHODS = frozenset(
    {
        "pm_card_visa",
        "pm_card_visa_debit",
        "pm_card_mastercard",
        "pm_card_mastercard_debit",
        "pm_card_amex",
        "pm_card_discover",
        "pm_card_diners",
        "pm_card_jcb",
        "pm_card_unionpay",
    }
)

#: Test payment methods that are declined: method -> (code, decline_code, message).
DECLINES: Mapping[str, tuple[str, str | None, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_visa_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
    "pm_card_chargeDeclinedStolenCard": ("card_declined", "stolen_card", "Your card was declined."),
    "pm_card_chargeDeclinedFraudulent": ("card_declined", "fraudulent", "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None, "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": (
        "incorrect_cvc",
        None,
        "Your card's security code is incorrect.",
    ),
    "pm_card_chargeDeclinedProcessingError": (
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}

#: The smallest charge Stripe takes in a currency, in minor units (docs.stripe.com/currencies,
#: "Minimum and maximum charge amounts"); other currencies: 1.
MINIMUM_CHARGE: Mapping[str, int] = {
    "usd": 50, "aud": 50, "brl": 50, "cad": 50, "chf": 50, "dkk": 250, "eur": 50, "gbp": 30,
    "hkd": 400, "jpy": 50, "mxn": 1000, "nok": 300, "nzd": 50, "pln": 200, "sek": 300,
    "sgd": 50,
}  # fmt: skip
#: The largest amount of one charge: eight digits.
MAXIMUM_CHARGE = 99_999_999

_KEY_LIFETIME = 24 * 3600.0
_HOLD_LIMIT = 10.0  # seconds a held request waits at most for its release
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
_INTENT = re.compile(r"/v1/payment_intents/([^/]+)")
_INTENT_ACTION = re.compile(r"/v1/payment_intents/([^/]+)/(capture|cancel)")
_REFUND = re.compile(r"/v1/refunds/([^/]+)")
_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
_CREATE_PARAMS = frozenset(
    {
        "amount", "currency", "payment_method", "confirm", "capture_method", "customer",
        "description", "return_url", "receipt_email", "statement_descriptor",
        "statement_descriptor_suffix", "setup_future_usage", "off_session",
        "confirmation_method", "automatic_payment_methods", "payment_method_types",
        "metadata", "expand",
    }
)  # fmt: skip
_METADATA_LIMITS = (50, 40, 500)


def stripe_error(
    status: int,
    type: str,
    message: str,
    *,
    code: str | None = None,
    decline_code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Fault:
    """An error answer in Stripe's format (fields that are None are left out).

    >>> fault = stripe_error(429, "invalid_request_error", "Too many requests.",
    ...                      code="rate_limit", headers={"Retry-After": "2"})
    >>> fault.status_code, dict(fault.headers)["Retry-After"]
    (429, '2')
    """
    fields = {"type": type, "code": code, "decline_code": decline_code, "message": message}
    body = {k: v for k, v in {**fields, "param": param, **extra}.items() if v is not None}
    return Fault.respond(status, {"error": body}, headers)


#: Stripe's answers for each fault of the core's payment conformance suite that comes before
#: Stripe's API runs, to script with ``server.script(FAULTS[kind])``.
FAULTS: Mapping[PaymentFaultKind, Fault] = {
    "rate_limited": stripe_error(
        429,
        "invalid_request_error",
        "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
        code="rate_limit",
        headers={"Retry-After": str(RETRY_AFTER)},
    ),
    "unavailable": stripe_error(
        503, "api_error", "Stripe is temporarily unavailable. Please try again later."
    ),
    "auth": stripe_error(
        401,
        "invalid_request_error",
        "Invalid API Key provided: sk_test_****",
        headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
    ),
}


def form_of(request: ReceivedRequest) -> dict[str, Any]:
    """The form fields of a request as Stripe reads them: ``metadata[k]=v`` as
    ``{"metadata": {"k": "v"}}``, ``expand[]=x`` as ``{"expand": ["x"]}``. A ``ValueError``
    when the body is not a form."""
    return _nest(
        parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    )


def posts(requests: Iterable[ReceivedRequest]) -> list[ReceivedRequest]:
    """The POST requests (every mutating one) among `requests` (a `FaultServer`'s), whatever
    they got."""
    return [request for request in requests if request.method == "POST"]


def idempotency_keys(requests: Iterable[ReceivedRequest]) -> list[str | None]:
    """The ``Idempotency-Key`` of every POST among `requests`, in order (None: none sent)."""
    return [request.headers.get("idempotency-key") for request in posts(requests)]


def signature_header(body: bytes, secret: str, timestamp: int, *, extra: str = "") -> str:
    """A ``Stripe-Signature`` header for `body`, as Stripe signs a webhook delivery (for
    tests of an application's webhook endpoint); `extra` elements go first.

    >>> signature_header(b"{}", "whsec_test", 1700000000)[:13]
    't=1700000000,'
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, sha256).hexdigest()
    return ",".join(filter(None, [extra, f"t={timestamp}", f"v1={digest}"]))


class _Refusal(Exception):  # noqa: N818 - an answer, not an error of the double
    """An error answer that ends the handling of a request: made while checking the
    parameters, or (`executed`) once the endpoint ran, when Stripe keeps it for the
    request's idempotency key."""

    def __init__(self, fault: Fault, *, executed: bool = False) -> None:
        super().__init__(fault.status_code)
        self.fault = fault
        self.executed = executed


def _Executed(fault: Fault) -> _Refusal:  # noqa: N802 - reads as the exception it makes
    """A refusal once the endpoint ran (a decline, a state that forbids the operation)."""
    return _Refusal(fault, executed=True)


@dataclass(frozen=True)
class Hold:
    """A request held in execution by `StripeDouble.hold_next`: `arrived` is set once it is
    held; `release` lets it go on."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let the held request execute and be answered."""
        self.released.set()


@dataclass
class _Kept:
    """What an idempotency key was first used for, and what it answered once executed."""

    method: str
    path: str
    params: Any
    created: float
    answer: Fault | None = None


class StripeDouble:
    """Answers requests to Stripe's PaymentIntents and Refunds API like Stripe (see the module).

    Args:
        api_key: the only secret key accepted (Bearer, or Basic with the key as username).
        customers: the customer ids (``cus_...``) that exist.
        clock: seconds since the epoch, for ``created`` and the keys' 24 hours.
    """

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        customers: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._authorizations = {
            f"Bearer {api_key}",
            "Basic " + base64.b64encode(f"{api_key}:".encode()).decode("ascii"),
        }
        self.customers = frozenset(customers)
        self._clock = clock
        self._lock = threading.Lock()
        self._intents: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, _Kept] = {}
        self._resets = 0
        self._failures = 0
        self._holds: list[Hold] = []

    # -- what tests use ------------------------------------------------------------------------

    @property
    def payment_intents(self) -> list[dict[str, Any]]:
        """Every PaymentIntent created, in order, as it is now (declined ones included)."""
        with self._lock:
            return [dict(intent) for intent in self._intents.values()]

    @property
    def charges(self) -> list[dict[str, Any]]:
        """Every successful charge, in order, as it is now: each one money held or taken
        from a customer (a declined attempt is none)."""
        with self._lock:
            return [dict(c) for c in self._charges.values() if c["status"] == "succeeded"]

    @property
    def refunds(self) -> list[dict[str, Any]]:
        """Every refund, in order."""
        with self._lock:
            return [dict(refund) for refund in self._refunds.values()]

    def reset_after_processing(self, times: int = 1) -> None:
        """The next `times` POSTs are handled as Stripe would (executed and their answer
        kept for their idempotency key, or answered from it), then their connection is
        reset instead of answered."""
        with self._lock:
            self._resets = times

    def fail_executions(self, times: int = 1) -> None:
        """The next `times` POSTs that reach execution fail with a 500 ``api_error`` (and
        ``Stripe-Should-Retry: false``), kept for their idempotency key as Stripe keeps it."""
        with self._lock:
            self._failures = times

    def hold_next(self) -> Hold:
        """Hold the next POST that reaches execution (its key "still executing") until the
        returned `Hold` is released (at most 10 s): a second request with its key gets a
        409 meanwhile."""
        hold = Hold()
        with self._lock:
            self._holds.append(hold)
        return hold

    # -- the API -------------------------------------------------------------------------------

    def __call__(self, request: ReceivedRequest) -> Fault:
        """The answer to one request."""
        try:
            return self._answer(request)
        except _Refusal as refusal:
            return refusal.fault

    def _answer(self, request: ReceivedRequest) -> Fault:
        headers = request.headers
        if headers.get("authorization") not in self._authorizations:
            return FAULTS["auth"]
        version = headers.get("stripe-version")
        if version is not None and not _VERSION.fullmatch(version):
            return _invalid(f"Invalid Stripe API version: {version[:40]}")
        split = urlsplit(request.path)
        route = self._route(request.method, split.path)
        if request.method == "GET":
            params = _nest(parse_qsl(split.query, keep_blank_values=True))
            with self._lock:
                return _ok(route(params), request)
        params = self._form(request)
        key = headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= 255:
            return _invalid("Keys for idempotent requests can only be 1 to 255 characters long.")
        return self._post(key, route, params, request)

    def _route(self, method: str, path: str) -> Callable[[dict[str, Any]], Any]:
        if method == "POST" and path == "/v1/payment_intents":
            return self._create
        if method == "POST" and (action := _INTENT_ACTION.fullmatch(path)):
            handle = self._capture if action[2] == "capture" else self._cancel
            return lambda params: handle(action[1], params)
        if method == "GET" and (intent := _INTENT.fullmatch(path)):
            return lambda params: self._render(self._intent(intent[1], "intent"), params)
        if method == "POST" and path == "/v1/refunds":
            return self._refund
        if method == "GET" and (refund := _REFUND.fullmatch(path)):
            return lambda params: self._get_refund(refund[1])
        raise _Refusal(
            _error(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({method}: {path[:100]}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        )

    def _form(self, request: ReceivedRequest) -> dict[str, Any]:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.body and media != "application/x-www-form-urlencoded":
            raise _Refusal(
                _invalid(
                    "Invalid request: the body must be form-encoded "
                    "(application/x-www-form-urlencoded)."
                )
            )
        try:
            return form_of(request) if request.body else {}
        except (UnicodeDecodeError, ValueError):
            raise _Refusal(_invalid("Invalid request: the body is not a valid form.")) from None

    def _post(
        self,
        key: str | None,
        route: Callable[[dict[str, Any]], Any],
        params: dict[str, Any],
        request: ReceivedRequest,
    ) -> Fault:
        answer = self._answer_post(key, route, params, request)
        with self._lock:
            if self._resets:
                self._resets -= 1
                return Fault.reset_after_request()
        return answer

    def _answer_post(
        self,
        key: str | None,
        route: Callable[[dict[str, Any]], Any],
        params: dict[str, Any],
        request: ReceivedRequest,
    ) -> Fault:
        if key is not None:
            with self._lock:
                earlier = self._claim(key, request.method, urlsplit(request.path).path, params)
            if earlier is not None:
                return earlier
        answer, executed = None, False
        try:
            answer, executed = self._execute(route, params, request)
        finally:
            with self._lock:
                if key is not None and answer is not None and executed:
                    answer = self._keys[key].answer = _with_headers(
                        answer, {"Idempotency-Key": key}
                    )
                elif key is not None:
                    del self._keys[key]  # not executed: nothing is kept, retry at will
        assert answer is not None
        return answer

    def _claim(self, key: str, method: str, path: str, params: dict[str, Any]) -> Fault | None:
        """The answer an earlier use of `key` dictates, or None once `key` is claimed."""
        now = self._clock()
        kept = self._keys.get(key)
        if kept is not None and kept.created <= now - _KEY_LIFETIME:
            kept = None  # pruned after 24 hours: the key starts a new request
        if kept is None:
            self._keys[key] = _Kept(method, path, params, now)
            return None
        if (kept.method, kept.path, kept.params) != (method, path, params):
            return _error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key[:60]}' if you meant "
                "to execute a different request.",
            )
        if kept.answer is None:
            return _error(
                409,
                "idempotency_error",
                "The idempotency key provided is currently being used in another request. This "
                "occurs if your integration is making duplicate requests simultaneously.",
                code="idempotency_key_in_use",
            )
        return _with_headers(kept.answer, {"Idempotent-Replayed": "true"})

    def _execute(
        self,
        route: Callable[[dict[str, Any]], Any],
        params: dict[str, Any],
        request: ReceivedRequest,
    ) -> tuple[Fault, bool]:
        """The answer, and whether the endpoint executed (else the parameters were refused)."""
        with self._lock:
            hold = self._holds.pop(0) if self._holds else None
        if hold is not None:
            hold.arrived.set()
            hold.released.wait(_HOLD_LIMIT)
        with self._lock:
            if self._failures:
                self._failures -= 1
                failure = _error(
                    500,
                    "api_error",
                    "An unknown error occurred",
                    headers={"Stripe-Should-Retry": "false"},
                )
                return failure, True
            try:
                return _ok(route(params), request), True
            except _Refusal as refusal:
                return refusal.fault, refusal.executed

    # -- PaymentIntents ----------------------------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        _known(params, _CREATE_PARAMS)
        amount = _amount(params, "amount", required=True)
        currency = params.get("currency")
        if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
            if currency is None:
                raise _Refusal(_missing_param("currency"))
            raise _Refusal(_invalid(f"Invalid currency: {str(currency)[:10]}.", param="currency"))
        currency = currency.lower()
        if amount < MINIMUM_CHARGE.get(currency, 1):
            raise _Refusal(
                _invalid(
                    f"Amount must be at least {MINIMUM_CHARGE.get(currency, 1)} in the "
                    f"smallest unit of {currency}.",
                    code="amount_too_small",
                    param="amount",
                )
            )
        if amount > MAXIMUM_CHARGE:
            raise _Refusal(
                _invalid(
                    f"Amount must be no more than {MAXIMUM_CHARGE} in the smallest unit of "
                    f"{currency}.",
                    code="amount_too_large",
                    param="amount",
                )
            )
        capture_method = _choice(
            params, "capture_method", ("automatic", "automatic_async", "manual")
        )
        confirm = _choice(params, "confirm", ("true", "false")) == "true"
        method = _text_param(params, "payment_method")
        automatic = params.get("automatic_payment_methods")
        redirects = automatic.get("allow_redirects") if isinstance(automatic, dict) else None
        if (
            confirm
            and "return_url" not in params
            and "payment_method_types" not in params
            and redirects != "never"
        ):
            raise _Refusal(
                _invalid(
                    "This PaymentIntent is configured to accept payment methods enabled in your "
                    "Dashboard, because some of these payment methods might redirect your "
                    "customer off of your page, you must provide a `return_url`. If you don't "
                    "want to accept redirect-based payment methods, set "
                    "`automatic_payment_methods[enabled]` to `true` and "
                    "`automatic_payment_methods[allow_redirects]` to `never`."
                )
            )
        if confirm and method is None:
            raise _Refusal(_missing_param("payment_method"))
        if method is not None and method not in PAYMENT_METHODS and method not in DECLINES:
            raise _Refusal(_missing("PaymentMethod", method, "payment_method", status=400))
        customer = _text_param(params, "customer")
        if customer is not None and customer not in self.customers:
            raise _Refusal(_missing("customer", customer, "customer", status=400))
        metadata = _metadata(params)
        intent_id = _id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "automatic_payment_methods": _automatic(automatic),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method or "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "created": int(self._clock()),
            "currency": currency,
            "customer": customer,
            "description": _text_param(params, "description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "payment_method": _id("pm") if method is not None else None,
            "payment_method_types": ["card"],
            "status": "requires_confirmation" if method is not None else "requires_payment_method",
        }
        self._intents[intent_id] = intent
        if confirm:
            self._confirm(intent, method or "")
        return self._render(intent, params)

    def _confirm(self, intent: dict[str, Any], method: str) -> None:
        decline = DECLINES.get(method)
        charge_id = _id("ch")
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "captured": False,
            "created": int(self._clock()),
            "currency": intent["currency"],
            "failure_code": decline[0] if decline else None,
            "failure_message": decline[2] if decline else None,
            "paid": decline is None,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": "failed" if decline else "succeeded",
        }
        self._charges[charge_id] = charge
        intent["latest_charge"] = charge_id
        if decline is not None:
            code, decline_code, message = decline
            error = {"type": "card_error", "code": code, "decline_code": decline_code}
            error = {**error, "message": message, "charge": charge_id}
            intent.update(status="requires_payment_method", payment_method=None)
            intent["last_payment_error"] = {k: v for k, v in error.items() if v is not None}
            raise _Executed(
                _error(
                    402,
                    "card_error",
                    message,
                    code=code,
                    decline_code=decline_code,
                    charge=charge_id,
                    payment_intent=self._render(intent, {}),
                )
            )
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
            charge.update(captured=True, amount_captured=intent["amount"])

    def _capture(self, intent_id: str, params: dict[str, Any]) -> dict[str, Any]:
        _known(params, frozenset({"amount_to_capture", "metadata", "expand"}))
        intent = self._intent(intent_id, "intent")
        amount = _amount(params, "amount_to_capture")
        if intent["status"] != "requires_capture":
            raise _Executed(
                _unexpected_state(
                    f"This PaymentIntent could not be captured because it has a status of "
                    f"{intent['status']}. Only a PaymentIntent with one of the following "
                    "statuses may be captured: requires_capture."
                )
            )
        capturable = intent["amount_capturable"]
        if amount is None:
            amount = capturable
        if amount > capturable:
            raise _Executed(
                _invalid(
                    f"The amount to capture ({amount}) is greater than the amount capturable "
                    f"({capturable}).",
                    code="amount_too_large",
                    param="amount_to_capture",
                )
            )
        intent["metadata"].update(_metadata(params))
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._charges[intent["latest_charge"]].update(captured=True, amount_captured=amount)
        return self._render(intent, params)

    def _cancel(self, intent_id: str, params: dict[str, Any]) -> dict[str, Any]:
        _known(params, frozenset({"cancellation_reason", "expand"}))
        reasons = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
        reason = _choice(params, "cancellation_reason", reasons)
        intent = self._intent(intent_id, "intent")
        if intent["status"] not in _CANCELABLE:
            raise _Executed(
                _unexpected_state(
                    f"You cannot cancel this PaymentIntent because it has a status of "
                    f"{intent['status']}. Only a PaymentIntent with one of the following "
                    f"statuses may be canceled: {', '.join(_CANCELABLE)}."
                )
            )
        intent.update(
            status="canceled",
            amount_capturable=0,
            canceled_at=int(self._clock()),
            cancellation_reason=reason,
        )
        return self._render(intent, params)

    def _intent(self, intent_id: str, param: str) -> dict[str, Any]:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise _Executed(_missing("payment_intent", intent_id, param, status=404))
        return intent

    def _render(self, intent: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        expand = params.get("expand", [])
        if not isinstance(expand, list) or any(e != "latest_charge" for e in expand):
            raise _Refusal(_invalid(f"This property cannot be expanded ({str(expand)[:60]})."))
        rendered = {**intent, "metadata": dict(intent["metadata"])}
        if expand and intent["latest_charge"] is not None:
            rendered["latest_charge"] = dict(self._charges[intent["latest_charge"]])
        return rendered

    # -- Refunds -----------------------------------------------------------------------------------

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        _known(params, frozenset({"payment_intent", "charge", "amount", "reason", "metadata"}))
        amount = _amount(params, "amount")
        reason = _choice(params, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
        metadata = _metadata(params)
        intent_id = _text_param(params, "payment_intent")
        if intent_id is None:
            raise _Refusal(_missing_param("payment_intent"))
        intent = self._intents.get(intent_id)
        if intent is None:
            raise _Executed(_missing("payment_intent", intent_id, "payment_intent", status=400))
        charge = self._charges.get(intent["latest_charge"] or "")
        if intent["status"] != "succeeded" or charge is None:
            raise _Executed(
                _unexpected_state(
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                    f"refund: its status is {intent['status']}.",
                    param="payment_intent",
                )
            )
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left == 0:
            raise _Executed(
                _invalid(
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            )
        if amount is None:
            amount = left
        if amount > left:
            raise _Executed(
                _invalid(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({left})",
                    code="amount_too_large",
                    param="amount",
                )
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": int(self._clock()),
            "currency": intent["currency"],
            "metadata": metadata,
            "payment_intent": intent_id,
            "reason": reason,
            "status": "succeeded",
        }
        self._refunds[refund["id"]] = refund
        return refund

    def _get_refund(self, refund_id: str) -> dict[str, Any]:
        refund = self._refunds.get(refund_id)
        if refund is None:
            raise _Refusal(_missing("refund", refund_id, "id", status=404))
        return refund

    def __repr__(self) -> str:
        return f"<StripeDouble {len(self._intents)} payment intents>"


# -- answers -------------------------------------------------------------------------------------


def _ok(body: Any, request: ReceivedRequest) -> Fault:
    version = request.headers.get("stripe-version", API_VERSION)
    return Fault.respond(200, body, {"Request-Id": _id("req"), "Stripe-Version": version})


def _with_headers(fault: Fault, headers: Mapping[str, str]) -> Fault:
    return Fault(fault.kind, fault.status_code, fault.body, (*fault.headers, *headers.items()))


def _error(
    status: int,
    type: str,
    message: str,
    **fields: Any,
) -> Fault:
    headers = {"Request-Id": _id("req"), **fields.pop("headers", {})}
    return stripe_error(status, type, message, headers=headers, **fields)


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> Fault:
    return _error(400, "invalid_request_error", message, code=code, param=param)


def _unexpected_state(message: str, *, param: str | None = None) -> Fault:
    return _invalid(message, code="payment_intent_unexpected_state", param=param)


def _missing(what: str, name: str, param: str, *, status: int) -> Fault:
    return _error(
        status,
        "invalid_request_error",
        f"No such {what}: '{name[:60]}'",
        code="resource_missing",
        param=param,
    )


def _missing_param(param: str) -> Fault:
    return _invalid(f"Missing required param: {param}.", code="parameter_missing", param=param)


# -- parameters ----------------------------------------------------------------------------------


def _nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs to Stripe's nested parameters (one level of ``[key]``, and ``[]`` lists)."""
    params: dict[str, Any] = {}
    for name, value in pairs:
        base, bracket, rest = name.partition("[")
        if not bracket:
            params[base] = value
        elif rest == "]":
            params.setdefault(base, [])
            if isinstance(params[base], list):
                params[base].append(value)
        elif rest.endswith("]") and "[" not in rest:
            params.setdefault(base, {})
            if isinstance(params[base], dict):
                params[base][rest[:-1]] = value
        else:
            params[name] = value  # refused as an unknown parameter
    return params


def _known(params: Mapping[str, Any], known: frozenset[str]) -> None:
    for name in params:
        if name not in known:
            raise _Refusal(
                _invalid(
                    f"Received unknown parameter: {name[:60]}",
                    code="parameter_unknown",
                    param=name[:60],
                )
            )


def _amount(params: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise _Refusal(_missing_param(name))
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]{1,19}", value):
        raise _Refusal(
            _invalid(
                f"Invalid integer: {str(value)[:30]}", code="parameter_invalid_integer", param=name
            )
        )
    if int(value) < 1:
        raise _Refusal(
            _invalid(
                "This value must be greater than or equal to 1.",
                code="parameter_invalid_integer",
                param=name,
            )
        )
    return int(value)


def _choice(params: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is not None and value not in choices:
        raise _Refusal(
            _invalid(
                f"Invalid {name}: must be one of {', '.join(choices)}",
                code="parameter_invalid_empty" if value == "" else None,
                param=name,
            )
        )
    return value


def _text_param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise _Refusal(_invalid(f"Invalid {name}: must be a string", param=name))
    return value


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    metadata = params.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _Refusal(_invalid("Invalid metadata: must be a hash", param="metadata"))
    most, key_length, value_length = _METADATA_LIMITS
    if len(metadata) > most:
        raise _Refusal(_invalid(f"You can have at most {most} metadata keys.", param="metadata"))
    for key, value in metadata.items():
        if len(key) > key_length:
            raise _Refusal(
                _invalid(
                    f"Metadata keys can have up to {key_length} characters, but you passed in a "
                    f"key that is {len(key)} characters.",
                    param=f"metadata[{key[:40]}]",
                )
            )
        if len(value) > value_length:
            raise _Refusal(
                _invalid(
                    f"Metadata values can have up to {value_length} characters, but you passed "
                    f"in a value that is {len(value)} characters.",
                    param=f"metadata[{key}]",
                )
            )
    return dict(metadata)


def _automatic(given: Any) -> dict[str, Any] | None:
    """``automatic_payment_methods`` as Stripe renders it: ``enabled`` a boolean."""
    if not isinstance(given, dict):
        return None
    return {
        "enabled": given.get("enabled") == "true",
        "allow_redirects": given.get("allow_redirects", "always"),
    }


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
