"""MkDocs hooks: the pages generated from the code when the site is built, and the links
that leave docs/ turned into links inside the site.

Generated, so they cannot drift from the code they describe:

- ``reference/configuration.md``: every table and key of ``connectors.toml`` with its type,
  default, range and comment, read from the msgspec config types (and from the options type
  of every vendor and state backend installed where the site is built);
- ``reference/api/*.md``: the API reference, one mkdocstrings entry per public name of the
  core and of its public subpackages (a name added to a package's exports gets its entry);
- ``reference/cli.md``: every command and option of ``nexus-connector``, from click;
- ``index.md`` from the repository's README, and ``vendors/<distribution>.md`` from each
  plugin's README, so that those stay the one copy GitHub and the site both show.

A link from a page to a file of the repository outside docs/ (``../plugins/x/README.md``,
``../tests/test_x.py``) points to its page in the site when the site has one, else shows
the path as code; a link to nothing at all is left for MkDocs's strict check to refuse.
This file is excluded from the site (``exclude_docs`` in mkdocs.yml).
"""

from __future__ import annotations

import importlib
import inspect
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent
INSPECT = msgspec.inspect

# -- mirrored READMEs -------------------------------------------------------------------------

#: Site page -> the repository file it is made from (docs/ pages map to themselves).
_MIRRORS: dict[str, str] = {}


def _plugin_dirs() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").iterdir() if (p / "README.md").is_file())


def _site_page_of(repo_path: str) -> str | None:
    """The site page that shows repository file (or folder) `repo_path`, if any."""
    path = repo_path.rstrip("/")
    if path == "README.md":
        return "index.md"
    if path.startswith("docs/") and (ROOT / path).is_file():
        return path.removeprefix("docs/")
    found = re.fullmatch(r"plugins/([\w.-]+)(?:/README\.md)?", path)
    if found and (ROOT / "plugins" / found.group(1) / "README.md").is_file():
        return f"vendors/{found.group(1)}.md"
    return None


# -- links out of docs/ -------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")


def _rewrite_links(markdown: str, page_uri: str) -> str:
    """Links to repository files outside the site, made to work in the site."""
    source = _MIRRORS.get(page_uri, f"docs/{page_uri}")
    in_code = False
    lines = []
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        lines.append(line if in_code else _LINK.sub(lambda m: _link(m, source, page_uri), line))
    return "\n".join(lines)


def _link(match: re.Match[str], source: str, page_uri: str) -> str:
    text, target = match.groups()
    if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
        return match.group(0)  # a URL, an anchor of this page, or site-absolute
    path, hash_, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    page = _site_page_of(repo_path)
    if page is not None:
        relative = posixpath.relpath(page, posixpath.dirname(page_uri) or ".")
        return f"[{text}]({relative}{hash_}{anchor})"
    if repo_path.startswith("docs/") or not (ROOT / repo_path).exists():
        return match.group(0)  # inside docs/ (MkDocs checks it), or broken: left to fail
    shown = text if text.startswith("`") else f"{text}"
    return f"{shown} (`{repo_path}` in the repository)" if shown != f"`{repo_path}`" else shown


# -- the configuration reference ----------------------------------------------------------------


