"""The conformance suite every email vendor adapter passes, whatever its transport.

A plugin's tests subclass `EmailAdapterConformance` and provide one fixture, ``harness``,
returning an `EmailHarness`: how to configure connector ``email`` for the vendor under test,
what its test server received, and which faults the server can be told to make. Each test
then sends through a real `ConnectorManager` or `AsyncConnectorManager` (every test runs
with both twins) and checks what the vendor got and what the caller was told::

    class TestAcmeEmail(EmailAdapterConformance):
        @pytest.fixture
        def harness(self, acme_server) -> EmailHarness:
            return EmailHarness(
                vendor="acme",
                connector={"vendor": "acme", "options": {"base_url": acme_server.url},
                           "credentials": {"api_key": "env:ACME_KEY"}},
                environ={"ACME_KEY": "test-key"},
                received=acme_server.received,      # -> list[ReceivedEmail]
                fail_next=acme_server.fail_next,    # (kind) -> None
                faults=frozenset({"transient", "auth", "rate_limited", "rejected_recipient"}),
                transport=TransportFaults.over_http(acme_server),
                retry_after=2.0,                    # the Retry-After of its 429
            )

The rules every adapter follows (the memory vendor is the reference):

- Accepted recipients are ``queued`` or ``sent``; a refused one is ``rejected`` with the
  vendor's reason, for that recipient only, while the others get the message.
- `send` of a message whose every recipient is refused raises `InvalidRequestError` with
  code ``all_recipients_rejected`` (a transient refusal of all may instead raise
  `VendorUnavailableError`). In `send_batch` such a message gets a receipt of rejections
  and the other messages still go.
- A refusal of the credentials is `AuthenticationError`, never retried.
- A transient failure before the vendor could act is `VendorUnavailableError` with
  ``maybe_processed=False``, which the pipeline retries; a failure after the message may
  have reached the vendor says ``maybe_processed=True`` and is not retried without an
  idempotency key the vendor honours (email send is not idempotent).

Fault kinds (`EmailFaultKind`), made by ``fail_next(kind)`` for the next attempt only; a test
needing a kind missing from ``faults`` is skipped, with the reason:

- ``transient``: refused before the vendor acted (SMTP 421 greeting, HTTP 503 that the API
  documents as not processed).
- ``unknown_outcome``: the message went out but its answer is lost or unreadable (SMTP:
  the connection dropped after the data, or a garbled reply to it; HTTP: reset after the
  request body was read). A ``send`` raises ``maybe_processed``; a ``send_batch`` either
  does too or reports that message's recipients ``unknown``, never ``rejected``.
- ``auth``: the credentials are refused (SMTP 535, HTTP 401).
- ``rate_limited``: the vendor asks to slow down (HTTP 429 with a Retry-After of
  `EmailHarness.retry_after` seconds), and the pipeline waits that long before it retries.
- ``rejected_recipient``: never passed to ``fail_next``; listing it says the vendor always
  refuses recipients at `REJECTED_DOMAIN` (``reject.example``), as the memory vendor does
  (SMTP: 550 to their RCPT TO; an API: its per-recipient rejection).

The suite arms a fault before it builds the manager that meets it. Needs pytest and
pytest-asyncio (``asyncio_mode = "auto"`` or the marks the suite sets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import msgspec
import pytest

from .._async_manager import AsyncConnectorManager
from .._email import Attachment, EmailAddress, EmailBatchReceipt, EmailMessage, EmailReceipt
from .._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    RateLimitExceededError,
    VendorUnavailableError,
)
from .._manager import ConnectorManager
from ..vendors.memory.email import REJECTED_DOMAIN
from ._adapter_conformance import AdapterConformance, AdapterHarness, rule
from ._managers import AnyManager

__all__ = [
    "EmailAdapterConformance",
    "EmailHarness",
    "EmailFaultKind",
    "REJECTED_DOMAIN",
    "ReceivedAttachment",
    "ReceivedEmail",
]

EmailFaultKind = Literal[
    "transient", "unknown_outcome", "auth", "rate_limited", "rejected_recipient"
]
Twin = Literal["sync", "async"]

#: Statuses that mean "the vendor took the message for this recipient".
ACCEPTED = frozenset({"queued", "sent"})
_NO_RETRY: Mapping[str, Any] = {"enabled": False}
#: The retry backoff, shorter than any Retry-After a vendor sends, so that the suite sees
#: the vendor's wait and not its own.
_BACKOFF = 0.01
_RETRY: Mapping[str, Any] = {"max_attempts": 3, "base": _BACKOFF, "jitter": "none"}


class ReceivedAttachment(msgspec.Struct, frozen=True):
    """An attachment as the vendor got it: `content_type` is ``type/subtype`` in lower case,
    without parameters; `content` the decoded bytes."""

    filename: str
    content_type: str
    content: bytes


def _normal_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


class ReceivedEmail(msgspec.Struct, frozen=True, kw_only=True):
    """One message as the vendor (its test server) received it, normalised.

    Attributes:
        sender: the From address with its display name (decoded, None when absent).
        to, cc, reply_to: the addresses the delivered message shows, with display names.
        bcc: recipients the vendor got that the delivered message does not show.
        envelope: every recipient the vendor accepted to deliver to (SMTP: RCPT TO).
        subject, text, html: decoded; line endings and trailing newlines may differ.
        attachments: every attachment, inline ones included.
        headers: the delivered message's headers by lower-case name (for an HTTP API:
            the custom headers it will add, and any header fields it takes).
    """

    sender: EmailAddress
    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[EmailAddress, ...] = ()
    envelope: tuple[str, ...] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: tuple[ReceivedAttachment, ...] = ()
    headers: Mapping[str, str] = {}

    @classmethod
    def of(cls, message: EmailMessage, *, refused: Collection[str] = ()) -> ReceivedEmail:
        """What a vendor that keeps the `EmailMessage` itself got (the memory vendor);
        `refused` are the recipients it turned away."""
        headers = {k.lower(): v for k, v in message.headers.items()}
        headers["subject"] = message.subject
        return cls(
            sender=message.from_address,
            to=message.addresses("to"),
            cc=message.addresses("cc"),
            bcc=tuple(a.email for a in message.addresses("bcc") if a.email not in refused),
            reply_to=message.addresses("reply_to"),
            envelope=tuple(a.email for a in message.recipients if a.email not in refused),
            subject=message.subject,
            text=message.text,
            html=message.html,
            attachments=tuple(
                ReceivedAttachment(a.filename, _normal_type(a.content_type), a.content)
                for a in message.attachments
            ),
            headers=headers,
        )


@dataclass(frozen=True, kw_only=True)
class EmailHarness(AdapterHarness):
    """One email vendor under test, as `EmailAdapterConformance` drives it (with the
    attributes of every `AdapterHarness`: ``connector``, the ``[connectors.email]`` table
    whose ``resilience`` the suite sets, ``registry``, ``environ``, ``on_manager`` and
    ``transport``).

    Attributes:
        vendor: the vendor key; every receipt must name it.
        received: every message the vendor accepted since the harness was made, in order.
        fail_next: makes the vendor's next attempt fail as a `EmailFaultKind` says.
        faults: the kinds `fail_next` can make (and ``rejected_recipient``, see the module).
        retry_after: the seconds a ``rate_limited`` fault asks to wait (its Retry-After);
            1.0 is the memory vendor's default.
    """

    vendor: str
    received: Callable[[], Sequence[ReceivedEmail]]
    fail_next: Callable[[EmailFaultKind], None] | None = None
    faults: frozenset[EmailFaultKind] = frozenset()
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        if self.retry_after <= _BACKOFF:
            raise ValueError(f"retry_after must be more than {_BACKOFF} s to be told apart")


def _body(value: str | None) -> str | None:
    """A body with line endings normalised and trailing newlines dropped."""
    return None if value is None else value.replace("\r\n", "\n").rstrip("\n")


class EmailAdapterConformance(AdapterConformance[EmailHarness]):
    """The behaviour every email adapter must show: subclass it and provide ``harness``.

    Each test is one behaviour, named for it, run once through the sync manager and once
    through the async one (``twin``). Retries, where a test allows them, wait on a
    `FakeClock`, so nothing sleeps. To record a known deviation, override that test in
    your subclass, mark it ``@pytest.mark.xfail(strict=True, reason=...)`` and call
    ``super()``. Your own tests can use the helpers: `message`, `send`, `send_batch`,
    `fault`, `received`, `received_one` and `attempts`.
    """

    category = "email"
    connector_name = "email"

    #: Addresses the tests send to; ``reject.example`` ones are refused by convention.
    SENDER: ClassVar[str] = "Shop <shop@example.com>"
    ADA: ClassVar[str] = "ada@example.com"
    BOB: ClassVar[str] = "bob@example.com"
    CY: ClassVar[str] = "cy@example.com"
    REFUSED: ClassVar[str] = f"nobody@{REJECTED_DOMAIN}"

    log: list[Any]

    @pytest.fixture
    def twin(self, mode: Twin) -> Twin:
        """Which manager sends: every test runs with both (the `mode`)."""
        return mode

    @pytest.fixture(autouse=True)
    def _call_log(self) -> None:
        self.log = []

    @property
    def harness_(self) -> EmailHarness:
        """The harness of the running test."""
        return self._harness

    async def write_call(self) -> tuple[str, tuple[Any, ...]]:
        return "send", (self.message(),)

    # -- helpers ---------------------------------------------------------------------------

    def message(self, **fields: Any) -> EmailMessage:
        """A plain text message from `SENDER` to `ADA`, with `fields` changed."""
        values: dict[str, Any] = {
            "sender": self.SENDER,
            "to": [self.ADA],
            "subject": "Your order",
            "text": "Shipped today.",
        }
        return EmailMessage(**(values | fields))

    def fault(self, kind: EmailFaultKind) -> None:
        """Arm `kind` for the next attempt, or skip the test when the harness cannot."""
        if kind not in self.harness_.faults:
            pytest.skip(f"the {self.harness_.vendor!r} harness cannot make a {kind!r} fault")
        if kind != "rejected_recipient":
            assert self.harness_.fail_next is not None, "faults are listed but no fail_next"
            self.harness_.fail_next(kind)

    def received(self) -> Sequence[ReceivedEmail]:
        return self.harness_.received()

    def received_one(self) -> ReceivedEmail:
        """The only message the vendor received (fails unless there is exactly one)."""
        received = self.received()
        assert len(received) == 1, f"expected one message at the vendor, got {len(received)}"
        return received[0]

    def attempts(self) -> int:
        """How many times the last call reached the vendor adapter."""
        assert self.log, "no call was logged"
        attempts: int = self.log[-1].attempts
        return attempts

    async def send(
        self, twin: Twin, message: EmailMessage, *, retry: Mapping[str, Any] = _NO_RETRY
    ) -> EmailReceipt:
        """Send through a fresh manager of `twin`; `retry` is the ``retry`` table."""
        receipt: EmailReceipt = await self._call(twin, "send", message, retry)
        return receipt

    async def send_batch(
        self, twin: Twin, messages: Sequence[EmailMessage], *, retry: Mapping[str, Any] = _NO_RETRY
    ) -> EmailBatchReceipt:
        receipts: EmailBatchReceipt = await self._call(twin, "send_batch", messages, retry)
        return receipts

    def _manager(self, twin: Twin, retry: Mapping[str, Any]) -> AnyManager:
        connector = dict(self.harness_.connector)
        resilience = dict(connector.get("resilience", {}))
        resilience |= {"retry": dict(retry), "circuit_breaker": {"enabled": False}}
        config = {
            "connectors": {"email": connector | {"resilience": resilience}},
            "observability": {"loggers": ["memory"]},
        }
        kind = ConnectorManager if twin == "sync" else AsyncConnectorManager
        manager = kind.from_config(
            config, registry=self.harness_.registry, environ=self.harness_.environ, clock=self.clock
        )
        if self.harness_.on_manager is not None:
            self.harness_.on_manager(manager)
        return manager

    async def _call(
        self, twin: Twin, operation: str, request: Any, retry: Mapping[str, Any]
    ) -> Any:
        manager = self._manager(twin, retry)
        if isinstance(manager, AsyncConnectorManager):
            async with manager:
                try:
                    return await getattr(manager.email, operation)(request)
                finally:
                    self.log = manager.call_log

        def run() -> Any:  # in a thread: a test server on this event loop must keep serving
            assert isinstance(manager, ConnectorManager)
            with manager:
                try:
                    return getattr(manager.email, operation)(request)
                finally:
                    self.log = manager.call_log

        return await asyncio.to_thread(run)

    # -- the message arrives intact --------------------------------------------------------

    @rule("exact")
    async def test_text_body_arrives_intact(self, twin: Twin) -> None:
        message = self.message(text="Line one\nLine two, with ünïcödé ✓\n\n.leading dot")
        await self.send(twin, message)
        received = self.received_one()
        assert (received.subject, _body(received.text)) == (message.subject, _body(message.text))
        assert received.sender == message.from_address
        assert received.html is None

    @rule("exact")
    async def test_html_body_arrives_intact(self, twin: Twin) -> None:
        message = self.message(text=None, html="<p>Hello <b>Ada</b> — ✓</p>")
        await self.send(twin, message)
        received = self.received_one()
        assert (_body(received.html), received.text) == (_body(message.html), None)

    @rule("exact")
    async def test_text_and_html_arrive_as_alternatives(self, twin: Twin) -> None:
        message = self.message(text="Plain version", html="<p>Rich version</p>")
        await self.send(twin, message)
        received = self.received_one()
        assert _body(received.text) == "Plain version"
        assert _body(received.html) == "<p>Rich version</p>"

    @rule("exact")
    async def test_attachments_arrive_byte_exact(self, twin: Twin) -> None:
        attachments = [
            Attachment("every-byte.bin", bytes(range(256)) * 40, "application/octet-stream"),
            Attachment("notes.txt", "ünï\r\nline two\n".encode(), "text/plain; charset=utf-8"),
            Attachment("logo.png", b"\x89PNG\r\n\x1a\n\x00\xff", "image/png"),
        ]
        await self.send(twin, self.message(html="<p>see attached</p>", attachments=attachments))
        received = sorted(self.received_one().attachments, key=lambda a: a.filename)
        expected = [
            ReceivedAttachment(a.filename, _normal_type(a.content_type), a.content)
            for a in sorted(attachments, key=lambda a: a.filename)
        ]
        assert received == expected

    @rule("exact")
    async def test_custom_headers_arrive(self, twin: Twin) -> None:
        headers = {"X-Campaign": "spring-sale", "List-Unsubscribe": "<mailto:stop@example.com>"}
        await self.send(twin, self.message(headers=headers))
        received = self.received_one().headers
        assert {k: received.get(k.lower()) for k in headers} == headers

    @rule("exact")
    async def test_reply_to_arrives(self, twin: Twin) -> None:
        await self.send(twin, self.message(reply_to=["Support <help@example.com>"]))
        assert self.received_one().reply_to == (EmailAddress("help@example.com", "Support"),)

    @rule("exact")
    async def test_non_ascii_display_names_and_subject_arrive(self, twin: Twin) -> None:
        message = self.message(
            sender="Zoë Ünïcødé <zoe@example.com>",
            to=["山田 太郎 <taro@example.com>"],
            subject="Ça marche — ✓ 注文",
        )
        await self.send(twin, message)
        received = self.received_one()
        assert received.sender == EmailAddress("zoe@example.com", "Zoë Ünïcødé")
        assert received.to == (EmailAddress("taro@example.com", "山田 太郎"),)
        assert received.subject == "Ça marche — ✓ 注文"

    @rule("email-recipients")
    async def test_cc_and_bcc_reach_the_vendor(self, twin: Twin) -> None:
        await self.send(twin, self.message(cc=[self.BOB], bcc=[self.CY]))
        received = self.received_one()
        assert [a.email for a in received.to] == [self.ADA]
        assert [a.email for a in received.cc] == [self.BOB]
        assert received.bcc == (self.CY,)
        assert set(received.envelope) == {self.ADA, self.BOB, self.CY}

    @rule("email-recipients")
    async def test_bcc_never_appears_in_the_delivered_headers(self, twin: Twin) -> None:
        await self.send(twin, self.message(bcc=[self.CY]))
        headers = self.received_one().headers
        assert "bcc" not in headers
        assert not [name for name, value in headers.items() if self.CY in value]

    # -- the receipt ----------------------------------------------------------------------

    @rule("results")
    async def test_receipt_names_the_vendor_and_its_id(self, twin: Twin) -> None:
        receipt = await self.send(twin, self.message())
        assert receipt.vendor == self.harness_.vendor
        assert isinstance(receipt.vendor_id, str)
        assert receipt.vendor_id.strip()

    @rule("email-recipients")
    async def test_receipt_has_one_status_per_envelope_recipient(self, twin: Twin) -> None:
        receipt = await self.send(twin, self.message(cc=[self.BOB], bcc=[self.CY]))
        assert set(receipt.recipients) == {self.ADA, self.BOB, self.CY}
        assert {status.email for status in receipt.recipients.values()} == set(receipt.recipients)
        assert {status.status for status in receipt.recipients.values()} <= ACCEPTED

    # -- refused recipients ----------------------------------------------------------------

    @rule("email-recipients")
    async def test_a_rejected_recipient_is_reported_for_that_recipient_only(
        self, twin: Twin
    ) -> None:
        self.fault("rejected_recipient")
        receipt = await self.send(twin, self.message(to=[self.ADA, self.REFUSED, self.BOB]))
        assert list(receipt.rejected) == [self.REFUSED]
        assert receipt.rejected[self.REFUSED].reason
        assert receipt.recipients[self.ADA].status in ACCEPTED
        assert receipt.recipients[self.BOB].status in ACCEPTED
        assert set(self.received_one().envelope) == {self.ADA, self.BOB}

    @rule("email-recipients")
    async def test_all_recipients_rejected_raises_invalid_request(self, twin: Twin) -> None:
        self.fault("rejected_recipient")
        refused = [self.REFUSED, f"other@{REJECTED_DOMAIN}"]
        with pytest.raises(InvalidRequestError) as raised:
            await self.send(twin, self.message(to=refused), retry=_RETRY)
        assert raised.value.code == "all_recipients_rejected"
        assert not raised.value.retryable
        assert self.attempts() == 1
        assert not self.received()

    @rule("email-recipients")
    async def test_batch_reports_a_fully_rejected_message_in_its_receipt(self, twin: Twin) -> None:
        self.fault("rejected_recipient")
        messages = [self.message(subject="one"), self.message(to=[self.REFUSED]), self.message()]
        batch = await self.send_batch(twin, messages)
        assert [set(r.rejected) for r in batch.receipts] == [set(), {self.REFUSED}, set()]
        assert [m.subject for m in self.received()] == ["one", "Your order"]

    # -- batches ---------------------------------------------------------------------------

    @rule("results")
    async def test_send_batch_returns_one_receipt_per_message_in_order(self, twin: Twin) -> None:
        messages = [self.message(to=[f"r{i}@example.com"], subject=f"#{i}") for i in range(5)]
        batch = await self.send_batch(twin, messages)
        assert batch.vendor == self.harness_.vendor
        assert [list(r.recipients) for r in batch.receipts] == [
            [f"r{i}@example.com"] for i in range(5)
        ]
        assert len({r.vendor_id for r in batch.receipts}) == 5
        assert [m.subject for m in self.received()] == [f"#{i}" for i in range(5)]

    @rule("results")
    async def test_an_empty_batch_returns_no_receipts(self, twin: Twin) -> None:
        batch = await self.send_batch(twin, [])
        assert list(batch.receipts) == []
        assert not self.received()

    # -- failures and retries ---------------------------------------------------------------

    @rule("auth")
    async def test_auth_failure_raises_authentication_error_and_is_not_retried(
        self, twin: Twin
    ) -> None:
        self.fault("auth")
        with pytest.raises(AuthenticationError) as raised:
            await self.send(twin, self.message(), retry=_RETRY)
        assert not raised.value.retryable
        assert self.attempts() == 1
        assert not self.received()

    @rule("not-processed")
    async def test_transient_failure_raises_vendor_unavailable_marked_unprocessed(
        self, twin: Twin
    ) -> None:
        self.fault("transient")
        with pytest.raises(VendorUnavailableError) as raised:
            await self.send(twin, self.message())
        assert (raised.value.retryable, raised.value.maybe_processed) == (True, False)
        assert not self.received()

    @rule("not-processed")
    async def test_transient_failure_is_retried_and_delivered_once(self, twin: Twin) -> None:
        self.fault("transient")
        receipt = await self.send(twin, self.message(), retry=_RETRY)
        assert receipt.recipients[self.ADA].status in ACCEPTED
        assert self.attempts() == 2
        assert len(self.received()) == 1

    @rule("maybe-processed")
    async def test_unknown_outcome_is_not_retried_without_an_idempotency_key(
        self, twin: Twin
    ) -> None:
        self.fault("unknown_outcome")
        with pytest.raises(VendorUnavailableError) as raised:
            await self.send(twin, self.message(), retry=_RETRY)
        assert raised.value.maybe_processed
        assert self.attempts() == 1
        assert len(self.received()) <= 1

    @rule("email-unknown")
    async def test_an_unknown_outcome_in_a_batch_is_never_reported_as_rejected(
        self, twin: Twin
    ) -> None:
        # "rejected" invites a resend; a message the vendor may have must not get one.
        self.fault("unknown_outcome")
        messages = [self.message(subject="one"), self.message(subject="two")]
        outcome: EmailBatchReceipt | ConnectorError
        try:
            outcome = await self.send_batch(twin, messages, retry=_RETRY)
        except ConnectorError as error:
            outcome = error
        if isinstance(outcome, ConnectorError):
            assert outcome.maybe_processed, f"{outcome!r} must say maybe_processed"
        else:
            assert [dict(r.rejected) for r in outcome.receipts] == [{}, {}]
            assert outcome.receipts[0].unknown, "the message of unknown outcome says unknown"
        assert self.attempts() == 1

    @rule("rate-limited")
    async def test_rate_limited_is_retried_after_the_vendor_asked(self, twin: Twin) -> None:
        retry_after = pytest.approx(self.harness_.retry_after)
        self.fault("rate_limited")
        with pytest.raises(RateLimitExceededError) as raised:
            await self.send(twin, self.message())
        assert raised.value.retry_after == retry_after
        self.fault("rate_limited")
        await self.send(twin, self.message(), retry=_RETRY)
        assert self.attempts() == 2
        assert len(self.received()) == 1
        assert self.clock.sleeps == [retry_after]
