"""What a vendor adapter is given when it is built, and what it may implement beyond it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import msgspec

from ._clock import SYSTEM_CLOCK, Clock
from ._credentials import Secret
from ._errors import CredentialNotFoundError

__all__ = ["AdapterSettings", "SupportsAsyncClose", "SupportsClose", "SupportsHealthCheck"]


class AdapterSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an adapter's constructor receives: ``Adapter(settings)``.

    Attributes:
        connector: the connector's name in the config.
        category: the category key.
        vendor: the vendor key the adapter serves.
        options: the connector's ``options`` table, decoded into the type the vendor
            registered (or a plain dict when it registered none).
        credentials: the connector's ``credentials``, resolved; see `secret`.
        clock: the clock to read and wait on (a fake one in tests).
        state: the manager's state backend (a `StateBackend` for a sync adapter, an
            `AsyncStateBackend` for an async one), for state the adapter must share with
            every worker, such as OAuth tokens.
        resilience: the connector's resilience policies for each operation, by name, for
            adapters that make calls of their own (a token endpoint) through the same
            policies.
        fail_open: whether calls go on when `state` cannot be reached (``[state]
            fail_mode``).
        propagate_trace: whether an HTTP adapter sends the call's trace context (W3C
            ``traceparent``) to the vendor (the connector's ``propagate_trace``).
    """

    connector: str
    category: str
    vendor: str
    options: Any = None
    credentials: Mapping[str, Secret] = {}
    clock: Clock = SYSTEM_CLOCK
    state: Any = None
    resilience: Mapping[str, Any] = {}
    fail_open: bool = True
    propagate_trace: bool = True

    def secret(self, name: str) -> str:
        """The value of credential `name`, for use in a request; never log it."""
        try:
            return self.credentials[name].reveal()
        except KeyError:
            raise CredentialNotFoundError(
                f"vendor {self.vendor!r} needs credential {name!r}; add it under "
                f"connectors.{self.connector}.credentials",
                reference=name,
                path=f"connectors.{self.connector}.credentials.{name}",
            ) from None


@runtime_checkable
class SupportsClose(Protocol):
    """An adapter holding connections implements ``close()``; the manager calls it once."""

    def close(self) -> None: ...


@runtime_checkable
class SupportsAsyncClose(Protocol):
    """An async adapter holding connections implements ``aclose()``."""

    async def aclose(self) -> None: ...


@runtime_checkable
class SupportsHealthCheck(Protocol):
    """An adapter may report its own health: return None when fine, or say what is wrong."""

    def health_check(self) -> str | None: ...
