"""``nexus-connector export postman|openapi``: the declared endpoints as a Postman
Collection v2.1 (checked against a JSON Schema of the format) and an OpenAPI 3.1 description
(checked by openapi-spec-validator), with no secret value in either."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from nexus_connector_core import load_config
from nexus_connector_core._api_export import openapi_document, postman_collection
from nexus_connector_core.cli import cli

jsonschema = pytest.importorskip("jsonschema")

SECRETS = {
    "CRM_ID": "crm-client-id-VALUE",
    "CRM_SECRET": "crm-client-secret-VALUE",
    "SHOP_TOKEN": "shop-token-VALUE",
    "ERP_KEY": "erp-api-key-VALUE",
}
LITERAL = "literal-password-VALUE"


class Contact(msgspec.Struct):
    id: int
    name: str
    email: str | None = None


CONFIG = f"""
[connectors.crm]
category = "api"
vendor = "http"

[connectors.crm.options]
base_url = "https://crm.example.com/api"
headers = {{ Accept = "application/json" }}

[connectors.crm.auth]
kind = "oauth2_client_credentials"
token_url = "https://crm.example.com/oauth/token"
client_id = "env:CRM_ID"
client_secret = "env:CRM_SECRET"
scope = "contacts invoices"

[connectors.crm.endpoints.find_contact]
method = "GET"
path = "/contacts/{{contact_id}}"
reads = true
response_type = "{__name__}:Contact"
description = "One contact by id"

[connectors.crm.endpoints.create_invoice]
method = "POST"
path = "/invoices"
idempotency_header = "Idempotency-Key"

[connectors.erp]
category = "api"
vendor = "http"
options = {{ base_url = "https://erp.example.com" }}
auth = {{ kind = "api_key", key = "env:ERP_KEY", header = "X-Api-Key" }}

[connectors.erp.endpoints.stock]
method = "GET"
path = "/stock/{{sku}}.json"

[connectors.legacy]
category = "api"
vendor = "http"
options = {{ base_url = "https://legacy.example.com" }}
auth = {{ kind = "basic", username = "svc", password = "literal:{LITERAL}" }}

[connectors.legacy.endpoints.ping]
method = "HEAD"
path = "/ping"

[connectors.shop]
category = "api"
vendor = "graphql"
options = {{ url = "https://shop.example.com/graphql" }}
auth = {{ kind = "bearer", token = "env:SHOP_TOKEN" }}

