"""The character classes of an email address, checked against their rule at every code point.

`_email` writes them as complements (what they leave out), which compile in ~1 ms where the
ranges up to U+10FFFF took ~20 ms at import; this is the proof that they match the same
characters as the rule says.
"""

from __future__ import annotations

import re
import string

import pytest

from nexus_connector_core import _email

#: RFC 6532 non-ASCII: from U+00A0 on, but the Unicode line and paragraph separators.
_SEPARATORS = {0x2028, 0x2029}
_LETTERS_DIGITS = set(string.ascii_letters + string.digits)
_ATEXT_ASCII = _LETTERS_DIGITS | set("!#$%&'*+/=?^_`{|}~-")


def _non_ascii(code: int) -> bool:
    return code >= 0xA0 and code not in _SEPARATORS


@pytest.mark.parametrize(
    ("pattern", "ascii_members"),
    [
        (_email._ATEXT, _ATEXT_ASCII),
        (_email._LETDIG, _LETTERS_DIGITS),
        (_email._LETDIG_HYPHEN, _LETTERS_DIGITS | {"-"}),
    ],
    ids=["atext", "letter-digit", "letter-digit-hyphen"],
)
def test_each_address_character_class_matches_exactly_its_rule(
    pattern: str, ascii_members: set[str]
) -> None:
    compiled = re.compile(pattern)
    wrong = [
        f"U+{code:04X}"
        for code in range(0x110000)
        if bool(compiled.fullmatch(chr(code))) != (chr(code) in ascii_members or _non_ascii(code))
    ]
    assert wrong == []


def test_internationalised_addresses_are_still_accepted_and_separators_refused() -> None:
    assert _email.EmailAddress("josé@bücher.example").email == "josé@bücher.example"
    assert _email.EmailAddress("用户@例子.广告").email == "用户@例子.广告"
    for bad in ("a\u2028b@example.com", "ab@exa\u0085mple.com", "a b@example.com"):
        with pytest.raises(ValueError, match="not an email address"):
            _email.EmailAddress(bad)
