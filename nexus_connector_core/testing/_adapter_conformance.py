"""What the conformance suites of the five categories share: the rules they check, how a
suite builds its managers, and the tests of the connection itself (refused, reset after
sending, a 2xx that cannot be decoded, an answer that never comes or comes a byte at a
time).

Every test of a suite checks one rule of docs/plugins.md ("Conformance rules"), named by
the `rule` decorator; when a test fails, its failure says which rule was broken and what
the rule asks. Each suite (`SmsAdapterConformance`, ...) subclasses `AdapterConformance`
and says what its category's operations are; a plugin subclasses the suite and provides
the ``harness`` fixture.

Faults of the connection are the harness's `TransportFaults`: a double on a `FaultServer`
gets them all from `TransportFaults.over_http`; a test needing one the harness cannot make
is skipped, saying so.
"""

from __future__ import annotations

import functools
import inspect
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import pytest
import pytest_asyncio

from .._categories import ADAPTER_PROTOCOLS, CATEGORIES
from .._errors import ConnectorError, VendorTimeoutError, VendorUnavailableError
from .._plugins import PluginRegistry, default_registry
from ._clock import FakeClock
from ._fault_server import Fault, FaultServer
from ._managers import AnyManager, ManagerFactory

__all__ = [
    "HTTP_TRANSPORTS",
    "RULES",
    "AdapterConformance",
    "AdapterHarness",
    "TransportFaults",
    "refused_address",
    "rule",
]

#: The transports an adapter on the HTTP toolkit is checked on (see
#: `AdapterConformance.transports`): aiohttp's under httpx's API, and httpx's own.
HTTP_TRANSPORTS: tuple[str, ...] = ("aiohttp", "httpx")

#: The rules of docs/plugins.md ("Conformance rules") that the suites check, by name.
RULES: Mapping[str, str] = {
    # -- every category --
    "twins": "both twins implement the category's protocol: each operation of the sync "
    "adapter is a plain method, of the async adapter a coroutine",
    "results": "a result names the vendor (its config key) and carries the vendor's own id "
    "and its raw answer",
    "exact": "what the caller gives reaches the vendor exactly, and what the vendor keeps "
    "comes back exactly: text, numbers, amounts, units, bytes, keys and metadata",
    "not-found": "an id, key or code that names nothing is ObjectNotFoundError, not retried",
    "invalid": "a request the vendor refuses is InvalidRequestError (with the vendor's code "
    "and message), not retried, and changes nothing",
    "auth": "refused credentials are AuthenticationError, never retried",
    "rate-limited": "a 429 is RateLimitExceededError with the vendor's Retry-After: the "
    "vendor did nothing, so the pipeline waits that long and retries, even a send or a payment",
    "not-processed": "a failure before the request could reach the vendor (a refused "
    "connection, an answer the vendor documents as 'not processed') says "
    "maybe_processed=False, so the pipeline retries it, even a send or a payment",
    "maybe-processed": "a failure after the request may have reached the vendor (a reset or "
    "a timeout after sending, a 5xx, a 2xx that cannot be read) says maybe_processed=True: "
    "an operation that is not idempotent is then raised, not retried, unless the vendor "
    "honours idempotency keys",
    "retry-reads": "an idempotent operation (a lookup, a storage write) is retried after a "
    "transient failure",
    "idempotency-keys": "a vendor that honours idempotency keys gets one on every mutating "
    "request, the same on every attempt of a call: the caller's, or one the pipeline makes "
    "per call, never derived from the request",
    "timeout": "honour ctx.timeout: an attempt's whole exchange (connecting, sending, waiting, "
    "reading however slowly the vendor trickles) ends within it with VendorTimeoutError, in "
    "the sync twin too, which nothing else can stop",
    # -- email --
    "email-recipients": "every envelope recipient gets a status: queued or sent when taken, "
    "rejected with the vendor's reason for that recipient only; a send whose every "
    "recipient is refused raises InvalidRequestError with code all_recipients_rejected, a "
    "batch reports it in that message's receipt and sends the others",
    "email-unknown": "a message whose outcome is unknown is never reported rejected (that "
    "invites a resend): the send raises maybe_processed, or the receipt says unknown",
    # -- sms --
    "sms-status": "get_status answers by the send's id; the state moves on to delivered, or "
    "to failed or undelivered with the vendor's error code",
    # -- payment --
    "payment-lifecycle": "authorize holds, purchase takes at once, capture takes all or part "
    "of a hold, refund gives back all or part of what was taken, void cancels a hold; get "
    "reports the running totals, exact in minor units",
    "payment-refusals": "a capture or refund beyond what the payment allows, or in another "
    "currency, is InvalidRequestError that moves no money, checked before money can move",
    "payment-declines": "a declined card is PaymentDeclinedError with the vendor's code (and "
    "the issuer's decline_code), attempted once, never retried",
    # -- cloud_storage --
    "storage-objects": "what put stores, get and open give back byte for byte, from bytes, "
    "files or chunks; open streams; put describes the object; content type and metadata "
    "are kept; exists follows put and delete; deleting a missing key succeeds",
    "storage-listing": "list is sorted by key, filtered by prefix, and pages by cursor until "
    "next_cursor is None",
    "storage-keys": "keys and prefixes that could escape the store (absolute, '..', NUL, "
    "empty) are refused with ValueError before anything is sent",
    "storage-signed-urls": "a signed URL lets a plain HTTP client GET or PUT the object (the "
    "method is part of what is signed); a store that cannot sign refuses, not retried",
    # -- shipping --
    "shipping-rates": "rates quote one shipment: the vendor's ids, one shared shipment_id, "
    "carrier, service and a positive amount, cheapest first; reads are cacheable",
    "shipping-units": "a parcel reaches the vendor in the vendor's units, converted exactly "
    "and rounded (if at all) up, never smaller",
    "shipping-buy": "buy sells one label at the rate; a shipment is never sold twice",
    "shipping-tracking": "track follows a label by its tracking code: events oldest first, "
    "statuses moving on to delivered, never back",
    "shipping-cancel": "cancel refunds a label whose parcel has not moved, says rejected once "
    "the carrier has it, and answers the same when asked again",
    "shipping-address": "validate_address answers a deliverable address in the vendor's "
    "corrected form and keeps the vendor's messages by field for one it cannot verify",
}

