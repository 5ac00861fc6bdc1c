"""A registration: one implementation a plugin offers under a key, loaded on first use."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from ._errors import PluginError

__all__ = ["KNOWN_PROVIDERS", "Registration", "kind_noun"]

_KIND_NOUN = {
    "state_backend": "state backend",
    "credential_provider": "credential provider",
    "webhook_verifier": "webhook verifier",
    "middleware": "middleware",
    "alert_sink": "alert sink",
}

#: Distributions that provide well-known keys, for install hints: only distributions that
#: exist (this repository's plugins; a test checks each is one of plugins/).
KNOWN_PROVIDERS: Final[Mapping[tuple[str, str], str]] = {
    ("email", "smtp"): "nexus-connector-smtp",
    ("email", "postmark"): "nexus-connector-postmark",
    ("sms", "twilio"): "nexus-connector-twilio",
    ("payment", "stripe"): "nexus-connector-stripe",
    ("cloud_storage", "s3"): "nexus-connector-s3",
    ("cloud_storage", "fsspec"): "nexus-connector-fsspec",
    ("shipping", "easypost"): "nexus-connector-easypost",
    ("state_backend", "redis"): "nexus-connector-redis",
    ("webhook_verifier", "twilio"): "nexus-connector-twilio",
    ("webhook_verifier", "postmark"): "nexus-connector-postmark",
    ("webhook_verifier", "stripe"): "nexus-connector-stripe",
}


def kind_noun(kind: str) -> str:
    """``email vendor``, ``state backend``: how messages name a kind."""
    return _KIND_NOUN.get(kind) or f"{kind} vendor"


def _load_object(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class Registration:
    """One implementation a plugin offers under a key; loads it on first use.

    Attributes:
        kind: a category key, or ``state_backend``, ``credential_provider``,
            ``webhook_verifier``, ``middleware``.
        key: the name configs use.
        plugin: the plugin that registered it.
        distribution / version: the installed distribution it came from, when known.
        credentials: credential names the implementation requires.
        idempotency_keys: the vendor honours idempotency keys.
        description: one line for humans.
    """

    __slots__ = (
        "_async_impl",
        "_impl",
        "_lock",
        "_options",
        "credentials",
        "description",
        "distribution",
        "idempotency_keys",
        "key",
        "kind",
        "plugin",
        "version",
    )

    def __init__(
        self,
        kind: str,
        key: str,
        impl: Any,
        *,
        plugin: str,
        distribution: str | None = None,
        version: str | None = None,
        async_impl: Any = None,
        options: Any = None,
        credentials: Sequence[str] = (),
        idempotency_keys: bool = False,
        description: str = "",
    ) -> None:
        self.kind = kind
        self.key = key
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        self._impl = impl
        self._async_impl = async_impl
        self._options = options
        self.credentials = tuple(credentials)
        self.idempotency_keys = idempotency_keys
        self.description = description
        self._lock = threading.Lock()

    @property
    def has_async(self) -> bool:
        """Whether an asynchronous implementation was registered."""
        return self._async_impl is not None

    def _resolve(self, slot: str, what: str) -> Any:
        value = getattr(self, slot)
        if not isinstance(value, str):
            return value
        with self._lock:
            value = getattr(self, slot)
            if isinstance(value, str):
                try:
                    value = _load_object(value)
                except Exception as exc:
                    raise PluginError(
                        f"{kind_noun(self.kind)} {self.key!r} could not be loaded ({what} "
                        f"{getattr(self, slot)!r}): {type(exc).__name__}: {exc}."
                        f"{self._install_hint()}",
                        plugin=self.plugin,
                        distribution=self.distribution,
                    ) from exc
                setattr(self, slot, value)
        return value

    def _install_hint(self) -> str:
        dist = self.distribution or KNOWN_PROVIDERS.get((self.kind, self.key))
        return f" Reinstall it with its requirements: pip install {dist}" if dist else ""

    def load(self) -> Any:
        """The implementation, imported on first call."""
        return self._resolve("_impl", "implementation")

    def load_async(self) -> Any:
        """The asynchronous implementation; a `PluginError` if the plugin offers none."""
        if self._async_impl is None:
            raise PluginError(
                f"{kind_noun(self.kind)} {self.key!r} has no asynchronous implementation; "
                "use the synchronous ConnectorManager, or another vendor",
                plugin=self.plugin,
                distribution=self.distribution,
            )
        return self._resolve("_async_impl", "async implementation")

    def options_type(self) -> type[msgspec.Struct] | None:
        """The options struct configs are checked against, or None to accept no options."""
        options = self._resolve("_options", "options type")
        if options is not None and not (
            isinstance(options, type) and issubclass(options, msgspec.Struct)
        ):
            raise PluginError(
                f"{kind_noun(self.kind)} {self.key!r}: options must be a msgspec.Struct "
                f"type, got {options!r}",
                plugin=self.plugin,
                distribution=self.distribution,
            )
        return options

    def __repr__(self) -> str:
        return f"Registration({self.kind}:{self.key} from {self.plugin})"
