"""The category contracts: request/result types validate at construction, operations declare
whether they are safe to repeat, and every category has sync and async protocols."""

from __future__ import annotations

import io

import msgspec
import pytest

from nexus_connector_core import (
    ADAPTER_PROTOCOLS,
    CATEGORIES,
    Address,
    Attachment,
    CaptureRequest,
    EmailAddress,
    EmailMessage,
    ListObjects,
    Money,
    Parcel,
    PaymentRequest,
    PutObject,
    Shipment,
    SignedUrlRequest,
    SmsMessage,
)


def _address(**changes: object) -> Address:
    fields: dict[str, object] = {
        "street1": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "us",
    }
    fields.update(changes)
    return Address(**fields)  # type: ignore[arg-type]


# -- email ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "email", "name"),
    [
        ("ada@example.com", "ada@example.com", None),
        ("Ada Lovelace <ada@example.com>", "ada@example.com", "Ada Lovelace"),
        ('"Lovelace, Ada" <ada@example.com>', "ada@example.com", "Lovelace, Ada"),
        ("  <ada@example.com> ", "ada@example.com", None),
        ("o'brien+tag@mail.example.ie", "o'brien+tag@mail.example.ie", None),
        ("jörg@bücher.de", "jörg@bücher.de", None),
        ("ops@[192.0.2.1]", "ops@[192.0.2.1]", None),
    ],
)
def test_email_addresses_parse_from_strings(text: str, email: str, name: str | None) -> None:
    assert EmailAddress.parse(text) == EmailAddress(email, name)


@pytest.mark.parametrize(
    "text",
    [
        "ada",
        "ada@",
        "@example.com",
        "Ada <ada>",
        "a b@c.d",
        "",
        # Forms SMTP libraries rewrite: the envelope would differ from the address.
        "a(comment)@example.com",
        "route:ada@example.com",
        '"ada lovelace"@example.com',
        "ada..l@example.com",
        "ada@-example.com",
        "ada@example..com",
    ],
)
def test_malformed_email_addresses_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not an email address"):
        EmailAddress.parse(text)


def test_display_names_with_specials_are_quoted_when_formatted() -> None:
    assert (
        str(EmailAddress("ada@example.com", "Lovelace, Ada")) == '"Lovelace, Ada" <ada@example.com>'
    )
    assert str(EmailAddress.parse(str(EmailAddress("a@b.example", 'Say "hi"')))) == (
        '"Say \\"hi\\"" <a@b.example>'
    )


def test_email_message_normalises_addresses() -> None:
    message = EmailMessage(
        sender="Shop <shop@example.com>",
        to=["ada@example.com"],
        cc=[EmailAddress("bob@example.com")],
        bcc="audit@example.com",  # type: ignore[arg-type]
        text="hi",
    )
    assert message.from_address == EmailAddress("shop@example.com", "Shop")
    assert [a.email for a in message.recipients] == [
        "ada@example.com",
        "bob@example.com",
        "audit@example.com",
    ]


def test_email_message_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"EmailMessage\.to\[1\]"):
        EmailMessage(sender="shop@example.com", to=["ada@example.com", "nope"], text="hi")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"to": []}, "at least one recipient"),
        ({"text": None}, "needs a body"),
        ({"headers": {"Subject": "x"}}, "cannot be set as a custom header"),
        ({"headers": {"X-Bad\r\nInjected": "x"}}, "cannot be set as a custom header"),
    ],
)
def test_email_message_rejects_incomplete_or_unsafe_messages(
    fields: dict[str, object], error: str
) -> None:
    base: dict[str, object] = {
        "sender": "shop@example.com",
        "to": ["ada@example.com"],
        "text": "hi",
    }
    base.update(fields)
    with pytest.raises(ValueError, match=error):
        EmailMessage(**base)  # type: ignore[arg-type]


def test_email_message_round_trips_through_json_with_attachments() -> None:
    message = EmailMessage(
        sender="shop@example.com",
        to=["ada@example.com"],
        subject="Invoice",
        html="<p>hi</p>",
        attachments=[Attachment("a.pdf", b"%PDF\x00\xff", "application/pdf")],
        headers={"X-Order": "42"},
        metadata={"order": "42"},
    )
    decoded = msgspec.json.decode(msgspec.json.encode(message), type=EmailMessage)
    assert decoded == message
    assert decoded.attachments[0].content == b"%PDF\x00\xff"


