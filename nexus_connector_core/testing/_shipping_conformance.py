"""The conformance suite every shipping adapter passes, whichever carrier platform it speaks to.

An adapter's tests subclass `ShippingAdapterConformance` and provide one fixture, ``harness``,
that returns a `ShippingHarness`: how to configure a connector for the adapter, what the
vendor (or its local double) received and how many labels it sold, and how to make its next
answer a failure. The suite then quotes, buys, tracks, cancels and verifies through real
`ConnectorManager` and `AsyncConnectorManager` pipelines on a `FakeClock`, so it checks the
adapter together with the retry and cache decisions its answers lead to. It needs pytest and
pytest-asyncio.

The rules every shipping adapter follows (the memory vendor is the reference):

- `rates` quotes a shipment: at least one `Rate`, each with the vendor's own id, the one
  `shipment_id` they share, a carrier, a service and a positive amount, cheapest first.
- Units: the contract carries a parcel in the units its caller wrote (`Parcel.mass_unit`,
  `Parcel.distance_unit`); the vendor receives it in its own units, converted exactly and
  rounded, if the vendor wants rounding, up: 2 kg reaches a vendor of ounces as 70.6 oz,
  never as 2 and never as 70.5.
- `buy` sells one label for the shipment at the rate: a tracking code, a label URL, the
  rate's carrier, service and amount. A shipment is never sold twice: a second `buy` of it
  is an `InvalidRequestError` and the vendor still has one label. A `buy` whose answer was
  lost after the vendor acted, or that failed with a 5xx, is raised (``maybe_processed``),
  never retried, unless the vendor honours idempotency keys; a 429 is waited out and retried.
- `track` follows a label's tracking code: the same code, a valid status, events oldest
  first, moving on to ``delivered``; an unknown code is `ObjectNotFoundError`; a lookup that
  failed is retried.
- `cancel` refunds a label whose parcel has not moved (``submitted`` or ``refunded``), says
  ``rejected`` once the carrier has the parcel, and answers the same when asked again.
- `validate_address` returns a deliverable address in the vendor's corrected form; for one
  the vendor cannot verify, the vendor's messages are kept by `Address` field (or
  ``address``): in `AddressValidation.fields` (``valid=False``), or in `VendorError.fields`
  of the `InvalidRequestError` a vendor that refuses such addresses raises (the harness says
  which, `ShippingHarness.address_refusal`).
- Refused credentials are an `AuthenticationError`, never retried.
- Reads are cacheable: with the connector's ``cache`` on, a second identical `rates` within
  the TTL makes no request, and one after it does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import msgspec
import pytest

from .._errors import (
    AuthenticationError,
    InvalidRequestError,
    ObjectNotFoundError,
    VendorError,
    VendorUnavailableError,
)
from .._shipping import (
    Address,
    AddressValidation,
    Cancellation,
    DistanceUnit,
    Label,
    MassUnit,
    Parcel,
    Rate,
    Shipment,
    Tracking,
    TrackingStatus,
)
from ._adapter_conformance import BACKOFF, RESILIENCE, AdapterConformance, AdapterHarness, rule

__all__ = [
    "ReceivedParcel",
    "ReceivedShippingRequest",
    "ShippingAdapterConformance",
    "ShippingFaultKind",
    "ShippingHarness",
]

#: The ways a vendor can be told to fail its next answer (`ShippingHarness.fail_next`):
#: ``auth`` (it refuses the credentials), ``rate_limited`` (HTTP 429 with a Retry-After of
#: `ShippingHarness.retry_after` seconds; nothing was done), ``transient`` (a 5xx: whether
#: it acted is unknown) and ``lost_answer`` (it acts on the request, then the answer is
#: lost: a reset connection).
ShippingFaultKind = Literal["auth", "rate_limited", "transient", "lost_answer"]
FAULT_KINDS: tuple[ShippingFaultKind, ...] = get_args(ShippingFaultKind)

_STATUSES = frozenset(get_args(TrackingStatus))
#: The journey of a parcel, in order; a lookup never goes back along it (the other
#: statuses, the ends of a journey that went wrong, come after all of these).
_JOURNEY: tuple[TrackingStatus, ...] = (
    "unknown",
    "pre_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
)
_LOOKUPS = 10
#: What `Address` fields a vendor's field messages may be filed under, and the whole address.
_ADDRESS_FIELDS = frozenset({*Address.__struct_fields__, "address"})
#: How long a cached read lasts in the cache test, in seconds.
_TTL = 60.0

SHOP = Address(
    name="Nexus Shop",
    street1="388 Townsend St",
    city="San Francisco",
    state="CA",
    postal_code="94107",
    country="US",
)
HOME = Address(
    name="Ada Lovelace",
    street1="179 N Harbor Dr",
    city="Redondo Beach",
    state="CA",
    postal_code="90277",
    country="US",
)
#: No house number, and a street no carrier knows: the memory vendor's and EasyPost's
#: doubles both refuse it.
UNDELIVERABLE = Address(
    street1="Invalid Street", city="Springfield", state="IL", postal_code="62701", country="US"
)

#: Parcels in every unit the contract takes: (weight, mass unit, length, width, height,
#: distance unit). Measures that are not whole in the vendor's units catch a missing
#: conversion and a rounding down.
PARCELS: Mapping[str, tuple[float, MassUnit, float, float, float, DistanceUnit]] = {
    "kg-cm": (2, "kg", 30, 20.5, 10, "cm"),
    "g-cm": (450, "g", 25.4, 12.7, 2.54, "cm"),
    "lb-in": (3.3, "lb", 12, 9.25, 4, "in"),
    "oz-in": (20.05, "oz", 10, 8, 4.01, "in"),
}


class ReceivedParcel(msgspec.Struct, frozen=True, kw_only=True):
    """A parcel as the vendor received it, in the vendor's own units (EasyPost: ounces and
    inches; the memory vendor: the caller's)."""

    weight: float
    mass_unit: MassUnit
    length: float | None = None
    width: float | None = None
    height: float | None = None
    distance_unit: DistanceUnit = "cm"

    @classmethod
    def of(cls, parcel: Parcel) -> ReceivedParcel:
        """The parcel as a vendor that takes the caller's units receives it."""
        return cls(**msgspec.structs.asdict(parcel))

    def as_parcel(self) -> Parcel:
        return Parcel(**msgspec.structs.asdict(self))


