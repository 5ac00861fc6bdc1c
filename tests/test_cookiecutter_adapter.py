"""cookiecutter-adapter and ``nexus-connector new-adapter``: a rendered plugin installs with
pip, passes its own tests untouched, has the canonical layout and is listed by
``nexus-connector plugins`` with its description, for every category.

The slow test renders the five categories (each with another auth method, so that every
method is rendered once), installs them into one fresh virtual environment together with
the core (editable, from this checkout: ``--no-deps --no-build-isolation``, this
environment's packages visible through a ``.pth``, so nothing is downloaded), and runs each
rendered project's tests there as its author would.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_connector_core.cli import cli
from nexus_connector_core.cli._new_adapter import template_path

ROOT = Path(__file__).resolve().parent.parent
WRITING_A_PLUGIN = ROOT / "docs" / "writing-a-plugin.md"

#: (category, auth method, vendor key): every category, and every auth method once. The keys
#: are none of this repository's vendors, whose plugins the environment also sees.
RENDERS = [
    ("sms", "bearer", "sample-sms"),
    ("email", "api_key_header", "sample-mail"),
    ("payment", "oauth2_client_credentials", "sample-pay"),
    ("cloud_storage", "basic", "sample-files"),
    ("shipping", "none", "sample-ship"),
]


def _render(output: Path, **answers: str) -> Path:
    """Render the template with `answers`, asking nothing; the rendered project's folder."""
    options = [f"--{name.replace('_', '-')}={value}" for name, value in answers.items()]
    result = CliRunner().invoke(
        cli, ["new-adapter", "--no-input", f"--output-dir={output}", *options]
    )
    assert result.exit_code == 0, result.output
    [rendered] = [path for path in output.iterdir() if path.is_dir()]
    return rendered


# -- new-adapter ------------------------------------------------------------------------------


def test_new_adapter_renders_without_asking_and_prints_the_next_three_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        cli, ["new-adapter", "--no-input", "--category=sms", "--vendor-key=pigeon"]
    )

    assert result.exit_code == 0, result.output
    project = tmp_path / "nexus-connector-pigeon"
    assert (project / "nexus_connector_pigeon" / "_adapter.py").is_file()
    assert result.output.splitlines()[-4:] == [
        "Next:",
        '  pip install -e "./nexus-connector-pigeon[test]"',
        "  python -m pytest ./nexus-connector-pigeon",
        "  nexus-connector plugins",
    ]


def test_new_adapter_installs_what_it_rendered_into_this_environment_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []

    def pip(command: list[str], check: bool) -> subprocess.CompletedProcess[bytes]:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(subprocess, "run", pip)

    result = CliRunner().invoke(
        cli, ["new-adapter", "--no-input", "--vendor-key=pigeon", "--install"]
    )

    assert result.exit_code == 0, result.output
    project = tmp_path / "nexus-connector-pigeon"
    assert (project / "pyproject.toml").is_file()
    command = [sys.executable, "-m", "pip", "install", "-q", "-e", "./nexus-connector-pigeon[test]"]
    assert ran == [command]
    assert result.output.splitlines()[-3:] == [
        "  python -m pytest ./nexus-connector-pigeon",
        "  nexus-connector plugins",
        '  grep -rn "TODO(vendor)" ./nexus-connector-pigeon',
    ]


def test_the_three_commands_print_what_writing_a_plugin_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documented command, run where the docs run it (a checkout beside ../plugins), with
    # pip left out; its output must be the documented one, line for line, up to the "...".
    text = WRITING_A_PLUGIN.read_text(encoding="utf-8")
    [command] = [line for line in text.splitlines() if line.startswith(".venv/bin/nexus-connector")]
    shown = text.split("```text\n", 1)[1].split("\n...\n", 1)[0].splitlines()
    monkeypatch.setattr(
        subprocess, "run", lambda command, check: subprocess.CompletedProcess(command, 0)
    )
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)

    result = CliRunner().invoke(cli, shlex.split(command)[1:])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == shown
    assert (tmp_path / "plugins" / "nexus-connector-pigeon" / "pyproject.toml").is_file()


