"""The hooks a Nexus Connector plugin implements.

A plugin is a module named by an entry point in the group ``nexus_connector``::

    [project.entry-points.nexus_connector]
    acme = "nexus_connector_acme.plugin"

holding ``@hookimpl`` functions. Each hook receives one argument, `register`, to call once per
implementation offered. Pass the implementation as a ``"module:attribute"`` string so that the
vendor's SDK is imported only when a connector first uses that vendor::

    from nexus_connector_core import hookimpl

    @hookimpl
    def register_email_vendors(register):
        register(
            "acme",
            "nexus_connector_acme.adapter:AcmeEmailAdapter",
            async_impl="nexus_connector_acme.adapter:AsyncAcmeEmailAdapter",
            options="nexus_connector_acme.options:AcmeOptions",
            credentials=("api_key",),
            description="Acme Mail HTTP API",
        )
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pluggy

__all__ = [
    "PROJECT_NAME",
    "Registrar",
    "register_api_vendors",
    "hookimpl",
    "hookspec",
    "register_alert_sinks",
    "register_cloud_storage_vendors",
    "register_credential_providers",
    "register_email_vendors",
    "register_middleware",
    "register_payment_vendors",
    "register_shipping_vendors",
    "register_sms_vendors",
    "register_state_backends",
    "register_webhook_verifiers",
]

#: The pluggy project name, which is also the entry-point group.
PROJECT_NAME = "nexus_connector"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's hook implementations: ``@hookimpl def register_email_vendors(register): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Registrar(Protocol):
    """The `register` callable each hook receives.

    Args:
        key: the name the config uses (``vendor = "pigeon"``): lowercase letters, digits,
            ``-`` and ``_``, starting with a letter.
        impl: the implementation, or a ``"module:attribute"`` string naming it (imported on
            first use). Vendors: an adapter class taking `AdapterSettings`. State backends:
            a class taking `BackendSettings`. Credential providers: a factory taking
            `CredentialProviderSettings` and returning a `CredentialProvider`. Webhook
            verifiers: a `WebhookVerifier` instance, or, with `options`, a callable taking
            the options struct and returning one. Middleware: a `MiddlewareFactory`. Alert
            sinks: a factory taking `AlertSinkSettings` and returning an object with
            ``notify(notification)``.
        async_impl: for vendors and state backends, the asynchronous twin.
        options: a `msgspec.Struct` type (or ``"module:attribute"``) that the ``options``
            table of the config is decoded into and checked against, with key paths.
        credentials: the credential names the implementation requires (``api_key``).
        idempotency_keys: the vendor honours idempotency keys, so a non-idempotent
            operation may be retried when it carries one (the pipeline makes one per call).
        description: one line for ``nexus-connector plugins``.
    """

    def __call__(
        self,
        key: str,
        impl: str | Any,
        *,
        async_impl: str | Any | None = None,
        options: str | type[Any] | None = None,
        credentials: Sequence[str] = (),
        idempotency_keys: bool = False,
        description: str = "",
    ) -> None: ...


@hookspec
def register_email_vendors(register: Registrar) -> None:
    """Offer email vendors (adapters implementing `EmailAdapter` / `AsyncEmailAdapter`)."""


@hookspec
def register_sms_vendors(register: Registrar) -> None:
    """Offer SMS vendors (adapters implementing `SmsAdapter` / `AsyncSmsAdapter`)."""


@hookspec
def register_payment_vendors(register: Registrar) -> None:
    """Offer payment vendors (adapters implementing `PaymentAdapter` / `AsyncPaymentAdapter`)."""


@hookspec
def register_cloud_storage_vendors(register: Registrar) -> None:
    """Offer cloud storage vendors (`CloudStorageAdapter` / `AsyncCloudStorageAdapter`)."""


@hookspec
def register_shipping_vendors(register: Registrar) -> None:
    """Offer shipping vendors (`ShippingAdapter` / `AsyncShippingAdapter`)."""


@hookspec
def register_api_vendors(register: Registrar) -> None:
    """Offer vendors of category ``api`` (the core's ``http``, ``graphql``, ``websocket`` and
    ``grpc``): adapters whose options type declares the connector's operations
    (`ApiOptions`)."""


@hookspec
def register_state_backends(register: Registrar) -> None:
    """Offer state backends: where breaker, limiter, idempotency and token state lives."""


@hookspec
def register_credential_providers(register: Registrar) -> None:
    """Offer credential providers, used by secret references ``<key>:<name>`` in configs."""


@hookspec
def register_webhook_verifiers(register: Registrar) -> None:
    """Offer webhook verifiers, used by ``webhooks.verify(<key>, ...)``."""


@hookspec
def register_middleware(register: Registrar) -> None:
    """Offer middleware: extra steps in the call pipeline, enabled by a connector's config."""


@hookspec
def register_alert_sinks(register: Registrar) -> None:
    """Offer alert sinks, named by alert rules' ``notify`` (``"log"``, ``"webhook:ops"``)."""
