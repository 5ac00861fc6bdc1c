"""The shipping contract's units and field messages: a `Parcel` takes only sane measures and
converts them exactly; a vendor's field messages are kept on `VendorError.fields` and
`AddressValidation.fields`."""

from __future__ import annotations

import pickle
from fractions import Fraction
from typing import Any

import msgspec
import pytest

from nexus_connector_core import AddressValidation, InvalidRequestError, Parcel, VendorError


@pytest.mark.parametrize(
    "value",
    [float("inf"), float("-inf"), float("nan"), 0, -1, 1e10, 2**70, 10**5000, True, "1"],
    ids=lambda v: type(v).__name__ + (str(v)[:8] if not isinstance(v, int) else ""),
)
@pytest.mark.parametrize("field", ["weight", "length"])
def test_a_parcel_measure_that_is_not_a_sane_number_is_refused_when_the_parcel_is_made(
    field: str, value: Any
) -> None:
    measures: dict[str, Any] = {"weight": 1, "length": 1, "width": 1, "height": 1}
    measures[field] = value

    with pytest.raises(ValueError, match=rf"Parcel\.{field} must be a positive number") as caught:
        Parcel(**measures)

    assert len(str(caught.value)) < 200  # a huge int is described, not printed


def test_a_parcel_without_a_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="positive number"):
        Parcel(weight=None)  # type: ignore[arg-type]


def test_a_parcel_decoded_from_json_is_checked_too() -> None:
    with pytest.raises(msgspec.ValidationError, match="positive number"):
        msgspec.json.decode(b'{"weight": 1e300}', type=Parcel)


@pytest.mark.parametrize(
    ("parcel", "unit", "expected"),
    [
        (Parcel(weight=1, mass_unit="lb"), "oz", Fraction(16)),
        (Parcel(weight=453.59237, mass_unit="g"), "lb", Fraction(1)),
        (Parcel(weight=2, mass_unit="kg"), "g", Fraction(2000)),
        (Parcel(weight=1, mass_unit="oz"), "g", Fraction("28.349523125")),
    ],
)
def test_weights_convert_exactly(parcel: Parcel, unit: Any, expected: Fraction) -> None:
    assert parcel.weight_as(unit) == expected


def test_dimensions_convert_exactly_from_the_decimal_written() -> None:
    # The float 2.54 is a hair above 2.54: converted as binary it would be 1.0000000000000002 in.
    parcel = Parcel(weight=1, length=2.54, width=25.4, height=254, distance_unit="cm")

    assert parcel.dimensions_as("in") == (1, 10, 100)
    assert Parcel(weight=1).dimensions_as("in") is None


def test_weight_grams_reads_the_exact_conversion() -> None:
    assert Parcel(weight=16, mass_unit="oz").weight_grams == 453.59237


def test_a_vendor_error_keeps_its_field_messages_as_tuples_and_through_pickle() -> None:
    error = InvalidRequestError(
        "refused", code="ADDRESS.VERIFY.FAILURE", fields={"street1": ["House number is missing"]}
    )

    assert error.fields == {"street1": ("House number is missing",)}
    assert pickle.loads(pickle.dumps(error)).fields == error.fields
    assert VendorError("no fields").fields == {}


def test_an_address_validation_has_no_field_messages_unless_given() -> None:
    validation = AddressValidation(vendor="memory", vendor_id="adr_1", valid=True)

    assert validation.fields == {}
