"""A package's public names, imported from its private modules on first use (PEP 562).

A package whose public names live in private modules (``_adapter.py``, ``_options.py``)
names each one's module once and lets `lazy_exports` import a module only when one of its
names is first used, so ``import nexus_connector_acme`` (and plugin discovery, which imports
``nexus_connector_acme.plugin``) loads neither the adapter nor its HTTP client::

    from typing import TYPE_CHECKING

    from nexus_connector_core import lazy_exports

    from ._version import __version__

    __all__ = ["__version__", "AcmeEmailAdapter", "AcmeOptions"]

    if TYPE_CHECKING:  # what type checkers and editors read
        from ._adapter import AcmeEmailAdapter
        from ._options import AcmeOptions
    else:  # what runs
        __getattr__, __dir__ = lazy_exports(
            __name__, {"AcmeEmailAdapter": "_adapter", "AcmeOptions": "_options"}
        )

With ``__getattr__`` out of the type checker's sight, a misspelt name is an error there
instead of `Any`.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["declared_exports", "lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of `package` (its ``__name__``).

    `exports` maps each public name to the module that defines it, relative to the package
    and written without a leading dot (``"_adapter"``, ``"_resilience.backoff"``). A name is
    imported from its module when first looked up, then kept in the package's globals, so
    later lookups are plain attribute reads; any other name is an `AttributeError`.
    ``dir(package)`` lists the package's ``__all__`` and the exported names.

    Raises `ValueError` for a module written with a leading dot.
    """
    table = dict(exports)  # the caller's mapping may change later; this copy does not
    dotted = sorted(name for name, module in table.items() if module.startswith("."))
    if dotted:
        raise ValueError(
            f"{package}: write the modules of {', '.join(dotted)} relative to the package "
            "without a leading dot ('_adapter', not '._adapter')"
        )

    def module_getattr(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def module_dir() -> list[str]:
        return sorted({*getattr(sys.modules[package], "__all__", ()), *table})

    return module_getattr, module_dir


def declared_exports(path: str) -> dict[str, str]:
    """The public names a package's ``__init__.py`` (at `path`) declares, by module.

    The declaration is the file's ``if TYPE_CHECKING:`` block of explicit re-exports, the
    one list of the package's names, which type checkers read as it is::

        if TYPE_CHECKING:
            from ._errors import ConnectorError as ConnectorError
            from ._manager import ConnectorManager as ConnectorManager

    Read without importing anything, in a fraction of a millisecond.
    """
    with open(path, encoding="utf-8") as file:  # not pathlib: it costs more than the rest
        text = file.read()
    start = text.index("\nif TYPE_CHECKING:\n")
    end = text.find("\nelse:", start)
    block = text[start : end if end >= 0 else len(text)]
    exports: dict[str, str] = {}
    for statement in re.finditer(
        r"^    from \.([\w.]+) import (\([^)]*\)|[^\n]*)", block, re.MULTILINE
    ):
        module, names = statement.group(1), statement.group(2).strip("()")
        for item in names.split(","):
            name, _, alias = item.strip().partition(" as ")
            if name:
                exports[alias.strip() or name] = module
    return exports
