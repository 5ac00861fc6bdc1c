"""gRPC interceptors (``nexus_connector_core.grpc``) against a real grpcio server on
127.0.0.1: UNAVAILABLE retried for methods whose proto declares them idempotent, the
breaker opening, status codes mapped, deadlines propagated, streams through the pipeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    CircuitOpenError,
    ConnectorManager,
    InvalidRequestError,
    RateLimitExceededError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock

grpc = pytest.importorskip("grpc")
descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
from google.protobuf import descriptor_pool, wrappers_pb2  # noqa: E402

from nexus_connector_core.grpc import aio_channel, channel  # noqa: E402

SERVICE = "nexustest.Inventory"


def _register_proto() -> None:
    """The service's proto, as protoc would register it: GetItem is IDEMPOTENT, ListItems
    has NO_SIDE_EFFECTS, AddItem says nothing (so it is not idempotent); CountItems (a
    client stream) is IDEMPOTENT too, and EchoItems streams both ways."""
    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(SERVICE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto(
        name="nexustest/inventory.proto",
        package="nexustest",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    service = proto.service.add(name="Inventory")
    levels = descriptor_pb2.MethodOptions
    for name, level, requests, answers in (
        ("GetItem", levels.IDEMPOTENT, False, False),
        ("AddItem", levels.IDEMPOTENCY_UNKNOWN, False, False),
        ("ListItems", levels.NO_SIDE_EFFECTS, False, True),
        ("CountItems", levels.IDEMPOTENT, True, False),
        ("EchoItems", levels.IDEMPOTENCY_UNKNOWN, True, True),
    ):
        method = service.method.add(
            name=name,
            input_type=".google.protobuf.StringValue",
            output_type=".google.protobuf.StringValue",
            client_streaming=requests,
            server_streaming=answers,
        )
        method.options.idempotency_level = level
    pool.Add(proto)


class Inventory:
    """The server side: scripted failures (status codes) before it answers; `stall` calls
    that wait, before answering, until the client gives up on them (its deadline)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures: list[Any] = []
        self.always: Any = None
        self.stall = 0
        self.received: list[list[str]] = []
        self.time_remaining: list[float] = []
        self.metadata: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def _enter(self, name: str, context: Any) -> None:
        with self._lock:
            self.calls.append(name)
            self.time_remaining.append(context.time_remaining())
            self.metadata.append(dict(context.invocation_metadata()))
            failure = self.failures.pop(0) if self.failures else self.always
            stalls = self.stall > 0
            self.stall -= stalls
        if stalls:
            ended = threading.Event()
            context.add_callback(ended.set)  # the call ended: here, the client's deadline
            assert ended.wait(timeout=30)
        if failure is not None:
            context.abort(failure, f"scripted {failure.name}")

    def get_item(self, request: Any, context: Any) -> Any:
        self._enter("GetItem", context)
        return wrappers_pb2.StringValue(value=f"item {request.value}")

    def add_item(self, request: Any, context: Any) -> Any:
        self._enter("AddItem", context)
        return wrappers_pb2.StringValue(value=f"added {request.value}")

    def list_items(self, request: Any, context: Any) -> Iterator[Any]:
        self._enter("ListItems", context)
        for n in range(3):
            yield wrappers_pb2.StringValue(value=f"{request.value}-{n}")

    def count_items(self, requests: Iterator[Any], context: Any) -> Any:
        self._enter("CountItems", context)
        values = [r.value for r in requests]
        self.received.append(values)
        return wrappers_pb2.StringValue(value=f"{len(values)} items")

    def echo_items(self, requests: Iterator[Any], context: Any) -> Iterator[Any]:
        self._enter("EchoItems", context)
        values: list[str] = []
        self.received.append(values)
        for request in requests:
            values.append(request.value)
            yield wrappers_pb2.StringValue(value=f"echo {request.value}")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Inventory, str]]:
    _register_proto()
    inventory = Inventory()
    codec = {
        "request_deserializer": wrappers_pb2.StringValue.FromString,
        "response_serializer": wrappers_pb2.StringValue.SerializeToString,
    }
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetItem": grpc.unary_unary_rpc_method_handler(inventory.get_item, **codec),
            "AddItem": grpc.unary_unary_rpc_method_handler(inventory.add_item, **codec),
            "ListItems": grpc.unary_stream_rpc_method_handler(inventory.list_items, **codec),
            "CountItems": grpc.stream_unary_rpc_method_handler(inventory.count_items, **codec),
            "EchoItems": grpc.stream_stream_rpc_method_handler(inventory.echo_items, **codec),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield inventory, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.fixture
def inventory(served: tuple[Inventory, str]) -> Inventory:
    server = served[0]
    server.calls.clear()
    server.failures.clear()
    server.always = None
    server.stall = 0
    server.received.clear()
    server.time_remaining.clear()
    server.metadata.clear()
    return server


def config(target: str, **resilience: Any) -> dict[str, Any]:
    return {
        "connectors": {
            "inventory": {
                "category": "api",
                "vendor": "grpc",
                "options": {"target": target, "tls": False},
                "resilience": {
                    "retry": {"max_attempts": 3, "base": 0.01, "jitter": "none"},
                    **resilience,
                },
            }
        },
        "observability": {"loggers": ["memory"]},
    }


