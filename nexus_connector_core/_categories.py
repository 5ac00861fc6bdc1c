"""The five connector categories by key, with their adapter protocols (and those of
category ``api``, whose operations each connector declares: see `_api`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._api import ApiAdapter, AsyncApiAdapter
from ._cloud_storage import CLOUD_STORAGE, AsyncCloudStorageAdapter, CloudStorageAdapter
from ._email import EMAIL, AsyncEmailAdapter, EmailAdapter
from ._operations import Category
from ._payment import PAYMENT, AsyncPaymentAdapter, PaymentAdapter
from ._shipping import SHIPPING, AsyncShippingAdapter, ShippingAdapter
from ._sms import SMS, AsyncSmsAdapter, SmsAdapter

__all__ = ["ADAPTER_PROTOCOLS", "CATEGORIES", "CATEGORY_KEYS"]

#: Every category by key: ``email``, ``sms``, ``payment``, ``cloud_storage``, ``shipping``.
CATEGORIES: Mapping[str, Category] = MappingProxyType(
    {c.key: c for c in (EMAIL, SMS, PAYMENT, CLOUD_STORAGE, SHIPPING)}
)

#: The category keys in their documented order.
CATEGORY_KEYS: tuple[str, ...] = tuple(CATEGORIES)

#: The (sync, async) adapter protocols of each category, ``api`` included.
ADAPTER_PROTOCOLS: Mapping[str, tuple[type, type]] = MappingProxyType(
    {
        "email": (EmailAdapter, AsyncEmailAdapter),
        "sms": (SmsAdapter, AsyncSmsAdapter),
        "payment": (PaymentAdapter, AsyncPaymentAdapter),
        "cloud_storage": (CloudStorageAdapter, AsyncCloudStorageAdapter),
        "shipping": (ShippingAdapter, AsyncShippingAdapter),
        "api": (ApiAdapter, AsyncApiAdapter),
    }
)
