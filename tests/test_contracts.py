"""The category contracts: request/result types validate at construction, operations declare
whether they are safe to repeat, and every category has sync and async protocols."""

from __future__ import annotations

import io
import re

import msgspec
import pytest
from hypothesis import given, strategies as st

from nexus_connector_core import (
    ADAPTER_PROTOCOLS,
    CATEGORIES,
    Address,
    Attachment,
    CaptureRequest,
    EmailAddress,
    EmailMessage,
    EmailReceipt,
    ListObjects,
    Money,
    Parcel,
    PaymentRequest,
    PutObject,
    RecipientStatus,
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


#: One control character of each kind no header may carry: NUL, other C0 (ESC), the line
#: breaks, DEL, a C1 control (NEL) and the Unicode line separator.
CONTROLS = ["\x00", "\x1b", "\r", "\n", "\x7f", "\x85", "\u2028"]


def _message(**fields: object) -> EmailMessage:
    base: dict[str, object] = {
        "sender": "shop@example.com",
        "to": ["ada@example.com"],
        "text": "hi",
    }
    base.update(fields)
    return EmailMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("char", CONTROLS, ids=repr)
@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("EmailMessage.subject", lambda c: _message(subject=f"Order{c} 42")),
        ("EmailMessage.to[0]: EmailAddress.name", lambda c: _message(to=[f"A{c}da <a@x.io>"])),
        ("EmailMessage.sender: EmailAddress.name", lambda c: _message(sender=f"S{c}hop <s@x.io>")),
        (
            "EmailMessage.reply_to[0]: EmailAddress.name",
            lambda c: _message(reply_to=[f"H{c}i<h@x.io>"]),
        ),
        ("EmailAddress.name", lambda c: EmailAddress("b@x.io", f"Bob{c}")),
        ("EmailMessage.headers['X-Note']", lambda c: _message(headers={"X-Note": f"a{c}b"})),
        ("cannot be set as a custom header", lambda c: _message(headers={f"X-{c}Note": "a"})),
        ("Attachment.filename", lambda c: Attachment(f"in{c}voice.pdf", b"%PDF")),
        ("Attachment.content_type", lambda c: Attachment("a.txt", b"", f"text/plain; x={c}")),
        ("Attachment.content_id", lambda c: Attachment("a.png", b"", "image/png", True, f"l{c}")),
    ],
)
def test_control_characters_in_header_fields_are_refused_naming_the_field(
    field: str, build: object, char: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        build(char)  # type: ignore[operator]


def test_the_refusal_says_which_character_and_where() -> None:
    with pytest.raises(ValueError, match=r"'\\x00' \(U\+0000\) at index 5"):
        _message(subject="Order\x00 42")


def test_a_tab_is_allowed_in_free_text_but_not_in_tokens() -> None:
    message = _message(
        subject="Order\t42", to=["Ada\tLovelace <ada@example.com>"], headers={"X-Note": "a\tb"}
    )
    assert (message.subject, message.addresses("to")[0].name) == ("Order\t42", "Ada\tLovelace")
    for build in (
        lambda: _message(headers={"X-\tNote": "a"}),
        lambda: Attachment("in\tvoice.pdf", b""),
        lambda: Attachment("a.png", b"", "image/png", True, "lo\tgo"),
    ):
        with pytest.raises(ValueError, match="control character|cannot be set as a custom header"):
            build()


@given(st.text(max_size=20))
def test_any_subject_is_kept_as_given_or_refused_for_a_control_character(subject: str) -> None:
    controls = [c for c in subject if c != "\t" and (c < " " or "\x7f" <= c <= "\x9f")]
    if controls or "\u2028" in subject or "\u2029" in subject:
        with pytest.raises(ValueError, match=r"EmailMessage\.subject"):
            _message(subject=subject)
    else:
        assert _message(subject=subject).subject == subject


@pytest.mark.parametrize(
    "value",
    [
        "<a@b.example> junk",
        "<a@b.example><c@d.example>",
        "a@b.example",
        "<a b@c.example>",
        " <a@b.example>",
        "<ä@b.example>",
        "<a@b.example>\x00junk",
        f"<{'a' * 990}@b.example>",
    ],
)
def test_a_custom_message_id_must_be_exactly_one_msg_id(value: str) -> None:
    with pytest.raises(ValueError, match=r"EmailMessage\.headers\['Message-ID'\]"):
        _message(headers={"Message-ID": value})


@pytest.mark.parametrize("value", ["<order-1042@shop.example.com>", "<a.b@[192.0.2.1]>"])
def test_a_well_formed_custom_message_id_is_kept(value: str) -> None:
    assert _message(headers={"Message-ID": value}).headers["Message-ID"] == value


@pytest.mark.parametrize("content_id", ["lo go", "<<logo>>", "lögo", ""])
def test_a_content_id_is_one_printable_ascii_token(content_id: str) -> None:
    with pytest.raises(ValueError, match="Attachment.content_id"):
        Attachment("logo.png", b"", "image/png", inline=True, content_id=content_id)


@pytest.mark.parametrize("address", ["ada\x85@example.com", "ada@exa\u2028mple.com"])
def test_addresses_with_c1_controls_or_line_separators_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not an email address"):
        EmailAddress(address)


def test_non_string_header_fields_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"EmailMessage\.headers\['X-Order'\] must be a string"):
        _message(headers={"X-Order": 42})
    with pytest.raises(ValueError, match=r"EmailMessage\.subject must be a string"):
        _message(subject=None)


def test_a_json_message_with_a_control_character_fails_to_decode_naming_the_path() -> None:
    data = {
        "sender": "shop@example.com",
        "to": ["ada@example.com"],
        "text": "hi",
        "attachments": [{"filename": "a\u0000.pdf", "content": ""}],
    }
    with pytest.raises(
        msgspec.ValidationError, match=r"Attachment\.filename.*\$\.attachments\[0\]"
    ):
        msgspec.convert(data, EmailMessage)


def test_a_receipt_tells_recipients_of_unknown_outcome_from_rejected_ones() -> None:
    receipt = EmailReceipt(
        vendor="smtp",
        vendor_id="<1@x>",
        recipients={
            "a@x.io": RecipientStatus("a@x.io", "unknown", "<1@x>", "unreadable reply"),
            "b@x.io": RecipientStatus("b@x.io", "rejected", "<1@x>", "550 no such user"),
            "c@x.io": RecipientStatus("c@x.io", "queued", "<1@x>"),
        },
    )

    assert (list(receipt.unknown), list(receipt.rejected)) == (["a@x.io"], ["b@x.io"])


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
