"""Checks what was rendered: every Python file compiles and the package is where the
entry point says. A failure here is a bug of the template (or an answer the pre-generation
hook let through): it names the file and the line.

Then formats it with ruff when ruff is installed (the ``authoring`` extra brings it): names
drawn from long answers make lines that only a formatter lays out as the rendered project's
CI (``ruff check``, ``ruff format --check``) wants them.
"""

import importlib.util
import pathlib
import subprocess
import sys

PACKAGE = {{ cookiecutter.package_name | tojson }}

root = pathlib.Path.cwd()
broken = []
for path in sorted(root.rglob("*.py")):
    try:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    except SyntaxError as exc:
        broken.append(f"{path.relative_to(root)}:{exc.lineno}: {exc.msg}")
if not (root / PACKAGE / "plugin.py").is_file():
    broken.append(f"{PACKAGE}/plugin.py was not rendered")
if broken:
    print("cookiecutter-adapter rendered a project that does not compile:", file=sys.stderr)
    for line in broken:
        print(f"  {line}", file=sys.stderr)
    sys.exit(1)

if importlib.util.find_spec("ruff") is not None:
    # Imports sorted first (a fix of ruff check), then laid out; the project's own settings.
    for step in (["check", "--fix", "--quiet", "."], ["format", "--quiet", "."]):
        subprocess.run([sys.executable, "-m", "ruff", *step], cwd=root, check=False)
