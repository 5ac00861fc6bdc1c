"""Test kit for applications and plugin authors: a fake clock, a fault-injecting HTTP
server, and the conformance suites every state backend, email, SMS and payment adapter runs.

Nothing here is imported by the library itself; the conformance suite needs pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._clock import FakeClock

__all__ = [
    "CloudStorageAdapterConformance",
    "CloudStorageHarness",
    "StorageFaultKind",
    "EmailAdapterConformance",
    "EmailFaultKind",
    "EmailHarness",
    "PaymentAdapterConformance",
    "PaymentFaultKind",
    "PaymentHarness",
    "REJECTED_DOMAIN",
    "ReceivedAttachment",
    "ReceivedEmail",
    "ReceivedSms",
    "SmsAdapterConformance",
    "SmsFaultKind",
    "SmsHarness",
    "ReceivedParcel",
    "ReceivedShippingRequest",
    "ShippingAdapterConformance",
    "ShippingFaultKind",
    "ShippingHarness",
    "BackendHarness",
    "FakeClock",
    "Fault",
    "FaultServer",
    "ReceivedRequest",
    "StateBackendConformance",
]

if TYPE_CHECKING:
    from ._conformance import BackendHarness, StateBackendConformance
    from ._email_conformance import (
        REJECTED_DOMAIN,
        EmailAdapterConformance,
        EmailFaultKind,
        EmailHarness,
        ReceivedAttachment,
        ReceivedEmail,
    )
    from ._fault_server import Fault, FaultServer, ReceivedRequest
    from ._payment_conformance import PaymentAdapterConformance, PaymentFaultKind, PaymentHarness
    from ._shipping_conformance import (
        ReceivedParcel,
        ReceivedShippingRequest,
        ShippingAdapterConformance,
        ShippingFaultKind,
        ShippingHarness,
    )
    from ._sms_conformance import ReceivedSms, SmsAdapterConformance, SmsFaultKind, SmsHarness
    from ._storage_conformance import (
        CloudStorageAdapterConformance,
        CloudStorageHarness,
        StorageFaultKind,
    )


def __getattr__(name: str) -> Any:
    # Loaded on use: the server and the suite pull in sockets, threads and pytest.
    if name in ("Fault", "FaultServer", "ReceivedRequest"):
        from . import _fault_server

        return getattr(_fault_server, name)
    if name in ("BackendHarness", "StateBackendConformance"):
        from . import _conformance

        return getattr(_conformance, name)
    if name in (
        "EmailAdapterConformance",
        "EmailFaultKind",
        "EmailHarness",
        "REJECTED_DOMAIN",
        "ReceivedAttachment",
        "ReceivedEmail",
    ):
        from . import _email_conformance

        return getattr(_email_conformance, name)
    if name in ("PaymentAdapterConformance", "PaymentFaultKind", "PaymentHarness"):
        from . import _payment_conformance

        return getattr(_payment_conformance, name)
    if name in ("ReceivedSms", "SmsAdapterConformance", "SmsFaultKind", "SmsHarness"):
        from . import _sms_conformance

        return getattr(_sms_conformance, name)
    if name in (
        "ReceivedParcel",
        "ReceivedShippingRequest",
        "ShippingAdapterConformance",
        "ShippingFaultKind",
        "ShippingHarness",
    ):
        from . import _shipping_conformance

        return getattr(_shipping_conformance, name)
    if name in ("CloudStorageAdapterConformance", "CloudStorageHarness", "StorageFaultKind"):
        from . import _storage_conformance

        return getattr(_storage_conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
