"""Asynchronous connectors: the typed, per-category faces of a configured connector."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec

from ._api import ApiRequest, ApiResponse, GraphQLRequest, GraphQLResult, check_variables
from ._cloud_storage import (
    STORAGE_DELETE,
    STORAGE_EXISTS,
    STORAGE_GET,
    STORAGE_LIST,
    STORAGE_OPEN,
    STORAGE_PUT,
    STORAGE_SIGNED_URL,
    ListObjects,
    ObjectData,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
)
from ._connector_base import ConnectorCore
from ._context import CallContext
from ._email import (
    EMAIL_SEND,
    EMAIL_SEND_BATCH,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
)
from ._errors import ConnectorError
from ._money import Money
from ._operations import Operation, RequestT, ResultT
from ._payment import (
    PAYMENT_AUTHORIZE,
    PAYMENT_CAPTURE,
    PAYMENT_GET,
    PAYMENT_PURCHASE,
    PAYMENT_REFUND,
    PAYMENT_VOID,
    CaptureRequest,
    Payment,
    PaymentLookup,
    PaymentRequest,
    Refund,
    RefundRequest,
    VoidRequest,
)
from ._pipeline import AsyncHandler, Middleware, Req, Res
from ._resilience.idempotency import check_key
from ._shipping import (
    SHIPPING_BUY,
    SHIPPING_CANCEL,
    SHIPPING_RATES,
    SHIPPING_TRACK,
    SHIPPING_VALIDATE_ADDRESS,
    Address,
    AddressValidation,
    BuyLabel,
    Cancellation,
    CancelShipment,
    Label,
    Rate,
    Shipment,
    Tracking,
    TrackRequest,
)
from ._sms import SMS_GET_STATUS, SMS_SEND, SmsMessage, SmsReceipt, SmsStatus, SmsStatusRequest
from ._state import AsyncStateBackend
from ._websocket import WebSockets  # unasync: delete

__all__ = [
    "AsyncApiConnector",
    "AsyncCloudStorageConnector",
    "AsyncConnector",
    "AsyncEmailConnector",
    "AsyncPaymentConnector",
    "AsyncShippingConnector",
    "AsyncSmsConnector",
]


class AsyncConnector(ConnectorCore[AsyncHandler, AsyncStateBackend]):
    """A configured connector, called asynchronously. Use the category subclasses' methods."""

    _async = True  # unasync: _async = False

    def _compose(
        self, steps: Sequence[Middleware], handler: AsyncHandler[Req, Res]
    ) -> AsyncHandler[Req, Res]:
        for step in reversed(steps):
            handler = step.wrap_async(handler)  # unasync: handler = step.wrap(handler)
        return handler

    def _call(
        self,
        operation: Operation[RequestT, ResultT],
        request: RequestT,
        idempotency_key: str | None,
    ) -> Awaitable[ResultT]:  # unasync: ) -> ResultT:
        # The hot path: `_handler` and `ensure_open` inlined to their common case. Not a
        # coroutine itself: the caller awaits the pipeline's own (one coroutine less).
        if self._runtime.closed:
            self._runtime.ensure_open()
        handler: AsyncHandler[RequestT, ResultT]
        if idempotency_key is None:
            handler = self._handlers.get(operation.name) or self._handler(operation)
        else:
            check_key(idempotency_key)
            handler = self._keyed.get(operation.name) or self._handler(operation, keyed=True)
        ctx = CallContext(self.name, self._vendor_key, operation, self._clock, idempotency_key)
        return handler(request, ctx)

    async def invoke(
        self, operation: str, request: Any, *, idempotency_key: str | None = None
    ) -> Any:
        """Run `operation` by name with its request struct (what ``nexus-connector call`` does)."""
        op = self.operation(operation)
        if not isinstance(request, op.request_type):
            raise TypeError(
                f"{self.category.key}.{operation} takes a {op.request_type.__name__}, "
                f"got {type(request).__name__}"
            )
        return await self._call(op, request, idempotency_key)

    async def aclose(self) -> None:
        """Release the adapters' connections; the manager does this on close."""
        for adapter in self._release():
            aclose = getattr(adapter, "aclose", None)
            if callable(aclose):
                await aclose()


class AsyncEmailConnector(AsyncConnector):
    """Send email through the configured vendor."""

    async def send(
        self, message: EmailMessage, *, idempotency_key: str | None = None
    ) -> EmailReceipt:
        """Send one message; the receipt says what happened to each recipient."""
        return await self._call(EMAIL_SEND, message, idempotency_key)

    async def send_batch(
        self, messages: Sequence[EmailMessage], *, idempotency_key: str | None = None
    ) -> EmailBatchReceipt:
        """Send several messages in one operation (one connection where the vendor allows)."""
        batch = EmailBatch(tuple(messages))
        return await self._call(EMAIL_SEND_BATCH, batch, idempotency_key)


