"""The conformance suite every payment adapter passes, whichever processor it speaks to.

Payments are where a wrong retry costs a customer money, so the suite checks what every
payment vendor owes the pipeline, through real `ConnectorManager` and
`AsyncConnectorManager` pipelines on a `FakeClock` (every test runs with both twins). An
adapter's tests subclass `PaymentAdapterConformance` and provide one fixture, ``harness``,
returning a `PaymentHarness`: how to configure connector ``payment`` for the vendor, what
the vendor (or its local test server) received and charged, and how to make its next
answer a failure. It needs pytest and pytest-asyncio.

The rules every payment adapter follows (the memory vendor is the reference):

- `authorize` holds the amount (``authorized``, nothing captured), `purchase` takes it at
  once (``succeeded``, all captured); `capture` takes all or part of an authorization,
  `refund` gives back all or part of what was captured (``partially_refunded``, then
  ``refunded``), `void` cancels an authorization (``canceled``); `get` reports the running
  totals. Every amount is exact, in minor units, in the payment's currency.
- A capture or refund beyond what the payment allows, or in another currency than the
  payment's, is an `InvalidRequestError` that moves no money and is not
  ``maybe_processed``; the currency is checked before any money can move (the vendor's
  API may take a bare number): a remote vendor's adapter sends no mutating request for it.
- A declined card is a `PaymentDeclinedError` carrying the vendor's ``code`` (and the
  issuer's ``decline_code`` where the vendor reports one), attempted once, never retried;
  a repeat with the same idempotency key is declined again with the same codes, without a
  new attempt.
- Refused credentials are an `AuthenticationError`, never retried. A 429 means "not
  processed": the pipeline waits the vendor's Retry-After and retries, even a purchase.
- An exchange cut after the vendor may have acted (a reset after the request was sent) is
  ``maybe_processed``. A vendor that honours idempotency keys gets one on every mutating
  request, the same on every attempt of a call (the caller's, or one the pipeline makes
  per call, never derived from the parameters), so the retry is answered from the
  vendor's own idempotency store and the customer is charged once; a vendor that does not
  is never retried after such a cut.

Fault kinds (`PaymentFaultKind`), made by ``fail_next(kind)`` for the vendor's next answer
only; a test needing a kind missing from ``faults`` is skipped, with the reason:

- ``rate_limited``: HTTP 429 with a Retry-After of `PaymentHarness.retry_after` seconds;
  the vendor did nothing.
- ``unavailable``: an outage answer (HTTP 503) to a lookup.
- ``reset_after_processing``: the vendor acts on the request, then the connection is
  reset before its answer arrives.
- ``auth``: the credentials are refused (HTTP 401).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pytest

from .._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    VendorUnavailableError,
)
from .._money import Money
from .._payment import Payment, PaymentRequest, Refund
from ._adapter_conformance import BACKOFF, AdapterConformance, AdapterHarness, rule

__all__ = ["PaymentAdapterConformance", "PaymentFaultKind", "PaymentHarness"]

#: The ways a vendor can be told to fail its next answer (see the module).
PaymentFaultKind = Literal["rate_limited", "unavailable", "reset_after_processing", "auth"]
FAULT_KINDS: tuple[PaymentFaultKind, ...] = get_args(PaymentFaultKind)


@dataclass(frozen=True, kw_only=True)
class PaymentHarness(AdapterHarness):
    """One payment adapter under test, as `PaymentAdapterConformance` drives it (with the
    attributes of every `AdapterHarness`: ``connector``, ``registry``, ``environ``,
    ``on_manager``, ``transport``).

    A fresh harness per test is expected (a function-scoped fixture): `charges` and `keys`
    count from zero in each test.

    Attributes:
        charges: how many payments the vendor has authorized or captured so far (a
            replayed answer is not a new one; a declined attempt is none).
        keys: the idempotency key of every mutating request (authorize, purchase, capture,
            refund, void) that reached the vendor so far, in order, whatever it answered;
            None for a request that carried none.
        fail_next: makes the vendor's next answer a failure of that `PaymentFaultKind`.
        faults: the kinds `fail_next` can do; tests of the others are skipped.
        retry_after: the Retry-After seconds of a ``rate_limited`` failure.
        payment_method: a payment method the vendor charges successfully.
        declined_method: a payment method the vendor always declines.
        decline_code: the issuer's ``decline_code`` the vendor reports for
            `declined_method`, or None when it reports none apart from ``code``.
        unknown_id: an id in the vendor's format that names no payment.
        vendor_checks_currency: the vendor itself refuses a capture or refund in another
            currency than the payment's, as one step that moves nothing (an in-process
            vendor whose records hold the currency, such as memory). False (every remote
            vendor, whose API may take a bare number): the adapter refuses it before any
            mutating request is sent, which the tests check through `keys`.
    """

    charges: Callable[[], int]
    keys: Callable[[], Sequence[str | None]]
    fail_next: Callable[[PaymentFaultKind], None]
    faults: frozenset[PaymentFaultKind] = frozenset(FAULT_KINDS)
    retry_after: float = 1.0
    payment_method: str = "pm_card_visa"
    declined_method: str = "pm_card_chargeDeclined"
    decline_code: str | None = None
    unknown_id: str = "pay_" + "0" * 24
    vendor_checks_currency: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {list(FAULT_KINDS)}")
        if self.retry_after <= BACKOFF:
            raise ValueError(f"retry_after must be more than {BACKOFF} s to be told apart")


class PaymentAdapterConformance(AdapterConformance[PaymentHarness]):
    """The behaviour every payment adapter must show: subclass it and provide ``harness``.

    Every test runs twice, through a `ConnectorManager` and an `AsyncConnectorManager`
    (ids ``[sync]`` and ``[async]``), whose retry policy is 3 attempts with a fixed,
    negligible backoff, on a `FakeClock`::

        import pytest
        from nexus_connector_core.testing import PaymentAdapterConformance, PaymentHarness

        class TestStripeConformance(PaymentAdapterConformance):
            @pytest.fixture
            def harness(self, stripe, stripe_server, registry):
                return PaymentHarness(
                    registry=registry,
                    connector={"vendor": "stripe",
                               "options": {"base_url": stripe_server.url},
                               "credentials": {"api_key": "env:STRIPE_API_KEY"}},
                    environ={"STRIPE_API_KEY": API_KEY},
                    charges=lambda: len(stripe.charges),
                    keys=...,          # the Idempotency-Key of each POST received
                    fail_next=...,     # (kind) -> None
                    transport=TransportFaults.over_http(stripe_server),
                    decline_code="generic_decline",
                    unknown_id="pi_" + "0" * 24,
                )

    To record a known deviation of your adapter, override that test in your subclass,
    decorate it with ``@pytest.mark.xfail(strict=True, reason=...)`` and call ``super()``.
    """

    category = "payment"
    connector_name = "payment"

    @property
    def payment(self) -> Any:
        """The connector under test (a `PaymentConnector` or its async twin)."""
        return self.under_test

    async def write_call(self) -> tuple[str, tuple[Any, ...]]:
        return "purchase", (self.request(),)

    async def read_call(self) -> tuple[str, tuple[Any, ...]]:
        paid = await self.purchase()
        return "get", (paid.vendor_id,)

    # -- helpers ---------------------------------------------------------------------------

    def request(
        self, amount: Money | int = 1999, method: str | None = None, **extra: Any
    ) -> PaymentRequest:
        """A payment request for `amount` (minor units of USD when an int) on the harness's
        good payment method (or `method`)."""
        money = amount if isinstance(amount, Money) else Money(amount, "USD")
        return PaymentRequest(
            amount=money, payment_method=method or self._harness.payment_method, **extra
        )

    async def purchase(self, amount: Money | int = 1999, **kwargs: Any) -> Payment:
        """A purchase on the good payment method."""
        payment: Payment = await self.call("purchase", self.request(amount), **kwargs)
        return payment

    async def authorize(self, amount: Money | int = 1999, **kwargs: Any) -> Payment:
        """An authorization on the good payment method."""
        payment: Payment = await self.call("authorize", self.request(amount), **kwargs)
        return payment

    async def get(self, payment_id: str) -> Payment:
        payment: Payment = await self.call("get", payment_id)
        return payment

    async def failed(
        self, error: type[ConnectorError], operation: str, *args: Any, **kwargs: Any
    ) -> Any:
        """Call `operation`, which must fail with `error`; the error, its context checked."""
        with pytest.raises(error) as caught:
            await self.call(operation, *args, **kwargs)
        self.assert_context(caught.value, operation)
        return caught.value

    def fail_next(self, kind: PaymentFaultKind) -> None:
        """Make the vendor's next answer fail as `kind`, or skip the test if it cannot."""
        if kind not in self._harness.faults:
            pytest.skip(f"the harness cannot make the vendor fail with {kind!r}")
        self._harness.fail_next(kind)

    def keys(self) -> list[str | None]:
        return list(self._harness.keys())

    def charges(self) -> int:
        return self._harness.charges()

    def usd(self, amount: int) -> Money:
        return Money(amount, "USD")

    # -- the lifecycle ----------------------------------------------------------------------

    @rule("payment-lifecycle")
    async def test_purchase_captures_the_whole_amount(self) -> None:
        payment = await self.purchase(1999)

        assert payment.vendor == self.vendor
        assert isinstance(payment.vendor_id, str)
        assert payment.vendor_id
        assert payment.status == "succeeded"
        assert (payment.amount, payment.captured) == (self.usd(1999), self.usd(1999))
        assert payment.refunded == self.usd(0)
        assert payment.raw is not None
        assert not payment.replayed
        assert self.charges() == 1

    @rule("payment-lifecycle")
    async def test_authorize_holds_the_amount_without_capturing_it(self) -> None:
        payment = await self.authorize(1999)

        assert payment.status == "authorized"
        assert (payment.amount, payment.captured) == (self.usd(1999), self.usd(0))
        assert self.charges() == 1

    @rule("results")
    async def test_each_purchase_is_a_payment_of_its_own(self) -> None:
        first = await self.purchase()
        second = await self.purchase()

        assert first.vendor_id != second.vendor_id

    @rule("payment-lifecycle")
    async def test_a_capture_without_an_amount_takes_the_whole_authorization(self) -> None:
        held = await self.authorize(1999)

        captured: Payment = await self.call("capture", held.vendor_id)

        assert captured.vendor_id == held.vendor_id
        assert (captured.status, captured.captured) == ("succeeded", self.usd(1999))

    @rule("payment-lifecycle")
    async def test_partial_capture_and_partial_refunds_add_up_in_minor_units(self) -> None:
        held = await self.authorize(1999)

        captured: Payment = await self.call("capture", held.vendor_id, self.usd(1500))
        refund: Refund = await self.call("refund", held.vendor_id, self.usd(500))
        after_one = await self.get(held.vendor_id)
        rest: Refund = await self.call("refund", held.vendor_id)
        after_all = await self.get(held.vendor_id)

        assert (captured.status, captured.captured) == ("succeeded", self.usd(1500))
        assert (refund.payment_id, refund.amount) == (held.vendor_id, self.usd(500))
        assert refund.vendor_id
        assert refund.status in ("pending", "succeeded")
        assert (after_one.status, after_one.captured, after_one.refunded) == (
            "partially_refunded",
            self.usd(1500),
            self.usd(500),
        )
        assert rest.amount == self.usd(1000)  # what was left of the capture, not the hold
        assert rest.vendor_id != refund.vendor_id
        assert (after_all.status, after_all.refunded) == ("refunded", self.usd(1500))

    @pytest.mark.parametrize(
        "amount",
        [Money(5000, "JPY"), Money(1999, "EUR"), Money(99_999_999, "USD")],
        ids=["zero-decimal", "two-decimal", "largest"],
    )
    @rule("exact")
    async def test_amounts_stay_exact_whatever_the_currency(self, amount: Money) -> None:
        payment = await self.purchase(amount)
        fetched = await self.get(payment.vendor_id)

        assert (payment.amount, payment.captured) == (amount, amount)
        assert (fetched.amount, fetched.captured) == (amount, amount)
        assert fetched.refunded == Money(0, amount.currency)

    @rule("exact")
    async def test_the_description_and_metadata_arrive_as_given(self) -> None:
        metadata = {"order_id": "1042", "note": "a=1&b=2 [x] %20 Grüße ✓"}
        request = self.request(description="Order 1042 — 2 items", metadata=metadata)

        payment: Payment = await self.call("purchase", request)
        fetched = await self.get(payment.vendor_id)

        assert (fetched.description, dict(fetched.metadata)) == ("Order 1042 — 2 items", metadata)

    @rule("payment-lifecycle")
    async def test_void_cancels_an_authorization(self) -> None:
        held = await self.authorize()

        voided: Payment = await self.call("void", held.vendor_id)
        fetched = await self.get(held.vendor_id)

        assert (voided.vendor_id, voided.status) == (held.vendor_id, "canceled")
        assert (fetched.status, fetched.captured) == ("canceled", self.usd(0))

    @rule("not-found")
    async def test_get_of_an_unknown_payment_is_object_not_found(self) -> None:
        await self.failed(ObjectNotFoundError, "get", self._harness.unknown_id)

    @rule("payment-refusals")
    async def test_a_voided_payment_cannot_be_captured_nor_an_authorization_refunded(
        self,
    ) -> None:
        voided = await self.authorize()
        await self.call("void", voided.vendor_id)
        held = await self.authorize()

        await self.failed(InvalidRequestError, "capture", voided.vendor_id)
        await self.failed(InvalidRequestError, "refund", held.vendor_id)

        assert (await self.get(held.vendor_id)).status == "authorized"

    # -- amounts refused --------------------------------------------------------------------

    @rule("payment-refusals")
    async def test_a_capture_beyond_the_authorization_is_refused_and_moves_nothing(
        self,
    ) -> None:
        held = await self.authorize(1999)

        error = await self.failed(InvalidRequestError, "capture", held.vendor_id, self.usd(2000))

        assert not error.maybe_processed
        fetched = await self.get(held.vendor_id)
        assert (fetched.status, fetched.captured) == ("authorized", self.usd(0))

    @rule("payment-refusals")
    async def test_a_refund_beyond_what_was_captured_is_refused_and_moves_nothing(
        self,
    ) -> None:
        paid = await self.purchase(1999)
        await self.call("refund", paid.vendor_id, self.usd(1500))

        error = await self.failed(InvalidRequestError, "refund", paid.vendor_id, self.usd(500))

        assert not error.maybe_processed
        assert (await self.get(paid.vendor_id)).refunded == self.usd(1500)

    def assert_nothing_sent_since(self, mutations: int) -> None:
        """No mutating request reached the vendor since `mutations` had (a count of `keys`),
        unless the vendor checks the currency itself (`PaymentHarness.vendor_checks_currency`)."""
        if not self._harness.vendor_checks_currency:
            assert self.keys()[mutations:] == []

    @rule("payment-refusals")
    async def test_a_capture_in_another_currency_is_refused_before_money_moves(self) -> None:
        held = await self.authorize(1999)
        mutations = len(self.keys())

        error = await self.failed(InvalidRequestError, "capture", held.vendor_id, Money(500, "EUR"))

        assert not error.maybe_processed
        self.assert_nothing_sent_since(mutations)
        fetched = await self.get(held.vendor_id)
        assert (fetched.status, fetched.captured) == ("authorized", self.usd(0))

    @rule("payment-refusals")
    async def test_a_refund_in_another_currency_is_refused_before_money_moves(self) -> None:
        paid = await self.purchase(1999)
        mutations = len(self.keys())

        error = await self.failed(InvalidRequestError, "refund", paid.vendor_id, Money(5, "JPY"))

        assert not error.maybe_processed
        self.assert_nothing_sent_since(mutations)
        fetched = await self.get(paid.vendor_id)
        assert (fetched.status, fetched.refunded) == ("succeeded", self.usd(0))

    # -- declines ---------------------------------------------------------------------------

    @rule("payment-declines")
    async def test_a_declined_card_is_payment_declined_with_its_codes_and_not_retried(
        self,
    ) -> None:
        request = self.request(method=self._harness.declined_method)

        error = await self.failed(PaymentDeclinedError, "purchase", request)

        assert error.code
        if self._harness.decline_code is not None:
            assert error.decline_code == self._harness.decline_code
        assert not error.retryable
        assert len(self.keys()) == 1  # attempted once
        assert self.clock.sleeps == []
        assert self.charges() == 0

    @rule("payment-declines")
    async def test_a_repeated_declined_purchase_with_its_key_is_declined_again_unattempted(
        self,
    ) -> None:
        request = self.request(method=self._harness.declined_method)
        first = await self.failed(PaymentDeclinedError, "purchase", request, idempotency_key="o-9")

        again = await self.failed(PaymentDeclinedError, "purchase", request, idempotency_key="o-9")

        assert (again.code, again.decline_code) == (first.code, first.decline_code)
        assert len(self.keys()) == 1
        assert self.charges() == 0

    # -- refusals and faults ----------------------------------------------------------------

    @rule("auth")
    async def test_refused_credentials_are_an_authentication_error_and_not_retried(
        self,
    ) -> None:
        self.fail_next("auth")

        await self.failed(AuthenticationError, "purchase", self.request())

        assert len(self.keys()) == 1
        assert self.clock.sleeps == []
        assert self.charges() == 0

    @rule("rate-limited")
    async def test_a_rate_limited_purchase_is_retried_after_retry_after_and_charged_once(
        self,
    ) -> None:
        self.fail_next("rate_limited")

        payment = await self.purchase()

        assert payment.status == "succeeded"
        assert len(self.keys()) == 2  # refused unprocessed, then charged
        assert self.clock.sleeps == [pytest.approx(self._harness.retry_after)]
        assert self.charges() == 1

    @rule("retry-reads")
    async def test_a_lookup_is_retried_after_an_outage(self) -> None:
        paid = await self.purchase()
        self.fail_next("unavailable")

        fetched = await self.get(paid.vendor_id)

        assert fetched.vendor_id == paid.vendor_id
        assert self.clock.sleeps == [BACKOFF]

    @rule("maybe-processed")
    async def test_a_reset_after_the_vendor_acted_never_charges_twice(self) -> None:
        self.fail_next("reset_after_processing")

        if self.honours_keys:
            payment = await self.purchase()
            assert payment.replayed  # the retry was answered from the vendor's key store
            first, second = self.keys()
            assert first is not None
            assert first == second
        else:
            error = await self.failed(VendorUnavailableError, "purchase", self.request())
            assert error.maybe_processed
            assert len(self.keys()) == 1
        assert self.charges() == 1

    # -- idempotency keys -------------------------------------------------------------------

    @rule("idempotency-keys")
    async def test_a_key_honouring_vendor_gets_one_key_on_every_attempt_of_a_call(
        self,
    ) -> None:
        if not self.honours_keys:
            pytest.skip("the vendor honours no idempotency keys")
        self.fail_next("rate_limited")

        await self.purchase()

        first, second = self.keys()
        assert first is not None
        assert first.strip()
        assert first == second

    @rule("idempotency-keys")
    async def test_a_callers_key_is_the_key_the_vendor_gets_on_every_attempt(self) -> None:
        if not self.honours_keys:
            pytest.skip("the vendor honours no idempotency keys")
        self.fail_next("rate_limited")

        await self.purchase(idempotency_key="order-7")

        assert self.keys() == ["order-7", "order-7"]

    @rule("idempotency-keys")
    async def test_two_identical_purchases_without_keys_are_two_charges(self) -> None:
        first = await self.purchase(1999)
        second = await self.purchase(1999)

        assert first.vendor_id != second.vendor_id
        assert self.charges() == 2
        if self.honours_keys:  # one random key per call, never one derived from the request
            one, two = self.keys()
            assert one != two

    @rule("idempotency-keys")
    async def test_a_repeat_with_the_callers_key_is_answered_without_a_second_charge(
        self,
    ) -> None:
        first = await self.purchase(idempotency_key="order-1042")
        again = await self.purchase(idempotency_key="order-1042")

        assert again.vendor_id == first.vendor_id
        assert self.charges() == 1
