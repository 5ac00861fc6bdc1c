"""verify(): tolerance, rotation, replays, limits, headers, errors, and the verifier contract."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nexus_connector_core import ConfigError, PluginError, PluginRegistry, Secret
from nexus_connector_core.state import AsyncMemoryStateBackend, MemoryStateBackend
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.webhooks import (
    DEFAULT_MAX_BODY,
    Headers,
    HmacVerifier,
    VerifiedDelivery,
    WebhookVerificationError,
    averify,
    verify,
)

AT = 1_767_225_600  # when the conftest's signer signs
BODY = b'{"action": "opened", "number": 7}'


def _rejection(key: str, registry: PluginRegistry, **kwargs: Any) -> WebhookVerificationError:
    kwargs.setdefault("now", AT)
    with pytest.raises(WebhookVerificationError) as caught:
        verify(key, registry=registry, **kwargs)
    assert caught.value.verifier == key
    return caught.value


# -- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["slack", "standard-webhooks"])
@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_five_minutes_either_way_is_accepted(
    key: str, offset: int, webhook_registry: PluginRegistry, signer: Any
) -> None:
    event = verify(
        key,
        headers=signer.sign(key, BODY),
        body=BODY,
        secret=signer.secrets[key],
        now=AT + offset,
        registry=webhook_registry,
    )
    assert event.timestamp == datetime.fromtimestamp(AT, tz=UTC)


@pytest.mark.parametrize("key", ["slack", "standard-webhooks"])
@pytest.mark.parametrize(
    ("offset", "reason"), [(301, "timestamp too old"), (-301, "timestamp too new")]
)
def test_a_timestamp_past_the_tolerance_either_way_is_rejected(
    key: str, offset: int, reason: str, webhook_registry: PluginRegistry, signer: Any
) -> None:
    error = _rejection(
        key,
        webhook_registry,
        headers=signer.sign(key, BODY),
        body=BODY,
        secret=signer.secrets[key],
        now=AT + offset,
    )
    assert error.reason.startswith(reason)
    assert "tolerance is 300 s" in error.reason


def test_the_tolerance_is_configurable(webhook_registry: PluginRegistry, signer: Any) -> None:
    headers = signer.sign("slack", BODY)
    secret = signer.secrets["slack"]
    common = {"headers": headers, "body": BODY, "secret": secret, "registry": webhook_registry}
    assert verify("slack", now=AT + 30, tolerance=30, **common).timestamp is not None
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify("slack", now=AT + 31, tolerance=30, **common)


def test_now_may_be_an_aware_datetime(webhook_registry: PluginRegistry, signer: Any) -> None:
    event = verify(
        "slack",
        headers=signer.sign("slack", BODY),
        body=BODY,
        secret=signer.secrets["slack"],
        now=datetime.fromtimestamp(AT, tz=UTC) + timedelta(minutes=4),
        registry=webhook_registry,
    )
    assert event.timestamp == datetime.fromtimestamp(AT, tz=UTC)


# -- secrets and rotation ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["github", "slack", "shopify", "standard-webhooks"])
def test_any_one_of_several_secrets_may_match_during_a_rotation(
    key: str, webhook_registry: PluginRegistry, signer: Any
) -> None:
    old = signer.secrets[key]
    new = "whsec_" + base64.b64encode(b"n" * 24).decode() if key == "standard-webhooks" else "new"
    headers = signer.sign(key, BODY, secret=old)
    event = verify(
        key, headers=headers, body=BODY, secret=[new, old], now=AT, registry=webhook_registry
    )
    assert event.verifier == key


def test_no_matching_secret_is_a_signature_mismatch(
    webhook_registry: PluginRegistry, signer: Any
) -> None:
    error = _rejection(
        "github",
        webhook_registry,
        headers=signer.sign("github", BODY),
        body=BODY,
        secret=["one", "two"],
    )
    assert error.reason == "signature mismatch"


def test_secrets_may_be_secret_objects_and_bytes(
    webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign("github", BODY)
    secret = signer.secrets["github"]
    for given in (Secret(secret), secret.encode(), [Secret("other"), secret.encode()]):
        event = verify(
            "github", headers=headers, body=BODY, secret=given, registry=webhook_registry
        )
        assert event.verifier == "github"


@pytest.mark.parametrize("secret", [None, "", [], ["", b""]])
def test_no_secret_at_all_rejects_every_delivery(
    secret: Any, webhook_registry: PluginRegistry, signer: Any
) -> None:
    error = _rejection(
        "github", webhook_registry, headers=signer.sign("github", BODY), body=BODY, secret=secret
    )
    assert error.reason.startswith("no secret configured")


def test_a_whsec_secret_that_is_not_base64_is_a_clear_rejection(
    webhook_registry: PluginRegistry, signer: Any
) -> None:
    error = _rejection(
        "standard-webhooks",
        webhook_registry,
        headers=signer.sign("standard-webhooks", BODY),
        body=BODY,
        secret="whsec_not*base64!",
    )
    assert "not base64" in error.reason
    assert "not*base64" not in str(error)


# -- replays -----------------------------------------------------------------------------------


def test_a_message_id_seen_before_is_rejected_as_replayed(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    delivery = {
        "headers": signer.sign("standard-webhooks", BODY),
        "body": BODY,
        "secret": signer.secrets["standard-webhooks"],
        "now": AT,
        "state": state,
        "registry": webhook_registry,
    }
    assert verify("standard-webhooks", **delivery).id == "msg_1"
    with pytest.raises(WebhookVerificationError) as caught:
        verify("standard-webhooks", **delivery)
    assert caught.value.reason == "replayed"


def test_another_message_id_is_not_a_replay(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    secret = signer.secrets["standard-webhooks"]
    for msg_id in ("msg_1", "msg_2"):
        event = verify(
            "standard-webhooks",
            headers=signer.standard(BODY, secret, msg_id=msg_id),
            body=BODY,
            secret=secret,
            now=AT,
            state=state,
            registry=webhook_registry,
        )
        assert event.id == msg_id


def test_a_scheme_without_ids_is_protected_by_its_timestamp_and_body(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    secret = signer.secrets["slack"]
    common = {"secret": secret, "now": AT, "state": state, "registry": webhook_registry}
    verify("slack", headers=signer.slack(BODY, secret), body=BODY, **common)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify("slack", headers=signer.slack(BODY, secret), body=BODY, **common)
    later = signer.slack(BODY, secret, timestamp=AT + 1)
    assert verify("slack", headers=later, body=BODY, **common).id is None


def test_a_forged_delivery_does_not_use_up_its_message_id(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    headers = signer.sign("github", BODY)
    common = {"headers": headers, "state": state, "registry": webhook_registry}
    with pytest.raises(WebhookVerificationError, match="signature mismatch"):
        verify("github", body=b"forged", secret=signer.secrets["github"], **common)
    assert verify("github", body=BODY, secret=signer.secrets["github"], **common).id


async def test_averify_checks_replays_in_an_async_backend(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    state = AsyncMemoryStateBackend(clock=clock)
    delivery = {
        "headers": signer.sign("shopify", BODY),
        "body": BODY,
        "secret": signer.secrets["shopify"],
        "state": state,
        "registry": webhook_registry,
    }
    assert (await averify("shopify", **delivery)).id == "b54557e4"
    with pytest.raises(WebhookVerificationError, match="replayed"):
        await averify("shopify", **delivery)


@pytest.mark.parametrize(
    "settings", [{"now": float("nan")}, {"now": float("inf")}, {"tolerance": float("nan")}]
)
def test_a_time_or_tolerance_that_is_not_a_number_is_a_programming_error(
    settings: dict[str, float], webhook_registry: PluginRegistry, signer: Any
) -> None:
    with pytest.raises(ValueError, match="must be"):
        verify(
            "slack",
            headers=signer.sign("slack", BODY),
            body=BODY,
            secret=signer.secrets["slack"],
            registry=webhook_registry,
            **settings,
        )


# -- body size ---------------------------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_rejected_even_when_signed(
    webhook_registry: PluginRegistry, signer: Any
) -> None:
    body = b"x" * (DEFAULT_MAX_BODY + 1)
    error = _rejection(
        "github",
        webhook_registry,
        headers=signer.sign("github", body),
        body=body,
        secret=signer.secrets["github"],
    )
    assert error.reason == f"body too large: {DEFAULT_MAX_BODY + 1} bytes, the limit is 1048576"


def test_the_body_limit_is_checked_before_anything_else(
    webhook_registry: PluginRegistry,
) -> None:
    error = _rejection("github", webhook_registry, headers={}, body=b"xx", secret="", max_body=1)
    assert error.reason.startswith("body too large")


def test_a_body_at_the_limit_is_accepted(webhook_registry: PluginRegistry, signer: Any) -> None:
    event = verify(
        "github",
        headers=signer.sign("github", BODY),
        body=memoryview(BODY),
        secret=signer.secrets["github"],
        max_body=len(BODY),
        registry=webhook_registry,
    )
    assert event.body == BODY


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_header_names_match_in_any_case(
    case: Any, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = {case(name): value for name, value in signer.sign("slack", BODY).items()}
    event = verify(
        "slack",
        headers=headers,
        body=BODY,
        secret=signer.secrets["slack"],
        now=AT,
        registry=webhook_registry,
    )
    assert event.verifier == "slack"


def test_headers_may_be_asgi_style_byte_pairs(
    webhook_registry: PluginRegistry, signer: Any
) -> None:
    pairs = [(n.lower().encode(), v.encode()) for n, v in signer.sign("github", BODY).items()]
    event = verify(
        "github",
        headers=pairs,
        body=BODY,
        secret=signer.secrets["github"],
        registry=webhook_registry,
    )
    assert event.id == "72d3162e"


REQUIRED_HEADERS = [
    ("github", "X-Hub-Signature-256"),
    ("slack", "X-Slack-Signature"),
    ("slack", "X-Slack-Request-Timestamp"),
    ("shopify", "X-Shopify-Hmac-Sha256"),
    ("standard-webhooks", "webhook-id"),
    ("standard-webhooks", "webhook-timestamp"),
    ("standard-webhooks", "webhook-signature"),
]


@pytest.mark.parametrize(("key", "header"), REQUIRED_HEADERS)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_or_empty_header_is_named(
    key: str, header: str, value: str | None, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign(key, BODY)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    error = _rejection(
        key, webhook_registry, headers=headers, body=BODY, secret=signer.secrets[key]
    )
    assert error.reason == f"missing header {header}"


MALFORMED = [
    ("github", "X-Hub-Signature-256", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4"),
    ("github", "X-Hub-Signature-256", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d"),
    ("github", "X-Hub-Signature-256", "sha256=" + "g" * 64),
    ("github", "X-Hub-Signature-256", "sha256=ab, sha256=cd"),
    ("slack", "X-Slack-Signature", "v1=" + "a" * 64),
    ("slack", "X-Slack-Request-Timestamp", "yesterday"),
    ("slack", "X-Slack-Request-Timestamp", "-1531420618"),
    ("slack", "X-Slack-Request-Timestamp", "1.5e9"),
    ("shopify", "X-Shopify-Hmac-Sha256", "not base64 at all"),
    ("standard-webhooks", "webhook-signature", "v1a,abc v2,def"),
    ("standard-webhooks", "webhook-timestamp", "1_767_225_600"),
]


@pytest.mark.parametrize(("key", "header", "value"), MALFORMED)
def test_a_malformed_header_is_named(
    key: str, header: str, value: str, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign(key, BODY)
    headers[header] = value
    error = _rejection(
        key, webhook_registry, headers=headers, body=BODY, secret=signer.secrets[key]
    )
    assert error.reason.startswith(f"malformed header {header}: expected")
    assert value not in error.reason


def test_uppercase_hex_is_the_same_signature(webhook_registry: PluginRegistry, signer: Any) -> None:
    headers = signer.sign("github", BODY)
    headers["X-Hub-Signature-256"] = "sha256=" + headers["X-Hub-Signature-256"][7:].upper()
    event = verify(
        "github",
        headers=headers,
        body=BODY,
        secret=signer.secrets["github"],
        registry=webhook_registry,
    )
    assert event.verifier == "github"


def test_headers_repr_shows_names_but_no_values() -> None:
    headers = Headers({"X-Hub-Signature-256": "sha256=abc", "Authorization": "Bearer tok"})
    assert repr(headers) == "Headers(['Authorization', 'X-Hub-Signature-256'])"


# -- finding verifiers -------------------------------------------------------------------------


def test_an_unknown_key_lists_the_installed_verifiers(webhook_registry: PluginRegistry) -> None:
    with pytest.raises(PluginError) as caught:
        verify("githb", headers={}, body=b"", secret="s", registry=webhook_registry)
    message = str(caught.value)
    assert "unknown webhook verifier 'githb'" in message
    assert "github, hmac, shopify, slack, standard-webhooks" in message
    assert "Did you mean 'github'?" in message


def test_a_vendor_key_from_a_missing_plugin_says_what_to_install(
    webhook_registry: PluginRegistry,
) -> None:
    with pytest.raises(PluginError, match="pip install nexus-connector-stripe"):
        verify("stripe", headers={}, body=b"", secret="s", registry=webhook_registry)


def test_the_generic_hmac_key_is_configured_with_options(
    webhook_registry: PluginRegistry,
) -> None:
    digest = base64.b64encode(hmac.new(b"s3", b"1700000000." + BODY, "sha512").digest())
    event = verify(
        "hmac",
        headers={"X-Acme-Signature": "sha512=" + digest.decode(), "X-Acme-Time": "1700000000"},
        body=BODY,
        secret="s3",
        now=1_700_000_000,
        options={
            "header": "X-Acme-Signature",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
            "signed_content": "{timestamp}.{body}",
            "timestamp_header": "X-Acme-Time",
        },
        registry=webhook_registry,
    )
    assert (event.verifier, event.data) == ("hmac", {"action": "opened", "number": 7})


@pytest.mark.parametrize(
    "options",
    [None, {"header": "X-Sig", "algorithm": "md5"}, {"header": "X-Sig", "signed_content": "{x}"}],
)
def test_bad_hmac_options_are_a_config_error(
    options: Any, webhook_registry: PluginRegistry
) -> None:
    with pytest.raises(ConfigError, match="webhook verifier 'hmac'"):
        verify("hmac", headers={}, body=b"", secret="s", options=options, registry=webhook_registry)


def test_a_preset_takes_no_options(webhook_registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError, match="takes no options"):
        verify(
            "github",
            headers={},
            body=b"",
            secret="s",
            options={"header": "X"},
            registry=webhook_registry,
        )


# -- the verifier contract ---------------------------------------------------------------------


class StripeLikeVerifier(HmacVerifier):
    """Stripe's layout: ``Stripe-Signature: t=<ts>,v1=<hex>,v1=<hex>`` over ``{t}.{body}``."""

    def __init__(self) -> None:
        super().__init__(
            name="stripe-like",
            header="Stripe-Signature",
            signed_content="{timestamp}.{body}",
            timestamp_header="Stripe-Signature",
        )

    def _parts(self, headers: Headers) -> list[tuple[str, str]]:
        value = headers.require("Stripe-Signature")
        return [(k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in value.split(","))]

    def signatures(self, headers: Headers) -> list[str]:
        return [v for k, v in self._parts(headers) if k == "v1"]

    def timestamp(self, headers: Headers) -> str | None:
        stamps = [v for k, v in self._parts(headers) if k == "t"]
        if len(stamps) != 1 or not stamps[0].isdigit():
            raise WebhookVerificationError("malformed header Stripe-Signature: expected one t=")
        return stamps[0]


