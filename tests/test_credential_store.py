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
from nexus_connector_core._credentials import MAX_SECRET_BYTES
from nexus_connector_core.cli import EXIT_CALL_FAILED, EXIT_CONFIG, cli

SECRET = "sk_live_CANARY_51Hx9f2eZvKYlo2C"


def _chain(error: BaseException | None) -> list[BaseException]:
    """`error` and every error chained to it as cause or context."""
    return [] if error is None else [error, *_chain(error.__cause__ or error.__context__)]


def _shows(error: BaseException, text: str) -> bool:
    return any(text in f"{e} {e!r} {e.args!r} {vars(e)!r}" for e in _chain(error))


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


def _key_file(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_a_key_file_works_like_the_variable(tmp_path: Path, keys: tuple[str, str]) -> None:
    key_file = _key_file(tmp_path, keys[0].encode() + b"\n")
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
    assert _cli("secrets", "set", "stripe", "--store", store, env=env, stdin=SECRET)[0] == 0
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


def _replace_sealed(store: EncryptedFileStore, name: str, sealed: bytes) -> None:
    data = json.loads(store.path.read_bytes())
    data["entries"][name]["sealed"] = base64.b64encode(sealed).decode()
    store.path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("length", [0, 5, 12, 27], ids=["empty", "short", "nonce", "part-tag"])
def test_a_truncated_sealed_value_is_a_credential_error_naming_the_reference(
    store: EncryptedFileStore, length: int
) -> None:
    store.set("a", SECRET)
    sealed = base64.b64decode(json.loads(store.path.read_bytes())["entries"]["a"]["sealed"])
    _replace_sealed(store, "a", sealed[:length])
    with pytest.raises(CredentialNotFoundError, match="truncated or damaged") as caught:
        store.get("a")
    assert caught.value.reference == "store:a"


def _config(tmp_path: Path, reference: str) -> Path:
    config = tmp_path / "connectors.toml"
    config.write_text(
        f'[connectors.sms]\nvendor = "memory"\ncredentials = {{ token = "{reference}" }}\n',
        encoding="utf-8",
    )
    return config


def test_a_truncated_store_secret_makes_check_json_report_a_config_error_as_json(
    tmp_path: Path, store: EncryptedFileStore, keys: tuple[str, str]
) -> None:
    store.set("sms_token", SECRET)
    _replace_sealed(store, "sms_token", b"")
    env = {"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}
    result = CliRunner().invoke(
        cli, ["check", "--json", "--config", str(_config(tmp_path, "store:sms_token"))], env=env
    )
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.exit_code == EXIT_CONFIG
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["errors"][0]["path"] == "connectors.sms.credentials.token"
    assert "truncated or damaged" in report["errors"][0]["message"]


DAMAGED_STORES = {
    "not-json": b"garbage",
    "not-utf8": b"\xff\xfe\x00",
    "wrong-shape": b'{"version": 1, "entries": []}',
    "bad-base64": b'{"version": 1, "entries": {"a": {"key_id": "0123456789ab", "sealed": "!"}}}',
    "bad-name": b'{"version": 1, "entries": {"a b": {"key_id": "0123456789ab", "sealed": ""}}}',
    "bad-key-id": b'{"version": 1, "entries": {"a": {"key_id": "\\u001b[2J", "sealed": ""}}}',
}


@pytest.mark.parametrize("content", DAMAGED_STORES.values(), ids=DAMAGED_STORES.keys())
@pytest.mark.parametrize(
    "command", [["list"], ["set", "x"], ["delete", "x"], ["get", "x"], ["rotate"]], ids=str
)
def test_a_damaged_store_file_is_a_clear_error_for_every_command(
    tmp_path: Path, keys: tuple[str, str], content: bytes, command: list[str]
) -> None:
    store = tmp_path / "secrets.enc"
    store.write_bytes(content)
    store.chmod(0o600)
    result = CliRunner().invoke(
        cli,
        ["secrets", *command, "--store", str(store)],
        input="value",
        env={"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]},
    )
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.exit_code == EXIT_CONFIG
    assert f"the secret store {store} is damaged" in result.stderr
    assert store.read_bytes() == content  # nothing was written over it


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=oct)
def test_a_store_file_other_users_may_open_is_refused_like_an_ssh_key(
    store: EncryptedFileStore, keys: tuple[str, str], mode: int
) -> None:
    store.set("a", SECRET)
    store.path.chmod(mode)
    with pytest.raises(ConfigError, match=rf"mode 0{mode:o}\); run `chmod 600 {store.path}`"):
        store.get("a")
    code, _, err = _cli(
        "secrets", "list", "--store", str(store.path), env={"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}
    )
    assert code == EXIT_CONFIG
    assert "other users may read or write it" in err


def test_a_key_file_other_users_may_read_is_refused_like_an_ssh_key(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    key_file = _key_file(tmp_path, keys[0].encode(), mode=0o644)
    with pytest.raises(ConfigError, match="other users may read or write it") as caught:
        MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY_FILE": str(key_file)})
    assert not _shows(caught.value, keys[0])


@pytest.mark.parametrize("empty", ["", "  ", "\n"])
def test_an_empty_key_variable_falls_back_to_the_key_file(
    tmp_path: Path, keys: tuple[str, str], empty: str
) -> None:
    key_file = _key_file(tmp_path, keys[0].encode())
    environ = {
        "NEXUS_CONNECTOR_SECRETS_KEY": empty,
        "NEXUS_CONNECTOR_SECRETS_KEY_FILE": str(key_file),
    }
    assert (
        MasterKeys.from_environ(environ).ids
        == MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}).ids
    )


def test_master_keys_that_are_not_text_are_refused_without_showing_them(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    with pytest.raises(ConfigError, match="not 32 bytes of base64url") as caught:
        MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY": keys[0] + "\u00e9\udcff"})
    assert not _shows(caught.value, keys[0])
    key_file = _key_file(tmp_path, keys[0].encode() + b"\xff")
    with pytest.raises(ConfigError, match="is not text") as caught:
        MasterKeys.from_environ({"NEXUS_CONNECTOR_SECRETS_KEY_FILE": str(key_file)})
    assert not _shows(caught.value, keys[0])


@pytest.mark.parametrize(
    "value", ["abc\n", "abc\n\n", "one\r\ntwo\r\n", "  padded  ", "\u00e9t\u00e9\n"]
)
def test_secrets_set_keeps_the_value_exactly_as_given(
    store: EncryptedFileStore, keys: tuple[str, str], value: str
) -> None:
    env = {"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}
    code, _, err = _cli("secrets", "set", "a", "--store", str(store.path), env=env, stdin=value)
    assert code == 0
    assert store.get("a") == value
    assert ("ends with a line break" in err) == value.endswith("\n")
    value_file = store.path.parent / "value"
    value_file.write_bytes(value.encode())
    args = ("secrets", "set", "b", "--store", str(store.path), "--value-file", str(value_file))
    assert _cli(*args, env=env)[0] == 0
    assert store.get("b") == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (b"", "the value is empty"),
        (SECRET.encode() + b"\xff", "not UTF-8 text"),
        (b"k" * (MAX_SECRET_BYTES + 1), f"larger than {MAX_SECRET_BYTES} bytes"),
    ],
    ids=["empty", "not-utf8", "huge"],
)
def test_secrets_set_refuses_a_value_it_cannot_keep_as_a_usage_error(
    store: EncryptedFileStore, keys: tuple[str, str], value: bytes, fragment: str
) -> None:
    result = CliRunner().invoke(
        cli,
        ["secrets", "set", "a", "--store", str(store.path)],
        input=value,
        env={"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]},
    )
    assert isinstance(result.exception, SystemExit)
    assert (result.exit_code, fragment in result.stderr) == (2, True)
    assert SECRET not in result.stderr
    assert not store.path.exists()


@pytest.mark.parametrize("name", ["", "a b", "tab\tname", "esc\x1b[2J", "n" * 201])
@pytest.mark.parametrize("command", ["set", "get", "delete"])
def test_an_invalid_secret_name_is_a_usage_error_without_a_traceback(
    store: EncryptedFileStore, keys: tuple[str, str], name: str, command: str
) -> None:
    result = CliRunner().invoke(
        cli,
        ["secrets", command, name, "--store", str(store.path)],
        input="value",
        env={"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]},
    )
    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert "a secret's name must" in result.stderr
    with pytest.raises(ValueError, match="a secret's name must"):
        store.set(name, "value")


def test_a_store_reference_with_an_invalid_name_is_a_credential_error(
    store: EncryptedFileStore,
) -> None:
    with pytest.raises(CredentialNotFoundError, match="a secret's name must"):
        store.get("a b")


def test_a_missing_secret_is_exit_1_and_a_damaged_one_too(
    store: EncryptedFileStore, keys: tuple[str, str]
) -> None:
    env = {"NEXUS_CONNECTOR_SECRETS_KEY": keys[0]}
    code, _, err = _cli("secrets", "get", "nope", "--store", str(store.path), env=env)
    assert (code, "no secret named 'nope'" in err) == (EXIT_CALL_FAILED, True)
    store.set("a", SECRET)
    _replace_sealed(store, "a", b"\x00" * 5)
    for command in (["get", "a"], ["rotate"]):
        env2 = {"NEXUS_CONNECTOR_SECRETS_KEY": f"{new_key()},{keys[0]}"}
        code, _, err = _cli("secrets", *command, "--store", str(store.path), env=env2)
        assert (code, "truncated or damaged" in err) == (EXIT_CALL_FAILED, True)


@pytest.mark.parametrize("where", ["exists", "no-folder"])
def test_keygen_refuses_a_path_it_cannot_create_without_a_traceback(
    tmp_path: Path, where: str
) -> None:
    target = tmp_path / "master.key" if where == "exists" else tmp_path / "nope" / "master.key"
    if where == "exists":
        target.write_text("keep", encoding="utf-8")
    result = CliRunner().invoke(cli, ["secrets", "keygen", "--output", str(target)])
    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
