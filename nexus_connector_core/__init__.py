"""Nexus Connector: one gateway for every call to an outside vendor.

Application code talks to a category (``manager.email.send(...)``); a config key picks the
vendor; every call runs through one resilience pipeline. Start with `ConnectorManager`.

Names are imported from their modules on first use, so ``import nexus_connector_core`` (and
a plugin's ``from nexus_connector_core import hookimpl``) stays cheap. The package's public
names are declared once, in the ``if TYPE_CHECKING:`` block below: type checkers read it as
it is, and `declared_exports` reads it to know which module holds each name. The state-backend
interface is `nexus_connector_core.state`, the middleware interface
`nexus_connector_core.pipeline`; auth flows, webhooks, the HTTP toolkit of vendor plugins and
the testing kit have their own subpackages too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from ._adapters import (
        AdapterSettings as AdapterSettings,
        SupportsAsyncClose as SupportsAsyncClose,
        SupportsClose as SupportsClose,
        SupportsHealthCheck as SupportsHealthCheck,
    )
    from ._alert_sinks import (
        AlertNotification as AlertNotification,
        AlertSink as AlertSink,
        AlertSinkSettings as AlertSinkSettings,
    )
    from ._alerts import AlertsReport as AlertsReport, AlertStatus as AlertStatus
    from ._api import (
        ApiAdapter as ApiAdapter,
        ApiOptions as ApiOptions,
        ApiRequest as ApiRequest,
        ApiResponse as ApiResponse,
        AsyncApiAdapter as AsyncApiAdapter,
        GraphQLErrorDetail as GraphQLErrorDetail,
        GraphQLRequest as GraphQLRequest,
        GraphQLResult as GraphQLResult,
    )
    from ._async_connectors import (
        AsyncApiConnector as AsyncApiConnector,
        AsyncCloudStorageConnector as AsyncCloudStorageConnector,
        AsyncConnector as AsyncConnector,
        AsyncEmailConnector as AsyncEmailConnector,
        AsyncPaymentConnector as AsyncPaymentConnector,
        AsyncShippingConnector as AsyncShippingConnector,
        AsyncSmsConnector as AsyncSmsConnector,
    )
    from ._async_manager import AsyncConnectorManager as AsyncConnectorManager
    from ._categories import (
        ADAPTER_PROTOCOLS as ADAPTER_PROTOCOLS,
        CATEGORIES as CATEGORIES,
        CATEGORY_KEYS as CATEGORY_KEYS,
    )
    from ._clock import SYSTEM_CLOCK as SYSTEM_CLOCK, Clock as Clock, SystemClock as SystemClock
    from ._cloud_storage import (
        AsyncCloudStorageAdapter as AsyncCloudStorageAdapter,
        CloudStorageAdapter as CloudStorageAdapter,
        ListObjects as ListObjects,
        ObjectData as ObjectData,
        ObjectInfo as ObjectInfo,
        ObjectKey as ObjectKey,
        ObjectPage as ObjectPage,
        PutObject as PutObject,
        SignedUrlRequest as SignedUrlRequest,
    )
    from ._config import (
        EMBEDDED_DEFAULTS as EMBEDDED_DEFAULTS,
        Config as Config,
        StateSettings as StateSettings,
        load_config as load_config,
    )
    from ._connector_settings import (
        ConnectorSettings as ConnectorSettings,
        VendorSettings as VendorSettings,
    )
    from ._connectors import (
        ApiConnector as ApiConnector,
        CloudStorageConnector as CloudStorageConnector,
        Connector as Connector,
        EmailConnector as EmailConnector,
        PaymentConnector as PaymentConnector,
        ShippingConnector as ShippingConnector,
        SmsConnector as SmsConnector,
    )
    from ._context import CallContext as CallContext
    from ._credentials import CredentialProvider as CredentialProvider, Secret as Secret
    from ._email import (
        AsyncEmailAdapter as AsyncEmailAdapter,
        Attachment as Attachment,
        EmailAdapter as EmailAdapter,
        EmailAddress as EmailAddress,
        EmailBatch as EmailBatch,
        EmailBatchReceipt as EmailBatchReceipt,
        EmailMessage as EmailMessage,
        EmailReceipt as EmailReceipt,
        RecipientStatus as RecipientStatus,
    )
    from ._errors import (
        AuthenticationError as AuthenticationError,
        CircuitOpenError as CircuitOpenError,
        ConfigError as ConfigError,
        ConnectorError as ConnectorError,
        CredentialNotFoundError as CredentialNotFoundError,
        CredentialRefreshError as CredentialRefreshError,
        ErrorContext as ErrorContext,
        IdempotencyConflictError as IdempotencyConflictError,
        InvalidIdempotencyKeyError as InvalidIdempotencyKeyError,
        InvalidRequestError as InvalidRequestError,
        ObjectNotFoundError as ObjectNotFoundError,
        PaymentDeclinedError as PaymentDeclinedError,
        PluginError as PluginError,
        RateLimitExceededError as RateLimitExceededError,
        StateBackendUnavailableError as StateBackendUnavailableError,
        VendorError as VendorError,
        VendorNotFoundError as VendorNotFoundError,
        VendorTimeoutError as VendorTimeoutError,
        VendorUnavailableError as VendorUnavailableError,
        WebhookVerificationError as WebhookVerificationError,
    )
    from ._health import (
        ConnectorHealth as ConnectorHealth,
        HealthReport as HealthReport,
        RecentCalls as RecentCalls,
        VendorHealth as VendorHealth,
    )
    from ._lazy import lazy_exports as lazy_exports
    from ._limit_key import limit_key as limit_key
    from ._manager import ConnectorManager as ConnectorManager
    from ._money import CURRENCY_EXPONENTS as CURRENCY_EXPONENTS, Money as Money
    from ._observe import (
        CallLogger as CallLogger,
        IntegrationLogRecord as IntegrationLogRecord,
        LoggingCallLogger as LoggingCallLogger,
        MemoryCallLogger as MemoryCallLogger,
    )
    from ._operations import Category as Category, Operation as Operation
    from ._payment import (
        AsyncPaymentAdapter as AsyncPaymentAdapter,
        CaptureRequest as CaptureRequest,
        Payment as Payment,
        PaymentAdapter as PaymentAdapter,
        PaymentLookup as PaymentLookup,
        PaymentRequest as PaymentRequest,
        PaymentStatus as PaymentStatus,
        Refund as Refund,
        RefundRequest as RefundRequest,
        VoidRequest as VoidRequest,
    )
    from ._plugins import (
        PluginFailure as PluginFailure,
        PluginInfo as PluginInfo,
        PluginRegistry as PluginRegistry,
        Registration as Registration,
        default_registry as default_registry,
    )
    from ._resilience.backoff import Backoff as Backoff, parse_retry_after as parse_retry_after
    from ._resilience.breaker import BreakerConfig as BreakerConfig
    from ._resilience.budget import BudgetConfig as BudgetConfig
    from ._resilience.config import (
        BulkheadConfig as BulkheadConfig,
        CacheConfig as CacheConfig,
        IdempotencyConfig as IdempotencyConfig,
        ResilienceConfig as ResilienceConfig,
        RetryConfig as RetryConfig,
    )
    from ._resilience.ratelimit import RateLimitConfig as RateLimitConfig
    from ._shipping import (
        Address as Address,
        AddressValidation as AddressValidation,
        AsyncShippingAdapter as AsyncShippingAdapter,
        BuyLabel as BuyLabel,
        Cancellation as Cancellation,
        CancelShipment as CancelShipment,
        Label as Label,
        Parcel as Parcel,
        Rate as Rate,
        Shipment as Shipment,
        ShippingAdapter as ShippingAdapter,
        Tracking as Tracking,
        TrackingEvent as TrackingEvent,
        TrackingStatus as TrackingStatus,
        TrackRequest as TrackRequest,
    )
    from ._slo import (
        ObjectiveStatus as ObjectiveStatus,
        SloReport as SloReport,
        SloStatus as SloStatus,
    )
    from ._sms import (
        AsyncSmsAdapter as AsyncSmsAdapter,
        SmsAdapter as SmsAdapter,
        SmsMessage as SmsMessage,
        SmsReceipt as SmsReceipt,
        SmsState as SmsState,
        SmsStatus as SmsStatus,
        SmsStatusRequest as SmsStatusRequest,
    )
    from .hookspecs import Registrar as Registrar, hookimpl as hookimpl
else:
    from ._lazy import declared_exports, lazy_exports

    _EXPORTS = declared_exports(__file__)
    __all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 - strings, read from the block above
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