class ReceivedShippingRequest(msgspec.Struct, frozen=True):
    """One request that reached the vendor: the contract's operation it serves (``rates``,
    ``buy``, ``track``, ``cancel``, ``validate_address``) and, for ``rates``, the parcel as
    the vendor received it."""

    operation: str
    parcel: ReceivedParcel | None = None


@dataclass(frozen=True, kw_only=True)
class ShippingHarness(AdapterHarness):
    """One shipping adapter under test, as `ShippingAdapterConformance` drives it (with the
    attributes of every `AdapterHarness`: ``connector``, ``registry``, ``environ``,
    ``on_manager``, ``transport``).

    A fresh harness per test is expected (a function-scoped fixture): `received` and
    `labels` count from zero in each test.

    Attributes:
        received: every request that reached the vendor so far, in order, whatever the
            vendor answered.
        labels: how many labels the vendor has sold so far.
        fail_next: makes the vendor's next answer, to whichever operation, a failure of
            that `ShippingFaultKind`.
        faults: the kinds `fail_next` can do; tests of the others are skipped.
        retry_after: the Retry-After seconds of a ``rate_limited`` failure.
        from_address, to_address: deliverable addresses the vendor quotes between.
        undeliverable: an address the vendor cannot verify.
        address_refusal: how the vendor says so: ``"result"`` (`validate_address` answers
            ``valid=False`` with `AddressValidation.fields`) or ``"error"`` (it raises
            `InvalidRequestError` with `VendorError.fields`).
        weight_step, length_step: the rounding step of the vendor's units, in grams and
            centimetres (EasyPost's tenth of an ounce and of an inch: 2.8349523125 g and
            0.254 cm; 0 for a vendor taking the caller's units as they are).
        unknown_shipment_id, unknown_tracking_code: ids in the vendor's format that name
            nothing (None skips the unknown tracking code test: some vendors track any code).
    """

    received: Callable[[], Sequence[ReceivedShippingRequest]]
    labels: Callable[[], int]
    fail_next: Callable[[ShippingFaultKind], None]
    faults: frozenset[ShippingFaultKind] = frozenset(FAULT_KINDS)
    retry_after: float = 1.0
    from_address: Address = SHOP
    to_address: Address = HOME
    undeliverable: Address = UNDELIVERABLE
    address_refusal: Literal["result", "error"] = "result"
    weight_step: float = 0.0
    length_step: float = 0.0
    unknown_shipment_id: str = "shp_" + "0" * 32
    unknown_tracking_code: str | None = "NX0000000000000000"

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {list(FAULT_KINDS)}")
        if self.retry_after <= BACKOFF:
            raise ValueError(f"retry_after must be more than {BACKOFF} s to be told apart")
        if self.address_refusal not in ("result", "error"):
            raise ValueError("address_refusal must be 'result' or 'error'")