def test_a_subclass_can_read_signature_and_time_from_one_header() -> None:
    digest = hmac.new(b"whsec_stripe", f"{AT}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"Stripe-Signature": f"t={AT},v1={'0' * 64},v1={digest}"}
    event = verify(StripeLikeVerifier(), headers=headers, body=BODY, secret="whsec_stripe", now=AT)
    assert (event.verifier, event.timestamp) == ("stripe-like", datetime.fromtimestamp(AT, UTC))
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(
            StripeLikeVerifier(), headers=headers, body=BODY, secret="whsec_stripe", now=AT + 301
        )


def test_a_scheme_that_signs_the_url_needs_it() -> None:
    verifier = HmacVerifier(name="url-signed", header="X-Sig", signed_content="{url}{body}")
    url = "https://example.com/hooks?a=1"
    digest = hmac.new(b"s", url.encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"X-Sig": digest}
    assert verify(verifier, headers=headers, body=BODY, secret="s", url=url).body == BODY
    with pytest.raises(WebhookVerificationError, match="signs the request URL: pass url="):
        verify(verifier, headers=headers, body=BODY, secret="s")


class CrashingVerifier:
    name = "crashing"

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        raise KeyError("oops")


def test_a_verifier_that_crashes_still_rejects_with_the_cause_chained() -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(CrashingVerifier(), headers={}, body=b"", secret="s")
    assert caught.value.reason == "malformed delivery: the crashing verifier failed with KeyError"
    assert isinstance(caught.value.__cause__, KeyError)


class FormParamsVerifier:
    """A verifier that decodes the payload itself (as Twilio's would)."""

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        return VerifiedDelivery(id="sid", data={"decoded": "by the verifier"})


def test_data_a_verifier_returns_is_kept() -> None:
    event = verify(FormParamsVerifier(), headers={}, body=b"{}", secret="s")
    assert (event.verifier, event.data) == ("FormParamsVerifier", {"decoded": "by the verifier"})


@pytest.mark.parametrize(
    ("content_type", "body", "data"),
    [
        ("application/json; charset=utf-8", b'{"a": [1]}', {"a": [1]}),
        ("application/x-www-form-urlencoded", b"a=1&b=2&b=3", {"a": "1", "b": ["2", "3"]}),
        (None, b"[1, 2]", [1, 2]),
        (None, b"a=%2F", {"a": "/"}),
        ("application/json", b"{not json", None),
        ("text/plain", b"a=1", None),
        (None, b"", None),
    ],
)
def test_the_body_is_decoded_by_content_type(
    content_type: str | None, body: bytes, data: Any, signer: Any, webhook_registry: PluginRegistry
) -> None:
    headers = signer.sign("github", body)
    if content_type:
        headers["Content-Type"] = content_type
    event = verify(
        "github",
        headers=headers,
        body=body,
        secret=signer.secrets["github"],
        registry=webhook_registry,
    )
    assert event.data == data


# -- secrets stay secret -----------------------------------------------------------------------

SECRET = "top-secret-value-123"
SIGNATURE_HEADERS = {
    "github": "X-Hub-Signature-256",
    "slack": "X-Slack-Signature",
    "shopify": "X-Shopify-Hmac-Sha256",
    "standard-webhooks": "webhook-signature",
}


@pytest.mark.parametrize("key", SIGNATURE_HEADERS)
def test_no_rejection_shows_the_secret_or_a_signature(
    key: str, webhook_registry: PluginRegistry, signer: Any
) -> None:
    whsec = "whsec_" + base64.b64encode(SECRET.encode()).decode()
    secret = whsec if key == "standard-webhooks" else SECRET
    good = signer.sign(key, BODY, secret=secret)
    signature = good[SIGNATURE_HEADERS[key]]
    garbled = {**good, SIGNATURE_HEADERS[key]: signature + "x"}
    for headers, body in ((good, b"tampered"), (garbled, BODY)):
        with pytest.raises(WebhookVerificationError) as caught:
            verify(
                key,
                headers=headers,
                body=body,
                secret=Secret(secret),
                now=AT,
                registry=webhook_registry,
            )
        shown = f"{caught.value} {caught.value!r} {caught.value.reason}"
        assert SECRET not in shown
        assert secret not in shown
        assert signature not in shown


def test_verifiers_and_events_show_no_secret(webhook_registry: PluginRegistry, signer: Any) -> None:
    event = verify(
        "github",
        headers=signer.sign("github", BODY),
        body=BODY,
        secret=Secret(signer.secrets["github"]),
        registry=webhook_registry,
    )
    verifier = webhook_registry.find("webhook_verifier", "github").load()
    shown = f"{event!r} {verifier!r}"
    assert signer.secrets["github"] not in shown
    assert shown.startswith("WebhookEvent(verifier='github', id='72d3162e'")


# -- receive: the id is held only while the delivery is handled --------------------------


def _github_delivery(delivery_id: str) -> tuple[dict[str, str], bytes]:
    body = b'{"action": "opened"}'
    digest = hmac.new(b"receive-secret", body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery_id}, body


def test_receive_gives_the_id_back_when_handling_fails() -> None:
    from nexus_connector_core.webhooks import receive

    state = MemoryStateBackend(clock=FakeClock())
    headers, body = _github_delivery("d-1")
    with pytest.raises(RuntimeError, match="database down"):
        with receive("github", state=state, headers=headers, body=body, secret="receive-secret"):
            raise RuntimeError("database down")
    # The sender's retry is let in, handled, and a third copy is a replay.
    with receive(
        "github", state=state, headers=headers, body=body, secret="receive-secret"
    ) as event:
        assert event.id == "d-1"
    with pytest.raises(WebhookVerificationError, match="replayed"):
        with receive("github", state=state, headers=headers, body=body, secret="receive-secret"):
            pass


async def test_areceive_is_the_async_twin() -> None:
    from nexus_connector_core.webhooks import areceive

    state = AsyncMemoryStateBackend(clock=FakeClock())
    headers, body = _github_delivery("d-2")
    with pytest.raises(RuntimeError):
        async with areceive(
            "github", state=state, headers=headers, body=body, secret="receive-secret"
        ):
            raise RuntimeError("handler failed")
    async with areceive(
        "github", state=state, headers=headers, body=body, secret="receive-secret"
    ) as event:
        assert event.verifier == "github"
