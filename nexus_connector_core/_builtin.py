"""The built-in plugin: the embedded vendors, state backend and credential providers."""

from __future__ import annotations

from .hookspecs import Registrar, hookimpl

_MEMORY = "nexus_connector_core.vendors.memory"
_OPTIONS = f"{_MEMORY}._behaviour:MemoryOptions"


def _memory(
    register: Registrar, module: str, name: str, what: str, *, idempotency_keys: bool = False
) -> None:
    register(
        "memory",
        f"{_MEMORY}.{module}:Memory{name}Adapter",
        async_impl=f"{_MEMORY}.{module}:AsyncMemory{name}Adapter",
        options=_OPTIONS,
        description=f"in-process {what} that records calls and fails on request (no network)",
        idempotency_keys=idempotency_keys,
    )


@hookimpl
def register_email_vendors(register: Registrar) -> None:
    _memory(register, "email", "Email", "outbox")


@hookimpl
def register_sms_vendors(register: Registrar) -> None:
    _memory(register, "sms", "Sms", "SMS gateway")


@hookimpl
def register_payment_vendors(register: Registrar) -> None:
    # Like Stripe, it honours idempotency keys, so keyed payment calls may be retried.
    _memory(register, "payment", "Payment", "payment processor", idempotency_keys=True)


@hookimpl
def register_cloud_storage_vendors(register: Registrar) -> None:
    _memory(register, "cloud_storage", "CloudStorage", "object store")
    register(
        "filesystem",
        "nexus_connector_core.vendors.filesystem:FilesystemStorageAdapter",
        async_impl="nexus_connector_core.vendors.filesystem:AsyncFilesystemStorageAdapter",
        options="nexus_connector_core.vendors.filesystem:FilesystemOptions",
        description="objects as files under a local folder",
    )


@hookimpl
def register_shipping_vendors(register: Registrar) -> None:
    _memory(register, "shipping", "Shipping", "shipping carrier")


_API = "nexus_connector_core.vendors"


@hookimpl
def register_api_vendors(register: Registrar) -> None:
    register(
        "http",
        f"{_API}.http_api:HttpApiAdapter",
        async_impl=f"{_API}.http_api:AsyncHttpApiAdapter",
        options=f"{_API}.http_api:HttpApiOptions",
        description="any REST API: endpoints declared in [connectors.<name>.endpoints.*]",
    )
    register(
        "graphql",
        f"{_API}.graphql:GraphQLAdapter",
        async_impl=f"{_API}.graphql:AsyncGraphQLAdapter",
        options=f"{_API}.graphql:GraphQLOptions",
        description="a GraphQL endpoint: query() runs queries (reads) and mutations",
    )
    register(
        "websocket",
        f"{_API}.websocket:WebSocketAdapter",
        async_impl=f"{_API}.websocket:AsyncWebSocketAdapter",
        options=f"{_API}.websocket:WebSocketOptions",
        description="WebSocket sessions (async), reconnected through the pipeline",
    )
    register(
        "grpc",
        "nexus_connector_core.grpc:GrpcAdapter",
        async_impl="nexus_connector_core.grpc:AsyncGrpcAdapter",
        options=f"{_API}.grpc_api:GrpcOptions",
        description="gRPC channels whose calls run through the pipeline (interceptors)",
    )


@hookimpl
def register_credential_providers(register: Registrar) -> None:
    register(
        "env",
        "nexus_connector_core._credential_providers:environment_provider",
        description="env:NAME - an environment variable",
    )
    register(
        "file",
        "nexus_connector_core._credential_providers:file_provider",
        description="file:PATH - a file's text (relative to the config file)",
    )
    register(
        "store",
        "nexus_connector_core._credential_store:encrypted_store_provider",
        description="store:NAME - a value in the encrypted secrets.enc (nexus-connector secrets)",
    )


@hookimpl
def register_state_backends(register: Registrar) -> None:
    register(
        "memory",
        "nexus_connector_core._state_memory:MemoryStateBackend",
        async_impl="nexus_connector_core._state_memory:AsyncMemoryStateBackend",
        description="breakers, limiters and idempotency in this process's memory",
    )


_WEBHOOKS = "nexus_connector_core.webhooks._presets"


@hookimpl
def register_webhook_verifiers(register: Registrar) -> None:
    register(
        "hmac",
        "nexus_connector_core.webhooks._hmac:HmacVerifier.from_options",
        options="nexus_connector_core.webhooks._hmac:HmacOptions",
        description="generic HMAC signature: header, algorithm, encoding, signed content",
    )
    register(
        "standard-webhooks",
        f"{_WEBHOOKS}:STANDARD_WEBHOOKS",
        description="Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature",
    )
    register("github", f"{_WEBHOOKS}:GITHUB", description="GitHub: X-Hub-Signature-256")
    register("slack", f"{_WEBHOOKS}:SLACK", description="Slack: X-Slack-Signature (v0)")
    register("shopify", f"{_WEBHOOKS}:SHOPIFY", description="Shopify: X-Shopify-Hmac-Sha256")


@hookimpl
def register_alert_sinks(register: Registrar) -> None:
    register(
        "log",
        "nexus_connector_core._alert_sinks:LogAlertSink",
        description="a line on the logger nexus_connector.alerts",
    )
    register(
        "webhook",
        "nexus_connector_core._alert_sinks:WebhookAlertSink",
        options="nexus_connector_core._alert_sinks:WebhookSinkOptions",
        description="a JSON POST signed with Standard Webhooks, retried through the pipeline",
    )
