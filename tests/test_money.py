"""Money is integer minor units plus a validated ISO-4217 code, never a float."""

import doctest
from decimal import Decimal

import msgspec
import pytest

from nexus_connector_core import (
    CURRENCY_EXPONENTS,
    EMBEDDED_DEFAULTS,
    ConnectorManager,
    Money,
    PaymentRequest,
)
from nexus_connector_core._money import MAX_AMOUNT


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


# -- bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [2**64, -(2**64), MAX_AMOUNT + 1, -MAX_AMOUNT - 1, 10**400])
def test_an_amount_beyond_max_amount_is_a_clear_value_error(amount: int) -> None:
    with pytest.raises(ValueError, match=r"at most 1,000,000,000,000,000 minor units") as caught:
        Money(amount, "USD")
    assert len(str(caught.value)) < 200  # a 400-digit amount is not quoted whole


def test_max_amount_is_exact_in_json_doubles_and_int64() -> None:
    assert MAX_AMOUNT < 2**53
    assert Money(MAX_AMOUNT, "USD").amount == MAX_AMOUNT
    assert Money(-MAX_AMOUNT, "USD").amount == -MAX_AMOUNT


def test_decoding_an_amount_of_2_64_is_a_validation_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="minor units"):
        msgspec.json.decode(b'{"amount": 18446744073709551616, "currency": "USD"}', type=Money)


def test_a_keyed_payment_at_max_amount_goes_through_the_idempotency_step() -> None:
    request = PaymentRequest(amount=Money(MAX_AMOUNT, "USD"), payment_method="pm_card_visa")
    with ConnectorManager.from_config(EMBEDDED_DEFAULTS, environ={}) as manager:
        first = manager.payment.purchase(request, idempotency_key="order-1")
        again = manager.payment.purchase(request, idempotency_key="order-1")
        assert again == first
        assert len(manager.payment.adapter.calls) == 1


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("inf", "not a finite amount"),
        ("-Infinity", "not a finite amount"),
        ("nan", "not a finite amount"),
        ("sNaN", "not a finite amount"),
        ("1e999999999", "beyond what Money holds"),
        ("10000000000000.01", "beyond what Money holds"),
        ("1e-999999999", "more decimal places"),
        ("nineteen", "not a decimal amount"),
        (19.99, "never a float"),
    ],
)
def test_from_decimal_refuses_what_is_not_an_exact_bounded_amount(
    value: object, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        Money.from_decimal(value, "USD")  # type: ignore[arg-type]


def test_a_negative_money_is_a_difference_but_never_a_payment() -> None:
    assert Money(100, "USD") - Money(150, "USD") == Money(-50, "USD")
    with pytest.raises(ValueError, match="positive"):
        PaymentRequest(amount=Money(-50, "USD"), payment_method="pm_card_visa")


def test_the_docstring_examples_run() -> None:
    from nexus_connector_core import _money

    assert doctest.testmod(_money).failed == 0
