"""Checks what was rendered: every Python file compiles and the package is where the
entry point says. A failure here is a bug of the template (or an answer the pre-generation
hook let through): it names the file and the line."""

import pathlib
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
