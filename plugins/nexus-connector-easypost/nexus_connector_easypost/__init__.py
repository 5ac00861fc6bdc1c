"""EasyPost for Nexus Connector: the ``easypost`` shipping vendor.

``vendor = "easypost"`` quotes shipments, buys labels, tracks parcels, refunds labels and
verifies addresses through EasyPost's v2 REST API (JSON, HTTP Basic auth with the API key
as the user name). `nexus_connector_easypost.testing` has a local EasyPost double.

Names load on first use, so that plugin discovery, which imports ``.plugin``, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
    "__version__",
    "AsyncEasyPostShippingAdapter",
    "EasyPostOptions",
    "EasyPostShippingAdapter",
]

if TYPE_CHECKING:
    from ._adapter import AsyncEasyPostShippingAdapter, EasyPostShippingAdapter
    from ._options import EasyPostOptions
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncEasyPostShippingAdapter": "_adapter",
            "EasyPostShippingAdapter": "_adapter",
            "EasyPostOptions": "_options",
        },
    )
