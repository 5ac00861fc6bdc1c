"""The encrypted secret store: sealed values, authenticated, rotated; ``store:NAME``
references in configs; ``nexus-connector secrets``."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_connector_core import ConfigError, CredentialNotFoundError, PluginRegistry, load_config
from nexus_connector_core._credential_store import EncryptedFileStore, MasterKeys, new_key
from nexus_connector_core.cli import EXIT_CONFIG, cli

SECRET = "sk_live_CANARY_51Hx9f2eZvKYlo2C"


@pytest.fixture
def keys() -> tuple[str, str]:
    return new_key(), new_key()


@pytest.fixture
def store(tmp_path: Path, keys: tuple[str, str]) -> EncryptedFileStore:
    return EncryptedFileStore(
        tmp_path / "secrets.enc", MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]})
    )


def test_a_sealed_value_reads_back_and_is_not_in_the_file(store: EncryptedFileStore) -> None:
    store.set("stripe_api_key", SECRET)
    assert store.get("stripe_api_key") == SECRET
    assert SECRET.encode() not in store.path.read_bytes()
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_a_missing_name_names_the_reference_and_how_to_add_it(store: EncryptedFileStore) -> None:
    with pytest.raises(CredentialNotFoundError, match="secrets set twilio_token") as caught:
        store.get("twilio_token")
    assert caught.value.reference == "store:twilio_token"


def test_a_changed_file_fails_authentication(store: EncryptedFileStore) -> None:
    store.set("a", SECRET)
    data = json.loads(store.path.read_bytes())
    sealed = bytearray(base64.b64decode(data["entries"]["a"]["sealed"]))
    sealed[-1] ^= 1
    data["entries"]["a"]["sealed"] = base64.b64encode(bytes(sealed)).decode()
    store.path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CredentialNotFoundError, match="failed authentication"):
        store.get("a")


def test_a_value_moved_to_another_name_is_refused(store: EncryptedFileStore) -> None:
    store.set("a", SECRET)
    store.set("b", "other-value")
    data = json.loads(store.path.read_bytes())
    data["entries"]["b"] = data["entries"]["a"]  # same key, sealed for the name "a"
    store.path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CredentialNotFoundError, match="moved from another name"):
        store.get("b")


def test_rotation_reseals_under_the_new_key_and_the_old_key_can_then_go(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    old, new = keys
    path = tmp_path / "secrets.enc"
    EncryptedFileStore(path, MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": old})).set(
        "a", SECRET
    )
    both = EncryptedFileStore(
        path, MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": f"{new},{old}"})
    )
    assert both.get("a") == SECRET  # still readable with the old key second
    assert both.rotate() == 1
    assert both.rotate() == 0
    only_new = EncryptedFileStore(
        path, MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": new})
    )
    assert only_new.get("a") == SECRET
    only_old = EncryptedFileStore(
        path, MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": old})
    )
    with pytest.raises(CredentialNotFoundError, match="not among the keys given"):
        only_old.get("a")


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({}, "needs a master key"),
        ({"NEXUS_CONNECTOR_SECRETS_KEY": "too-short"}, "not 32 bytes"),
        ({"NEXUS_CONNECTOR_SECRETS_KEY_FILE": "/nonexistent/key"}, "cannot read the master key"),
    ],
)
def test_bad_master_keys_say_what_to_do(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        MasterKeys.from_environ(environ)


def test_a_key_file_works_like_the_variable(tmp_path: Path, keys: tuple[str, str]) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(keys[0] + "\n", encoding="utf-8")
    assert MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY_FILE": str(key_file)}).ids == (
        MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}).ids
    )


def test_store_references_resolve_in_a_config(
    tmp_path: Path, keys: tuple[str, str], registry: PluginRegistry
) -> None:
    store = EncryptedFileStore(
        tmp_path / "secrets.enc", MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]})
    )
    store.set("sms_token", SECRET)
    config = tmp_path / "connectors.toml"
    config.write_text(
        '[connectors.sms]\nvendor = "memory"\ncredentials = { token = "store:sms_token" }\n',
        encoding="utf-8",
    )
    loaded = load_config(
        config, registry=registry, environ={"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}
    )
    assert loaded.connectors["sms"].credentials["token"].reveal() == SECRET
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ={})
    assert caught.value.path == "connectors.sms.credentials.token"
    assert "master key" in caught.value.detail


def _cli(*args: str, env: dict[str, str], stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_secrets_command_sets_lists_rotates_and_never_prints_values(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    store = str(tmp_path / "secrets.enc")
    env = {"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}
    assert _cli("secrets", "set", "stripe", "--store", store, env=env, stdin=SECRET + "\n")[0] == 0
    code, out, _ = _cli("secrets", "get", "stripe", "--store", store, "--json", env=env)
    assert code == 0
    assert json.loads(out)["length"] == len(SECRET)
    assert SECRET not in out
    code, out, _ = _cli("secrets", "list", "--store", store, "--json", env=env)
    assert list(json.loads(out)["secrets"]) == ["stripe"]
    env2 = {"NEXUS_CONNECTOR_SECRETS_KEY": f"{keys[1]},{keys[0]}"}
    code, out, _ = _cli("secrets", "rotate", "--store", store, env=env2)
    assert (code, "re-sealed 1 secret(s)" in out) == (0, True)
    code, out, _ = _cli("secrets", "get", "stripe", "--store", store, "--reveal", env=env2)
    assert out.strip() == SECRET  # only when asked to reveal it
    code, _, err = _cli("secrets", "list", "--store", store, env={})
    assert code == EXIT_CONFIG
    assert "needs a master key" in err


def test_keygen_writes_a_private_key_file_and_prints_no_key(tmp_path: Path) -> None:
    target = tmp_path / "master.key"
    code, out, _ = _cli("secrets", "keygen", "--output", str(target), env={})
    assert code == 0
    key = target.read_text(encoding="utf-8").strip()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert key not in out
    assert oct(os.stat(target).st_mode & 0o777) == "0o600"