#: Where the rules are written down, as failures cite them.
RULES_PAGE = "docs/plugins.md, 'Conformance rules'"

T = TypeVar("T", bound=Callable[..., Awaitable[Any]])


def rule(name: str) -> Callable[[T], T]:
    """Mark a conformance test as the check of rule `name`: when it fails, its failure
    (an assertion, an unexpected error, a ``pytest.raises`` that saw nothing) says which
    rule of docs/plugins.md was broken and what it asks. Skips pass through untouched."""
    statement = RULES[name]  # an unknown rule fails when the suite is imported

    def decorate(test: T) -> T:
        if not inspect.iscoroutinefunction(test):
            raise TypeError(f"{test.__qualname__}: conformance tests are coroutines")

        @functools.wraps(test)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return await test(*args, **kwargs)
            except (Exception, pytest.fail.Exception) as failure:
                if isinstance(failure, AssertionError) and failure.args:
                    failure.args = (f"[rule {name}] {failure.args[0]}", *failure.args[1:])
                failure.add_note(f"Broken rule '{name}' ({RULES_PAGE}): {statement}.")
                raise

        checked.rule = name  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


# -- faults of the connection ------------------------------------------------------------------


@functools.cache
def _refusing_socket() -> socket.socket:
    # Bound but never listening: the port stays ours, and connecting to it is refused.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def refused_address() -> tuple[str, int]:
    """A 127.0.0.1 address where connecting is refused at once (a port bound for the
    process's lifetime that never listens, so no other server can take it)."""
    host, port = _refusing_socket().getsockname()[:2]
    return str(host), int(port)


