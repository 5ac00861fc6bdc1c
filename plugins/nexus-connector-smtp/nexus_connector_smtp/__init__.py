"""Email over SMTP for Nexus Connector: ``vendor = "smtp"``.

The sync adapter speaks smtplib, the async one aiosmtplib; both drive one `Dialogue` that
decides every step, reply and error. Names load on first use, so discovering the plugin
imports neither library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AsyncSmtpEmailAdapter", "SmtpEmailAdapter", "SmtpOptions"]

if TYPE_CHECKING:
    from ._async import AsyncSmtpEmailAdapter
    from ._options import SmtpOptions
    from ._sync import SmtpEmailAdapter

_EXPORTS = {
    "AsyncSmtpEmailAdapter": "._async",
    "SmtpEmailAdapter": "._sync",
    "SmtpOptions": "._options",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
