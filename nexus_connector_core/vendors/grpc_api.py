"""Vendor ``grpc`` of category ``api``: its options and operations (no import of grpcio here;
the interceptors and adapters are in `nexus_connector_core.grpc`).

    [connectors.inventory]
    category = "api"
    vendor = "grpc"
    options = { target = "inventory.internal:443", idempotent_methods = ["/inv.Stock/Get*"] }

A gRPC call runs as one of four operations, by its shape and whether it may be repeated:
``call`` and ``idempotent_call`` (unary requests), ``stream`` and ``idempotent_stream``
(streaming requests or answers). A method is idempotent when its proto declares
``option idempotency_level = IDEMPOTENT`` or ``NO_SIDE_EFFECTS`` (read from the protobuf
descriptor pool), or when it matches ``idempotent_methods``.
"""

from __future__ import annotations

import fnmatch
from typing import Any, ClassVar

import msgspec

from .._api import API
from .._operations import Operation

__all__ = ["GRPC_OPERATIONS", "GrpcCall", "GrpcOptions"]


class GrpcCall(msgspec.Struct, frozen=True, kw_only=True):
    """One intercepted gRPC call on its way through the pipeline.

    Attributes:
        method: the full method name (``/inventory.Inventory/GetItem``).
        continuation: the channel's next step, called once per attempt.
        details: the call's `grpc.ClientCallDetails` as the application made it.
        request: the request message (or, for a streaming request, its iterator).
        deadline: the caller's own deadline (``clock.monotonic()``), from its timeout.
        request_streaming / response_streaming: the call's shape.
    """

    method: str
    continuation: Any
    details: Any
    request: Any
    deadline: float | None = None
    request_streaming: bool = False
    response_streaming: bool = False


def _operation(name: str, *, idempotent: bool, streams: bool) -> Operation[Any, Any]:
    return Operation(
        name, API, GrpcCall, object, idempotent=idempotent, streams=streams, adapter_method="invoke"
    )


#: The operations of every ``grpc`` connector, by name.
GRPC_OPERATIONS: dict[str, Operation[Any, Any]] = {
    op.name: op
    for op in (
        _operation("call", idempotent=False, streams=False),
        _operation("idempotent_call", idempotent=True, streams=False),
        _operation("stream", idempotent=False, streams=True),
        _operation("idempotent_stream", idempotent=True, streams=True),
    )
}


class GrpcOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``options`` of a ``grpc`` connector."""

    takes_endpoints: ClassVar[bool] = False

    #: Where `nexus_connector_core.grpc.channel` connects (``host:port``); the
    #: interceptors work on any channel.
    target: str | None = None
    #: TLS for `channel` (the system's roots); ``false`` for a plain-text channel.
    tls: bool = True
    #: Methods that may be repeated whatever their proto says: full names, ``*`` patterns.
    idempotent_methods: list[str] = []

    def __post_init__(self) -> None:
        for pattern in self.idempotent_methods:
            if not pattern.startswith("/") or not pattern.isprintable():
                raise ValueError(
                    "idempotent_methods holds full method names such as "
                    f"'/inventory.Inventory/GetItem', got {pattern!r}"
                )

    def operations(self) -> tuple[Operation[Any, Any], ...]:
        """The four operations (see the module's docstring)."""
        return tuple(GRPC_OPERATIONS.values())

    def declares_idempotent(self, method: str) -> bool:
        """Whether `method` matches ``idempotent_methods``."""
        return any(fnmatch.fnmatchcase(method, p) for p in self.idempotent_methods)
