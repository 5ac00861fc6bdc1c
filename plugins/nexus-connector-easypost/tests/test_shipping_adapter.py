"""The easypost shipping adapters over real sockets against the local EasyPost: the requests
they make as EasyPost documents them, rates -> buy -> track -> cancel, a buy never bought
twice, reads served from the pipeline's cache, and address errors keeping their fields."""

from __future__ import annotations

import base64
import inspect
from pathlib import Path
from typing import Any

import pytest
from nexus_connector_easypost.testing import API_KEY, EasyPostDouble, operation_of

from nexus_connector_core import (
    Address,
    AsyncConnectorManager,
    ConnectorManager,
    InvalidRequestError,
    Parcel,
    PluginRegistry,
    Shipment,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

SHOP = Address(
    name="Nexus Shop",
    street1="388 Townsend St",
    city="San Francisco",
    state="CA",
    postal_code="94107",
    country="US",
)
HOME = Address(
    street1="179 N Harbor Dr", city="Redondo Beach", state="CA", postal_code="90277", country="US"
)
NO_HOUSE_NUMBER = Address(
    street1="Harbor Drive", city="Redondo Beach", state="CA", postal_code="90277", country="US"
)
#: 2 kg, 30 x 20.5 x 10 cm: 70.547... oz and 11.81... x 8.07... x 3.93... in.
BOX = Parcel(weight=2, mass_unit="kg", length=30, width=20.5, height=10)
RETRIES = {
    "retry": {"max_attempts": 5, "backoff": "fixed", "base": 0.001, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}

both = pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])


async def call(shipping: Any, operation: str, *args: Any) -> Any:
    """Call through a sync or an async connector alike."""
    result = getattr(shipping, operation)(*args)
    return await result if inspect.isawaitable(result) else result


def requests_for(server: FaultServer, operation: str) -> list[Any]:
    return [r for r in server.requests if operation_of(r) == operation]


def shipment(parcel: Parcel = BOX, reference: str | None = None) -> Shipment:
    return Shipment(from_address=SHOP, to_address=HOME, parcels=[parcel], reference=reference)


# -- the requests, as EasyPost documents them --------------------------------------------------


@both
async def test_rates_create_a_shipment_as_json_with_the_key_as_the_basic_user(
    make_manager: Any, easypost_server: FaultServer, async_: bool
) -> None:
    shipping = make_manager(async_=async_).shipping

    await call(shipping, "rates", shipment(reference="order-1042"))

    [request] = easypost_server.requests
    assert (request.method, request.path) == ("POST", "/v2/shipments")
    assert request.headers["content-type"] == "application/json"
    expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert request.headers["authorization"] == expected
    body = request.json()["shipment"]
    assert body["reference"] == "order-1042"
    assert body["to_address"] == {
        "street1": "179 N Harbor Dr",
        "city": "Redondo Beach",
        "state": "CA",
        "zip": "90277",
        "country": "US",
    }
    assert body["from_address"]["name"] == "Nexus Shop"


@both
async def test_a_parcel_in_kilograms_and_centimetres_reaches_easypost_in_ounces_and_inches(
    make_manager: Any, easypost_server: FaultServer, async_: bool
) -> None:
    shipping = make_manager(async_=async_).shipping

    await call(shipping, "rates", shipment(BOX))

    [request] = easypost_server.requests
    # Rounded up to EasyPost's tenth, never down: 70.547 oz is sent as 70.6.
    assert request.json()["shipment"]["parcel"] == {
        "weight": 70.6,
        "length": 11.9,
        "width": 8.1,
        "height": 4.0,
    }


@pytest.mark.parametrize(
    ("parcel", "weight"),
    [
        (Parcel(weight=1, mass_unit="lb"), 16.0),
        (Parcel(weight=16, mass_unit="oz"), 16.0),
        (Parcel(weight=453.59237, mass_unit="g"), 16.0),
        (Parcel(weight=1, mass_unit="g"), 0.1),  # a letter's gram is still a tenth of an oz
        (Parcel(weight=5e-324, mass_unit="g"), 0.1),
    ],
    ids=["1-lb", "16-oz", "a-pound-in-grams", "1-g", "denormal"],
)
def test_whole_ounces_stay_whole_and_the_lightest_parcel_weighs_a_tenth(
    make_manager: Any, easypost_server: FaultServer, parcel: Parcel, weight: float
) -> None:
    make_manager().shipping.rates(shipment(parcel))

    [request] = easypost_server.requests
    assert request.json()["shipment"]["parcel"] == {"weight": weight}


