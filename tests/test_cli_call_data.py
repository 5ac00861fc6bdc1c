"""`nexus-connector call` with bytes: JSON has none, so a put takes text ("data", sent as
UTF-8) or base64 ("data_base64"), and a result's bytes are printed in base64; what a get
prints can be put back as it was (docs/cli.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_connector_core.cli import cli


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "connectors.toml"
    root = tmp_path / "objects"
    path.write_text(
        f'[connectors.files]\ncategory = "cloud_storage"\nvendor = "filesystem"\n'
        f'options = {{ root = "{root}" }}\n',
        encoding="utf-8",
    )
    return path


def _call(config: Path, operation: str, request: dict[str, object]) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["call", "files", operation, "--json", json.dumps(request), "--config", str(config)]
    )
    return result.exit_code, result.output


def test_bytes_put_in_base64_come_back_from_get_in_base64(config: Path) -> None:
    data = bytes(range(256))
    code, _ = _call(config, "put", {"key": "a.bin", "data_base64": base64.b64encode(data).decode()})
    assert code == 0

    code, out = _call(config, "get", {"key": "a.bin"})

    assert code == 0
    assert base64.b64decode(json.loads(out)["result"]) == data


def test_text_data_is_put_as_utf8(config: Path) -> None:
    assert _call(config, "put", {"key": "a.txt", "data": "café"})[0] == 0

    _, out = _call(config, "get", {"key": "a.txt"})

    assert base64.b64decode(json.loads(out)["result"]) == "café".encode()


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"key": "a", "data": "x", "data_base64": "eA=="}, "not both"),
        ({"key": "a", "data_base64": "not base64!"}, "must be a base64 string"),
        ({"key": "a", "data_base64": 42}, "must be a base64 string"),
    ],
)
def test_put_data_that_cannot_be_read_is_a_usage_error(
    config: Path, request_: dict[str, object], expected: str
) -> None:
    code, out = _call(config, "put", request_)

    assert code == 2
    assert expected in out