class AsyncSmsConnector(AsyncConnector):
    """Send text messages through the configured vendor."""

    async def send(self, message: SmsMessage, *, idempotency_key: str | None = None) -> SmsReceipt:
        """Send one SMS; keep `vendor_id` of the receipt to ask for its status."""
        return await self._call(SMS_SEND, message, idempotency_key)

    async def get_status(self, vendor_id: str, *, idempotency_key: str | None = None) -> SmsStatus:
        """The delivery status of a sent message."""
        request = SmsStatusRequest(vendor_id)
        return await self._call(SMS_GET_STATUS, request, idempotency_key)


class AsyncPaymentConnector(AsyncConnector):
    """Take payments through the configured vendor. Amounts are `Money` (minor units)."""

    async def authorize(
        self, request: PaymentRequest, *, idempotency_key: str | None = None
    ) -> Payment:
        """Hold `request.amount` on the payment method; capture it later."""
        return await self._call(PAYMENT_AUTHORIZE, request, idempotency_key)

    async def purchase(
        self, request: PaymentRequest, *, idempotency_key: str | None = None
    ) -> Payment:
        """Authorize and capture in one step."""
        return await self._call(PAYMENT_PURCHASE, request, idempotency_key)

    async def capture(
        self, payment_id: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> Payment:
        """Capture an authorized payment, all of it or `amount`."""
        request = CaptureRequest(payment_id, amount)
        return await self._call(PAYMENT_CAPTURE, request, idempotency_key)

    async def refund(
        self,
        payment_id: str,
        amount: Money | None = None,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Refund a captured payment, all of it or `amount`."""
        request = RefundRequest(payment_id, amount, reason)
        return await self._call(PAYMENT_REFUND, request, idempotency_key)

    async def void(self, payment_id: str, *, idempotency_key: str | None = None) -> Payment:
        """Cancel an authorized payment before capture."""
        request = VoidRequest(payment_id)
        return await self._call(PAYMENT_VOID, request, idempotency_key)

    async def get(self, payment_id: str, *, idempotency_key: str | None = None) -> Payment:
        """The payment as the vendor knows it now."""
        request = PaymentLookup(payment_id)
        return await self._call(PAYMENT_GET, request, idempotency_key)


class AsyncCloudStorageConnector(AsyncConnector):
    """Store and fetch objects through the configured vendor."""

    async def put(
        self,
        key: str,
        data: ObjectData,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ObjectInfo:
        """Store `data` (bytes, a binary file or byte chunks) under `key`."""
        request = PutObject(key=key, data=data, content_type=content_type, metadata=metadata or {})
        return await self._call(STORAGE_PUT, request, idempotency_key)

    async def get(self, key: str, *, idempotency_key: str | None = None) -> bytes:
        """The whole object; `ObjectNotFoundError` when absent. Use `open` for big objects."""
        return await self._call(STORAGE_GET, ObjectKey(key), idempotency_key)

    @asynccontextmanager
    async def open(
        self, key: str, *, idempotency_key: str | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Stream an object: ``async with storage.open(key) as chunks: async for c in chunks``."""
        stream = await self._call(STORAGE_OPEN, ObjectKey(key), idempotency_key)
        async with stream as chunks:
            yield chunks

    async def delete(self, key: str, *, idempotency_key: str | None = None) -> None:
        """Remove an object; removing one that is absent is not an error."""
        await self._call(STORAGE_DELETE, ObjectKey(key), idempotency_key)

    async def exists(self, key: str, *, idempotency_key: str | None = None) -> bool:
        """Whether an object is stored under `key`."""
        return await self._call(STORAGE_EXISTS, ObjectKey(key), idempotency_key)

    async def list(
        self,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = 1000,
        *,
        idempotency_key: str | None = None,
    ) -> ObjectPage:
        """One page of objects under `prefix`; pass `next_cursor` back for the next."""
        request = ListObjects(prefix=prefix, cursor=cursor, limit=limit)
        return await self._call(STORAGE_LIST, request, idempotency_key)

    async def signed_url(
        self,
        key: str,
        expires_in: int = 3600,
        method: Literal["GET", "PUT"] = "GET",
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """A URL that lets its holder GET or PUT the object for `expires_in` seconds."""
        request = SignedUrlRequest(key=key, expires_in=expires_in, method=method)
        return await self._call(STORAGE_SIGNED_URL, request, idempotency_key)


class AsyncShippingConnector(AsyncConnector):
    """Quote, buy, track and cancel shipments through the configured vendor."""

    async def rates(self, shipment: Shipment, *, idempotency_key: str | None = None) -> list[Rate]:
        """The prices to ship `shipment`, one per carrier service."""
        return await self._call(SHIPPING_RATES, shipment, idempotency_key)

    async def buy(
        self, shipment_id: str, rate_id: str, *, idempotency_key: str | None = None
    ) -> Label:
        """Buy the label of a shipment at one of its rates."""
        request = BuyLabel(shipment_id, rate_id)
        return await self._call(SHIPPING_BUY, request, idempotency_key)

    async def track(
        self, tracking_code: str, carrier: str | None = None, *, idempotency_key: str | None = None
    ) -> Tracking:
        """Where the parcel is now, with its history."""
        request = TrackRequest(tracking_code, carrier)
        return await self._call(SHIPPING_TRACK, request, idempotency_key)

    async def cancel(self, shipment_id: str, *, idempotency_key: str | None = None) -> Cancellation:
        """Cancel a shipment and ask for its label to be refunded."""
        request = CancelShipment(shipment_id)
        return await self._call(SHIPPING_CANCEL, request, idempotency_key)

    async def validate_address(
        self, address: Address, *, idempotency_key: str | None = None
    ) -> AddressValidation:
        """Whether `address` is deliverable, and its corrected form."""
        return await self._call(SHIPPING_VALIDATE_ADDRESS, address, idempotency_key)


class AsyncApiConnector(AsyncConnector, WebSockets):  # unasync: class ApiConnector(Connector):
    """Call a declared API (category ``api``): an endpoint of an ``http`` connector with
    `call`, a GraphQL operation with `query`, a WebSocket session with `session` (on the
    asynchronous manager only).

    >>> answer = await crm.call("find_contact", path={"contact_id": 42})  # doctest: +SKIP
    >>> answer.status, answer.json()["name"]  # doctest: +SKIP
    (200, 'Ada')
    """

    async def call(
        self,
        endpoint: str,
        *,
        path: Mapping[str, str | int] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = msgspec.UNSET,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> ApiResponse[Any]:
        """Call `endpoint`: `path` fills its ``{placeholders}``, `params` is the query,
        `json` (or raw `content`) the body, `headers` extra headers. A non-2xx answer raises
        the error it means; the answer's `data` is decoded when the endpoint declares a
        ``response_type``. Checked before anything is sent (`ValueError`, `TypeError`)."""
        operation = self.operation(endpoint)
        if operation.adapter_method != "call":  # a GraphQL, WebSocket or gRPC operation
            raise ConnectorError(
                f"{endpoint!r} is not an HTTP endpoint of this connector (vendor "
                f"{self.vendor!r}); its operations: {', '.join(self.category.operations)}",
                connector=self.name,
            )
        declared = self.settings.options.endpoints[endpoint]
        if operation.sends_key and idempotency_key is not None and not idempotency_key.isascii():
            raise ValueError(
                f"endpoint {endpoint!r} sends the idempotency key in a header: it must be ASCII"
            )
        request = ApiRequest.build(
            endpoint,
            declared.path,
            path=path,
            params=params,
            json=json,
            content=content,
            headers=headers,
        )
        return await self._call(operation, request, idempotency_key)

    acall = call  # unasync: delete

    async def query(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> GraphQLResult:
        """Run a GraphQL query or mutation (vendor ``graphql``): the answer's `data`, with
        the `errors` of fields that failed when others did not; an answer with errors and no
        data raises the error its first ``extensions.code`` means. A query is a read
        (cached when configured, retried); a mutation is retried only when the connector
        declares mutations idempotent or sends idempotency keys."""
        from ._graphql_document import operation_type

        kind = operation_type(document, operation_name)
        if kind == "subscription":
            raise ValueError("a GraphQL subscription needs a WebSocket session, not query()")
        if kind not in self.category.operations:
            raise ConnectorError(
                f"connector {self.name!r} (vendor {self.vendor!r}) does not run GraphQL "
                "documents; use a connector of vendor 'graphql'",
                connector=self.name,
            )
        request = GraphQLRequest(
            document=document,
            variables=check_variables(variables or {}),
            operation_name=operation_name,
        )
        result: GraphQLResult = await self._call(self.operation(kind), request, idempotency_key)
        return result


#: The asynchronous connector class of each category.
ASYNC_CONNECTOR_TYPES: dict[str, type[AsyncConnector]] = {
    "email": AsyncEmailConnector,
    "sms": AsyncSmsConnector,
    "payment": AsyncPaymentConnector,
    "cloud_storage": AsyncCloudStorageConnector,
    "shipping": AsyncShippingConnector,
    "api": AsyncApiConnector,
}
