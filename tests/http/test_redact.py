"""No credential, in any form this library sends it, in a message; vendor text checked."""

from __future__ import annotations

import json
from base64 import b64encode
from urllib.parse import quote, quote_plus

from hypothesis import given, strategies as st

from nexus_connector_core import Secret
from nexus_connector_core.http import MASK, Redactor, vendor_text

SECRET = "s3cr3t/+key=="


def test_a_secret_is_masked_raw_url_encoded_json_escaped_and_base64_encoded() -> None:
    redact = Redactor([Secret(SECRET)])
    forms = [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        b64encode(SECRET.encode()).decode(),
    ]

    shown = redact(" | ".join(forms))

    assert shown.count(MASK) == len(forms)
    assert "s3cr3t" not in shown


def test_basic_credentials_are_masked_raw_and_form_encoded() -> None:
    redact = Redactor(pairs=[("client id", SECRET)])
    raw = b64encode(f"client id:{SECRET}".encode()).decode()
    encoded = b64encode(f"{quote_plus('client id')}:{quote_plus(SECRET)}".encode()).decode()

    shown = redact(f"Authorization: Basic {raw} or Basic {encoded}")

    assert raw.rstrip("=") not in shown
    assert encoded.rstrip("=") not in shown


def test_a_named_secret_is_replaced_by_its_name() -> None:
    redact = Redactor(named={"account_sid": "AC" + "0" * 32})

    assert redact(f"/Accounts/AC{'0' * 32}/Messages") == "/Accounts/<account_sid>/Messages"


def test_short_encoded_forms_that_would_mask_ordinary_words_are_left_alone() -> None:
    assert Redactor(["ab"])("a table of abc") == "a table of abc"


def test_vendor_text_is_one_bounded_printable_line_with_secrets_masked() -> None:
    text = f"refused\r\nX-Injected: yes\x00\x1b[31m {SECRET} " + "y" * 1000

    shown = vendor_text(text, Redactor([SECRET]), limit=80)

    assert "\r" not in shown
    assert "\n" not in shown
    assert "\x00" not in shown
    assert "\x1b" not in shown
    assert SECRET not in shown
    assert MASK in shown
    assert len(shown) == 80
    assert shown.endswith("…")


_SECRETS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Z"), blacklist_characters="*"),
    min_size=8,
    max_size=40,
)


@given(_SECRETS, st.text(max_size=200))
def test_a_secret_cut_by_the_length_limit_is_still_masked(secret: str, around: str) -> None:
    shown = vendor_text(around + secret + around, Redactor([secret]), limit=50)

    assert secret not in shown
    assert shown.isprintable()


def test_anything_but_a_string_is_no_text() -> None:
    assert vendor_text(None) == ""
    assert vendor_text({"message": "x"}) == ""
    assert vendor_text(42) == ""