@dataclass(frozen=True, kw_only=True)
class TransportFaults:
    """What a harness's double can do to the connection itself; each None skips the tests
    that need it, saying so.

    Attributes:
        refused: the connector's ``options`` changed so that connecting is refused (an
            address from `refused_address`): ``{"base_url": "http://127.0.0.1:<port>"}``.
        reset_after_request: makes the vendor read the next request whole, then reset the
            connection without answering (the vendor may have acted).
        stall: ``stall(seconds)`` makes the vendor read the next request, then say nothing
            for `seconds` (at most: it may stop when the client hangs up).
        trickle: ``trickle(seconds)`` makes the vendor answer the next request one byte at
            a time, the whole answer taking about `seconds`.
        undecodable_answer: makes the vendor act on the next request and answer it 2xx in
            a body no client can decode (``Content-Encoding: gzip`` on a body that is not).
        requests: how many requests have reached the vendor so far, for the tests that
            check a repeat never does.
    """

    refused: Mapping[str, Any] | None = None
    reset_after_request: Callable[[], None] | None = None
    stall: Callable[[float], None] | None = None
    trickle: Callable[[float], None] | None = None
    undecodable_answer: Callable[[], None] | None = None
    requests: Callable[[], int] | None = None

    @classmethod
    def over_http(cls, server: FaultServer, *, option: str = "base_url") -> TransportFaults:
        """Every fault, made by `server` (the double's `FaultServer`), for a connector whose
        `option` is the vendor's origin (``base_url``; S3: ``endpoint_url``)."""
        host, port = refused_address()

        def trickle(seconds: float) -> None:
            body = b" " * 200  # whitespace: any client reading JSON waits for more
            server.script(Fault.trickle(seconds / len(body), 200, body))

        return cls(
            refused={option: f"http://{host}:{port}"},
            reset_after_request=lambda: server.script(Fault.reset_after_request()),
            stall=lambda seconds: server.script(Fault.stall(seconds)),
            trickle=trickle,
            undecodable_answer=lambda: server.script(Fault.undecodable_answer()),
            requests=lambda: server.hits,
        )


@dataclass(frozen=True, kw_only=True)
class AdapterHarness:
    """What every category's harness says (each category's adds its own probes).

    Attributes:
        connector: the connector's table without ``resilience`` (the suite sets its own):
            ``{"vendor": "twilio", "options": {"base_url": server.url}, "credentials":
            {...}}``.
        registry: offers the vendor: ``PluginRegistry()`` (the built-in plugin) with your
            plugin registered in-process; None: the installed plugins.
        environ: the environment that ``env:NAME`` credentials are read from.
        on_manager: told of each manager a test builds, before its first call (the memory
            harnesses find their adapter, where the vendor's state lives, this way).
        transport: the faults of the connection the double can make; None: none (an
            embedded vendor has no connection).
    """

    connector: Mapping[str, Any]
    registry: PluginRegistry | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    on_manager: Callable[[AnyManager], None] | None = None
    transport: TransportFaults | None = None


H = TypeVar("H", bound=AdapterHarness)

