"""A declared REST connector (category ``api``, vendor ``http``) over real sockets on
127.0.0.1: OAuth2 client credentials, idempotent retries, the read cache, path escaping."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nexus_connector_core import (
    ApiRequest,
    ApiResponse,
    AsyncConnectorManager,
    ConnectorManager,
    ObjectNotFoundError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock, Fault


class Contact(msgspec.Struct):
    id: int
    name: str


def manager(crm: Any, **resilience: Any) -> ConnectorManager:
    config = crm.config(**resilience)
    return ConnectorManager.from_config(config, environ=crm.env, clock=FakeClock())


def test_oauth2_token_is_fetched_once_for_many_calls(crm: Any) -> None:
    with manager(crm) as m:
        api = m.connector("crm", "api")
        answers = [api.call("find_contact", path={"contact_id": n}) for n in (1, 2, 3)]
    assert [a.json()["id"] for a in answers] == [1, 2, 3]
    assert crm.api.token_requests == 1
    calls = [r for r in crm.server.requests if r.path.startswith("/api")]
    assert {r.headers["authorization"] for r in calls} == {"Bearer tok-1"}


def test_oauth2_token_is_shared_by_managers_on_one_state_backend(crm: Any) -> None:
    with manager(crm) as first:
        first.connector("crm").call("find_contact", path={"contact_id": 1})
        second = ConnectorManager.from_config(
            crm.config(), environ=crm.env, clock=FakeClock(), state=first.state
        )
        with second:
            second.connector("crm").call("find_contact", path={"contact_id": 2})
    assert crm.api.token_requests == 1


def test_a_401_triggers_one_token_refresh_and_replay(crm: Any) -> None:
    with manager(crm) as m:
        api = m.connector("crm", "api")
        api.call("find_contact", path={"contact_id": 1})
        crm.api.revoke_tokens()  # the API no longer accepts tok-1
        answer = api.call("find_contact", path={"contact_id": 2})
    assert answer.status == 200
    assert crm.api.token_requests == 2
    calls = [r for r in crm.server.requests if r.path.startswith("/api")]
    auths = [r.headers.get("authorization") for r in calls]
    assert auths == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


async def test_async_oauth2_refreshes_once_on_401(crm: Any) -> None:
    config = crm.config()
    async with AsyncConnectorManager.from_config(config, environ=crm.env, clock=FakeClock()) as m:
        api = m.connector("crm", "api")
        await api.call("find_contact", path={"contact_id": 1})
        crm.api.revoke_tokens()
        answer = await api.acall("find_contact", path={"contact_id": 2})
    assert answer.json() == {"id": 2, "name": "Ada Lovelace"}
    assert crm.api.token_requests == 2


def test_a_post_reset_after_it_was_applied_is_retried_with_the_same_key_and_applied_once(
    crm: Any,
) -> None:
    crm.api.reset_after_next_invoice = True
    with manager(crm) as m:
        answer = m.connector("crm").call("create_invoice", json={"amount": 1999})
        record = m.call_log[-1]
    posts = [r for r in crm.server.requests if r.path == "/api/invoices"]
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert crm.api.created == 1  # applied once
    assert answer.status == 201
    assert answer.json() == {"id": "inv_1", "amount": 1999}
    assert answer.headers["idempotent-replayed"] == "true"
    assert (record.operation, record.attempts, record.status) == ("create_invoice", 2, "ok")


def test_the_callers_idempotency_key_is_sent_and_a_repeat_is_answered_from_the_store(
    crm: Any,
) -> None:
    with manager(crm) as m:
        api = m.connector("crm")
        first = api.call("create_invoice", json={"amount": 5}, idempotency_key="order-77")
        again = api.call("create_invoice", json={"amount": 5}, idempotency_key="order-77")
    posts = [r for r in crm.server.requests if r.path == "/api/invoices"]
    assert [p.headers["idempotency-key"] for p in posts] == ["order-77"]
    assert again == first


def test_a_post_without_a_key_header_is_not_retried_after_a_reset(crm: Any) -> None:
    config = crm.config()
    del config["connectors"]["crm"]["endpoints"]["create_invoice"]["idempotency_header"]
    with ConnectorManager.from_config(config, environ=crm.env, clock=FakeClock()) as m:
        api = m.connector("crm")
        api.call("find_contact", path={"contact_id": 1})  # the token first
        crm.server.script(Fault.reset_after_request())
        with pytest.raises(VendorUnavailableError) as raised:
            api.call("create_invoice", json={"amount": 5})
    assert raised.value.maybe_processed
    assert [r.path for r in crm.server.requests].count("/api/invoices") == 1


def test_a_cached_get_is_answered_without_a_second_request(crm: Any) -> None:
    with manager(crm, operations={"find_contact": {"cache": {"ttl": 60}}}) as m:
        api = m.connector("crm")
        first = api.call("find_contact", path={"contact_id": 7})
        second = api.call("find_contact", path={"contact_id": 7})
        other = api.call("find_contact", path={"contact_id": 8})
        records = m.call_log
    assert crm.api.contact_reads == 2
    assert second == first
    assert other.json()["id"] == 8
    assert [r.cached for r in records] == [False, True, False]


def test_a_declared_response_type_decodes_the_body(crm: Any) -> None:
    config = crm.config()
    endpoint = config["connectors"]["crm"]["endpoints"]["find_contact"]
    endpoint["response_type"] = f"{__name__}:Contact"
    with ConnectorManager.from_config(config, environ=crm.env, clock=FakeClock()) as m:
        answer = m.connector("crm").call("find_contact", path={"contact_id": 3})
    assert answer.json() == Contact(id=3, name="Ada Lovelace")
    assert isinstance(answer, ApiResponse)


@pytest.mark.parametrize(
    "value",
    ["..", ".", "a/b", "a?b=1", "x#y", "", "a\\b", "line\nbreak", True, 1.5],
)
def test_a_path_parameter_that_would_change_the_url_is_refused_before_sending(
    crm: Any, value: object
) -> None:
    with manager(crm) as m, pytest.raises((ValueError, TypeError)) as raised:
        m.connector("crm").call("find_contact", path={"contact_id": value})
    assert "contact_id" in str(raised.value)
    assert crm.server.hits == 0


def test_path_parameters_are_percent_encoded(crm: Any) -> None:
    with manager(crm) as m, pytest.raises(ObjectNotFoundError):
        m.connector("crm").call("find_contact", path={"contact_id": "a b&c%2F"})
    assert crm.server.requests[-1].path == "/api/contacts/a%20b%26c%252F"


def test_missing_and_unknown_path_parameters_are_named(crm: Any) -> None:
    with manager(crm) as m:
        api = m.connector("crm")
        with pytest.raises(ValueError, match="missing contact_id; unknown id"):
            api.call("find_contact", path={"id": 1})
    assert crm.server.hits == 0


def test_query_values_must_be_finite(crm: Any) -> None:
    with manager(crm) as m:
        api = m.connector("crm")
        with pytest.raises(ValueError, match="'limit' is nan"):
            api.call("find_contact", path={"contact_id": 1}, params={"limit": float("nan")})


def test_a_json_body_holding_infinity_is_refused(crm: Any) -> None:
    with manager(crm) as m, pytest.raises(ValueError, match="JSON cannot carry"):
        m.connector("crm").call("create_invoice", json={"amount": float("inf")})
    assert crm.server.hits == 0


def test_an_unknown_endpoint_lists_the_declared_ones(crm: Any) -> None:
    with manager(crm) as m, pytest.raises(Exception, match="find_contact, create_invoice"):
        m.connector("crm").call("find_contacts", path={"contact_id": 1})


def test_no_secret_appears_in_the_log_or_an_error(crm: Any, caplog: Any) -> None:
    crm.api.revoke_tokens()
    with manager(crm) as m:
        m.connector("crm").call("find_contact", path={"contact_id": 1})
        text = repr(m.call_log) + repr(m.config.connectors["crm"]) + caplog.text
    assert "s3cret-client-VALUE" not in text


def test_a_request_built_by_hand_is_checked_again_before_sending(crm: Any) -> None:
    with manager(crm) as m:
        api = m.connector("crm")
        api.call("find_contact", path={"contact_id": 1})  # the token first
        hits = crm.server.hits
        climbing = ApiRequest(endpoint="find_contact", path={"contact_id": ".."})
        with pytest.raises(ValueError, match="climb"):
            api.invoke("find_contact", climbing)
        other = ApiRequest(endpoint="create_invoice")
        with pytest.raises(ValueError, match="carries a request for endpoint"):
            api.invoke("find_contact", other)
    assert crm.server.hits == hits
