"""Test kit for applications and plugin authors: a fake clock, a fault-injecting HTTP
server, and the conformance suites every state backend and every category's adapters run.

Nothing here is imported by the library itself; the conformance suites need pytest. Names
load on first use, declared once in the ``if TYPE_CHECKING:`` block below (as the core's
are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._clock import FakeClock as FakeClock  # explicit: mypy sees no __all__ here

if TYPE_CHECKING:
    from ._adapter_conformance import (
        HTTP_TRANSPORTS as HTTP_TRANSPORTS,
        RULES as RULES,
        AdapterConformance as AdapterConformance,
        AdapterHarness as AdapterHarness,
        TransportFaults as TransportFaults,
        refused_address as refused_address,
        rule as rule,
    )
    from ._email_conformance import (
        REJECTED_DOMAIN as REJECTED_DOMAIN,
        EmailAdapterConformance as EmailAdapterConformance,
        EmailFaultKind as EmailFaultKind,
        EmailHarness as EmailHarness,
        ReceivedAttachment as ReceivedAttachment,
        ReceivedEmail as ReceivedEmail,
    )
    from ._fault_server import (
        Fault as Fault,
        FaultServer as FaultServer,
        ReceivedRequest as ReceivedRequest,
    )
    from ._managers import (
        NO_RETRY as NO_RETRY,
        ManagerFactory as ManagerFactory,
    )
    from ._payment_conformance import (
        PaymentAdapterConformance as PaymentAdapterConformance,
        PaymentFaultKind as PaymentFaultKind,
        PaymentHarness as PaymentHarness,
    )
    from ._shipping_conformance import (
        ReceivedParcel as ReceivedParcel,
        ReceivedShippingRequest as ReceivedShippingRequest,
        ShippingAdapterConformance as ShippingAdapterConformance,
        ShippingFaultKind as ShippingFaultKind,
        ShippingHarness as ShippingHarness,
    )
    from ._sms_conformance import (
        ReceivedSms as ReceivedSms,
        SmsAdapterConformance as SmsAdapterConformance,
        SmsFaultKind as SmsFaultKind,
        SmsHarness as SmsHarness,
    )
    from ._state_conformance import (
        BackendHarness as BackendHarness,
        StateBackendConformance as StateBackendConformance,
    )
    from ._storage_conformance import (
        CloudStorageAdapterConformance as CloudStorageAdapterConformance,
        CloudStorageHarness as CloudStorageHarness,
        StorageFaultKind as StorageFaultKind,
    )
else:
    from .._lazy import declared_exports, lazy_exports

    _EXPORTS = declared_exports(__file__)
    __all__ = ["FakeClock", *_EXPORTS]  # noqa: PLE0604 - strings, read from the block above
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
