"""Vendor ``graphql`` against a real GraphQL server (an Ariadne app under uvicorn on
127.0.0.1): queries are reads (cached, retried), mutations are not idempotent unless
declared, GraphQL errors become the library's errors with partial data kept."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    AuthenticationError,
    ConnectorManager,
    InvalidRequestError,
    ObjectNotFoundError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock

ariadne = pytest.importorskip("ariadne")
ariadne_asgi = pytest.importorskip("ariadne.asgi")
graphql = pytest.importorskip("graphql")

SCHEMA = """
type Query {
    product(id: ID!): Product!
    secret: String!
    products: [Product!]!
    broken: String
}
type Product { id: ID!, name: String!, price: Int! }
type Mutation { addProduct(name: String!, price: Int!): Product! }
"""


class Shop:
    """A product catalogue as a GraphQL app, with a switch to answer 503 before the app."""

    url: str

    def __init__(self) -> None:
        self.reset()
        query, mutation = ariadne.QueryType(), ariadne.MutationType()
        query.set_field("product", self._product)
        query.set_field("products", lambda *_: list(self.products.values()))
        query.set_field("secret", self._secret)
        query.set_field("broken", self._broken)
        mutation.set_field("addProduct", self._add)
        schema = ariadne.make_executable_schema(SCHEMA, query, mutation)
        self.app = ariadne_asgi.GraphQL(schema, debug=False)

    def reset(self) -> None:
        self.products = {"1": {"id": "1", "name": "Kettle", "price": 2500}}
        self.requests = 0
        self.mutations = 0
        self.fail_next = 0

    def _product(self, _: Any, __: Any, id: str) -> Any:
        if id not in self.products:
            raise graphql.GraphQLError("no such product", extensions={"code": "NOT_FOUND"})
        return self.products[id]

    def _secret(self, *_: Any) -> Any:
        raise graphql.GraphQLError("sign in first", extensions={"code": "UNAUTHENTICATED"})

    def _broken(self, *_: Any) -> Any:
        raise graphql.GraphQLError("resolver failed", extensions={"code": "BOOM"})

    def _add(self, _: Any, __: Any, name: str, price: int) -> Any:
        self.mutations += 1
        product = {"id": str(len(self.products) + 1), "name": name, "price": price}
        self.products[product["id"]] = product
        return product

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
            if self.fail_next:
                self.fail_next -= 1
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"busy"})
                return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def served_shop(serve_asgi: Any) -> Shop:
    shop = Shop()
    shop.url = serve_asgi(shop)
    return shop


@pytest.fixture
def shop(served_shop: Shop) -> Shop:
    served_shop.reset()
    return served_shop


def config(url: str, **options: Any) -> dict[str, Any]:
    return {
        "connectors": {
            "shop": {
                "category": "api",
                "vendor": "graphql",
                "options": {"url": f"{url}/graphql", **options},
                "resilience": {
                    "retry": {"max_attempts": 3, "base": 0.01, "jitter": "none"},
                    "operations": {"query": {"cache": {"ttl": 30}}},
                },
            }
        },
        "observability": {"loggers": ["memory"]},
    }


def manager(shop: Any, **options: Any) -> ConnectorManager:
    return ConnectorManager.from_config(config(shop.url, **options), clock=FakeClock())


PRODUCT = "query Product($id: ID!) { product(id: $id) { name price } }"
ADD = "mutation Add($n: String!, $p: Int!) { addProduct(name: $n, price: $p) { id } }"


def test_a_query_returns_its_data(shop: Any) -> None:
    with manager(shop) as m:
        result = m.connector("shop", "api").query(PRODUCT, {"id": "1"})
    assert result.data == {"product": {"name": "Kettle", "price": 2500}}
    assert result.errors == ()


async def test_a_query_through_the_async_manager(shop: Any) -> None:
    async with AsyncConnectorManager.from_config(config(shop.url), clock=FakeClock()) as m:
        result = await m.connector("shop", "api").query("{ products { name } }")
    assert result.data == {"products": [{"name": "Kettle"}]}


def test_a_query_is_a_read_served_from_the_cache(shop: Any) -> None:
    with manager(shop) as m:
        shop_api = m.connector("shop")
        first = shop_api.query(PRODUCT, {"id": "1"})
        second = shop_api.query(PRODUCT, {"id": "1"})
        records = m.call_log
    assert second == first
    assert shop.requests == 1
    assert [(r.operation, r.cached) for r in records] == [("query", False), ("query", True)]


def test_a_query_is_retried_after_a_503(shop: Any) -> None:
    shop.fail_next = 1
    with manager(shop) as m:
        result = m.connector("shop").query("{ products { id } }")
        record = m.call_log[-1]
    assert result.data == {"products": [{"id": "1"}]}
    assert record.attempts == 2


def test_a_mutation_runs_and_is_not_retried_after_a_503(shop: Any) -> None:
    with manager(shop) as m:
        shop_api = m.connector("shop")
        added = shop_api.query(ADD, {"n": "Teapot", "p": 1800})
        shop.fail_next = 1
        with pytest.raises(VendorUnavailableError) as raised:
            shop_api.query(ADD, {"n": "Mug", "p": 900})
        records = m.call_log
    assert added.data == {"addProduct": {"id": "2"}}
    assert raised.value.maybe_processed
    assert [(r.operation, r.attempts) for r in records] == [("mutation", 1), ("mutation", 1)]
    assert shop.mutations == 1


def test_a_mutation_declared_idempotent_is_retried(shop: Any) -> None:
    shop.fail_next = 1
    with manager(shop, mutations_idempotent=True) as m:
        m.connector("shop").query(ADD, {"n": "Mug", "p": 900})
        record = m.call_log[-1]
    assert (record.operation, record.attempts) == ("mutation", 2)
    assert shop.mutations == 1


def test_an_error_without_data_is_raised_by_its_extensions_code(shop: Any) -> None:
    with manager(shop) as m:
        with pytest.raises(ObjectNotFoundError) as missing:
            m.connector("shop").query(PRODUCT, {"id": "404"})
        with pytest.raises(AuthenticationError):
            m.connector("shop").query("{ secret }")
    # product is non-null: its error nulls the whole data, so nothing is partial
    assert missing.value.code == "NOT_FOUND"
    assert missing.value.fields == {"product": ("no such product",)}


def test_partial_data_is_kept_with_its_errors(shop: Any) -> None:
    with manager(shop) as m:
        result = m.connector("shop").query("{ products { name } broken }")
    assert result.data == {"products": [{"name": "Kettle"}], "broken": None}
    assert [(e.message, e.path, e.code) for e in result.errors] == [
        ("resolver failed", ("broken",), "BOOM")
    ]


def test_an_invalid_document_is_an_invalid_request(shop: Any) -> None:
    with manager(shop) as m, pytest.raises(InvalidRequestError):
        m.connector("shop").query("{ nosuchfield }")


def test_a_subscription_or_an_ambiguous_document_is_refused_before_sending(shop: Any) -> None:
    with manager(shop) as m:
        api = m.connector("shop")
        with pytest.raises(ValueError, match="WebSocket"):
            api.query("subscription { ticks }")
        with pytest.raises(ValueError, match="operation_name"):
            api.query("query A { products { id } } query B { secret }")
    assert shop.requests == 0
