"""The conformance suite every SMS adapter passes, whichever vendor it speaks to.

An adapter's tests subclass `SmsAdapterConformance` and provide one fixture, ``harness``,
that returns an `SmsHarness`: how to configure a connector for the adapter, what the vendor
(or its local test server) received, and how to make the vendor's next answer a failure.
The suite then sends and looks up messages through real `ConnectorManager` and
`AsyncConnectorManager` pipelines on a `FakeClock`, so it checks the adapter together with
the retry decisions its errors lead to. It needs pytest and pytest-asyncio.

The rules every SMS adapter follows (the memory vendor is the reference):

- `send` answers an `SmsReceipt` naming the vendor, the vendor's id and a valid state; the
  number and the text arrive exactly, whatever their characters.
- `get_status` answers the same id; the state moves on to ``delivered``, or to ``failed`` /
  ``undelivered`` with the vendor's error code; an unknown id is `ObjectNotFoundError`.
- A refused number is `InvalidRequestError` and refused credentials `AuthenticationError`:
  never retried.
- A 429 means "not processed": `RateLimitExceededError` with the vendor's Retry-After,
  which the pipeline waits out and retries, even for a send.
- A 5xx may have been processed: a send is not idempotent, so without an idempotency key
  the vendor honours it is raised (`VendorUnavailableError`, ``maybe_processed``), not
  retried; a status lookup is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import msgspec
import pytest

from .._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    VendorUnavailableError,
)
from .._sms import SmsMessage, SmsReceipt, SmsState, SmsStatus
from ._adapter_conformance import BACKOFF, AdapterConformance, AdapterHarness, rule

__all__ = ["ReceivedSms", "SmsAdapterConformance", "SmsFaultKind", "SmsHarness"]

#: The ways a vendor can be told to fail its next answer (`SmsHarness.fail_next`):
#: ``invalid_number`` (it rejects the destination), ``auth`` (it refuses the credentials),
#: ``rate_limited`` (HTTP 429 with a Retry-After of `SmsHarness.retry_after` seconds; the
#: request was not processed) and ``transient`` (a 5xx after it got the request).
SmsFaultKind = Literal["invalid_number", "auth", "rate_limited", "transient"]
FAULT_KINDS: tuple[SmsFaultKind, ...] = get_args(SmsFaultKind)

#: Every state an `SmsStatus` or `SmsReceipt` may report.
_STATES = frozenset(get_args(SmsState))
_DELIVERY_FAILED = frozenset({"failed", "undelivered"})
_FINAL = _DELIVERY_FAILED | {"delivered"}
#: Status lookups the suite makes before it gives up waiting for a final state.
_LOOKUPS = 10

#: Bodies that must arrive unchanged: GSM-7 with escapes, UCS-2, astral emoji, characters
#: that mean something in form or JSON encoding, and a concatenated (multi-segment) text.
BODIES: Mapping[str, str] = {
    "ascii": "Your code is 481516",
    "gsm-extension": "Total: 12€ [incl. VAT] {ref ~42} ^_^ \\o/",
    "ucs2": "Zażółć gęślą jaźń — Grüße aus Köln",
    "emoji-and-cjk": "Delivered 📦✅ 東京 👍🏽",
    "encoding-characters": "a=1&b=2+3 %20 ?x#y \"quoted\" 'single' <tag>\nsecond line",
    "multi-segment": "Long message. " * 30,
}


class ReceivedSms(msgspec.Struct, frozen=True):
    """One send request as the vendor received it.

    `sender` is the sender the request named (Twilio's ``From``), or None when it left the
    choice to the vendor (a messaging service, the account's default).
    """

    to: str
    body: str
    sender: str | None = None


@dataclass(frozen=True, kw_only=True)
class SmsHarness(AdapterHarness):
    """One SMS adapter under test, as `SmsAdapterConformance` drives it (with the
    attributes of every `AdapterHarness`: ``connector``, ``registry``, ``environ``,
    ``on_manager``, ``transport``).

    A fresh harness per test is expected (a function-scoped fixture): `received` counts
    from zero in each test.

    Attributes:
        received: every send request that reached the vendor so far, in order, whatever
            the vendor answered.
        fail_next: makes the vendor's next answer, to whichever operation, a failure of
            that `SmsFaultKind`.
        faults: the kinds `fail_next` can do; tests of the others are skipped.
        retry_after: the Retry-After seconds of a ``rate_limited`` failure.
        to: a number the vendor accepts and delivers to.
        unreachable: a number the vendor accepts but cannot deliver to, so that
            `get_status` ends ``failed`` or ``undelivered`` with the vendor's error code;
            None skips that test.
        sender: a sender the vendor accepts in `SmsMessage.sender`; None skips that test.
        unknown_id: an id in the vendor's format that names no message.
    """

    received: Callable[[], Sequence[ReceivedSms]]
    fail_next: Callable[[SmsFaultKind], None]
    faults: frozenset[SmsFaultKind] = frozenset(FAULT_KINDS)
    retry_after: float = 1.0
    to: str = "+14155550100"
    unreachable: str | None = None
    sender: str | None = None
    unknown_id: str = "SM" + "0" * 32

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {list(FAULT_KINDS)}")
        if self.retry_after <= BACKOFF:
            raise ValueError(f"retry_after must be more than {BACKOFF} s to be told apart")


class SmsAdapterConformance(AdapterConformance[SmsHarness]):
    """The behaviour every SMS adapter must show: subclass it and provide ``harness``.

    Every test runs twice, through a `ConnectorManager` and an `AsyncConnectorManager`
    (ids ``[sync]`` and ``[async]``), whose retry policy is 3 attempts with a fixed,
    negligible backoff, on a `FakeClock`::

        import pytest
        from nexus_connector_core.testing import SmsAdapterConformance, SmsHarness

        class TestTwilioConformance(SmsAdapterConformance):
            @pytest.fixture
            def harness(self, twilio_server, registry):
                return SmsHarness(
                    registry=registry,
                    connector={"vendor": "twilio", "options": {"base_url": twilio_server.url},
                               "credentials": {...}},
                    received=twilio_server.messages,   # -> list[ReceivedSms]
                    fail_next=twilio_server.fail_next, # (kind) -> None
                    transport=TransportFaults.over_http(twilio_server),
                    retry_after=2.0,
                    unreachable="+15550001234",
                )

    To record a known deviation of your adapter, override that test in your subclass,
    decorate it with ``@pytest.mark.xfail(strict=True, reason=...)`` and call ``super()``.
    """

    category = "sms"
    connector_name = "sms"

    @property
    def sms(self) -> Any:
        """The connector under test (an `SmsConnector` or its async twin)."""
        return self.under_test

    async def write_call(self) -> tuple[str, tuple[Any, ...]]:
        return "send", (self.message(),)

    async def read_call(self) -> tuple[str, tuple[Any, ...]]:
        receipt = await self.send(self.message())
        return "get_status", (receipt.vendor_id,)

    # -- helpers ---------------------------------------------------------------------------

    async def send(self, message: SmsMessage) -> SmsReceipt:
        """Send through the connector under test, sync or async."""
        receipt: SmsReceipt = await self.call("send", message)
        return receipt

    async def get_status(self, vendor_id: str) -> SmsStatus:
        """Look a message up through the connector under test, sync or async."""
        status: SmsStatus = await self.call("get_status", vendor_id)
        return status

    def message(self, body: str = "Your code is 481516", to: str | None = None) -> SmsMessage:
        """A message to the harness's deliverable number (or `to`), with no sender."""
        return SmsMessage(to or self._harness.to, body)

    def received(self) -> Sequence[ReceivedSms]:
        """What the vendor received so far."""
        return self._harness.received()

    def fail_next(self, kind: SmsFaultKind) -> None:
        """Make the vendor's next answer fail as `kind`, or skip the test if it cannot."""
        if kind not in self._harness.faults:
            pytest.skip(f"the harness cannot make the vendor fail with {kind!r}")
        self._harness.fail_next(kind)

    async def final_status(self, vendor_id: str) -> list[SmsStatus]:
        """Look the message up until the vendor reports a final state; every answer."""
        seen = [await self.get_status(vendor_id)]
        while seen[-1].status not in _FINAL and len(seen) < _LOOKUPS:
            seen.append(await self.get_status(vendor_id))
        return seen

    async def failed_send(self, error: type[ConnectorError]) -> ConnectorError:
        """Send a message that must fail with `error`; the error, with its context checked."""
        with pytest.raises(error) as caught:
            await self.send(self.message())
        self.assert_context(caught.value, "send")
        return caught.value

    # -- send --------------------------------------------------------------------------------

    @rule("results")
    async def test_send_returns_a_receipt_with_the_vendor_key_and_its_message_id(self) -> None:
        receipt = await self.send(self.message())

        assert receipt.vendor == self.vendor
        assert isinstance(receipt.vendor_id, str)
        assert receipt.vendor_id
        assert receipt.to == self._harness.to
        assert receipt.status in _STATES
        assert receipt.segments is None or receipt.segments >= 1
        assert receipt.raw is not None

    @rule("results")
    async def test_each_send_gets_its_own_message_id(self) -> None:
        first = await self.send(self.message())
        second = await self.send(self.message())

        assert first.vendor_id != second.vendor_id

    @rule("exact")
    @pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
    async def test_the_body_and_the_number_arrive_exactly(self, body: str) -> None:
        await self.send(self.message(body))

        [received] = self.received()
        assert (received.to, received.body) == (self._harness.to, body)

    @rule("exact")
    async def test_the_sender_arrives_as_given(self) -> None:
        if self._harness.sender is None:
            pytest.skip("the harness names no sender the vendor accepts")

        await self.send(SmsMessage(self._harness.to, "Hi", sender=self._harness.sender))

        [received] = self.received()
        assert received.sender == self._harness.sender

    # -- get_status --------------------------------------------------------------------------

    @rule("sms-status")
    async def test_get_status_reports_the_message_by_the_same_id(self) -> None:
        receipt = await self.send(self.message())

        status = await self.get_status(receipt.vendor_id)

        assert (status.vendor, status.vendor_id) == (receipt.vendor, receipt.vendor_id)
        assert status.status in _STATES

    @rule("sms-status")
    async def test_a_deliverable_message_ends_delivered_without_an_error(self) -> None:
        receipt = await self.send(self.message())

        seen = await self.final_status(receipt.vendor_id)

        assert seen[-1].status == "delivered", [s.status for s in seen]
        assert (seen[-1].error_code, seen[-1].error_message) == (None, None)

    @rule("sms-status")
    async def test_a_message_that_cannot_be_delivered_ends_failed_with_the_vendors_code(
        self,
    ) -> None:
        if self._harness.unreachable is None:
            pytest.skip("the harness names no number the vendor cannot deliver to")
        receipt = await self.send(self.message(to=self._harness.unreachable))

        seen = await self.final_status(receipt.vendor_id)

        assert seen[-1].status in _DELIVERY_FAILED, [s.status for s in seen]
        assert seen[-1].error_code

    @rule("not-found")
    async def test_get_status_of_an_unknown_id_raises_object_not_found(self) -> None:
        with pytest.raises(ObjectNotFoundError) as caught:
            await self.get_status(self._harness.unknown_id)

        assert caught.value.operation == "get_status"

    @rule("retry-reads")
    async def test_a_status_lookup_is_retried_after_a_vendor_error(self) -> None:
        receipt = await self.send(self.message())
        self.fail_next("transient")

        status = await self.get_status(receipt.vendor_id)

        assert status.vendor_id == receipt.vendor_id
        assert self.clock.sleeps == [BACKOFF]

    # -- errors of send ----------------------------------------------------------------------

    @rule("invalid")
    async def test_an_invalid_number_is_an_invalid_request_and_not_retried(self) -> None:
        self.fail_next("invalid_number")

        await self.failed_send(InvalidRequestError)

        assert len(self.received()) == 1
        assert self.clock.sleeps == []

    @rule("auth")
    async def test_refused_credentials_are_an_authentication_error_and_not_retried(self) -> None:
        self.fail_next("auth")

        await self.failed_send(AuthenticationError)

        assert len(self.received()) == 1
        assert self.clock.sleeps == []

    @rule("rate-limited")
    async def test_a_rate_limited_send_is_retried_after_the_vendors_retry_after(self) -> None:
        self.fail_next("rate_limited")

        receipt = await self.send(self.message())

        assert receipt.vendor_id
        assert len(self.received()) == 2  # refused unprocessed, then sent
        assert self.clock.sleeps == [pytest.approx(self._harness.retry_after)]

    @rule("maybe-processed")
    async def test_a_vendor_error_after_sending_is_not_retried_for_an_unkeyed_send(self) -> None:
        if self.honours_keys:
            pytest.skip("the vendor honours idempotency keys: the pipeline keys every send")
        self.fail_next("transient")

        error = await self.failed_send(VendorUnavailableError)

        assert error.maybe_processed  # the vendor may have sent it: a retry could send twice
        assert len(self.received()) == 1
        assert self.clock.sleeps == []
