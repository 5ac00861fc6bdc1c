"""What EasyPost's refusals and a bad request become: the library's errors, with
``maybe_processed`` right, the field messages kept, and no credential in any message; and
what is refused before anything is sent."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
from nexus_connector_easypost.testing import API_KEY, EasyPostDouble, easypost_error, operation_of

from nexus_connector_core import (
    Address,
    AuthenticationError,
    ConfigError,
    ConnectorError,
    ConnectorManager,
    CredentialNotFoundError,
    InvalidRequestError,
    ObjectNotFoundError,
    Parcel,
    PaymentDeclinedError,
    PluginRegistry,
    RateLimitExceededError,
    Shipment,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import Fault, FaultServer, ReceivedRequest

HOME = Address(
    street1="179 N Harbor Dr", city="Redondo Beach", state="CA", postal_code="90277", country="US"
)
BOX = Parcel(weight=500)


def shipment(*parcels: Parcel, to: Address = HOME) -> Shipment:
    return Shipment(from_address=HOME, to_address=to, parcels=parcels or (BOX,))


# -- refused before sending ----------------------------------------------------------------------


def test_a_shipment_of_two_parcels_is_refused_before_sending(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        make_manager().shipping.rates(shipment(BOX, BOX))

    assert caught.value.maybe_processed is False
    assert "parcels" in caught.value.fields
    assert easypost_server.hits == 0


@pytest.mark.parametrize(
    ("shipment_id", "rate_id"),
    [
        ("../addresses", "rate_1"),
        ("shp_1/refund", "rate_1"),
        ("shp_1?x=1", "rate_1"),
        ("shp_1", "rate_1/../x"),
        ("", "rate_1"),
        ("shp_" + "a" * 65, "rate_1"),
        ("rate_1", "shp_1"),
    ],
)
def test_an_id_that_is_not_easyposts_is_not_found_and_never_reaches_a_path(
    make_manager: Any, easypost_server: FaultServer, shipment_id: str, rate_id: str
) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        make_manager().shipping.buy(shipment_id, rate_id)

    assert caught.value.maybe_processed is False
    assert easypost_server.hits == 0


@pytest.mark.parametrize(
    ("street", "problem"),
    [
        ("1 Main St \ud800", "lone surrogate"),
        ("1 " + "x" * 1_001, "1,003 characters"),
    ],
    ids=["not-utf-8", "huge"],
)
def test_text_easypost_cannot_take_is_refused_at_its_field_before_sending(
    make_manager: Any, easypost_server: FaultServer, street: str, problem: str
) -> None:
    address = Address(street1=street, city="X", postal_code="1", country="US")

    with pytest.raises(InvalidRequestError) as caught:
        make_manager().shipping.rates(shipment(to=address))

    assert problem in str(caught.value)
    assert list(caught.value.fields) == ["to_address.street1"]
    assert caught.value.maybe_processed is False
    assert easypost_server.hits == 0


@pytest.mark.parametrize("code", ["", "   "])
def test_an_empty_tracking_code_is_refused_before_sending(
    make_manager: Any, easypost_server: FaultServer, code: str
) -> None:
    with pytest.raises(InvalidRequestError, match="tracking_code must not be empty"):
        make_manager().shipping.track(code)

    assert easypost_server.hits == 0


@pytest.mark.parametrize("weight", [float("inf"), float("nan"), -1.0, 0, 2**70, True], ids=repr)
def test_a_parcel_weight_that_is_not_a_sane_number_is_refused_by_the_contract(
    weight: Any,
) -> None:
    with pytest.raises(ValueError, match="Parcel.weight must be a positive number"):
        Parcel(weight=weight)


# -- EasyPost's refusals -------------------------------------------------------------------------

REFUSALS = [
    (easypost_error(401, "UNAUTHORIZED", "Bad key"), AuthenticationError, False),
    (
        easypost_error(402, "PAYMENT_REQUIRED", "Insufficient funds"),
        PaymentDeclinedError,
        False,
    ),
    (easypost_error(404, "NOT_FOUND", "Not found"), ObjectNotFoundError, False),
    (easypost_error(422, "SHIPMENT.POSTAGE.EXISTS", "Has postage"), InvalidRequestError, False),
    (easypost_error(422, "SHIPMENT.POSTAGE.FAILURE", "No label"), VendorError, False),
    (
        easypost_error(429, "RATE_LIMITED", "Slow down", Retry_After="3"),
        RateLimitExceededError,
        False,
    ),
    (easypost_error(500, "INTERNAL_SERVER_ERROR", "Oops"), VendorUnavailableError, True),
    (Fault.respond(503, b"<html>maintenance</html>"), VendorUnavailableError, True),
]


@pytest.mark.parametrize(
    ("fault", "error", "maybe"), REFUSALS, ids=lambda v: getattr(v, "status_code", "")
)
def test_easyposts_refusals_become_the_librarys_errors(
    make_manager: Any,
    easypost_server: FaultServer,
    fault: Fault,
    error: type[ConnectorError],
    maybe: bool,
) -> None:
    easypost_server.script(fault)

    with pytest.raises(error) as caught:
        make_manager().shipping.buy("shp_1", "rate_1")

    assert type(caught.value) is error
    assert caught.value.maybe_processed is maybe
    assert (caught.value.connector, caught.value.vendor, caught.value.operation) == (
        "shipping",
        "easypost",
        "buy",
    )


def test_a_rate_limit_carries_easyposts_retry_after(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    easypost_server.script(easypost_error(429, "RATE_LIMITED", "Slow down", Retry_After="3"))

    with pytest.raises(RateLimitExceededError) as caught:
        make_manager().shipping.track("EZ1000000001")

    assert caught.value.retry_after == 3


def test_field_messages_of_a_shipment_are_kept_under_the_contracts_names(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    errors: list[Any] = [  # EasyPost's field errors, and a bare string among them
        {"field": "shipment.to_address.zip", "message": "is invalid"},
        {"field": "shipment.parcel.weight", "message": "must be greater than 0"},
        {"field": "shipment.parcel.weight", "message": "is too heavy"},
        "a message naming no field",
    ]
    easypost_server.script(easypost_error(422, "SHIPMENT.INVALID_PARAMS", "Invalid.", errors))

    with pytest.raises(InvalidRequestError) as caught:
        make_manager().shipping.rates(shipment())

    assert caught.value.fields == {
        "to_address.postal_code": ("is invalid",),
        "parcels[0].weight": ("must be greater than 0", "is too heavy"),
    }
    assert caught.value.vendor_message is not None
    assert "parcels[0].weight: must be greater than 0, is too heavy" in str(caught.value)


def test_refunding_a_shipment_without_a_label_is_an_invalid_request(
    make_manager: Any,
) -> None:
    shipping = make_manager().shipping
    rate = shipping.rates(shipment())[0]

    with pytest.raises(InvalidRequestError) as caught:
        shipping.cancel(rate.shipment_id)

    assert caught.value.code == "SHIPMENT.REFUND.UNAVAILABLE"


def test_a_shipment_no_carrier_would_rate_is_a_vendor_error_quoting_the_carriers(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    messages = [{"carrier": "USPS", "type": "rate_error", "message": "Weight exceeds 70 lb"}]
    easypost_server.script(
        Fault.respond(201, {"id": "shp_1", "object": "Shipment", "rates": [], "messages": messages})
    )

    with pytest.raises(VendorError, match="USPS: Weight exceeds 70 lb") as caught:
        make_manager().shipping.rates(shipment())

    assert caught.value.code == "SHIPMENT.RATES.UNAVAILABLE"


def priced(server: FaultServer, price: str) -> None:
    """From now on the server's rates and labels cost `price` (EasyPost's decimal string)."""
    easypost = server.default
    assert isinstance(easypost, EasyPostDouble)

    def answer(request: ReceivedRequest) -> Fault:
        fault = easypost(request)
        body = json.loads(fault.body) if fault.status_code < 300 else None
        if not isinstance(body, dict):
            return fault
        for rate in [*body.get("rates", []), body.get("selected_rate") or {}]:
            if "rate" in rate:
                rate["rate"] = price
        return dataclasses.replace(fault, body=json.dumps(body).encode())

    server.default = answer


@pytest.mark.parametrize("price", ["-5.93", "0.00", "Infinity"])
def test_rates_at_no_price_are_an_unreadable_answer_not_quoted(
    make_manager: Any, easypost_server: FaultServer, price: str
) -> None:
    priced(easypost_server, price)

    with pytest.raises(VendorError) as caught:
        make_manager().shipping.rates(shipment())

    assert type(caught.value) is VendorError
    assert caught.value.maybe_processed is True  # EasyPost made the shipment
    assert "not" in str(caught.value)
    assert price not in str(caught.value)


def test_a_label_bought_at_a_negative_price_is_unreadable_and_may_have_been_bought(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    shipping = make_manager().shipping
    rate = shipping.rates(shipment())[0]
    priced(easypost_server, "-5.93")

    with pytest.raises(VendorError) as caught:
        shipping.buy(rate.shipment_id, rate.vendor_id)

    assert type(caught.value) is VendorError
    assert caught.value.maybe_processed is True  # the label may well be bought: never rebuy
    assert "-5.93" not in str(caught.value)


def test_an_unknown_tracking_code_in_test_mode_is_not_found(make_manager: Any) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        make_manager().shipping.track("9400100000000000000000")

    assert caught.value.code == "TRACKER.INVALID_TEST_CODE"


# -- credentials ----------------------------------------------------------------------------------


def test_the_api_key_is_masked_in_everything_easypost_echoes(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    basic = base64.b64encode(f"{API_KEY}:".encode()).decode()
    echo = f"key {API_KEY} header Basic {basic}"
    errors = [{"field": "address", "message": echo}]
    easypost_server.script(easypost_error(422, "PARAMETER.REQUIRED", echo, errors))

    with pytest.raises(InvalidRequestError) as caught:
        make_manager().shipping.validate_address(HOME)

    shown = f"{caught.value} {caught.value.args} {caught.value.fields} {caught.value!r}"
    assert API_KEY not in shown
    assert basic.rstrip("=") not in shown
    assert "**********" in shown


def test_a_wrong_key_is_an_authentication_error_never_retried(
    connector: dict[str, Any], registry: PluginRegistry, easypost_server: FaultServer
) -> None:
    resilience = {"retry": {"max_attempts": 3, "base": 0.001}}
    config = {"connectors": {"shipping": {**connector, "resilience": resilience}}}
    environ = {"EASYPOST_API_KEY": "EZTKwrong"}

    with ConnectorManager.from_config(config, registry=registry, environ=environ) as manager:
        with pytest.raises(AuthenticationError):
            manager.shipping.track("EZ1000000001")

    assert easypost_server.hits == 1


def test_a_missing_api_key_names_its_config_key(
    connector: dict[str, Any], registry: PluginRegistry
) -> None:
    table = {**connector, "credentials": {}}

    with pytest.raises((ConfigError, CredentialNotFoundError)) as caught:
        with ConnectorManager.from_config(
            {"connectors": {"shipping": table}}, registry=registry
        ) as manager:
            manager.shipping.track("EZ1000000001")

    assert "connectors.shipping.credentials.api_key" in str(caught.value)


@pytest.mark.parametrize("key", [f"{API_KEY}\n", f" {API_KEY}", "EZTK 1"], ids=repr)
def test_an_api_key_with_whitespace_is_a_config_error_that_does_not_show_it(
    connector: dict[str, Any], registry: PluginRegistry, easypost_server: FaultServer, key: str
) -> None:
    config = {"connectors": {"shipping": connector}}

    with ConnectorManager.from_config(
        config, registry=registry, environ={"EASYPOST_API_KEY": key}
    ) as manager:
        with pytest.raises(ConfigError) as caught:
            manager.shipping.track("EZ1000000001")

    assert caught.value.path == "connectors.shipping.credentials.api_key"
    assert key.strip() not in str(caught.value)
    assert easypost_server.hits == 0


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"base_url": "https://api.easypost.com/v2"}, "base_url"),
        ({"base_url": "ftp://api.easypost.com"}, "base_url"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"address_verification": "maybe"}, "address_verification"),
        ({"verify": True}, "verify"),
    ],
)
def test_bad_options_are_a_config_error_at_their_key(
    connector: dict[str, Any],
    registry: PluginRegistry,
    environ: dict[str, str],
    options: dict[str, Any],
    key: str,
) -> None:
    table = {**connector, "options": {**connector["options"], **options}}

    with pytest.raises(ConfigError) as caught:
        ConnectorManager.from_config(
            {"connectors": {"shipping": table}}, registry=registry, environ=environ
        )

    assert [p.path for p in caught.value.problems] == [f"connectors.shipping.options.{key}"]


def test_every_shipping_request_is_one_of_the_documented_endpoints(
    make_manager: Any, easypost_server: FaultServer
) -> None:
    shipping = make_manager().shipping
    rate = shipping.rates(shipment())[0]
    label = shipping.buy(rate.shipment_id, rate.vendor_id)
    shipping.track(label.tracking_code)
    shipping.cancel(label.shipment_id)
    shipping.validate_address(HOME)

    assert [operation_of(r) for r in easypost_server.requests] == [
        "rates",
        "buy",
        "track",
        "cancel",
        "validate_address",
    ]