def unary(ch: Any, name: str) -> Any:
    return ch.unary_unary(
        f"/{SERVICE}/{name}",
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )


def test_unavailable_is_retried_for_a_method_its_proto_declares_idempotent(
    inventory: Inventory, served: Any
) -> None:
    inventory.failures = [grpc.StatusCode.UNAVAILABLE]
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        answer = unary(ch, "GetItem")(wrappers_pb2.StringValue(value="A-1"), timeout=5)
        record = manager.call_log[-1]
        ch.close()
    assert answer.value == "item A-1"
    assert inventory.calls == ["GetItem", "GetItem"]
    assert (record.operation, record.attempts, record.status) == ("idempotent_call", 2, "ok")


def test_unavailable_is_not_retried_for_a_method_that_may_not_be_repeated(
    inventory: Inventory, served: Any
) -> None:
    inventory.failures = [grpc.StatusCode.UNAVAILABLE]
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        with pytest.raises(VendorUnavailableError) as raised:
            unary(ch, "AddItem")(wrappers_pb2.StringValue(value="A-2"), timeout=5)
        ch.close()
    assert raised.value.maybe_processed
    assert inventory.calls == ["AddItem"]


def test_the_breaker_opens_on_unavailable_and_then_sends_nothing(
    inventory: Inventory, served: Any
) -> None:
    inventory.always = grpc.StatusCode.UNAVAILABLE
    breaker = {"failure_rate": 0.5, "window": 2, "min_calls": 2, "open_for": 30.0}
    retry = {"max_attempts": 2, "base": 0.01}
    table = config(served[1], retry=retry, circuit_breaker=breaker)
    with ConnectorManager.from_config(table, clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        get = unary(ch, "GetItem")
        with pytest.raises(VendorUnavailableError):
            get(wrappers_pb2.StringValue(value="A-1"))
        with pytest.raises(CircuitOpenError):
            get(wrappers_pb2.StringValue(value="A-1"))
        ch.close()
    assert inventory.calls == ["GetItem", "GetItem"]  # the open breaker let none through


@pytest.mark.parametrize(
    ("code", "error", "calls"),
    [
        ("RESOURCE_EXHAUSTED", None, 2),  # retried, then answered
        ("INVALID_ARGUMENT", InvalidRequestError, 1),
    ],
)
def test_status_codes_are_mapped(
    inventory: Inventory, served: Any, code: str, error: Any, calls: int
) -> None:
    inventory.failures = [getattr(grpc.StatusCode, code)]
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        call = unary(ch, "AddItem")
        if error is None:
            assert call(wrappers_pb2.StringValue(value="x")).value == "added x"
        else:
            with pytest.raises(error) as raised:
                call(wrappers_pb2.StringValue(value="x"))
            assert raised.value.code == code
        ch.close()
    assert len(inventory.calls) == calls


def test_resource_exhausted_raises_a_rate_limit_error_when_retries_run_out(
    inventory: Inventory, served: Any
) -> None:
    inventory.always = grpc.StatusCode.RESOURCE_EXHAUSTED
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        with pytest.raises(RateLimitExceededError):
            unary(ch, "AddItem")(wrappers_pb2.StringValue(value="x"))
        ch.close()
    assert len(inventory.calls) == 3


def test_the_deadline_reaches_the_server(inventory: Inventory, served: Any) -> None:
    with ConnectorManager.from_config(config(served[1], timeout=0.8)) as manager:
        ch = channel(manager.connector("inventory"))
        get = unary(ch, "GetItem")
        get(wrappers_pb2.StringValue(value="a"), timeout=30)  # the attempt's 0.8 s wins
        get(wrappers_pb2.StringValue(value="b"), timeout=0.5)  # the caller's 0.5 s wins
        ch.close()
    first, second = inventory.time_remaining
    # grpc-timeout travels rounded to its unit: allow a few milliseconds
    assert 0.3 < first <= 0.81
    assert 0 < second <= 0.51


def test_a_server_stream_runs_through_the_pipeline(inventory: Inventory, served: Any) -> None:
    inventory.failures = [grpc.StatusCode.UNAVAILABLE]
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        stream = ch.unary_stream(
            f"/{SERVICE}/ListItems",
            request_serializer=wrappers_pb2.StringValue.SerializeToString,
            response_deserializer=wrappers_pb2.StringValue.FromString,
        )
        values = [m.value for m in stream(wrappers_pb2.StringValue(value="s"), timeout=5)]
        record = manager.call_log[-1]
        ch.close()
    assert values == ["s-0", "s-1", "s-2"]
    assert (record.operation, record.attempts) == ("idempotent_stream", 2)


async def test_an_aio_channel_retries_through_the_async_pipeline(
    inventory: Inventory, served: Any
) -> None:
    inventory.failures = [grpc.StatusCode.UNAVAILABLE]
    async with AsyncConnectorManager.from_config(config(served[1]), clock=FakeClock()) as m:
        async with aio_channel(m.connector("inventory")) as ch:
            answer = await unary(ch, "GetItem")(wrappers_pb2.StringValue(value="A-9"), timeout=5)
        record = m.call_log[-1]
    assert answer.value == "item A-9"
    assert (record.operation, record.attempts) == ("idempotent_call", 2)


def test_idempotent_methods_may_be_declared_in_the_config(
    inventory: Inventory, served: Any
) -> None:
    inventory.failures = [grpc.StatusCode.UNAVAILABLE]
    table = config(served[1])
    table["connectors"]["inventory"]["options"]["idempotent_methods"] = [f"/{SERVICE}/Add*"]
    with ConnectorManager.from_config(table, clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        assert unary(ch, "AddItem")(wrappers_pb2.StringValue(value="x")).value == "added x"
        ch.close()
    assert inventory.calls == ["AddItem", "AddItem"]


# -- deadlines exceeded ------------------------------------------------------------------------


def test_a_server_stalling_past_the_deadline_is_a_timeout_that_may_have_been_processed(
    inventory: Inventory, served: Any
) -> None:
    inventory.stall = 1
    with ConnectorManager.from_config(config(served[1], timeout=0.2)) as manager:
        ch = channel(manager.connector("inventory"))
        with pytest.raises(VendorTimeoutError) as raised:
            unary(ch, "AddItem")(wrappers_pb2.StringValue(value="x"), timeout=5)
        record = manager.call_log[-1]
        ch.close()
    assert "DEADLINE_EXCEEDED" in raised.value.message  # the server's status, mapped
    assert raised.value.maybe_processed  # it may have added the item: not retried
    assert inventory.calls == ["AddItem"]
    assert (record.attempts, record.error_class) == (1, "VendorTimeoutError")


def test_a_deadline_exceeded_is_retried_for_an_idempotent_method(
    inventory: Inventory, served: Any
) -> None:
    inventory.stall = 1  # the first attempt stalls past its 0.2 s; the second answers
    with ConnectorManager.from_config(config(served[1], timeout=0.2)) as manager:
        ch = channel(manager.connector("inventory"))
        answer = unary(ch, "GetItem")(wrappers_pb2.StringValue(value="A-1"), timeout=5)
        record = manager.call_log[-1]
        ch.close()
    assert answer.value == "item A-1"
    assert inventory.calls == ["GetItem", "GetItem"]
    assert (record.attempts, record.status) == (2, "ok")


# -- client streams --------------------------------------------------------------------------


def _values(*values: str) -> Iterator[Any]:
    return iter([wrappers_pb2.StringValue(value=v) for v in values])


def _stream(ch: Any, name: str, answers: str) -> Any:
    make = ch.stream_unary if answers == "unary" else ch.stream_stream
    return make(
        f"/{SERVICE}/{name}",
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )


def test_a_client_stream_runs_through_the_pipeline(inventory: Inventory, served: Any) -> None:
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        answer = _stream(ch, "CountItems", "unary")(_values("a", "b", "c"), timeout=5)
        record = manager.call_log[-1]
        ch.close()
    assert answer.value == "3 items"
    assert inventory.received == [["a", "b", "c"]]
    assert (record.connector, record.operation, record.status) == ("inventory", "stream", "ok")


def test_a_client_stream_that_failed_is_not_retried_though_its_method_is_idempotent(
    inventory: Inventory, served: Any
) -> None:
    inventory.failures = [grpc.StatusCode.UNAVAILABLE]
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        with pytest.raises(VendorUnavailableError) as raised:
            _stream(ch, "CountItems", "unary")(_values("a", "b"), timeout=5)
        record = manager.call_log[-1]
        ch.close()
    assert raised.value.maybe_processed  # the requests were consumed: none to send again
    assert inventory.calls == ["CountItems"]
    assert (record.operation, record.attempts) == ("stream", 1)


def test_a_stream_both_ways_runs_through_the_pipeline(inventory: Inventory, served: Any) -> None:
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        answers = _stream(ch, "EchoItems", "stream")(_values("a", "b"), timeout=5)
        values = [m.value for m in answers]
        record = manager.call_log[-1]
        ch.close()
    assert values == ["echo a", "echo b"]
    assert (record.operation, record.status) == ("stream", "ok")


def test_a_stream_both_ways_refused_by_the_server_raises_the_mapped_error_once(
    inventory: Inventory, served: Any
) -> None:
    inventory.failures = [grpc.StatusCode.INVALID_ARGUMENT]
    with ConnectorManager.from_config(config(served[1]), clock=FakeClock()) as manager:
        ch = channel(manager.connector("inventory"))
        answers = _stream(ch, "EchoItems", "stream")(_values("a"), timeout=5)
        with pytest.raises(InvalidRequestError) as raised:  # grpcio raises it when read
            next(answers)
        record = manager.call_log[-1]
        ch.close()
    assert raised.value.code == "INVALID_ARGUMENT"
    assert inventory.calls == ["EchoItems"]
    assert (record.operation, record.attempts, record.error_class) == (
        "stream",
        1,
        "InvalidRequestError",
    )
