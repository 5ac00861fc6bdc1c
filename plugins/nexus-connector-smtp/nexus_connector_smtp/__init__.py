"""Email over SMTP for Nexus Connector: ``vendor = "smtp"``.

The sync adapter speaks smtplib, the async one aiosmtplib; both drive one `Dialogue` that
decides every step, reply and error. `nexus_connector_smtp.testing` has a local SMTP
server for tests (`SmtpDouble`). Names load on first use, so discovering the plugin
imports neither library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = ["__version__", "AsyncSmtpEmailAdapter", "SmtpEmailAdapter", "SmtpOptions"]

if TYPE_CHECKING:
    from ._adapter import AsyncSmtpEmailAdapter, SmtpEmailAdapter
    from ._options import SmtpOptions
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncSmtpEmailAdapter": "_adapter",
            "SmtpEmailAdapter": "_adapter",
            "SmtpOptions": "_options",
        },
    )