def _comments(cls: type[Any]) -> dict[str, str]:
    """The ``#:`` comment above each field of `cls` and of the structs it extends."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, msgspec.Struct)):
            continue
        if klass is msgspec.Struct:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in source.splitlines()[1:]:
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            field = re.match(r"(\w+)\s*:", stripped)
            if field and pending:
                found[field.group(1)] = " ".join(pending)
            pending = []
    return found


def _summary(cls: type[Any]) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _range(info: Any) -> str:
    members = info.types if isinstance(info, INSPECT.UnionType) else (info,)
    for member in members:
        if isinstance(member, INSPECT.VarTupleType | INSPECT.ListType):
            member = member.item_type  # noqa: PLW2901 - the bounds of each item
        if isinstance(member, INSPECT.IntType | INSPECT.FloatType):
            low = (
                f"{_number(member.ge)} to"
                if member.ge is not None
                else f"above {_number(member.gt)}, up to"
                if member.gt is not None
                else ""
            )
            high = _number(member.le) if member.le is not None else "any"
            if low or member.le is not None:
                return f"{low} {high}".strip()
    return ""


def _type(info: Any) -> str:
    """A msgspec type as a reader of TOML knows it."""
    if isinstance(info, INSPECT.UnionType):
        shown = [_type(m) for m in info.types if not isinstance(m, INSPECT.NoneType)]
        return " or ".join(dict.fromkeys(shown))
    if isinstance(info, INSPECT.LiteralType):
        return " \\| ".join(f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in info.values)
    if isinstance(info, INSPECT.BoolType):
        return "boolean"
    if isinstance(info, INSPECT.IntType):
        return "integer"
    if isinstance(info, INSPECT.FloatType):
        return "number"
    if isinstance(info, INSPECT.StrType):
        return "string"
    if isinstance(info, INSPECT.VarTupleType | INSPECT.ListType | INSPECT.SetType):
        return f"array of {_type(info.item_type)}"
    if isinstance(info, INSPECT.DictType):
        return f"table of {_type(info.value_type)}"
    if isinstance(info, INSPECT.StructType):
        return "table"
    if isinstance(info, INSPECT.CustomType):
        return "secret reference" if info.cls.__name__ == "Secret" else info.cls.__name__
    return "any value"


def _toml(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, int | float):
        return f"`{_number(value)}`"
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(_toml(v).strip("`") for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    if isinstance(value, msgspec.Struct):
        return "its table's defaults"
    return f"`{value}`"


def _default(field: Any) -> str:
    if field.default is not msgspec.NODEFAULT:
        return _toml(field.default)
    if field.default_factory is not msgspec.NODEFAULT:
        return _toml(field.default_factory())
    return "**required**"


def _struct_of(info: Any) -> type[Any] | None:
    members = info.types if isinstance(info, INSPECT.UnionType) else (info,)
    structs = [m.cls for m in members if isinstance(m, INSPECT.StructType)]
    return structs[0] if structs else None


def _table(
    path: str, cls: type[Any], *, note: str = "", skip: tuple[str, ...] = ()
) -> Iterator[str]:
    """One table of the file, then the tables under it."""
    info = INSPECT.type_info(cls)
    assert isinstance(info, INSPECT.StructType), cls
    comments = _comments(cls)
    yield f"### `[{path}]`\n"
    yield f"{_summary(cls)} {note}".strip() + f" (`{cls.__module__}.{cls.__qualname__}`)\n"
    yield "| key | type | default | range | meaning |"
    yield "|---|---|---|---|---|"
    nested: list[tuple[str, type[Any]]] = []
    for field in info.fields:
        if field.encode_name in skip:
            continue
        sub = _struct_of(field.type)
        kind = _type(field.type)
        if sub is not None:
            nested.append((f"{path}.{field.encode_name}", sub))
            kind = f"table ([below](#{_anchor(f'{path}.{field.encode_name}')}))"
        meaning = comments.get(field.name) or (
            _summary(sub) if sub is not None else _ENABLED if field.name == "enabled" else ""
        )
        meaning = meaning.replace("|", "\\|")
        yield (
            f"| `{field.encode_name}` | {kind} | {_default(field)} | {_range(field.type)} "
            f"| {meaning} |"
        )
    yield ""
    for sub_path, sub in nested:
        yield from _table(sub_path, sub)


_ENABLED = "`false` switches this table's policy off."


def _anchor(path: str) -> str:
    """The id MkDocs gives the heading ``[path]`` (toc's slugify: lower-cased, \\w and -)."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", f"[{path}]").strip().lower())


def configuration_reference() -> str:
    """The page: every table of ``connectors.toml``, from the types that read it."""
    from nexus_connector_core._alert_sinks import WebhookSinkOptions
    from nexus_connector_core._alerting_config import AlertingConfig, AlertRuleConfig
    from nexus_connector_core._categories import CATEGORY_KEYS
    from nexus_connector_core._config import ObservabilityConfig, StateSettings
    from nexus_connector_core._connector_settings import ConnectorConfig, FallbackVendor
    from nexus_connector_core._plugins import KINDS, default_registry
    from nexus_connector_core._resilience.config import ResilienceConfig
    from nexus_connector_core._slo import SloConfig

    out = [
        "# Configuration reference",
        "",
        "Every table and key `connectors.toml` takes, generated from the types that read it "
        "when this site was built (`docs/hooks.py`), so it says what this version reads. "
        "How to write the file, secrets and environment overrides: "
        "[Configuration](../configuration.md); what each policy does: "
        "[Resilience policies](../resilience.md). Times are in seconds; a range is "
        "inclusive unless it says *above*.",
        "",
        "## Connectors",
        "",
    ]
    out += _table("connectors.<name>", ConnectorConfig, skip=("resilience",))
    out += _table(
        "connectors.<name>.fallback[]",
        FallbackVendor,
        note="An item of `fallback` written as a table.",
    )
    out += _table(
        "connectors.<name>.resilience",
        ResilienceConfig,
        note="`[connectors.<name>.resilience.operations.<operation>]` takes the same keys, "
        "for one operation, merged key by key over the connector's.",
    )
    out += ["## State", ""]
    out += _table(
        "state",
        StateSettings,
        skip=("backend", "options"),
        note="Besides these, `backend` (the key of a state backend: `memory` by default) "
        "and the backend's own options, below.",
    )
    out += ["## Observability", ""]
    out += _table("observability", ObservabilityConfig)
    out += ["## SLOs and alerts", ""]
    out += _table(
        "connectors.<name>.slo",
        SloConfig,
        note="`[connectors.<name>.slo.operations.<operation>]` takes availability, latency "
        "and window, for one operation.",
    )
    out += _table("alerting", AlertingConfig)
    out += _table("alerts.<name>", AlertRuleConfig)
    out += _table(
        "alerting.sinks.webhook.<target>",
        WebhookSinkOptions,
        note="The target a rule notifies as `webhook:<target>`.",
    )

    registry = default_registry()
    out += [
        "## Vendors and state backends",
        "",
        "The `options` and `credentials` of each vendor, and the `[state]` options of each "
        "state backend, of the core and of this project's plugins "
        "(`nexus-connector plugins` lists what you have installed).",
        "",
    ]
    # This project's vendors: the core's and its plugins', not whatever else is installed
    # where the site is built (the test suite's fixture plugin, say).
    ours = {"nexus-connector-core", *(folder.name for folder in _plugin_dirs())}
    for kind in KINDS:
        if kind not in (*CATEGORY_KEYS, "api", "state_backend"):
            continue  # credential providers, verifiers, middleware: no config options
        for key in registry.keys(kind):
            registration = registry.find(kind, key)
            if registration.distribution not in ours:
                continue
            where = "state" if kind == "state_backend" else "connectors.<name>.options"
            heading = f"`{key}` ({kind.replace('_', ' ')})"
            origin = registration.distribution or "in-process"
            out += [f"### {heading}", ""]
            if registration.description:
                out += [f"{registration.description}.".replace("..", "."), ""]
            out += [f"From `{origin}`."]
            if registration.credentials:
                names = ", ".join(f"`{c}`" for c in registration.credentials)
                out += [f"Credentials: {names}."]
            out += [""]
            options = registration.options_type()
            if options is None:
                out += ["No options.", ""]
                continue
            lines = list(_table(where, options))
            out += [line.replace("### ", "#### ", 1) for line in lines]
    return "\n".join(out) + "\n"


# -- the API reference --------------------------------------------------------------------------

#: Pages of the top level, by the module that defines each name; a module not listed here
#: puts its names on "More".
_TOP_LEVEL_PAGES = {
    "Managers and connectors": (
        "_manager",
        "_async_manager",
        "_connectors",
        "_async_connectors",
        "_config",
        "_connector_settings",
        "_limit_key",
    ),
    "Categories": (
        "_money",
        "_email",
        "_sms",
        "_payment",
        "_cloud_storage",
        "_shipping",
        "_categories",
        "_operations",
    ),
    "Exceptions": ("_errors",),
    "Resilience configuration": (
        "_resilience.config",
        "_resilience.breaker",
        "_resilience.budget",
        "_resilience.ratelimit",
        "_resilience.backoff",
    ),
    "Observability and health": ("_observe", "_health", "_slo", "_alerts", "_alert_sinks"),
    "Plugin interface": (
        "hookspecs",
        "_plugins",
        "_adapters",
        "_context",
        "_credentials",
        "_clock",
        "_lazy",
    ),
}
_SUBPACKAGES = {
    "nexus_connector_core.testing": "Test kit",
    "nexus_connector_core.testing.pytest_plugin": "pytest plugin",
    "nexus_connector_core.http": "HTTP toolkit",
    "nexus_connector_core.auth": "Auth flows",
    "nexus_connector_core.webhooks": "Webhooks",
    "nexus_connector_core.state": "State backends",
    "nexus_connector_core.pipeline": "Middleware",
    "nexus_connector_core.asgi": "ASGI apps",
}


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _entries(module: str, names: list[str]) -> list[str]:
    lines = []
    for name in names:
        lines += [f"::: {module}.{name}", ""]
    return lines


def api_pages() -> dict[str, str]:
    """Page path -> Markdown: the top level by topic, then each public subpackage."""
    import nexus_connector_core
    from nexus_connector_core._lazy import declared_exports

    by_module: dict[str, list[str]] = {}
    for name, module in declared_exports(nexus_connector_core.__file__).items():
        by_module.setdefault(module, []).append(name)
    placed = {m for modules in _TOP_LEVEL_PAGES.values() for m in modules}
    pages: dict[str, str] = {}
    for title, modules in _TOP_LEVEL_PAGES.items():
        names = [n for m in modules for n in by_module.get(m, [])]
        body = [f"# {title}", "", "From `nexus_connector_core`.", ""]
        pages[f"reference/api/{_slug(title)}.md"] = "\n".join(
            body + _entries("nexus_connector_core", names)
        )
    rest = [n for m, names in by_module.items() if m not in placed for n in names]
    if rest:
        body = ["# More", "", "From `nexus_connector_core`.", ""]
        pages["reference/api/more.md"] = "\n".join(body + _entries("nexus_connector_core", rest))
    for package, title in _SUBPACKAGES.items():
        module = importlib.import_module(package)
        names = list(getattr(module, "__all__", []))
        doc = (inspect.getdoc(module) or "").split("\n\n")[0].replace("\n", " ")
        body = [f"# {title}: `{package}`", "", doc, ""]
        pages[f"reference/api/{_slug(title)}.md"] = "\n".join(body + _entries(package, names))
    return pages


CLI_PAGE = """# CLI reference

Every command and option of `nexus-connector`, generated from the command itself when this
site was built. What the commands are for, with examples and exit codes: [CLI](../cli.md).

::: mkdocs-click
    :module: nexus_connector_core.cli
    :command: cli
    :prog_name: nexus-connector
    :depth: 1
    :style: table
    :list_subcommands: true
"""


# -- MkDocs events ------------------------------------------------------------------------------


def on_files(files: Files, config: MkDocsConfig) -> Files:
    generated = {
        "reference/configuration.md": configuration_reference(),
        "reference/cli.md": CLI_PAGE,
        **api_pages(),
    }
    _MIRRORS.clear()
    _MIRRORS["index.md"] = "README.md"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    generated["index.md"] = readme
    for folder in _plugin_dirs():
        page = f"vendors/{folder.name}.md"
        _MIRRORS[page] = f"plugins/{folder.name}/README.md"
        generated[page] = (folder / "README.md").read_text(encoding="utf-8")
    for uri, content in generated.items():
        existing = files.get_file_from_path(uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return _rewrite_links(markdown, page.file.src_uri)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the nav's generated sections: each plugin's page, each API reference page."""
    generated = {
        "Vendor plugins": [{folder.name: f"vendors/{folder.name}.md"} for folder in _plugin_dirs()],
        "API": [{_title(uri): uri} for uri in api_pages()],
    }
    for section in config.nav or []:
        for entries in section.values() if isinstance(section, dict) else ():
            if not isinstance(entries, list):
                continue
            for index, entry in enumerate(entries):
                if isinstance(entry, dict) and list(entry) in ([k] for k in generated):
                    [key] = entry
                    entries[index] = {key: generated[key]}
    return config


def _title(uri: str) -> str:
    return posixpath.basename(uri).removesuffix(".md").replace("-", " ").capitalize()