#: The retry backoff of the suites: fixed, no jitter, and shorter than any Retry-After a
#: vendor sends, so a suite sees the vendor's wait and not its own.
BACKOFF = 0.001
RESILIENCE: Mapping[str, Any] = {
    "timeout": 10.0,
    "deadline": 60.0,
    "retry": {"max_attempts": 3, "backoff": "fixed", "base": BACKOFF, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}
#: The attempt timeout of the timeout tests, and how long the call may take in all (on the
#: wall clock: connecting, scheduling and a loaded machine included).
ATTEMPT_TIMEOUT = 0.3
TIMEOUT_BOUND = 5.0
#: The idempotency key of the tests of the connection that make keyed calls.
KEY = "conformance-call-1"
#: How long a stalled or trickling vendor holds its answer back: far past the bound, so an
#: adapter that does not honour ctx.timeout shows.
HELD_BACK = 20.0


class AdapterConformance(Generic[H]):
    """The base of every category's conformance suite.

    Every test runs through a `ConnectorManager` and an `AsyncConnectorManager` (ids
    ``[sync]`` and ``[async]``; with `transports`, the async one on each: ``[async-httpx]``,
    ``[async-aiohttp]``), on a `FakeClock` (``clock.sleeps`` records every wait of
    the pipeline). A suite sets `category`, `connector_name` and `resilience`, and says
    which of its operations the tests of the connection use (`write_call`, `read_call`).
    """

    #: The category under test, and the name of the connector the suite configures.
    category: ClassVar[str]
    connector_name: ClassVar[str]
    #: The connector's ``resilience`` table in the suite's tests.
    resilience: ClassVar[Mapping[str, Any]] = RESILIENCE
    #: Every test is a coroutine; marked so that pytest-asyncio's strict mode runs it too.
    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]
    #: The values of the connector's ``options.transport`` the async twin runs on, each
    #: test once per transport: an adapter on the HTTP toolkit sets `HTTP_TRANSPORTS`, so
    #: it is checked on aiohttp's transport and on httpx's own. Empty: the async twin runs
    #: once, as configured.
    transports: ClassVar[tuple[str, ...]] = ()

    #: The running test's clock.
    clock: FakeClock
    #: Whether the test goes through the async manager.
    is_async: bool
    #: The connector under test (the category's connector, sync or async).
    under_test: Any
    _harness: H
    _managers: ManagerFactory
    _options: Mapping[str, Any]

    @pytest.fixture
    def harness(self) -> H | Iterator[H]:
        """The adapter under test: override this fixture in your subclass."""
        pytest.fail(f"{type(self).__name__} must provide a `harness` fixture")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Each test once per mode: ``sync``, then ``async``, or the async twin once per
        transport in `transports` (``async-httpx``, ``async-aiohttp``)."""
        if "mode" in metafunc.fixturenames:
            transports = [f"async-{name}" for name in self.transports] or ["async"]
            metafunc.parametrize("mode", ["sync", *transports])

    @pytest_asyncio.fixture(autouse=True)
    async def _connector(self, harness: H, mode: str) -> AsyncIterator[None]:
        self.clock = FakeClock()
        self._harness = harness
        self.is_async = mode != "sync"
        transport = mode.partition("-")[2]
        self._options = {"transport": transport} if transport else {}
        table = {"category": self.category, **harness.connector}
        self._managers = ManagerFactory(
            self.connector_name,
            table,
            registry=harness.registry,
            environ=harness.environ,
            clock=self.clock,
        )
        self.under_test = self.connect()
        try:
            yield
        finally:
            await self._managers.aclose()

    # -- helpers ---------------------------------------------------------------------------

    def connect(
        self,
        resilience: Mapping[str, Any] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        fallback: Sequence[str] | None = None,
    ) -> Any:
        """A new manager of the harness's connector (the test's twin, closed after the
        test) with `resilience` (default: the suite's), `options` changed and a `fallback`
        chain; its connector."""
        manager = self._managers(
            async_=self.is_async,
            options={**self._options, **(options or {})},
            resilience=self.resilience if resilience is None else resilience,
            fallback=fallback,
        )
        if self._harness.on_manager is not None:
            self._harness.on_manager(manager)
        return manager.connector(self.connector_name)

    async def call(self, operation: str, *args: Any, connector: Any = None, **kwargs: Any) -> Any:
        """Call `operation` on the connector under test (or `connector`), sync or async."""
        result = getattr(connector or self.under_test, operation)(*args, **kwargs)
        return await result if self.is_async else result

    @property
    def vendor(self) -> str:
        """The vendor key under test."""
        return str(self._harness.connector["vendor"])

    @property
    def registry(self) -> PluginRegistry:
        return self._harness.registry or default_registry()

    @property
    def honours_keys(self) -> bool:
        """Whether the vendor is registered as honouring idempotency keys."""
        return self.registry.find(self.category, self.vendor).idempotency_keys

    def is_idempotent(self, operation: str) -> bool:
        return CATEGORIES[self.category].operation(operation).idempotent

    def assert_context(self, error: ConnectorError, operation: str) -> None:
        """The error names the connector, the vendor and the operation."""
        where = (error.connector, error.vendor, error.operation)
        assert where == (self.connector_name, self.vendor, operation), where

    def transport_fault(self, name: str) -> Any:
        """The harness's transport fault `name`, or a skip saying the harness cannot."""
        faults = self._harness.transport
        made = getattr(faults, name) if faults is not None else None
        if made is None:
            pytest.skip(f"the {self.vendor!r} harness cannot make the fault {name!r}")
        return made

    # -- what each suite says about its operations -------------------------------------------

    async def write_call(self) -> tuple[str, tuple[Any, ...]]:
        """Prepare the category's main mutating operation (what it needs done first is
        done now); the operation's name and its arguments, to be called by the test."""
        raise NotImplementedError

    async def read_call(self) -> tuple[str, tuple[Any, ...]] | None:
        """Prepare a lookup of the category; its name and arguments (None: none)."""
        return None

    # -- the adapter -------------------------------------------------------------------------

    @rule("twins")
    async def test_the_twin_implements_the_categorys_protocol(self) -> None:
        adapter = self.under_test.adapter
        sync, async_ = ADAPTER_PROTOCOLS[self.category]
        assert isinstance(adapter, async_ if self.is_async else sync), type(adapter)
        for name in CATEGORIES[self.category].operations:
            method = getattr(adapter, name)
            assert inspect.iscoroutinefunction(method) == self.is_async, name

    # -- the connection --------------------------------------------------------------------

    @rule("not-processed")
    async def test_a_refused_connection_is_not_processed_and_is_retried(self) -> None:
        refused = self.transport_fault("refused")
        operation, args = await self.write_call()
        unreachable = self.connect(options=refused)
        sleeps = len(self.clock.sleeps)

        with pytest.raises(VendorUnavailableError) as caught:
            await self.call(operation, *args, connector=unreachable)

        self.assert_context(caught.value, operation)
        assert not caught.value.maybe_processed, "nothing reached the vendor: say so"
        assert caught.value.retryable
        attempts = self.resilience["retry"]["max_attempts"]
        assert self.clock.sleeps[sleeps:] == [BACKOFF] * (attempts - 1), "retried each time"

    @rule("maybe-processed")
    async def test_a_reset_after_sending_may_have_been_processed(self) -> None:
        reset = self.transport_fault("reset_after_request")
        operation, args = await self.write_call()
        sleeps = len(self.clock.sleeps)
        reset()

        if self.is_idempotent(operation) or self.honours_keys:
            await self.call(operation, *args)  # safe to retry: the retry succeeds
            assert self.clock.sleeps[sleeps:] == [BACKOFF]
            return
        with pytest.raises(VendorUnavailableError) as caught:
            await self.call(operation, *args)

        self.assert_context(caught.value, operation)
        assert caught.value.maybe_processed, "the vendor may have acted: a retry could repeat it"
        assert self.clock.sleeps[sleeps:] == [], "not retried"

    @rule("maybe-processed")
    async def test_a_2xx_that_cannot_be_decoded_keeps_the_key_in_doubt(self) -> None:
        undecodable = self.transport_fault("undecodable_answer")
        received = self.transport_fault("requests")
        operation, args = await self.write_call()
        # A fallback vendor that would take the call: a failure it did not take is final.
        connector = self.connect(fallback=["memory"])
        sleeps, before = len(self.clock.sleeps), received()
        undecodable()

        if self.is_idempotent(operation) or self.honours_keys:
            # Safe to ask again (with the same key): the retry gets the vendor's answer.
            first = await self.call(operation, *args, connector=connector, idempotency_key=KEY)
            assert self.clock.sleeps[sleeps:] == [BACKOFF]
            assert received() == before + 2, "asked once more, at the same vendor"
            repeat = await self.call(operation, *args, connector=connector, idempotency_key=KEY)
            assert repeat == first, "a repeat gets the call's outcome"
            assert received() == before + 2, "a repeat is answered without the vendor"
            return
        with pytest.raises(VendorUnavailableError) as caught:
            await self.call(operation, *args, connector=connector, idempotency_key=KEY)

        self.assert_context(caught.value, operation)
        assert caught.value.maybe_processed, "the vendor said yes: a retry could repeat it"
        assert self.clock.sleeps[sleeps:] == [], "not retried"
        with pytest.raises(VendorUnavailableError, match="ended in doubt"):
            await self.call(operation, *args, connector=connector, idempotency_key=KEY)
        assert received() == before + 1, "neither the retry nor the repeat reached the vendor"

    @rule("retry-reads")
    async def test_a_lookup_is_retried_after_a_reset(self) -> None:
        reset = self.transport_fault("reset_after_request")
        read = await self.read_call()
        if read is None:
            pytest.skip(f"{self.category} has no lookup")
        operation, args = read
        sleeps = len(self.clock.sleeps)
        reset()

        await self.call(operation, *args)

        assert self.clock.sleeps[sleeps:] == [BACKOFF]

    @rule("timeout")
    async def test_an_answer_that_never_comes_ends_at_the_attempt_timeout(self) -> None:
        await self._times_out(self.transport_fault("stall"))

    @rule("timeout")
    async def test_an_answer_trickling_in_ends_at_the_attempt_timeout(self) -> None:
        await self._times_out(self.transport_fault("trickle"))

    async def _times_out(self, hold_back: Callable[[float], None]) -> None:
        operation, args = await self.write_call()
        once = {"timeout": ATTEMPT_TIMEOUT, "deadline": 60.0, "retry": {"enabled": False}}
        connector = self.connect({**once, "circuit_breaker": {"enabled": False}})
        hold_back(HELD_BACK)
        started = time.monotonic()

        with pytest.raises(ConnectorError) as caught:
            await self.call(operation, *args, connector=connector)

        took = time.monotonic() - started
        assert took < TIMEOUT_BOUND, (
            f"the attempt took {took:.1f} s with ctx.timeout = {ATTEMPT_TIMEOUT} s: pass "
            "ctx.timeout to the transport, for the whole exchange"
        )
        assert isinstance(caught.value, VendorTimeoutError), repr(caught.value)
        self.assert_context(caught.value, operation)
        assert caught.value.maybe_processed, "the request was sent: the vendor may have acted"