[connectors.sms]
vendor = "memory"
"""

# The Postman Collection format v2.1.0, as its documentation describes it (info, items and
# folders, requests, URLs, headers, bodies, auth helpers, variables): written from the
# documented structure, since the official schema file cannot be fetched here. Stricter
# than the official one where it forbids keys the format does not define.
_VARIABLE = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "value": {},
        "type": {"enum": ["string", "boolean", "any", "number"]},
        "description": {"type": "string"},
        "disabled": {"type": "boolean"},
    },
    "required": ["key"],
    "additionalProperties": False,
}
_AUTH_ATTRIBUTE = {
    "type": "object",
    "properties": {"key": {"type": "string"}, "value": {}, "type": {"type": "string"}},
    "required": ["key"],
    "additionalProperties": False,
}
_AUTH_TYPES = ["awsv4", "basic", "bearer", "digest", "hawk", "noauth", "oauth1", "oauth2", "ntlm"]
_HEADER = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "value": {"type": "string"},
        "disabled": {"type": "boolean"},
        "description": {"type": "string"},
    },
    "required": ["key", "value"],
    "additionalProperties": False,
}
POSTMAN_V21 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {
        "auth": {
            "type": "object",
            "properties": {
                "type": {"enum": _AUTH_TYPES},
                **{kind: {"type": "array", "items": _AUTH_ATTRIBUTE} for kind in _AUTH_TYPES},
            },
            "required": ["type"],
            "additionalProperties": False,
        },
        "url": {
            "type": "object",
            "properties": {
                "raw": {"type": "string"},
                "protocol": {"type": "string"},
                "host": {"type": "array", "items": {"type": "string"}},
                "path": {"type": "array", "items": {"type": "string"}},
                "port": {"type": "string"},
                "query": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "key": {"type": ["string", "null"]},
                            "value": {"type": ["string", "null"]},
                            "disabled": {"type": "boolean"},
                            "description": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                },
                "variable": {"type": "array", "items": {"$ref": "#/definitions/variable"}},
            },
            "required": ["raw"],
            "additionalProperties": False,
        },
        "variable": _VARIABLE,
        "request": {
            "type": "object",
            "properties": {
                "url": {"$ref": "#/definitions/url"},
                "auth": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/auth"}]},
                "method": {"type": "string"},
                "description": {"type": "string"},
                "header": {"type": "array", "items": _HEADER},
                "body": {
                    "type": "object",
                    "properties": {
                        "mode": {"enum": ["raw", "urlencoded", "formdata", "file"]},
                        "raw": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["url", "method"],
            "additionalProperties": False,
        },
        "item": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "request": {"$ref": "#/definitions/request"},
                "response": {"type": "array"},
                "variable": {"type": "array", "items": {"$ref": "#/definitions/variable"}},
            },
            "required": ["request"],
            "additionalProperties": False,
        },
        "item-group": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "item": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"$ref": "#/definitions/item"},
                            {"$ref": "#/definitions/item-group"},
                        ]
                    },
                },
                "auth": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/auth"}]},
                "variable": {"type": "array", "items": {"$ref": "#/definitions/variable"}},
            },
            "required": ["item"],
            "additionalProperties": False,
        },
    },
    "properties": {
        "info": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "_postman_id": {"type": "string"},
                "description": {"type": "string"},
                "schema": {
                    "const": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
                },
            },
            "required": ["name", "schema"],
            "additionalProperties": False,
        },
        "item": {
            "type": "array",
            "items": {
                "oneOf": [{"$ref": "#/definitions/item"}, {"$ref": "#/definitions/item-group"}]
            },
        },
        "auth": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/auth"}]},
        "variable": {"type": "array", "items": {"$ref": "#/definitions/variable"}},
    },
    "required": ["info", "item"],
    "additionalProperties": False,
}


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "connectors.toml"
    path.write_text(CONFIG)
    return path


def _no_secret_in(text: str) -> None:
    for value in (*SECRETS.values(), LITERAL):
        assert value not in text


def test_the_postman_collection_validates_against_the_v2_1_format(config_file: Path) -> None:
    collection = postman_collection(load_config(config_file))
    jsonschema.Draft7Validator.check_schema(POSTMAN_V21)
    jsonschema.validate(collection, POSTMAN_V21, cls=jsonschema.Draft7Validator)
    assert [folder["name"] for folder in collection["item"]] == ["crm", "erp", "legacy", "shop"]


def test_the_postman_collection_holds_no_secret_value(config_file: Path) -> None:
    text = json.dumps(postman_collection(load_config(config_file)))
    _no_secret_in(text)


def test_secrets_are_empty_postman_variables_that_name_their_source(config_file: Path) -> None:
    collection = postman_collection(load_config(config_file))
    variables = {v["key"]: v for v in collection["variable"]}
    assert variables["crm_base_url"]["value"] == "https://crm.example.com/api"
    assert variables["crm_client_secret"]["value"] == ""
    assert "env:CRM_SECRET" in variables["crm_client_secret"]["description"]
    assert variables["legacy_password"]["value"] == ""
    assert "literal" not in variables["legacy_password"]["description"]
    crm = collection["item"][0]
    oauth2 = {a["key"]: a["value"] for a in crm["auth"]["oauth2"]}
    assert oauth2["clientSecret"] == "{{crm_client_secret}}"
    assert oauth2["accessTokenUrl"] == "https://crm.example.com/oauth/token"


def test_each_endpoint_is_a_request_with_its_path_parameters_and_key_header(
    config_file: Path,
) -> None:
    crm, erp = postman_collection(load_config(config_file))["item"][:2]
    find, create = crm["item"]
    assert find["request"]["url"]["raw"] == "{{crm_base_url}}/contacts/:contact_id"
    assert find["request"]["url"]["variable"][0]["key"] == "contact_id"
    assert create["request"]["method"] == "POST"
    headers = {h["key"]: h["value"] for h in create["request"]["header"]}
    assert headers["Idempotency-Key"] == "{{$guid}}"
    stock = erp["item"][0]["request"]
    assert stock["url"]["path"] == ["stock", "{{sku}}.json"]
    assert {h["key"]: h["value"] for h in stock["header"]} == {"X-Api-Key": "{{erp_api_key}}"}


def test_export_postman_writes_the_file(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "collection.json"
    result = CliRunner().invoke(
        cli, ["export", "postman", "crm", "--config", str(config_file), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    collection = json.loads(out.read_text())
    jsonschema.validate(collection, POSTMAN_V21, cls=jsonschema.Draft7Validator)
    assert [f["name"] for f in collection["item"]] == ["crm"]
    _no_secret_in(out.read_text() + result.output)


def test_the_openapi_document_validates(config_file: Path) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    document = openapi_document(load_config(config_file))
    validator.validate(document)
    _no_secret_in(json.dumps(document))
    find = document["paths"]["/contacts/{contact_id}"]
    assert find["servers"] == [{"url": "https://crm.example.com/api"}]
    schema = find["get"]["responses"]["2XX"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Contact"}
    assert document["components"]["securitySchemes"]["crm_auth"]["type"] == "oauth2"


def test_export_openapi_writes_a_valid_document(config_file: Path, tmp_path: Path) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    out = tmp_path / "openapi.json"
    result = CliRunner().invoke(
        cli, ["export", "openapi", "--config", str(config_file), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    validator.validate(json.loads(out.read_text()))


def test_exporting_a_connector_of_another_category_is_a_config_error(config_file: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "postman", "sms", "--config", str(config_file)])
    assert result.exit_code == 3
    assert "not of category 'api'" in result.output


QUERY_KEYS = """
[connectors.tax]
category = "api"
vendor = "http"
options = { base_url = "https://tax.example.com" }
auth = { kind = "api_key", key = "env:TAX_KEY", query = "apikey" }
[connectors.tax.endpoints.rate]
method = "GET"
path = "/rates/{country}"