# -- sms ------------------------------------------------------------------------------------


def test_sms_needs_an_e164_number_and_a_body() -> None:
    assert SmsMessage("+14155550100", "hi", sender="ACME").sender == "ACME"
    with pytest.raises(ValueError, match="E.164"):
        SmsMessage("4155550100", "hi")
    with pytest.raises(ValueError, match="non-empty"):
        SmsMessage("+14155550100", "")
    with pytest.raises(ValueError, match="alphanumeric"):
        SmsMessage("+14155550100", "hi", sender="TWELVE_CHARS")


# -- payment --------------------------------------------------------------------------------


def test_payment_amounts_must_be_positive_money() -> None:
    with pytest.raises(ValueError, match="positive"):
        PaymentRequest(amount=Money(0, "USD"), payment_method="pm_card_visa")
    with pytest.raises(ValueError, match="must be Money"):
        PaymentRequest(amount=19.99, payment_method="pm_card_visa")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="payment_id"):
        CaptureRequest("")


# -- cloud storage --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../b", "a\x00b", "x" * 1025])
def test_object_keys_that_could_escape_or_break_a_store_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        PutObject(key=key, data=b"")


def test_put_object_reads_any_form_of_data_the_same() -> None:
    forms = [b"abc" * 30000, io.BytesIO(b"abc" * 30000), iter([b"abc" * 10000] * 3)]
    assert {PutObject(key="k", data=form).read() for form in forms} == {b"abc" * 30000}
    with pytest.raises(ValueError, match="not str"):
        PutObject(key="k", data="text")


def test_listing_and_signing_bounds() -> None:
    with pytest.raises(ValueError, match="limit"):
        ListObjects(limit=0)
    with pytest.raises(ValueError, match="expires_in"):
        SignedUrlRequest(key="k", expires_in=8 * 24 * 3600)


# -- shipping -------------------------------------------------------------------------------


def test_addresses_need_an_iso_country_and_the_essentials() -> None:
    assert _address().country == "US"
    with pytest.raises(ValueError, match="alpha-2"):
        _address(country="USA")
    with pytest.raises(ValueError, match="street1"):
        _address(street1=" ")


def test_parcels_and_shipments_are_checked() -> None:
    assert Parcel(weight=16, mass_unit="oz").weight_grams == pytest.approx(453.59, rel=1e-3)
    with pytest.raises(ValueError, match="positive"):
        Parcel(weight=0)
    with pytest.raises(ValueError, match="all given"):
        Parcel(weight=1, length=10)
    with pytest.raises(ValueError, match="at least one parcel"):
        Shipment(from_address=_address(), to_address=_address(), parcels=[])


# -- operations -----------------------------------------------------------------------------


def test_every_category_has_operations_sync_and_async_protocols() -> None:
    assert list(CATEGORIES) == ["email", "sms", "payment", "cloud_storage", "shipping"]
    for key, category in CATEGORIES.items():
        sync, async_ = ADAPTER_PROTOCOLS[key]
        for name in category.operations:
            assert callable(getattr(sync, name)), (key, name)
            assert callable(getattr(async_, name)), (key, name)


@pytest.mark.parametrize(
    ("category", "operation", "idempotent", "reads"),
    [
        ("email", "send", False, False),
        ("sms", "send", False, False),
        ("sms", "get_status", True, True),
        ("payment", "purchase", False, False),
        ("payment", "capture", False, False),
        ("payment", "refund", False, False),
        ("payment", "get", True, True),
        ("cloud_storage", "put", True, False),
        ("cloud_storage", "get", True, True),
        ("shipping", "buy", False, False),
        ("shipping", "rates", True, True),
        ("shipping", "track", True, True),
    ],
)
def test_operations_declare_whether_they_are_safe_to_repeat(
    category: str, operation: str, idempotent: bool, reads: bool
) -> None:
    op = CATEGORIES[category].operation(operation)
    assert (op.idempotent, op.reads) == (idempotent, reads)


def test_unknown_operation_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="send, send_batch"):
        CATEGORIES["email"].operation("sned")
