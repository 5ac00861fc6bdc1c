"""Money is integer minor units plus a validated ISO-4217 code, never a float."""

from decimal import Decimal

import msgspec
import pytest

from nexus_connector_core import CURRENCY_EXPONENTS, Money


def test_currency_code_is_upper_cased() -> None:
    assert Money(1999, "usd") == Money(1999, "USD")


@pytest.mark.parametrize("amount", [19.99, 20.0, True, "1999", None])
def test_amount_must_be_an_int(amount: object) -> None:
    with pytest.raises(ValueError, match="minor units"):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["XYZ", "US", "", "HRK", "dollars"])
def test_unknown_or_withdrawn_currency_is_rejected(code: str) -> None:
    with pytest.raises(ValueError, match="ISO-4217"):
        Money(100, code)


def test_minor_unit_exponents_follow_iso_4217() -> None:
    assert (Money(1, "USD").exponent, Money(1, "JPY").exponent, Money(1, "KWD").exponent) == (
        2,
        0,
        3,
    )
    assert len(CURRENCY_EXPONENTS) > 150


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1999, "EUR"), "19.99 EUR"),
        (Money(500, "JPY"), "500 JPY"),
        (Money(-5, "BHD"), "-0.005 BHD"),
    ],
)
def test_str_shows_major_units(money: Money, text: str) -> None:
    assert str(money) == text


def test_from_decimal_is_exact_and_refuses_extra_digits() -> None:
    assert Money.from_decimal("19.99", "EUR") == Money(1999, "EUR")
    assert Money.from_decimal(Decimal("1000"), "JPY") == Money(1000, "JPY")
    with pytest.raises(ValueError, match="decimal places"):
        Money.from_decimal("1.005", "USD")


def test_arithmetic_needs_one_currency() -> None:
    assert Money(100, "USD") + Money(50, "USD") == Money(150, "USD")
    assert Money(100, "USD") - Money(150, "USD") == Money(-50, "USD")
    with pytest.raises(ValueError, match="cannot combine"):
        Money(100, "USD") + Money(100, "EUR")


def test_decoding_json_validates_the_same_way() -> None:
    assert msgspec.json.decode(b'{"amount": 5, "currency": "gbp"}', type=Money) == Money(5, "GBP")
    with pytest.raises(msgspec.ValidationError, match="Expected `int`, got `float`"):
        msgspec.json.decode(b'{"amount": 5.5, "currency": "GBP"}', type=Money)
    with pytest.raises(msgspec.ValidationError, match="ISO-4217"):
        msgspec.json.decode(b'{"amount": 5, "currency": "GBX"}', type=Money)