[connectors.shop]
category = "api"
vendor = "graphql"
options = { url = "https://shop.example.com/graphql" }
auth = { kind = "api_key", key = "env:SHOP_KEY", query = "key" }
"""


def test_an_api_key_sent_in_the_query_is_in_every_requests_raw_url_graphql_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAX_KEY", "tax-key-VALUE")
    monkeypatch.setenv("SHOP_KEY", "shop-key-VALUE")
    path = tmp_path / "connectors.toml"
    path.write_text(QUERY_KEYS, encoding="utf-8")

    collection = postman_collection(load_config(path))

    jsonschema.validate(collection, POSTMAN_V21, cls=jsonschema.Draft7Validator)
    (rate,), (query,) = (folder["item"] for folder in collection["item"])
    assert rate["request"]["url"]["raw"] == "{{tax_base_url}}/rates/:country?apikey={{tax_api_key}}"
    assert query["request"]["url"]["raw"] == "{{shop_base_url}}?key={{shop_api_key}}"
    assert query["request"]["url"]["query"] == [{"key": "key", "value": "{{shop_api_key}}"}]
    assert "VALUE" not in json.dumps(collection)


STREAMS = """
[connectors.crm]
category = "api"
vendor = "http"
options = { base_url = "https://crm.example.com/api" }
[connectors.crm.endpoints.find]
method = "GET"
path = "/contacts/{id}"

[connectors.inventory]
category = "api"
vendor = "grpc"
options = { target = "127.0.0.1:50051", tls = false }

[connectors.feed]
category = "api"
vendor = "websocket"
options = { url = "wss://feed.example.com/v1" }
"""


def test_export_leaves_out_grpc_and_websocket_connectors_which_declare_no_requests(
    tmp_path: Path,
) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(STREAMS, encoding="utf-8")
    out = tmp_path / "collection.json"

    result = CliRunner().invoke(cli, ["export", "postman", "--config", str(path), "-o", str(out)])

    assert result.exit_code == 0, result.output
    collection = json.loads(out.read_text())
    assert [folder["name"] for folder in collection["item"]] == ["crm"]
    assert collection["info"]["name"] == "Nexus Connector: crm"


@pytest.mark.parametrize("named", ["inventory", "feed"])
def test_naming_a_connector_without_requests_to_export_says_which_vendors_export(
    tmp_path: Path, named: str
) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(STREAMS, encoding="utf-8")

    result = CliRunner().invoke(cli, ["export", "postman", named, "--config", str(path)])

    assert result.exit_code == 3
    assert f"connectors.{named}.vendor" in result.output
    assert "export covers the vendors http, graphql" in result.output
    assert "Traceback" not in result.output