def test_every_answer_the_template_offers_renders(tmp_path: Path) -> None:
    # A question whose choices cookiecutter.json offers must not have a choice the hooks
    # always refuse: every choice of every question is rendered once (choices of several
    # questions side by side, in as few renders as the longest list).
    template = json.loads((ROOT / "cookiecutter-adapter" / "cookiecutter.json").read_text())
    choices = {
        name: value
        for name, value in template.items()
        if isinstance(value, list) and not name.startswith("_")
    }
    for number, picked in enumerate(itertools.zip_longest(*choices.values())):
        answers = {n: v for n, v in zip(choices, picked, strict=True) if v is not None}
        output = tmp_path / str(number)

        project = _render(output, vendor_key=f"offered{number}", **answers)

        assert (project / f"nexus_connector_offered{number}" / "plugin.py").is_file(), answers
    assert set(choices) == {"category", "auth_method"}  # each an option of new-adapter


def test_new_adapter_asks_for_what_the_options_leave_out(tmp_path: Path) -> None:
    # Every question, in cookiecutter.json's order: category (3 = payment), the vendor's
    # key, then the defaults (empty answers), auth method (4 = oauth2).
    answers = ["3", "kestrel", "", "", "", "", "4"]

    result = CliRunner().invoke(
        cli, ["new-adapter", f"--output-dir={tmp_path}"], input="\n".join(answers) + "\n"
    )

    assert result.exit_code == 0, result.output
    plugin = tmp_path / "nexus-connector-kestrel" / "nexus_connector_kestrel" / "plugin.py"
    text = plugin.read_text(encoding="utf-8")
    assert "def register_payment_vendors" in text
    assert 'credentials=("client_id", "client_secret")' in text


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ({"vendor_key": "Pigeon Post"}, "vendor_key 'Pigeon Post'"),
        ({"vendor_key": "memory"}, "is a vendor of the core itself"),
        ({"vendor_key": "pigeon", "package_name": "class"}, "package_name 'class'"),
        ({"vendor_key": "pigeon", "vendor_name": 'Pigeon "Post"'}, "without quotes"),
    ],
    ids=["key-with-a-space", "builtin-key", "keyword-package", "quoted-name"],
)
def test_new_adapter_refuses_answers_that_would_not_install_and_renders_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: Mapping[str, str], said: str
) -> None:
    options = [f"--{name.replace('_', '-')}={value}" for name, value in answers.items()]

    result = CliRunner().invoke(
        cli, ["new-adapter", "--no-input", f"--output-dir={tmp_path}", *options]
    )

    assert result.exit_code == 2, result.output
    assert "nothing was rendered" in result.output
    assert said in capfd.readouterr().err  # the hook's own words, on the terminal
    assert list(tmp_path.iterdir()) == []


def test_new_adapter_says_how_to_get_cookiecutter_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cookiecutter.main", None)  # import fails

    result = CliRunner().invoke(cli, ["new-adapter", "--no-input", f"--output-dir={tmp_path}"])

    assert result.exit_code == 1
    assert 'pip install "nexus-connector-core[authoring]"' in result.output
    assert list(tmp_path.iterdir()) == []


def test_new_adapter_will_not_render_over_an_existing_folder(tmp_path: Path) -> None:
    _render(tmp_path, category="sms", vendor_key="pigeon")
    mine = tmp_path / "nexus-connector-pigeon" / "README.md"
    mine.write_text("my notes", encoding="utf-8")

    result = CliRunner().invoke(
        cli, ["new-adapter", "--no-input", f"--output-dir={tmp_path}", "--vendor-key=pigeon"]
    )

    assert result.exit_code == 1
    assert "already exists" in result.output
    assert mine.read_text(encoding="utf-8") == "my notes"


def test_the_template_is_the_checkouts_in_an_editable_install() -> None:
    assert template_path() == ROOT / "cookiecutter-adapter"


