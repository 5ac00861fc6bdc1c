"""Money: an integer amount in minor units and an ISO-4217 currency code. Never a float."""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

import msgspec

__all__ = ["CURRENCY_EXPONENTS", "MAX_AMOUNT", "Money"]

# Active ISO-4217 codes and their number of minor-unit digits (the standard's "minor unit"
# column; funds and metals without one count as 0). Codes withdrawn before 2026 are absent.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF " + (
    "XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX"
)
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW "
    "KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR "
    "MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG "
    "SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD "
    "USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

#: Minor-unit digits of every active ISO-4217 currency code.
CURRENCY_EXPONENTS: dict[str, int] = {
    code: digits
    for digits, codes in ((0, _ZERO), (2, _TWO), (3, _THREE), (4, _FOUR))
    for code in codes.split()
}


# Scaling without rounding: 1e-999999999 USD is not 0.00 USD.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)

#: The largest amount, in minor units, a `Money` may hold (either sign): 10^15, ten
#: trillion dollars in cents. Far above what any payment provider accepts in one payment
#: (Stripe's limit is 10^8 minor units for USD) and below 2^53, so JSON readers that use
#: doubles keep it exact and every store (msgpack, Redis, int64) carries it.
MAX_AMOUNT = 10**15


class Money(msgspec.Struct, frozen=True):
    """An amount of money: `amount` in the currency's minor units, `currency` an ISO-4217 code.

    >>> Money(1999, "usd")
    Money(amount=1999, currency='USD')
    >>> str(Money.from_decimal("19.99", "EUR"))
    '19.99 EUR'

    The code is upper-cased; an unknown code, a float or a bool amount, or an amount beyond
    ±`MAX_AMOUNT` is a `ValueError`. A `Money` may be negative (a balance, a difference);
    payment requests take positive amounts only (a refund is a positive amount refunded).
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise ValueError(
                f"Money.amount must be an int of minor units (1999 for 19.99), "
                f"got {type(self.amount).__name__} {_shown(self.amount)}"
            )
        if not -MAX_AMOUNT <= self.amount <= MAX_AMOUNT:
            raise ValueError(
                f"Money.amount must be at most {MAX_AMOUNT:,} minor units either way "
                f"(MAX_AMOUNT), got {_shown(self.amount)}"
            )
        code = self.currency.upper() if isinstance(self.currency, str) else self.currency
        if code not in CURRENCY_EXPONENTS:
            raise ValueError(
                f"Money.currency must be an active ISO-4217 code such as 'USD' or 'EUR', "
                f"got {self.currency!r}"
            )
        if code != self.currency:
            msgspec.structs.force_setattr(self, "currency", code)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int, currency: str) -> Money:
        """Money from a major-unit amount (``"19.99"``); more decimals than allowed is an error."""
        code = currency.upper() if isinstance(currency, str) else currency
        digits = CURRENCY_EXPONENTS.get(code)
        if digits is None:
            raise ValueError(f"unknown ISO-4217 currency code {_shown(currency)}")
        if isinstance(value, float | bool):
            raise ValueError(
                f"Money.from_decimal takes a Decimal, str or int, never a float (binary "
                f"fractions are not exact), got {_shown(value)}"
            )
        try:
            number = Decimal(value)
        except (ArithmeticError, TypeError, ValueError):
            raise ValueError(f"not a decimal amount: {_shown(value)}") from None
        if not number.is_finite():
            raise ValueError(f"not a finite amount: {_shown(value)}")
        # Checked before scaling: Decimal("1e999999999") would make a huge int.
        if number.copy_abs() > Decimal(MAX_AMOUNT).scaleb(-digits):
            raise ValueError(
                f"{_shown(value)} is beyond what Money holds ({MAX_AMOUNT:,} minor units)"
            )
        scaled = number.scaleb(digits, context=_EXACT)
        if scaled != scaled.to_integral_value(context=_EXACT):
            raise ValueError(f"{value} has more decimal places than {code} allows ({digits})")
        return cls(int(scaled), code)

    @property
    def exponent(self) -> int:
        """How many minor-unit digits the currency has (2 for USD, 0 for JPY, 3 for KWD)."""
        return CURRENCY_EXPONENTS[self.currency]

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly."""
        return Decimal(self.amount).scaleb(-self.exponent)

    def __str__(self) -> str:
        return f"{self.to_decimal():.{self.exponent}f} {self.currency}"

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)


def _shown(value: object) -> str:
    """A value for a message, cut short: a huge int would make a huge message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
