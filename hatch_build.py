"""Build hook: write the synchronous twins of the asynchronous sources before packaging;
put the cookiecutter-adapter template in a (non-editable) wheel.

The synchronous connector faces, manager, resilience steps and webhook entry points are
generated from their asynchronous source by ``nexus_connector_core._unasync`` (see its
docstring); they are build artifacts, so every build writes them, editable installs
included. The generator needs nothing but the standard library.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class UnasyncHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        path = Path(self.root) / "nexus_connector_core" / "_unasync.py"
        spec = importlib.util.spec_from_file_location("_nexus_connector_unasync", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main([])
        if self.target_name == "wheel" and version == "standard":
            # nexus-connector new-adapter renders it from an installed wheel too; an editable
            # install finds it in the checkout.
            template = "nexus_connector_core/_cookiecutter_adapter"
            build_data["force_include"][str(Path(self.root) / "cookiecutter-adapter")] = template
