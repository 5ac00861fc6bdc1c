"""Entry-point module: registers the ``easypost`` shipping vendor by name.

Discovery imports only this module; the adapters (and httpx) load when a connector first
uses the vendor.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_easypost"


@hookimpl
def register_shipping_vendors(register: Registrar) -> None:
    register(
        "easypost",
        f"{_PACKAGE}._adapter:EasyPostShippingAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncEasyPostShippingAdapter",
        options=f"{_PACKAGE}._options:EasyPostOptions",
        credentials=("api_key",),
        # EasyPost takes no idempotency key: a buy that may have reached it is never
        # retried (EasyPost itself refuses a second label for a shipment, too).
        idempotency_keys=False,
        description="EasyPost v2 REST API: shipments, labels, trackers, refunds, addresses",
    )
