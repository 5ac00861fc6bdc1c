"""The ``memory`` vendor of every category: in-process, no account, no network.

Each adapter keeps its state in the adapter object (an outbox, a ledger, an object store...),
records every call it serves in ``adapter.calls`` as ``(operation, request)`` pairs, and
misbehaves when its `MemoryOptions` say so (``fail_first``, ``failure``, ``latency``), so the
resilience policies can be shown and tested without a vendor. Results look like a real
vendor's: ids in the vendor's style and a ``raw`` dict like its response.

This package is imported only when a connector first uses a memory vendor; the registrations
in ``_builtin`` name the classes by string.
"""

from __future__ import annotations

from ._behaviour import MemoryOptions
from .cloud_storage import AsyncMemoryCloudStorageAdapter, MemoryCloudStorageAdapter
from .email import AsyncMemoryEmailAdapter, MemoryEmailAdapter
from .payment import AsyncMemoryPaymentAdapter, MemoryPaymentAdapter
from .shipping import AsyncMemoryShippingAdapter, MemoryShippingAdapter
from .sms import AsyncMemorySmsAdapter, MemorySmsAdapter

__all__ = [
    "MemoryOptions",
    "MemoryEmailAdapter",
    "AsyncMemoryEmailAdapter",
    "MemorySmsAdapter",
    "AsyncMemorySmsAdapter",
    "MemoryPaymentAdapter",
    "AsyncMemoryPaymentAdapter",
    "MemoryCloudStorageAdapter",
    "AsyncMemoryCloudStorageAdapter",
    "MemoryShippingAdapter",
    "AsyncMemoryShippingAdapter",
]