class ShippingAdapterConformance(AdapterConformance[ShippingHarness]):
    """The behaviour every shipping adapter must show: subclass it and provide ``harness``.

    Every test runs twice, through a `ConnectorManager` and an `AsyncConnectorManager`
    (ids ``[sync]`` and ``[async]``), whose retry policy is 3 attempts with a fixed,
    negligible backoff, on a `FakeClock`::

        import pytest
        from nexus_connector_core.testing import ShippingAdapterConformance, ShippingHarness

        class TestEasyPostConformance(ShippingAdapterConformance):
            @pytest.fixture
            def harness(self, easypost_server, easypost, registry):
                return ShippingHarness(
                    registry=registry,
                    connector={"vendor": "easypost",
                               "options": {"base_url": easypost_server.url},
                               "credentials": {"api_key": "env:EASYPOST_API_KEY"}},
                    environ={"EASYPOST_API_KEY": API_KEY},
                    received=lambda: received(easypost_server.requests),
                    labels=lambda: len(easypost.labels),
                    fail_next=...,
                    transport=TransportFaults.over_http(easypost_server),
                    weight_step=2.8349523125, length_step=0.254,
                )

    To record a known deviation of your adapter, override that test in your subclass,
    decorate it with ``@pytest.mark.xfail(strict=True, reason=...)`` and call ``super()``.
    """

    category = "shipping"
    connector_name = "shipping"

    @property
    def shipping(self) -> Any:
        """The connector under test (a `ShippingConnector` or its async twin)."""
        return self.under_test

    async def write_call(self) -> tuple[str, tuple[Any, ...]]:
        rate = (await self.rates())[0]
        return "buy", (rate.shipment_id, rate.vendor_id)

    async def read_call(self) -> tuple[str, tuple[Any, ...]]:
        return "rates", (self.shipment(reference="read again"),)

    # -- helpers ---------------------------------------------------------------------------

    def shipment(self, parcel: Parcel | None = None, reference: str | None = None) -> Shipment:
        """A shipment between the harness's addresses, of one parcel (1.5 kg by default)."""
        box = parcel or Parcel(weight=1.5, mass_unit="kg", length=30, width=20, height=10)
        return Shipment(
            from_address=self._harness.from_address,
            to_address=self._harness.to_address,
            parcels=[box],
            reference=reference,
        )

    async def rates(self, shipment: Shipment | None = None) -> list[Rate]:
        rates: list[Rate] = await self.call("rates", shipment or self.shipment())
        return rates

    async def bought(self) -> tuple[Rate, Label]:
        """Quote a shipment and buy its cheapest rate."""
        rate = (await self.rates())[0]
        label: Label = await self.call("buy", rate.shipment_id, rate.vendor_id)
        return rate, label

    async def track(self, tracking_code: str) -> Tracking:
        tracking: Tracking = await self.call("track", tracking_code)
        return tracking

    async def cancel(self, shipment_id: str) -> Cancellation:
        cancellation: Cancellation = await self.call("cancel", shipment_id)
        return cancellation

    def received(self, operation: str) -> list[ReceivedShippingRequest]:
        """The requests for `operation` that reached the vendor so far."""
        return [r for r in self._harness.received() if r.operation == operation]

    def fail_next(self, kind: ShippingFaultKind) -> None:
        """Make the vendor's next answer fail as `kind`, or skip the test if it cannot."""
        if kind not in self._harness.faults:
            pytest.skip(f"the harness cannot make the vendor fail with {kind!r}")
        self._harness.fail_next(kind)

    def skip_if_keys_honoured(self) -> None:
        if self.honours_keys:
            pytest.skip("the vendor honours idempotency keys: the pipeline keys every buy")

    # -- rates -----------------------------------------------------------------------------

    @rule("shipping-rates")
    async def test_rates_quote_one_shipment_with_the_vendors_ids_cheapest_first(self) -> None:
        rates = await self.rates()

        assert rates
        assert len({rate.vendor_id for rate in rates}) == len(rates)
        assert len({rate.shipment_id for rate in rates}) == 1
        for rate in rates:
            assert rate.vendor == self.vendor
            assert all((rate.vendor_id, rate.shipment_id, rate.carrier, rate.service)), rate
            assert rate.amount.amount > 0
            assert rate.delivery_days is None or rate.delivery_days >= 0
            assert rate.raw is not None
        amounts = [(rate.amount.currency, rate.amount.amount) for rate in rates]
        assert amounts == sorted(amounts)
        assert len(self.received("rates")) == 1

    @rule("shipping-units")
    @pytest.mark.parametrize("units", list(PARCELS))
    async def test_a_parcel_reaches_the_vendor_in_its_units_exactly_never_smaller(
        self, units: str
    ) -> None:
        weight, mass_unit, length, width, height, distance_unit = PARCELS[units]
        sent = Parcel(
            weight=weight,
            mass_unit=mass_unit,
            length=length,
            width=width,
            height=height,
            distance_unit=distance_unit,
        )

        await self.rates(self.shipment(sent))

        [request] = self.received("rates")
        assert request.parcel is not None, "the harness did not say what parcel arrived"
        arrived = request.parcel.as_parcel()
        grams, sent_grams = arrived.weight_as("g"), sent.weight_as("g")
        assert sent_grams <= grams <= sent_grams + _step(self._harness.weight_step), (
            f"{weight} {mass_unit} arrived as {request.parcel.weight} {request.parcel.mass_unit}"
        )
        sent_dims, arrived_dims = sent.dimensions_as("cm"), arrived.dimensions_as("cm")
        assert sent_dims is not None
        assert arrived_dims is not None, "the dimensions were lost"
        named = zip(("length", "width", "height"), sent_dims, arrived_dims, strict=True)
        for name, given, got in named:
            assert given <= got <= given + _step(self._harness.length_step), (
                f"{name} {float(given)} cm arrived as {float(got)} cm"
            )

    @rule("retry-reads")
    async def test_rates_are_retried_after_a_vendor_error(self) -> None:
        self.fail_next("transient")

        rates = await self.rates()

        assert rates
        assert len(self.received("rates")) == 2
        assert self.clock.sleeps == [BACKOFF]

    @rule("shipping-rates")
    async def test_a_second_rates_within_the_cache_ttl_makes_no_request(self) -> None:
        shipping = self.connect({**RESILIENCE, "cache": {"ttl": _TTL}})
        shipment = self.shipment(reference="order-1042")

        first = await self.call("rates", shipment, connector=shipping)
        again = await self.call("rates", shipment, connector=shipping)
        assert [rate.vendor_id for rate in again] == [rate.vendor_id for rate in first]
        assert len(self.received("rates")) == 1

        self.clock.advance(_TTL + 1)
        await self.call("rates", shipment, connector=shipping)
        assert len(self.received("rates")) == 2

    # -- buy -------------------------------------------------------------------------------

    @rule("shipping-buy")
    async def test_buy_sells_one_label_at_the_rate(self) -> None:
        rate, label = await self.bought()

        assert label.vendor == self.vendor
        assert all((label.vendor_id, label.tracking_code, label.label_url)), label
        assert label.shipment_id == rate.shipment_id
        assert (label.carrier, label.service, label.amount) == (
            rate.carrier,
            rate.service,
            rate.amount,
        )
        assert label.raw is not None
        assert self._harness.labels() == 1

    @rule("shipping-buy")
    async def test_a_shipment_is_never_sold_twice(self) -> None:
        rate, _ = await self.bought()

        with pytest.raises(InvalidRequestError) as caught:
            await self.call("buy", rate.shipment_id, rate.vendor_id)

        self.assert_context(caught.value, "buy")
        assert self._harness.labels() == 1
        assert self.clock.sleeps == []

    @rule("not-found")
    async def test_buying_an_unknown_shipment_is_object_not_found(self) -> None:
        rate = (await self.rates())[0]

        with pytest.raises(ObjectNotFoundError) as caught:
            await self.call("buy", self._harness.unknown_shipment_id, rate.vendor_id)

        self.assert_context(caught.value, "buy")
        assert self._harness.labels() == 0

    @rule("not-found")
    async def test_buying_a_rate_of_another_shipment_is_object_not_found(self) -> None:
        mine = (await self.rates())[0]
        theirs = (await self.rates(self.shipment(reference="another")))[0]

        with pytest.raises(ObjectNotFoundError):
            await self.call("buy", mine.shipment_id, theirs.vendor_id)

        assert self._harness.labels() == 0

    @rule("maybe-processed")
    async def test_a_buy_whose_answer_was_lost_is_raised_not_retried_and_sold_once(
        self,
    ) -> None:
        self.skip_if_keys_honoured()
        rate = (await self.rates())[0]
        self.fail_next("lost_answer")

        with pytest.raises(VendorUnavailableError) as caught:
            await self.call("buy", rate.shipment_id, rate.vendor_id)

        assert caught.value.maybe_processed  # it was: a retry would buy a second label
        self.assert_context(caught.value, "buy")
        assert len(self.received("buy")) == 1
        assert self._harness.labels() == 1
        assert self.clock.sleeps == []

    @rule("maybe-processed")
    async def test_a_buy_failing_with_a_vendor_error_is_not_retried(self) -> None:
        self.skip_if_keys_honoured()
        rate = (await self.rates())[0]
        self.fail_next("transient")

        with pytest.raises(VendorUnavailableError) as caught:
            await self.call("buy", rate.shipment_id, rate.vendor_id)

        assert caught.value.maybe_processed
        assert len(self.received("buy")) == 1
        assert self._harness.labels() <= 1
        assert self.clock.sleeps == []

    @rule("rate-limited")
    async def test_a_rate_limited_buy_is_retried_after_the_vendors_retry_after(self) -> None:
        rate = (await self.rates())[0]
        self.fail_next("rate_limited")

        label = await self.call("buy", rate.shipment_id, rate.vendor_id)

        assert label.shipment_id == rate.shipment_id
        assert len(self.received("buy")) == 2  # refused unprocessed, then sold
        assert self._harness.labels() == 1
        assert self.clock.sleeps == [pytest.approx(self._harness.retry_after)]

    @rule("auth")
    async def test_refused_credentials_are_an_authentication_error_and_not_retried(
        self,
    ) -> None:
        self.fail_next("auth")

        with pytest.raises(AuthenticationError) as caught:
            await self.rates()

        self.assert_context(caught.value, "rates")
        assert len(self.received("rates")) == 1
        assert self.clock.sleeps == []

    # -- track -----------------------------------------------------------------------------

    @rule("shipping-tracking")
    async def test_track_follows_the_label_by_its_tracking_code(self) -> None:
        _, label = await self.bought()

        tracking = await self.track(label.tracking_code)

        assert tracking.vendor == self.vendor
        assert tracking.vendor_id
        assert tracking.tracking_code == label.tracking_code
        assert tracking.status in _STATUSES
        assert tracking.raw is not None
        for event in tracking.events:
            assert event.status in _STATUSES
            assert event.timestamp.tzinfo is not None
        stamps = [event.timestamp for event in tracking.events]
        assert stamps == sorted(stamps)

    @rule("shipping-tracking")
    async def test_a_tracked_parcel_moves_on_to_delivered_never_back(self) -> None:
        _, label = await self.bought()

        seen = [await self.track(label.tracking_code)]
        while seen[-1].status != "delivered" and len(seen) < _LOOKUPS:
            seen.append(await self.track(label.tracking_code))

        statuses = [tracking.status for tracking in seen]
        assert statuses[-1] == "delivered", statuses
        steps = [_JOURNEY.index(s) if s in _JOURNEY else len(_JOURNEY) for s in statuses]
        assert steps == sorted(steps), statuses

    @rule("not-found")
    async def test_tracking_an_unknown_code_is_object_not_found(self) -> None:
        if self._harness.unknown_tracking_code is None:
            pytest.skip("the vendor tracks any code")

        with pytest.raises(ObjectNotFoundError) as caught:
            await self.track(self._harness.unknown_tracking_code)

        self.assert_context(caught.value, "track")

    @rule("retry-reads")
    async def test_a_tracking_lookup_is_retried_after_a_vendor_error(self) -> None:
        _, label = await self.bought()
        self.fail_next("transient")

        tracking = await self.track(label.tracking_code)

        assert tracking.tracking_code == label.tracking_code
        assert self.clock.sleeps == [BACKOFF]

    # -- cancel ----------------------------------------------------------------------------

    @rule("shipping-cancel")
    async def test_rates_buy_track_cancel_refunds_a_label_whose_parcel_has_not_moved(
        self,
    ) -> None:
        rate, label = await self.bought()
        tracking = await self.track(label.tracking_code)
        assert tracking.status in ("unknown", "pre_transit")

        cancellation = await self.cancel(label.shipment_id)

        assert cancellation.vendor == self.vendor
        assert cancellation.vendor_id
        assert cancellation.shipment_id == rate.shipment_id
        assert cancellation.status in ("submitted", "refunded")
        assert cancellation.raw is not None

    @rule("shipping-cancel")
    async def test_cancelling_once_the_carrier_has_the_parcel_is_rejected(self) -> None:
        _, label = await self.bought()
        while (await self.track(label.tracking_code)).status in ("unknown", "pre_transit"):
            assert len(self.received("track")) < _LOOKUPS, "the parcel never moved"

        cancellation = await self.cancel(label.shipment_id)

        assert cancellation.status == "rejected"

    @rule("shipping-cancel")
    async def test_cancelling_again_answers_the_same(self) -> None:
        _, label = await self.bought()
        first = await self.cancel(label.shipment_id)

        again = await self.cancel(label.shipment_id)

        assert (again.shipment_id, again.status) == (first.shipment_id, first.status)
        assert self._harness.labels() == 1

    # -- validate_address --------------------------------------------------------------------

    @rule("shipping-address")
    async def test_a_deliverable_address_is_valid_in_the_vendors_corrected_form(self) -> None:
        validation: AddressValidation = await self.call(
            "validate_address", self._harness.to_address
        )

        assert validation.vendor == self.vendor
        assert validation.vendor_id
        assert validation.valid
        assert isinstance(validation.address, Address)
        assert validation.address.country == self._harness.to_address.country
        assert validation.fields == {}

    @rule("shipping-address")
    async def test_an_undeliverable_address_keeps_the_vendors_messages_by_field(self) -> None:
        fields: Mapping[str, tuple[str, ...]]
        if self._harness.address_refusal == "error":
            with pytest.raises(InvalidRequestError) as caught:
                await self.call("validate_address", self._harness.undeliverable)
            self.assert_context(caught.value, "validate_address")
            assert isinstance(caught.value, VendorError)
            assert self.clock.sleeps == []
            fields = caught.value.fields
        else:
            validation: AddressValidation = await self.call(
                "validate_address", self._harness.undeliverable
            )
            assert not validation.valid
            assert validation.messages
            fields = validation.fields

        assert fields, "the vendor's field messages were lost"
        assert set(fields) <= _ADDRESS_FIELDS, set(fields) - _ADDRESS_FIELDS
        for messages in fields.values():
            assert messages
            assert all(isinstance(m, str) and m for m in messages), messages


def _step(step: float) -> float:
    """A rounding step, and room for the float error of a measure read back from JSON."""
    return step + 1e-9
