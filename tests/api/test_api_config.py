"""The config of ``api`` connectors: endpoints and auth checked with their key paths, every
endpoint an operation with its own flags, nothing half-applied."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import ConfigError, ConnectorManager, Secret, load_config


def http_connector(**table: Any) -> dict[str, Any]:
    connector: dict[str, Any] = {
        "category": "api",
        "vendor": "http",
        "options": {"base_url": "https://crm.example.com/api"},
        "endpoints": {"find_contact": {"method": "GET", "path": "/contacts/{id}", "reads": True}},
    }
    connector.update(table)
    return {"connectors": {"crm": connector}}


def problems(config: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ=environ or {})
    return {p.path or "": p.detail for p in raised.value.problems}


def test_each_endpoint_is_an_operation_with_its_own_flags() -> None:
    config = http_connector(
        endpoints={
            "find_contact": {"method": "GET", "path": "/contacts/{id}", "reads": True},
            "replace_contact": {"method": "PUT", "path": "/contacts/{id}"},
            "create_invoice": {
                "method": "POST",
                "path": "/invoices",
                "idempotency_header": "Idempotency-Key",
            },
            "send_note": {"method": "POST", "path": "/notes"},
            "bump": {"method": "PATCH", "path": "/counters/{id}", "idempotent": True},
        }
    )
    operations = load_config(config, environ={}).connectors["crm"].contract.operations
    flags = {
        name: (op.idempotent, op.reads, op.sends_key, op.adapter_method)
        for name, op in operations.items()
    }
    assert flags == {
        "find_contact": (True, True, False, "call"),
        "replace_contact": (True, False, False, "call"),
        "create_invoice": (False, False, True, "call"),
        "send_note": (False, False, False, "call"),
        "bump": (True, False, False, "call"),
    }


def test_resilience_may_be_set_per_endpoint() -> None:
    config = http_connector(
        resilience={"timeout": 5.0, "operations": {"find_contact": {"timeout": 1.0}}}
    )
    settings = load_config(config, environ={}).connectors["crm"]
    assert settings.resilience["find_contact"].timeout == 1.0


def test_a_resilience_table_for_an_undeclared_endpoint_is_refused() -> None:
    found = problems(http_connector(resilience={"operations": {"find_contacts": {}}}))
    assert (
        "api has no operation 'find_contacts'"
        in found["connectors.crm.resilience.operations.find_contacts"]
    )


@pytest.mark.parametrize(
    ("endpoint", "where", "says"),
    [
        ({"method": "GET", "path": "contacts"}, "path", "must start with '/'"),
        ({"method": "GET", "path": "/a/../b"}, "path", "'..'"),
        ({"method": "GET", "path": "/a?x=1"}, "path", "query"),
        ({"method": "GET", "path": "/a/{id}/{id}"}, "path", "once"),
        ({"method": "GET", "path": "/a/{id"}, "path", "braces"),
        ({"method": "FETCH", "path": "/a"}, "method", "GET"),
        ({"method": "GET", "path": "/a", "idempotency_header": "Bad Header"}, None, "header"),
        ({"method": "GET", "path": "/a", "retries": 3}, "retries", "unknown"),
        ({"path": "/a"}, "method", "required"),
    ],
)
def test_a_bad_endpoint_is_reported_at_its_key_path(
    endpoint: dict[str, Any], where: str | None, says: str
) -> None:
    found = problems(http_connector(endpoints={"find_contact": endpoint}))
    base = "connectors.crm.endpoints.find_contact"
    path = f"{base}.{where}" if where else next(p for p in found if p.startswith(base))
    assert path in found, found
    assert says.lower() in found[path].lower()


def test_an_unimportable_response_type_is_reported() -> None:
    endpoint = {"method": "GET", "path": "/a", "response_type": "no_such_module:Contact"}
    found = problems(http_connector(endpoints={"find_contact": endpoint}))
    assert "cannot import" in found["connectors.crm.endpoints.find_contact.response_type"]


def test_an_endpoint_name_must_be_an_identifier() -> None:
    found = problems(http_connector(endpoints={"Find-Contact": {"method": "GET", "path": "/a"}}))
    assert "lowercase" in found["connectors.crm.endpoints.Find-Contact"]


def test_an_http_connector_without_endpoints_is_refused() -> None:
    found = problems(http_connector(endpoints={}))
    assert "declares no operation" in found["connectors.crm.endpoints"]


def test_endpoints_on_another_category_are_refused() -> None:
    config = {"connectors": {"sms": {"vendor": "memory", "endpoints": {"x": {}}}}}
    assert "only connectors of category 'api'" in problems(config)["connectors.sms.endpoints"]


def test_an_unknown_auth_kind_lists_the_kinds() -> None:
    found = problems(http_connector(auth={"kind": "oauth3"}))
    assert "oauth2_client_credentials" in found["connectors.crm.auth.kind"]


def test_a_missing_auth_secret_is_reported_without_its_value() -> None:
    auth = {"kind": "bearer", "token": "env:CRM_TOKEN"}
    found = problems(http_connector(auth=auth))
    assert "CRM_TOKEN" in found["connectors.crm.auth.token"]


def test_auth_secrets_resolve_to_secrets() -> None:
    auth = {
        "kind": "oauth2_client_credentials",
        "token_url": "https://crm.example.com/token",
        "client_id": "env:CRM_ID",
        "client_secret": "env:CRM_SECRET",
        "scope": ["contacts", "invoices"],
    }
    env = {"CRM_ID": "id-1", "CRM_SECRET": "very-secret"}
    settings = load_config(http_connector(auth=auth), environ=env).connectors["crm"]
    resolved = settings.options.auth
    assert isinstance(resolved.client_secret, Secret)
    assert resolved.client_secret.reveal() == "very-secret"
    assert "very-secret" not in repr(settings)


def test_endpoints_written_under_options_are_refused() -> None:
    config = http_connector()
    config["connectors"]["crm"]["options"]["endpoints"] = {"x": {"method": "GET", "path": "/x"}}
    found = problems(config)
    assert "connectors.crm.options.endpoints" in found


@pytest.mark.parametrize(
    "url", ["crm.example.com", "ftp://x", "https://u:p@x/api", "https://x/?a=1"]
)
def test_a_bad_base_url_is_refused(url: str) -> None:
    config = http_connector(options={"base_url": url})
    assert "connectors.crm.options.base_url" in problems(config)


def test_a_bad_api_connector_leaves_nothing_half_applied() -> None:
    config = http_connector(endpoints={"find_contact": {"method": "GET", "path": "nope"}})
    config["connectors"]["sms"] = {"vendor": "memory"}
    with pytest.raises(ConfigError):
        ConnectorManager.from_config(config, environ={})
