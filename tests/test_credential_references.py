"""Secret references that cannot be read: every failure is a `CredentialNotFoundError`
naming the reference (and, through a config, the key path), never a raw error, and no
byte of the value reaches the error's message, its args, or an error chained to it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import (
    ConfigError,
    CredentialNotFoundError,
    PluginRegistry,
    Secret,
    load_config,
)
from nexus_connector_core._credentials import (
    MAX_SECRET_BYTES,
    EnvironmentProvider,
    FileProvider,
    resolve_reference,
)

SECRET = "sk_live_CANARY_refs_8f2eZvKYlo2C"


def assert_holds_no_secret(error: BaseException, secret: str = SECRET) -> None:
    """Neither `error` nor any error chained to it shows `secret`, in any encoding."""
    forms = {secret, secret.encode().hex(), repr(secret.encode())[2:-1]}
    seen: BaseException | None = error
    while seen is not None:
        texts = [str(seen), repr(seen), repr(seen.args), repr(vars(seen))]
        for form in forms:
            assert not any(form in text for text in texts), type(seen).__name__
        seen = seen.__cause__ or seen.__context__


def _resolve(reference: str, provider: Any, prefix: str) -> Secret:
    return resolve_reference(reference, lambda key: provider if key == prefix else None)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_file_secret_that_is_not_utf8_is_refused_without_its_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "token", SECRET.encode() + b"\xff\xfe" + SECRET.encode())
    with pytest.raises(CredentialNotFoundError, match="is not UTF-8 text") as caught:
        _resolve(f"file:{path}", FileProvider(), "file")
    assert caught.value.reference == f"file:{path}"
    assert_holds_no_secret(caught.value)  # nor the UnicodeDecodeError, whose args held it


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo")
    return tmp_path / "fifo"


def _huge(tmp_path: Path) -> Path:
    return _write(tmp_path / "huge", SECRET.encode() * (MAX_SECRET_BYTES // len(SECRET) + 1))


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: f"{tmp}/a\x00b", "contains a NUL byte"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: tmp / "missing", "No such file"),
        (_fifo, "not a regular file"),  # refused at once, never waited on
        (lambda tmp: "/dev/zero", "not a regular file"),
        (_huge, f"larger than {MAX_SECRET_BYTES} bytes"),
        (lambda tmp: "", "needs the path of a file"),
    ],
    ids=["nul-byte", "directory", "missing", "fifo", "device", "huge", "empty"],
)
def test_a_file_secret_that_cannot_be_read_names_the_reference_and_why(
    tmp_path: Path, make: Any, fragment: str
) -> None:
    reference = f"file:{make(tmp_path)}"
    with pytest.raises(CredentialNotFoundError, match=fragment) as caught:
        _resolve(reference, FileProvider(), "file")
    assert caught.value.reference == reference
    assert_holds_no_secret(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_an_unreadable_file_secret_says_permission_denied(tmp_path: Path) -> None:
    path = _write(tmp_path / "token", SECRET.encode())
    path.chmod(0)
    with pytest.raises(CredentialNotFoundError, match="Permission denied"):
        _resolve(f"file:{path}", FileProvider(), "file")


def test_a_file_secret_of_the_largest_size_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "token", b"k" * (MAX_SECRET_BYTES - 1) + b"\n")
    assert len(_resolve(f"file:{path}", FileProvider(), "file").reveal()) == MAX_SECRET_BYTES - 1


def test_an_env_secret_that_is_not_utf8_is_refused_without_its_value() -> None:
    # How os.environ shows a value whose bytes are not UTF-8: lone surrogates.
    value = SECRET + "\udcff"
    with pytest.raises(CredentialNotFoundError, match="not UTF-8") as caught:
        _resolve("env:TOKEN", EnvironmentProvider({"TOKEN": value}), "env")
    assert caught.value.reference == "env:TOKEN"
    assert_holds_no_secret(caught.value)


def test_an_env_reference_without_a_name_says_what_is_missing() -> None:
    with pytest.raises(CredentialNotFoundError, match=r"needs the name of an environment"):
        _resolve("env:", EnvironmentProvider({}), "env")


class _Leaky:
    """A plugin's provider whose own error holds the value it was handling."""

    def get(self, name: str) -> str:
        raise ValueError(f"could not parse {SECRET!r}")


class _Bytes:
    def get(self, name: str) -> Any:
        return SECRET.encode()


def test_a_provider_failing_with_a_raw_error_is_reported_by_its_type_only() -> None:
    with pytest.raises(CredentialNotFoundError, match=r"'vault' failed \(ValueError\)") as caught:
        _resolve("vault:stripe", _Leaky(), "vault")
    assert caught.value.reference == "vault:stripe"
    assert_holds_no_secret(caught.value)


def test_a_provider_whose_factory_fails_is_reported_by_its_type_only() -> None:
    def providers(key: str) -> Any:
        raise RuntimeError(SECRET)

    with pytest.raises(
        CredentialNotFoundError, match=r"could not be set up \(RuntimeError\)"
    ) as caught:
        resolve_reference("vault:stripe", providers)
    assert_holds_no_secret(caught.value)


def test_a_provider_giving_bytes_is_refused() -> None:
    with pytest.raises(CredentialNotFoundError, match="gave a bytes, not a str") as caught:
        _resolve("vault:stripe", _Bytes(), "vault")
    assert_holds_no_secret(caught.value)


def test_a_secret_refuses_text_that_is_not_unicode_without_showing_it() -> None:
    with pytest.raises(ValueError, match="lone surrogate") as caught:
        Secret(SECRET + "\udc80")
    assert_holds_no_secret(caught.value)


def test_a_literal_that_is_not_unicode_is_a_credential_error_at_its_key_path() -> None:
    with pytest.raises(CredentialNotFoundError, match="not Unicode text") as caught:
        resolve_reference(SECRET + "\udc80", lambda key: None, path="connectors.sms.credentials.x")
    assert caught.value.path == "connectors.sms.credentials.x"
    assert_holds_no_secret(caught.value)


def test_a_bad_file_secret_in_a_config_names_the_key_path_and_hides_the_value(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    token = _write(tmp_path / "token", b"\xff" + SECRET.encode())
    config = {
        "connectors": {"sms": {"vendor": "memory", "credentials": {"token": f"file:{token}"}}}
    }
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ={})
    assert caught.value.problems[0].path == "connectors.sms.credentials.token"
    assert "is not UTF-8 text" in caught.value.problems[0].detail
    assert_holds_no_secret(caught.value)