# -- rates -> buy -> track -> cancel -------------------------------------------------------------


@both
async def test_rates_buy_track_cancel_over_real_sockets(
    make_manager: Any, easypost: EasyPostDouble, easypost_server: FaultServer, async_: bool
) -> None:
    shipping = make_manager(async_=async_).shipping

    rates = await call(shipping, "rates", shipment())
    cheapest = rates[0]
    label = await call(shipping, "buy", cheapest.shipment_id, cheapest.vendor_id)
    tracking = await call(shipping, "track", label.tracking_code)
    cancellation = await call(shipping, "cancel", label.shipment_id)

    assert [operation_of(r) for r in easypost_server.requests] == [
        "rates",
        "buy",
        "track",
        "cancel",
    ]
    assert [r.path for r in easypost_server.requests[1:]] == [
        f"/v2/shipments/{cheapest.shipment_id}/buy",
        "/v2/trackers",
        f"/v2/shipments/{cheapest.shipment_id}/refund",
    ]
    assert easypost_server.requests[1].json() == {"rate": {"id": cheapest.vendor_id}}
    assert [r.amount.amount for r in rates] == sorted(r.amount.amount for r in rates)
    assert (label.carrier, label.service, label.amount) == (
        "USPS",
        cheapest.service,
        cheapest.amount,
    )
    assert label.label_url.startswith("https://")
    assert (tracking.tracking_code, tracking.status, tracking.carrier) == (
        label.tracking_code,
        "pre_transit",
        "USPS",
    )
    assert (cancellation.shipment_id, cancellation.status) == (cheapest.shipment_id, "submitted")
    [sold] = easypost.labels
    assert (sold["id"], sold["tracking_code"]) == (label.vendor_id, label.tracking_code)


@both
async def test_easypost_test_tracking_codes_report_their_status(
    make_manager: Any, async_: bool
) -> None:
    shipping = make_manager(async_=async_).shipping

    statuses = [
        (await call(shipping, "track", code)).status
        for code in ("EZ2000000002", "EZ4000000004", "EZ5000000005", "EZ6000000006")
    ]

    assert statuses == ["in_transit", "delivered", "returned", "failure"]


# -- buy is never bought twice ------------------------------------------------------------------


@both
async def test_a_reset_after_easypost_sold_the_label_is_not_retried_no_second_label(
    make_manager: Any, easypost: EasyPostDouble, easypost_server: FaultServer, async_: bool
) -> None:
    shipping = make_manager(async_=async_, resilience=RETRIES).shipping
    rate = (await call(shipping, "rates", shipment()))[0]
    easypost.lose_next_answer()  # EasyPost sells the label, then the connection resets

    with pytest.raises(VendorUnavailableError) as caught:
        await call(shipping, "buy", rate.shipment_id, rate.vendor_id)

    assert caught.value.maybe_processed
    assert len(requests_for(easypost_server, "buy")) == 1
    assert len(easypost.labels) == 1
    # Asked again by hand, EasyPost refuses: the shipment has its label.
    with pytest.raises(InvalidRequestError) as again:
        await call(shipping, "buy", rate.shipment_id, rate.vendor_id)
    assert again.value.code == "SHIPMENT.POSTAGE.EXISTS"
    assert "an earlier buy went through" in str(again.value)
    assert len(easypost.labels) == 1


