"""What an operation is: its name, request and result types, and whether it is safe to repeat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Category", "Operation"]

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


class Operation(Generic[RequestT, ResultT]):
    """One operation of a category, as the pipeline and the CLI see it.

    Attributes:
        name: the method name on connectors and adapters (``send``, ``capture``...).
        category: the category key it belongs to.
        request_type: the `msgspec.Struct` the adapter receives.
        result_type: what the adapter returns (a type; ``bool`` or ``str`` for some).
        idempotent: repeating it has no further effect, so it may be retried blindly.
        reads: it only reads, so its result may be cached.
        streams: its result is a live stream (``cloud_storage.open``), consumed by the caller
            after the call returns: it is neither cached nor stored for idempotency.
        adapter_method: the adapter's method that serves it: its name, but ``call`` for
            every endpoint a connector of category ``api`` declares.
        sends_key: the request carries the call's idempotency key to the vendor, which
            deduplicates by it (an ``api`` endpoint with an ``idempotency_header``): it is
            retried and resumed like an operation of a vendor that honours keys.
    """

    __slots__ = (
        "adapter_method",
        "category",
        "idempotent",
        "name",
        "reads",
        "request_type",
        "result_type",
        "sends_key",
        "streams",
    )

    def __init__(
        self,
        name: str,
        category: str,
        request_type: type[RequestT],
        result_type: type[ResultT],
        *,
        idempotent: bool,
        reads: bool = False,
        streams: bool = False,
        adapter_method: str | None = None,
        sends_key: bool = False,
    ) -> None:
        self.name = name
        self.category = category
        self.request_type = request_type
        self.result_type = result_type
        self.idempotent = idempotent or reads
        self.reads = reads
        self.streams = streams
        self.adapter_method = adapter_method or name
        self.sends_key = sends_key

    def __repr__(self) -> str:
        return (
            f"Operation({self.category}.{self.name}, idempotent={self.idempotent}, "
            f"reads={self.reads})"
        )


class Category:
    """A connector category: its key and its operations by name."""

    __slots__ = ("key", "operations")

    def __init__(self, key: str, operations: tuple[Operation[Any, Any], ...]) -> None:
        self.key = key
        self.operations: Mapping[str, Operation[Any, Any]] = {op.name: op for op in operations}

    def operation(self, name: str) -> Operation[Any, Any]:
        try:
            return self.operations[name]
        except KeyError:
            known = ", ".join(self.operations)
            raise KeyError(f"{self.key} has no operation {name!r}; it has: {known}") from None

    def __repr__(self) -> str:
        return f"Category({self.key!r}, operations={list(self.operations)})"
