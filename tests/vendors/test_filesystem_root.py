"""The filesystem vendor's root is a folder of its own: an empty root (the current directory),
the filesystem's root, the home directory or a system folder is refused at load, saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import ConfigError, ConnectorManager, PluginRegistry, load_config
from nexus_connector_core.vendors.filesystem import FilesystemOptions


def _files(root: Any, **options: Any) -> dict[str, Any]:
    return {
        "connectors": {
            "files": {
                "category": "cloud_storage",
                "vendor": "filesystem",
                "options": {"root": root, **options},
            }
        }
    }


def _problem(config: dict[str, Any], registry: PluginRegistry) -> tuple[str | None, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ={})
    (problem,) = caught.value.problems
    return problem.path, problem.detail


def test_an_empty_root_is_refused_at_load_instead_of_writing_into_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry
) -> None:
    monkeypatch.chdir(tmp_path)
    path, detail = _problem(_files(""), registry)
    assert path == "connectors.files.options.root"
    assert "store objects in the current directory" in detail
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("root", "why"),
    [
        ("   ", "is empty"),
        ("/", "the filesystem's root"),
        ("/etc/..", "the filesystem's root"),
        ("~", "the home directory"),
        ("/etc", "a system folder"),
        ("/tmp", "a system folder"),
        ("/usr/", "a system folder"),
        (".", "the current directory"),
        ("./", "the current directory"),
        (" /srv/objects", "leading or trailing spaces"),
        ("objects\0/x", "NUL byte"),
    ],
)
def test_a_dangerous_root_is_refused_saying_why(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry: PluginRegistry,
    root: str,
    why: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    path, detail = _problem(_files(root), registry)
    assert path == "connectors.files.options.root"
    assert why in detail


def test_a_folder_of_its_own_is_fine_relative_or_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry
) -> None:
    monkeypatch.chdir(tmp_path)
    for root in ("objects", "./var/invoices", str(tmp_path / "abs"), "~/nexus-objects-test"):
        FilesystemOptions(root=root)  # no error
    with ConnectorManager.from_config(_files("objects"), registry=registry) as manager:
        manager.connector("files").put("a.txt", b"hi")
    assert (tmp_path / "objects" / "a.txt").read_bytes() == b"hi"


def test_an_empty_signing_key_is_refused(tmp_path: Path, registry: PluginRegistry) -> None:
    path, detail = _problem(_files(str(tmp_path / "objects"), signing_key=""), registry)
    assert path == "connectors.files.options.signing_key"
    assert "leave it out for a random key" in detail
