"""No secret value in any log record, span attribute, exception message, repr or CLI output.

Known secret values are fed in everywhere a secret enters (env and file references, the
encrypted store, literals, auth methods, OAuth2, webhook secrets), the scenarios where a
leak would happen are driven (bad configs, failing calls, refused tokens, rejected webhooks,
every CLI command with --json), with every nexus_connector logger at DEBUG, and everything
produced is scanned: log records (message, arguments, attached structs), exception text,
arguments, notes and causes, reprs, and command output.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from nexus_connector_core import (
    SYSTEM_CLOCK,
    ConfigError,
    ConnectorError,
    ConnectorManager,
    Money,
    PaymentRequest,
    PluginRegistry,
    Secret,
    SmsMessage,
    load_config,
)
from nexus_connector_core._credential_store import EncryptedFileStore, MasterKeys, new_key
from nexus_connector_core.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HmacAuth,
    OAuth2ClientCredentials,
)
from nexus_connector_core.cli import cli
from nexus_connector_core.testing import Fault, FaultServer
from nexus_connector_core.webhooks import WebhookVerificationError, verify

CANARIES = {
    "env": "CANARY-env-7c1e9a52",
    "file": "CANARY-file-3b8d40f1",
    "store": "CANARY-store-9e2a6c17",
    "literal": "CANARY-literal-55d0b3aa",
    "bearer": "CANARY-bearer-a41f0c9e",
    "basic": "CANARY-basic-0f6e2d88",
    "hmac": "CANARY-hmac-c3b19e04",
    "client_secret": "CANARY-client-8d2f7a61",
    "webhook": "CANARY-webhook-1a9c5e33",
}


class Captured:
    """Everything a scenario produced, as text to scan."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, value: Any) -> None:
        self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def error(self, where: str, error: BaseException) -> None:
        """An exception with all it carries: message, repr, args, notes, causes, traceback."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.add(f"{where}: str", str(current))
            self.add(f"{where}: repr", repr(current))
            self.add(f"{where}: args", current.args)
            self.add(f"{where}: notes", getattr(current, "__notes__", []))
            self.add(f"{where}: attributes", vars(current) if hasattr(current, "__dict__") else {})
            current = current.__cause__ or current.__context__
        self.add(f"{where}: traceback", "".join(traceback.format_exception(error)))

    def leaks(self) -> list[str]:
        return [
            f"{where} contains the {name} secret"
            for where, text in self.texts
            for name, value in CANARIES.items()
            if value in text
        ]


class _Records(logging.Handler):
    def __init__(self, captured: Captured) -> None:
        super().__init__(logging.DEBUG)
        self.captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        self.captured.add(f"log {record.name}", record.getMessage())
        self.captured.add(f"log {record.name} (record)", vars(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    captured = Captured()
    handler = _Records(captured)
    logger = logging.getLogger("nexus_connector")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert captured.texts, "the scenario produced nothing to scan"
    assert captured.leaks() == []


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    key = new_key()
    store = EncryptedFileStore(
        tmp_path / "secrets.enc", MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": key})
    )
    store.set("sms_token", CANARIES["store"])
    (tmp_path / "token").write_text(CANARIES["file"] + "\n", encoding="utf-8")
    return {
        "SMS_KEY": CANARIES["env"],
        "NEXUS_CONNECTOR_SECRETS_KEY": key,
        "NEXUS_CONNECTOR_SECRETS_FILE": str(tmp_path / "secrets.enc"),
    }


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    credentials = {
        "env": "env:SMS_KEY",
        "file": f"file:{tmp_path / 'token'}",
        "store": "store:sms_token",
        "literal": CANARIES["literal"],
    }
    return {
        "connectors": {
            "sms": {"vendor": "memory", "credentials": credentials, "options": {"fail_first": 1}},
            "payment": {"vendor": "memory", "credentials": credentials, **extra},
        },
        "observability": {"loggers": ["logging", "memory"]},
    }


def test_configs_managers_and_failing_calls_show_no_secret(
    tmp_path: Path, environ: dict[str, str], captured: Captured, registry: PluginRegistry
) -> None:
    config = load_config(_config(tmp_path), registry=registry, environ=environ)
    captured.add("config repr", config)
    for settings in config.connectors.values():
        captured.add("connector settings", settings)
        captured.add("adapter settings", settings.adapter_settings(SYSTEM_CLOCK))
        for secret in settings.credentials.values():
            captured.add("secret", f"{secret} {secret!r} {secret:>20}")
    with ConnectorManager(config) as manager:
        captured.add("manager", manager)
        with pytest.raises(ConnectorError) as failed:
            manager.sms.send(SmsMessage("+14155550100", "hi"))
        captured.error("failed call", failed.value)
        manager.payment.purchase(
            PaymentRequest(amount=Money(100, "EUR"), payment_method="pm_card_visa"),
            idempotency_key="order-1",
        )
        captured.add("call log", manager.call_log)


def test_config_errors_show_no_secret(
    tmp_path: Path, environ: dict[str, str], captured: Captured, registry: PluginRegistry
) -> None:
    broken = _config(tmp_path, unknown_key=CANARIES["literal"])
    broken["connectors"]["sms"]["options"] = {"latency": CANARIES["literal"]}
    broken["connectors"]["sms"]["credentials"]["odd"] = "weird:" + CANARIES["literal"]
    with pytest.raises(ConfigError) as caught:
        load_config(broken, registry=registry, environ=environ)
    captured.error("config error", caught.value)
    for problem in caught.value.problems:
        captured.error("config problem", problem)


def test_cli_output_shows_no_secret(
    tmp_path: Path, environ: dict[str, str], captured: Captured
) -> None:
    config = tmp_path / "connectors.toml"
    config.write_text(
        "[connectors.sms]\nvendor = 'memory'\noptions = { fail_first = 1 }\n"
        "credentials = { a = 'env:SMS_KEY', b = 'store:sms_token', "
        f"c = '{CANARIES['literal']}' }}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for args in (
        ["check", "--config", str(config), "--json"],
        ["check", "--config", str(config)],
        [
            "call",
            "sms",
            "send",
            "--config",
            str(config),
            "--json",
            '{"to": "+14155550100", "body": "hi"}',
        ],
        ["secrets", "list", "--json"],
        ["secrets", "get", "sms_token", "--json"],
        ["secrets", "get", "sms_token"],
        ["plugins", "--json"],
    ):
        result = runner.invoke(cli, args, env=environ)
        captured.add(f"cli {' '.join(args[:2])}", result.stdout + result.stderr)
        if result.exception and not isinstance(result.exception, SystemExit):
            captured.error(f"cli {args[0]}", result.exception)


def test_auth_methods_show_no_secret(captured: Captured) -> None:
    auths = [
        BearerAuth(CANARIES["bearer"]),
        BasicAuth(CANARIES["basic"], CANARIES["basic"]),
        ApiKeyAuth(Secret(CANARIES["bearer"])),
        ApiKeyAuth(CANARIES["bearer"], query="api_key"),
        HmacAuth(CANARIES["hmac"], signature_header="X-Signature"),
        OAuth2ClientCredentials("http://127.0.0.1:1/token", "client", CANARIES["client_secret"]),
    ]
    for auth in auths:
        captured.add("auth repr", auth)
        captured.add("auth str", str(auth))


def test_refused_tokens_show_no_secret(captured: Captured) -> None:
    # The vendor echoes the secret it was sent in its error: the message must mask it.
    def token_endpoint(request: Any) -> Fault:
        return Fault.respond(
            400,
            {
                "error": "invalid_client",
                "error_description": f"client secret {CANARIES['client_secret']} is wrong",
            },
        )

    with FaultServer() as server:
        server.default = token_endpoint
        auth = OAuth2ClientCredentials(f"{server.url}/token", "client", CANARIES["client_secret"])
        with httpx.Client() as client, pytest.raises(ConnectorError) as refused:
            client.get(f"{server.url}/api", auth=auth)
        captured.error("refused token", refused.value)
        with httpx.Client() as client, pytest.raises(ConnectorError) as cooling:
            client.get(f"{server.url}/api", auth=auth)
        captured.error("cool-down", cooling.value)


def test_rejected_webhooks_show_no_secret(captured: Captured) -> None:
    body = json.dumps({"zen": "hi"}).encode()
    for headers in (
        {},
        {"X-Hub-Signature-256": "sha256=00"},
        {"X-Hub-Signature-256": f"sha256={CANARIES['webhook']}"},
        {"X-Hub-Signature-256": "garbage"},
    ):
        with pytest.raises(WebhookVerificationError) as rejected:
            verify("github", headers=headers, body=body, secret=CANARIES["webhook"])
        captured.error("webhook", rejected.value)
    args = ["webhook", "verify", "github", "--secret-ref", CANARIES["webhook"], "--json"]
    args += ["--header", "X-Hub-Signature-256: sha256=00", "--body-file", "-"]
    result = CliRunner().invoke(cli, args, input=body.decode())
    captured.add("webhook cli", result.stdout + result.stderr)
