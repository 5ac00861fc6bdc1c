"""The documentation site builds in strict mode (a broken link, anchor or reference, a page
missing from the nav or a docstring mkdocstrings cannot read fails it), its generated
references hold what the code holds, and the configuration shown on its pages loads."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from nexus_connector_core import load_config
from nexus_connector_core._config_ranges import numeric_settings
from nexus_connector_core._resilience.config import ResilienceConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: The pages whose TOML examples are whole configurations (or tables of one).
CONFIG_PAGES = ("getting-started.md", "concepts.md", "redis.md", "migrating.md", "testing.md")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        # Before the autouse fixture that clears them: a NEXUS_CONNECTOR_PLUGINS of the
        # developer's shell would leave vendors out of the configuration reference.
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("NEXUS_CONNECTOR")},
            "NO_MKDOCS_2_WARNING": "1",
        },
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def _text(page: Path) -> str:
    return re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))


def test_the_site_builds_in_strict_mode_with_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "testing/index.html"):
        assert (site / page).is_file(), page
    assert (site / "writing-a-plugin" / "index.html").is_file()
    plugins = {p.name for p in (ROOT / "plugins").iterdir() if (p / "README.md").is_file()}
    assert {p.name for p in (site / "vendors").iterdir()} == plugins


def test_the_configuration_reference_lists_every_setting_of_the_code(site: Path) -> None:
    page = _text(site / "reference" / "configuration" / "index.html")

    for key, _ in numeric_settings(ResilienceConfig):
        *tables, name = key.split(".")
        assert f"[connectors.&lt;name&gt;.resilience{''.join('.' + t for t in tables)}]" in page
        assert name in page, key
    for table in ("[state]", "[observability]", "[observability.sql]"):
        assert table in page
    assert "fail_first" in page  # the memory vendor's options, from its registration


def test_the_api_and_cli_references_come_from_the_code(site: Path) -> None:
    managers = _text(site / "reference" / "api" / "managers-and-connectors" / "index.html")
    assert "from_config" in managers
    assert "aclose" in managers
    cli = _text(site / "reference" / "cli" / "index.html")
    for command in ("plugins", "check", "call", "status"):
        assert f"nexus-connector {command}" in cli


# -- the hooks' link rewriting, without a build ---------------------------------------------


def _hooks() -> ModuleType:
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_out_of_docs_point_into_the_site_or_show_the_path() -> None:
    hooks = _hooks()
    text = (
        "[Redis](../plugins/nexus-connector-redis/README.md#testing) "
        "[the test](../tests/test_readme.py) [gone](../nowhere.md) [guide](cli.md) "
        "[site](https://example.com)"
    )

    rewritten = hooks._rewrite_links(text, "redis.md")

    assert "[Redis](vendors/nexus-connector-redis.md#testing)" in rewritten
    assert "the test (`tests/test_readme.py` in the repository)" in rewritten
    assert "[gone](../nowhere.md)" in rewritten  # broken: left for the strict build to refuse
    assert "[guide](cli.md)" in rewritten
    assert "[site](https://example.com)" in rewritten


# -- the configurations on the pages load ---------------------------------------------------


class _AnySecret(Mapping[str, str]):
    """An environment where every ``env:`` reference is set, and no override is."""

    def __getitem__(self, name: str) -> str:
        return f"value-of-{name.lower()}"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _toml_blocks() -> Iterator[tuple[str, str]]:
    for page in CONFIG_PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for index, block in enumerate(re.findall(r"^```toml\n(.*?)^```$", text, re.M | re.S)):
            yield f"{page}#{index}", block


@pytest.mark.parametrize(("where", "block"), list(_toml_blocks()), ids=lambda v: str(v)[:30])
def test_the_configurations_shown_on_the_pages_load(where: str, block: str) -> None:
    import tomllib

    data = tomllib.loads(block)
    data.setdefault("connectors", {"email": {"vendor": "memory"}})  # a [state] table alone

    config = load_config(data, environ=_AnySecret())

    assert config.connectors, where
