"""Reading EasyPost's objects (pure): what each documented field becomes, and the examples
of the modules' docstrings."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import pytest
from nexus_connector_easypost import _answers, _options, _requests
from nexus_connector_easypost._answers import (
    STATUSES,
    read_cancellation,
    read_label,
    read_rates,
    read_tracking,
    read_validation,
)

from nexus_connector_core import Money


@pytest.mark.parametrize("module", [_answers, _options, _requests], ids=lambda m: m.__name__)
def test_the_docstring_examples_run(module: object) -> None:
    results = doctest.testmod(module)  # type: ignore[arg-type]

    assert (results.attempted > 0, results.failed) == (True, 0)


def test_every_documented_tracker_status_has_a_contract_status() -> None:
    documented = {
        "unknown",
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "available_for_pickup",
        "return_to_sender",
        "failure",
        "cancelled",
        "error",
    }

    assert set(STATUSES) == documented


def test_a_tracker_is_read_with_its_events_oldest_first_and_times_aware() -> None:
    tracker = {
        "id": "trk_1",
        "tracking_code": "9400100105442285876350",
        "status": "available_for_pickup",
        "carrier": "USPS",
        "est_delivery_date": "2025-05-12T00:00:00Z",
        "tracking_details": [
            {
                "datetime": "2025-05-10T08:00:00Z",
                "status": "in_transit",
                "message": "Arrived",
                "tracking_location": {"city": "OAKLAND", "state": "CA", "zip": None},
            },
            {"datetime": "2025-05-09T20:40:06", "status": "pre_transit", "message": None},
        ],
    }

    tracking = read_tracking(tracker, "easypost")

    assert tracking.status == "out_for_delivery"
    assert [(e.status, e.location) for e in tracking.events] == [
        ("pre_transit", None),
        ("in_transit", "OAKLAND, CA"),
    ]
    assert tracking.events[0].timestamp == datetime(2025, 5, 9, 20, 40, 6, tzinfo=UTC)
    assert tracking.estimated_delivery == datetime(2025, 5, 12, tzinfo=UTC)


def test_a_label_in_pdf_is_read_from_its_pdf_url() -> None:
    shipment = {
        "id": "shp_1",
        "tracking_code": "9400",
        "postage_label": {"id": "pl_1", "label_url": None, "label_pdf_url": "https://x/l.pdf"},
        "selected_rate": {
            "carrier": "USPS",
            "service": "Priority",
            "rate": "6.95",
            "currency": "USD",
        },
    }

    label = read_label(shipment, "easypost")

    assert (label.label_url, label.amount) == ("https://x/l.pdf", Money(695, "USD"))


@pytest.mark.parametrize(
    ("refund_status", "status"),
    [
        ("submitted", "submitted"),
        ("refunded", "refunded"),
        ("rejected", "rejected"),
        ("not_applicable", "cancelled"),
    ],
)
def test_every_refund_status_is_a_cancellation_status(refund_status: str, status: str) -> None:
    cancellation = read_cancellation({"id": "shp_1", "refund_status": refund_status}, "easypost")

    assert cancellation.status == status


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "shp_1", "refund_status": None},
        {"id": "shp_1", "refund_status": "later"},
        {"refund_status": "submitted"},
        ["not", "an", "object"],
    ],
)
def test_an_answer_that_is_not_easyposts_object_is_unreadable(answer: object) -> None:
    with pytest.raises((TypeError, KeyError, ValueError)):
        read_cancellation(answer, "easypost")


def test_an_address_verified_without_a_delivery_verification_is_unreadable() -> None:
    with pytest.raises((TypeError, KeyError)):
        read_validation({"id": "adr_1", "verifications": {}}, "easypost")


#: Rates that are no price: each makes the answer unreadable, and none is quoted.
NOT_PRICES = [
    "-5.93",
    "0.00",
    "0",
    "-0",
    "NaN",
    "Infinity",
    "1e999999",
    "5.931",
    "5,93",
    "9" * 5000,
]


@pytest.mark.parametrize("price", NOT_PRICES, ids=lambda price: price[:12])
def test_a_rate_that_is_not_a_price_above_zero_is_refused_by_the_reader(price: str) -> None:
    rate = {"id": "rate_1", "carrier": "USPS", "service": "Priority", "rate": price}
    shipment = {"id": "shp_1", "rates": [{**rate, "currency": "USD"}]}

    with pytest.raises(ValueError, match="rate is not a price") as caught:
        read_rates(shipment, "easypost")

    assert price not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.parametrize("price", ["-6.95", "0.00", "NaN"])
def test_a_label_bought_at_no_price_is_refused_by_the_reader(price: str) -> None:
    shipment = {
        "id": "shp_1",
        "tracking_code": "9400",
        "postage_label": {"id": "pl_1", "label_url": "https://x/l.png"},
        "selected_rate": {
            "carrier": "USPS",
            "service": "Priority",
            "rate": price,
            "currency": "USD",
        },
    }

    with pytest.raises(ValueError, match="rate is not a price"):
        read_label(shipment, "easypost")