def test_a_buy_answered_with_an_unreadable_body_may_have_sold_the_label(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    shipping = make_manager(resilience=RETRIES).shipping
    rate = shipping.rates(shipment())[0]
    easypost_server.script(Fault.respond(200, {"unexpected": True}))

    with pytest.raises(VendorError) as caught:
        shipping.buy(rate.shipment_id, rate.vendor_id)

    assert caught.value.maybe_processed
    assert f"look at shipment {rate.shipment_id}" in str(caught.value)
    assert len(requests_for(easypost_server, "buy")) == 1


# -- reads are cacheable ---------------------------------------------------------------------


@both
async def test_a_second_rates_within_the_cache_ttl_makes_no_request(
    tmp_path: Path,
    easypost_server: FaultServer,
    registry: PluginRegistry,
    clock: FakeClock,
    async_: bool,
) -> None:
    environ = {"EASYPOST_API_KEY": API_KEY}

    config = tmp_path / "connectors.toml"
    config.write_text(
        f"""
[connectors.shipping]
vendor = "easypost"
options = {{ base_url = "{easypost_server.url}" }}
credentials = {{ api_key = "env:EASYPOST_API_KEY" }}

[connectors.shipping.resilience]
cache = {{ ttl = 300 }}
""",
        encoding="utf-8",
    )
    kind = AsyncConnectorManager if async_ else ConnectorManager
    manager = kind.from_config(config, registry=registry, environ=environ, clock=clock)
    try:
        first = await call(manager.shipping, "rates", shipment(reference="order-1"))
        again = await call(manager.shipping, "rates", shipment(reference="order-1"))
        assert again == first
        assert len(requests_for(easypost_server, "rates")) == 1

        await call(manager.shipping, "rates", shipment(reference="order-2"))  # another order
        clock.advance(301)
        await call(manager.shipping, "rates", shipment(reference="order-1"))
        assert len(requests_for(easypost_server, "rates")) == 3
    finally:
        if isinstance(manager, AsyncConnectorManager):
            await manager.aclose()
        else:
            manager.close()


@both
async def test_a_second_track_within_the_cache_ttl_makes_no_request(
    make_manager: Any, easypost_server: FaultServer, clock: FakeClock, async_: bool
) -> None:
    shipping = make_manager(async_=async_, resilience={"cache": {"ttl": 300}}).shipping

    first = await call(shipping, "track", "EZ2000000002")
    clock.advance(299)
    again = await call(shipping, "track", "EZ2000000002")
    assert again == first
    assert len(requests_for(easypost_server, "track")) == 1

    await call(shipping, "track", "EZ4000000004")  # another parcel
    clock.advance(2)  # the first answer is 301 s old
    later = await call(shipping, "track", "EZ2000000002")
    assert later.tracking_code == "EZ2000000002"
    assert len(requests_for(easypost_server, "track")) == 3


# -- addresses ----------------------------------------------------------------------------------


@both
async def test_an_invalid_address_is_an_invalid_request_error_carrying_easyposts_field_messages(
    make_manager: Any, easypost_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_, options={"address_verification": "verify_strict"})

    with pytest.raises(InvalidRequestError) as caught:
        await call(manager.shipping, "validate_address", NO_HOUSE_NUMBER)

    error = caught.value
    assert error.fields == {
        "address": ("Address not found",),
        "street1": ("House number is missing",),
    }
    assert (error.code, error.status_code, error.maybe_processed) == (
        "ADDRESS.VERIFY.FAILURE",
        422,
        False,
    )
    assert "street1: House number is missing" in str(error)
    [request] = easypost_server.requests
    assert (request.path, request.json()["verify_strict"]) == ("/v2/addresses", True)


@both
async def test_an_unverifiable_address_is_not_valid_with_easyposts_messages_by_field(
    make_manager: Any, async_: bool
) -> None:
    shipping = make_manager(async_=async_).shipping
    unknown_zip = Address(
        street1="1 Main St", city="Nowhere", state="KS", postal_code="00000", country="US"
    )

    validation = await call(shipping, "validate_address", unknown_zip)

    assert (validation.valid, validation.address) == (False, None)
    assert validation.fields == {"address": ("Address not found",)}
    assert validation.messages == ["Address not found"]


def test_a_deliverable_address_comes_back_as_usps_writes_it(make_manager: Any) -> None:
    validation = make_manager().shipping.validate_address(
        Address(
            street1="179  n Harbor  Dr", city="redondo beach", postal_code="90277", country="us"
        )
    )

    assert validation.valid
    assert validation.address == Address(
        street1="179 N HARBOR DR",
        city="REDONDO BEACH",
        postal_code="90277",
        country="US",
        residential=False,
    )
