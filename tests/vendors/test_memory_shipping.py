"""The memory shipping vendor: quotes, labels, a parcel's journey, cancellation, addresses."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from nexus_connector_core._adapters import AdapterSettings
from nexus_connector_core._context import CallContext
from nexus_connector_core._errors import (
    InvalidRequestError,
    ObjectNotFoundError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core._money import Money
from nexus_connector_core._shipping import (
    SHIPPING,
    Address,
    AsyncShippingAdapter,
    BuyLabel,
    CancelShipment,
    Label,
    Parcel,
    Shipment,
    ShippingAdapter,
    TrackRequest,
)
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.memory import (
    AsyncMemoryShippingAdapter,
    MemoryOptions,
    MemoryShippingAdapter,
)

SHOP = Address(
    street1="1 Market St", city="San Francisco", state="CA", postal_code="94105", country="US"
)
HOME = Address(
    street1="5 Elm St", city="Springfield", state="IL", postal_code="62701", country="US"
)
BERLIN = Address(street1="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE")


def settings(**options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="shipping", category="shipping", vendor="memory", options=MemoryOptions(**options)
    )


def context(clock: FakeClock, operation: str = "rates", **kwargs: Any) -> CallContext:
    return CallContext("shipping", "memory", SHIPPING.operation(operation), clock, **kwargs)


def shipment(to: Address = HOME, *weights_g: float) -> Shipment:
    parcels = [Parcel(weight=w) for w in weights_g or (1000,)]
    return Shipment(from_address=SHOP, to_address=to, parcels=parcels)


@pytest.fixture
def carrier() -> MemoryShippingAdapter:
    return MemoryShippingAdapter(settings())


def bought(carrier: MemoryShippingAdapter, clock: FakeClock) -> Label:
    rate = carrier.rates(shipment(), context(clock))[0]
    return carrier.buy(BuyLabel(rate.shipment_id, rate.vendor_id), context(clock, "buy"))


def test_the_adapters_implement_the_shipping_protocols() -> None:
    assert isinstance(MemoryShippingAdapter(settings()), ShippingAdapter)
    assert isinstance(AsyncMemoryShippingAdapter(settings()), AsyncShippingAdapter)


# --- rates ----------------------------------------------------------------------------------------


def test_rates_quote_three_services_cheapest_first_in_usd_cents(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    rates = carrier.rates(shipment(HOME, 1000), context(clock))

    assert [(r.carrier, r.service, r.amount, r.delivery_days) for r in rates] == [
        ("MemoryPost", "Ground", Money(949, "USD"), 5),
        ("MemoryPost", "Express", Money(1899, "USD"), 2),
        ("MemoryPost", "Overnight", Money(3949, "USD"), 1),
    ]


def test_rates_belong_to_one_new_shipment_and_have_their_own_ids(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    rates = carrier.rates(shipment(), context(clock))

    assert len({r.shipment_id for r in rates}) == 1
    assert re.fullmatch(r"shp_[0-9a-f]{24}", rates[0].shipment_id)
    assert all(re.fullmatch(r"rate_[0-9a-f]{24}", r.vendor_id) for r in rates)
    assert rates[0].raw["rate"] == "9.49"


def test_rates_are_priced_from_the_total_weight_of_all_parcels(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    one = carrier.rates(shipment(HOME, 1000), context(clock))[0]
    two = carrier.rates(shipment(HOME, 400, 600), context(clock))[0]
    heavy = carrier.rates(shipment(HOME, 5000), context(clock))[0]

    assert one.amount == two.amount
    assert heavy.amount.amount > one.amount.amount


def test_rates_read_the_weight_in_any_mass_unit(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    in_kg = Shipment(from_address=SHOP, to_address=HOME, parcels=[Parcel(weight=1, mass_unit="kg")])

    assert carrier.rates(in_kg, context(clock))[0].amount == Money(949, "USD")


def test_rates_abroad_cost_more_and_take_longer(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    home = carrier.rates(shipment(HOME), context(clock))
    abroad = carrier.rates(shipment(BERLIN), context(clock))

    assert abroad[0].amount == Money(2799, "USD")
    for domestic, international in zip(home, abroad, strict=True):
        assert international.amount.amount > domestic.amount.amount
        assert (international.delivery_days or 0) > (domestic.delivery_days or 0)


# --- buy ------------------------------------------------------------------------------------------


def test_buy_sells_a_label_with_a_tracking_code_and_label_url(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    rate = carrier.rates(shipment(), context(clock))[1]

    label = carrier.buy(BuyLabel(rate.shipment_id, rate.vendor_id), context(clock, "buy"))

    assert re.fullmatch(r"MP\d{18}", label.tracking_code)
    assert label.label_url == f"memory://labels/{rate.shipment_id}.pdf"
    assert (label.service, label.amount, label.carrier) == ("Express", rate.amount, "MemoryPost")
    assert label.vendor == "memory"


def test_buy_of_an_unknown_shipment_raises_object_not_found(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    with pytest.raises(ObjectNotFoundError):
        carrier.buy(BuyLabel("shp_missing", "rate_missing"), context(clock, "buy"))


def test_buy_at_a_rate_of_another_shipment_raises_object_not_found(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    mine = carrier.rates(shipment(), context(clock))[0]
    other = carrier.rates(shipment(), context(clock))[0]

    with pytest.raises(ObjectNotFoundError):
        carrier.buy(BuyLabel(mine.shipment_id, other.vendor_id), context(clock, "buy"))


def test_buying_a_second_label_for_a_shipment_is_refused(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    rates = carrier.rates(shipment(), context(clock))
    carrier.buy(BuyLabel(rates[0].shipment_id, rates[0].vendor_id), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        carrier.buy(BuyLabel(rates[1].shipment_id, rates[1].vendor_id), context(clock))

    assert caught.value.code == "already_purchased"


# --- track ----------------------------------------------------------------------------------------


def test_each_lookup_moves_the_parcel_one_step_to_delivered(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    code = bought(carrier, clock).tracking_code

    seen = [carrier.track(TrackRequest(code), context(clock, "track")).status for _ in range(5)]

    assert seen == ["pre_transit", "in_transit", "out_for_delivery", "delivered", "delivered"]


def test_tracking_keeps_the_history_newest_event_last(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    code = bought(carrier, clock).tracking_code
    carrier.track(TrackRequest(code), context(clock))
    clock.advance(3600)

    tracking = carrier.track(TrackRequest(code), context(clock))

    assert [e.status for e in tracking.events] == ["pre_transit", "in_transit"]
    assert tracking.events[1].timestamp.timestamp() == clock.time()
    assert tracking.carrier == "MemoryPost"


def test_track_of_an_unknown_code_raises_object_not_found(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    with pytest.raises(ObjectNotFoundError):
        carrier.track(TrackRequest("MP000000000000000000"), context(clock, "track"))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("EZ1000000001", "pre_transit"),
        ("EZ2000000002", "in_transit"),
        ("EZ3000000003", "out_for_delivery"),
        ("EZ4000000004", "delivered"),
        ("EZ5000000005", "returned"),
        ("EZ6000000006", "failure"),
    ],
)
def test_easypost_test_codes_track_with_their_fixed_status(
    carrier: MemoryShippingAdapter, clock: FakeClock, code: str, status: str
) -> None:
    tracking = carrier.track(TrackRequest(code), context(clock, "track"))

    assert tracking.status == status
    assert tracking.events[-1].status == status
    assert tracking.events[-1].timestamp.timestamp() == clock.time()


def test_the_easypost_unknown_test_code_has_no_history(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    tracking = carrier.track(TrackRequest("EZ7000000007"), context(clock, "track"))

    assert (tracking.status, tracking.events) == ("unknown", ())


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_before_the_parcel_moves_refunds_the_label(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    label = bought(carrier, clock)

    cancellation = carrier.cancel(CancelShipment(label.shipment_id), context(clock, "cancel"))

    assert cancellation.status == "refunded"
    assert carrier.track(TrackRequest(label.tracking_code), context(clock)).status == "cancelled"


def test_cancel_once_the_parcel_is_in_transit_is_rejected(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    label = bought(carrier, clock)
    for _ in range(2):
        carrier.track(TrackRequest(label.tracking_code), context(clock))

    cancellation = carrier.cancel(CancelShipment(label.shipment_id), context(clock, "cancel"))

    assert cancellation.status == "rejected"


def test_cancel_asked_twice_answers_the_same(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    label = bought(carrier, clock)

    first = carrier.cancel(CancelShipment(label.shipment_id), context(clock, "cancel"))
    second = carrier.cancel(CancelShipment(label.shipment_id), context(clock, "cancel"))

    assert second == first


def test_cancel_of_a_shipment_without_label_cancels_it(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    rate = carrier.rates(shipment(), context(clock))[0]

    cancellation = carrier.cancel(CancelShipment(rate.shipment_id), context(clock, "cancel"))

    assert cancellation.status == "cancelled"
    with pytest.raises(InvalidRequestError):
        carrier.buy(BuyLabel(rate.shipment_id, rate.vendor_id), context(clock, "buy"))


def test_cancel_of_an_unknown_shipment_raises_object_not_found(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    with pytest.raises(ObjectNotFoundError):
        carrier.cancel(CancelShipment("shp_missing"), context(clock, "cancel"))


# --- validate_address -----------------------------------------------------------------------------


def test_a_valid_address_comes_back_normalised_like_usps(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    messy = Address(
        street1="5  elm st", city="springfield", state="il", postal_code="62701", country="us"
    )

    result = carrier.validate_address(messy, context(clock, "validate_address"))

    assert result.valid
    assert result.address == Address(
        street1="5 ELM ST", city="SPRINGFIELD", state="IL", postal_code="62701", country="US"
    )
    assert "city corrected to 'SPRINGFIELD'" in result.messages


@pytest.mark.parametrize("postal_code", ["00000", "-", " 0 "])
def test_an_address_with_a_blank_postal_code_is_invalid(
    carrier: MemoryShippingAdapter, clock: FakeClock, postal_code: str
) -> None:
    address = Address(street1="5 Elm St", city="Springfield", postal_code=postal_code, country="US")

    result = carrier.validate_address(address, context(clock, "validate_address"))

    assert not result.valid
    assert result.address is None
    assert any("postal code" in m for m in result.messages)


def test_an_address_whose_street_says_invalid_is_invalid(
    carrier: MemoryShippingAdapter, clock: FakeClock
) -> None:
    address = Address(street1="1 Invalid Way", city="Nowhere", postal_code="12345", country="US")

    result = carrier.validate_address(address, context(clock, "validate_address"))

    assert not result.valid
    assert result.raw["verifications"]["delivery"]["success"] is False


# --- misbehaving on request -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "request_"),
    [
        ("rates", shipment()),
        ("buy", BuyLabel("shp_x", "rate_x")),
        ("track", TrackRequest("MP1")),
        ("cancel", CancelShipment("shp_x")),
        ("validate_address", HOME),
    ],
)
def test_fail_first_applies_to_every_operation(
    clock: FakeClock, operation: str, request_: object
) -> None:
    carrier = MemoryShippingAdapter(settings(fail_first=1))

    with pytest.raises(VendorUnavailableError):
        getattr(carrier, operation)(request_, context(clock, operation))

    assert carrier.calls == [(operation, request_)]


def test_latency_beyond_the_timeout_raises_vendor_timeout(clock: FakeClock) -> None:
    carrier = MemoryShippingAdapter(settings(latency=9.0))

    with pytest.raises(VendorTimeoutError):
        carrier.rates(shipment(), context(clock, timeout=2.5))

    assert clock.sleeps == [2.5]


# --- the async twin -------------------------------------------------------------------------------


async def test_async_rates_buy_track_cancel(clock: FakeClock) -> None:
    carrier = AsyncMemoryShippingAdapter(settings())

    rate = (await carrier.rates(shipment(), context(clock)))[0]
    label = await carrier.buy(BuyLabel(rate.shipment_id, rate.vendor_id), context(clock))
    tracking = await carrier.track(TrackRequest(label.tracking_code), context(clock))
    cancellation = await carrier.cancel(CancelShipment(rate.shipment_id), context(clock))

    assert (tracking.status, cancellation.status) == ("pre_transit", "refunded")
    assert [op for op, _ in carrier.calls] == ["rates", "buy", "track", "cancel"]


async def test_async_validate_address_and_unknown_tracking(clock: FakeClock) -> None:
    carrier = AsyncMemoryShippingAdapter(settings())

    result = await carrier.validate_address(HOME, context(clock))

    assert result.valid
    with pytest.raises(ObjectNotFoundError):
        await carrier.track(TrackRequest("MP1"), context(clock))


async def test_async_latency_waits_on_the_clock(clock: FakeClock) -> None:
    carrier = AsyncMemoryShippingAdapter(settings(latency=0.3))

    await carrier.validate_address(HOME, context(clock))

    assert clock.sleeps == [0.3]


# --- threads --------------------------------------------------------------------------------------


def test_one_adapter_serves_eight_threads_with_distinct_labels(clock: FakeClock) -> None:
    carrier = MemoryShippingAdapter(settings())
    codes: list[str] = []
    codes_lock = threading.Lock()

    def buy_fifty() -> None:
        for _ in range(50):
            code = bought(carrier, clock).tracking_code
            with codes_lock:
                codes.append(code)

    threads = [threading.Thread(target=buy_fifty) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(codes)) == 400
    assert len(carrier.calls) == 800  # a rates and a buy per label