# -- the rendered plugins, installed --------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The five rendered projects (one folder, as a repository of plugins), by category."""
    output = tmp_path_factory.mktemp("plugins")
    projects = {}
    for category, auth_method, key in RENDERS:
        before = set(output.iterdir())
        CliRunner().invoke(
            cli,
            [
                "new-adapter",
                "--no-input",
                f"--output-dir={output}",
                f"--category={category}",
                f"--auth-method={auth_method}",
                f"--vendor-key={key}",
            ],
        )
        [project] = set(output.iterdir()) - before
        projects[category] = project
    return projects


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, Path]) -> Path:
    """A fresh virtual environment with the core (editable) and the five plugins installed;
    this environment's packages (the core's dependencies, pytest, hatchling) are visible
    through a .pth, so pip downloads nothing."""
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site) / "_nexus_test_base.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n", encoding="utf-8"
    )
    install: list[str | Path] = [
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
    ]
    subprocess.run([*install, "-e", str(ROOT)], check=True, capture_output=True)
    subprocess.run([*install, *map(str, rendered.values())], check=True, capture_output=True)
    return python


def _run(program: Path, *args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(program), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, f"{args} in {cwd}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_every_rendered_plugin_passes_its_own_tests_untouched(
    venv: Path, rendered: dict[str, Path]
) -> None:
    for category, project in rendered.items():
        # -P: the project's folder is not on sys.path; the installed plugin is tested.
        out = _run(venv, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)

        assert " passed" in out.splitlines()[-1], (category, out)
        assert "failed" not in out.splitlines()[-1], (category, out)


@pytest.mark.slow
def test_the_installed_plugins_are_listed_with_their_descriptions(
    venv: Path, rendered: dict[str, Path]
) -> None:
    out = _run(venv.parent / "nexus-connector", "plugins", "--json", cwd=ROOT)

    listed = {info["name"]: info for info in json.loads(out)["plugins"]}
    for category, _, key in RENDERS:
        info = listed[key]
        assert info["distribution"] == f"nexus-connector-{key}"
        assert info["provides"] == {category: [key]}
        name = key.replace("-", " ").title()
        kind = {"sms": "SMS", "cloud_storage": "object storage"}.get(category, category)
        assert info["descriptions"] == {category: {key: f"{name} {kind} API (HTTP)"}}


@pytest.mark.slow
def test_every_rendered_plugin_has_the_canonical_layout(
    venv: Path, rendered: dict[str, Path]
) -> None:
    [folder] = {project.parent for project in rendered.values()}

    out = _run(
        venv,
        "-m",
        "pytest",
        "-v",
        "-p",
        "no:cacheprovider",
        str(ROOT / "tests" / "test_plugin_layout.py"),
        cwd=ROOT,
        env={"NEXUS_CONNECTOR_LAYOUT_PLUGINS": str(folder)},
    )

    assert "failed" not in out.splitlines()[-1], out
    for _, _, key in RENDERS:  # each plugin was checked
        assert f"[nexus-connector-{key}]" in out


@pytest.mark.slow
def test_every_rendered_plugin_passes_its_ci_checks_ruff_and_mypy_strict(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    # The rendered CI's own checks (.github/workflows/ci.yml), with this environment's ruff
    # and mypy: each category's project, and one whose names are as long as the answers may
    # be (the post-generation hook lays out what they make too long).
    long_key = "a-vendor-with-a-name-as-long-as-it-may-be"  # 41: the most
    long_names = _render(
        tmp_path,
        category="cloud_storage",
        auth_method="oauth2_client_credentials",
        vendor_key=long_key,
        package_name="an_application_teams_own_nexus_connector_package",
    )
    cache = tmp_path / "mypy-cache"
    for project in [*rendered.values(), long_names]:
        for check in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
            _run(Path(sys.executable), "-m", *check, cwd=project)
        # The project's [tool.mypy] says which files (the package and its tests).
        _run(Path(sys.executable), "-m", "mypy", "--strict", f"--cache-dir={cache}", cwd=project)
