"""The discovery cache: what is installed is scanned once and read back while no install,
uninstall or edit has changed it; a cache that cannot be trusted, read or written is a scan,
never a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nexus_connector_core import PluginRegistry, _entry_points
from nexus_connector_core._entry_points import InstalledEntryPoint, cache_dir

MakeDistribution = Callable[..., Path]
GROUP = "nexus_connector"
PLUGIN = """
from nexus_connector_core import hookimpl

@hookimpl
def register_sms_vendors(register):
    register("{key}", "nexus_connector_core.vendors.memory.sms:MemorySmsAdapter")
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own; stamps are trusted however recent (the rule for
    recent ones has its own test)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("NEXUS_CONNECTOR_CACHE_DIR", str(folder))
    monkeypatch.setattr(_entry_points, "RACY_SECONDS", 0.0)
    return folder


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The groups scanned (each a scan the cache did not spare)."""
    scanned: list[str] = []
    scan = _entry_points._scan

    def counting(group: str) -> tuple[list[InstalledEntryPoint], list[str] | None]:
        scanned.append(group)
        return scan(group)

    monkeypatch.setattr(_entry_points, "_scan", counting)
    return scanned


def _names() -> list[str]:
    return sorted(ep.name for ep in _entry_points.installed_entry_points(GROUP))


def _install(make: MakeDistribution, key: str) -> Path:
    return make(
        f"nexus-connector-{key}",
        entry_points={key: f"{key}_plugin"},
        modules={f"{key}_plugin": PLUGIN.format(key=key)},
    )


def _cache_file(folder: Path) -> Path:
    (file,) = folder.glob("discovery-*.json")
    return file


def test_a_second_discovery_reads_the_cache_and_scans_nothing(
    cache: Path, scans: list[str], make_distribution: MakeDistribution
) -> None:
    _install(make_distribution, "first")
    assert "first" in _names()
    assert "first" in _names()
    assert scans == [GROUP]


def test_installing_a_distribution_invalidates_the_cache(
    cache: Path, scans: list[str], make_distribution: MakeDistribution
) -> None:
    _install(make_distribution, "first")
    before = _names()
    _install(make_distribution, "second")  # a new .dist-info changes its folder's mtime
    after = _names()
    assert set(after) - set(before) == {"second"}
    assert scans == [GROUP, GROUP]
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    assert registry.find("sms", "second").plugin == "second"


def test_uninstalling_a_distribution_invalidates_the_cache(
    cache: Path, scans: list[str], make_distribution: MakeDistribution
) -> None:
    info = _install(make_distribution, "first")
    assert "first" in _names()
    shutil.rmtree(info)
    assert "first" not in _names()
    assert scans == [GROUP, GROUP]


def test_an_entry_point_edited_in_place_invalidates_the_cache(
    cache: Path, scans: list[str], make_distribution: MakeDistribution
) -> None:
    info = _install(make_distribution, "first")
    assert "first" in _names()
    (info / "entry_points.txt").write_text("[nexus_connector]\nrenamed = first_plugin\n")
    names = _names()
    assert "renamed" in names
    assert "first" not in names


def test_a_distribution_installed_while_the_scan_runs_is_found_next_time(
    cache: Path, monkeypatch: pytest.MonkeyPatch, make_distribution: MakeDistribution
) -> None:
    scan = _entry_points._scan

    def scan_then_install(group: str) -> tuple[list[InstalledEntryPoint], list[str] | None]:
        found = scan(group)
        _install(make_distribution, "late")  # after the scan read the folder, before stamps
        return found

    monkeypatch.setattr(_entry_points, "_scan", scan_then_install)
    assert "late" not in _names()
    monkeypatch.setattr(_entry_points, "_scan", scan)
    assert "late" in _names()


def test_nexus_connector_plugins_picks_from_the_cached_list(
    cache: Path, scans: list[str], make_distribution: MakeDistribution
) -> None:
    _install(make_distribution, "first")
    _install(make_distribution, "second")
    PluginRegistry().load_entry_points(environ={})  # writes the cache
    registry = PluginRegistry()
    registry.load_entry_points(environ={"NEXUS_CONNECTOR_PLUGINS": "second"})
    assert [p.name for p in registry.plugins()] == ["builtin", "second"]
    none = PluginRegistry()
    none.load_entry_points(environ={"NEXUS_CONNECTOR_PLUGINS": ""})
    assert [p.name for p in none.plugins()] == ["builtin"]
    assert scans == [GROUP]


def test_a_distribution_whose_metadata_has_no_version_is_loaded_without_one(
    cache: Path, make_distribution: MakeDistribution
) -> None:
    info = _install(make_distribution, "first")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nexus-connector-first\n")
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    (first,) = [p for p in registry.plugins() if p.name == "first"]
    assert (first.distribution, first.version) == ("nexus-connector-first", None)
    assert registry.failures == []


def test_a_corrupt_cache_is_a_scan_that_writes_a_good_one(cache: Path, scans: list[str]) -> None:
    expected = _names()
    for garbage in (b"", b"{not json", b'{"format": 1}', b"\xff\xfe\x00", b"[]"):
        _cache_file(cache).write_bytes(garbage)
        assert _names() == expected
    assert len(scans) == 6
    assert _names() == expected
    assert len(scans) == 6  # the last scan wrote a good cache again


def test_a_cache_of_another_python_is_not_used(cache: Path, scans: list[str]) -> None:
    expected = _names()
    file = _cache_file(cache)
    data = json.loads(file.read_bytes())
    data["python"] = "3.99.0 (another build)"
    file.write_text(json.dumps(data))
    assert _names() == expected
    assert len(scans) == 2


def test_a_cache_listing_another_plugin_with_the_stamps_of_this_path_is_believed(
    cache: Path, scans: list[str]
) -> None:
    """(What makes the next test matter: a believed cache decides what is imported.)"""
    _names()
    file = _cache_file(cache)
    data = json.loads(file.read_bytes())
    data["entry_points"].append(["planted", "planted_module", "planted", "1"])
    file.write_text(json.dumps(data))
    file.chmod(0o600)
    assert "planted" in _names()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
def test_a_cache_file_others_may_write_to_is_not_believed(cache: Path, scans: list[str]) -> None:
    expected = _names()
    file = _cache_file(cache)
    data = json.loads(file.read_bytes())
    data["entry_points"].append(["planted", "planted_module", "planted", "1"])
    file.write_text(json.dumps(data))
    file.chmod(0o666)
    assert _names() == expected
    assert len(scans) == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_a_cache_file_of_another_user_is_not_believed(cache: Path, scans: list[str]) -> None:
    expected = _names()
    os.chown(_cache_file(cache), 65534, 65534)
    assert _names() == expected
    assert len(scans) == 2


def test_an_unwritable_cache_folder_is_a_scan_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scans: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NEXUS_CONNECTOR_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(_entry_points, "RACY_SECONDS", 0.0)
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    assert "acme" in [p.name for p in registry.plugins()]
    assert registry.failures == []
    assert "acme" in _names()
    assert len(scans) == 2


def test_set_but_empty_the_cache_folder_turns_the_cache_off(
    monkeypatch: pytest.MonkeyPatch, scans: list[str]
) -> None:
    monkeypatch.setenv("NEXUS_CONNECTOR_CACHE_DIR", "")
    assert cache_dir() is None
    assert _names() == _names()
    assert len(scans) == 2


def test_a_recent_change_is_not_trusted_so_that_scan_is_not_kept(
    tmp_path: Path, scans: list[str], make_distribution: MakeDistribution
) -> None:
    folder = tmp_path / "cache"
    _install(make_distribution, "first")  # its folder changed just now
    found = _entry_points.installed_entry_points(GROUP, folder=str(folder), now=time.time)
    assert "first" in [ep.name for ep in found]
    assert not folder.exists() or list(folder.glob("discovery-*.json")) == []
    later = time.time() + _entry_points.RACY_SECONDS + 1
    _entry_points.installed_entry_points(GROUP, folder=str(folder), now=lambda: later)
    assert len(list(folder.glob("discovery-*.json"))) == 1


def test_another_sys_path_has_a_cache_of_its_own(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scans: list[str]
) -> None:
    _names()
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.syspath_prepend(str(other))
    _names()
    _names()
    assert len(scans) == 2
    assert len(list(cache.glob("discovery-*.json"))) == 2


def test_the_cache_folder_keeps_only_the_most_recent_files(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_entry_points, "MAX_FILES", 3)
    for index in range(5):
        entry = tmp_path / f"path-{index}"
        entry.mkdir()
        monkeypatch.syspath_prepend(str(entry))
        _names()
    assert len(list(cache.glob("discovery-*.json"))) == 3


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/nexus-connector"),
        ("linux", {"XDG_CACHE_HOME": "relative"}, "~/.cache/nexus-connector"),
        ("linux", {}, "~/.cache/nexus-connector"),
        ("darwin", {"XDG_CACHE_HOME": "/xdg"}, "~/Library/Caches/nexus-connector"),
        ("linux", {"NEXUS_CONNECTOR_CACHE_DIR": "/mine", "XDG_CACHE_HOME": "/x"}, "/mine"),
    ],
)
def test_the_cache_folder_follows_the_platform_and_the_environment(
    monkeypatch: pytest.MonkeyPatch, platform: str, environ: dict[str, str], expected: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert cache_dir(environ) == os.path.expanduser(expected)


def test_without_a_home_there_is_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # "~" unresolvable
    assert cache_dir({}) is None


# -- in fresh processes ------------------------------------------------------------------------

_DISCOVER = textwrap.dedent(
    """
    import json, sys
    from nexus_connector_core import PluginRegistry, _entry_points
    _entry_points.RACY_SECONDS = 0.0  # this test's folders were all made just now
    registry = PluginRegistry()
    registry.load_entry_points()
    print(json.dumps([sorted(p.name for p in registry.plugins()),
                      "importlib_metadata" in sys.modules]))
    """
)


def _discover(site: Path, cache: Path) -> tuple[list[str], bool]:
    env = {**os.environ, "NEXUS_CONNECTOR_CACHE_DIR": str(cache), "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-P", "-c", _DISCOVER],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    names, scanned = json.loads(out.stdout)
    return names, scanned


def test_fresh_processes_scan_once_and_again_after_an_install_or_uninstall(
    tmp_path: Path,
) -> None:
    site, cache = tmp_path / "site", tmp_path / "cache"
    site.mkdir()

    def install(key: str) -> Path:
        info = site / f"nexus_connector_{key}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: nexus-connector-{key}\nVersion: 1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[nexus_connector]\n{key} = {key}_plugin\n")
        (site / f"{key}_plugin.py").write_text(PLUGIN.format(key=key))
        return info

    first = install("first")
    names, scanned = _discover(site, cache)
    assert ("first" in names, scanned) == (True, True)
    assert _discover(site, cache) == (names, False)  # the cache: importlib_metadata not loaded

    install("second")
    names, scanned = _discover(site, cache)
    assert ("second" in names, scanned) == (True, True)
    assert _discover(site, cache) == (names, False)

    shutil.rmtree(first)
    names, scanned = _discover(site, cache)
    assert ("first" in names, scanned) == (False, True)
    assert _discover(site, cache) == (names, False)
