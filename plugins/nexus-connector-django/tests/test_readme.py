"""The README's "lines you write" are the demo project's, which the other tests run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "tests" / "demo_site"


def test_the_lines_the_readme_shows_are_in_the_tested_demo_project() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The lines you write", 1)[1].split("\n## ", 1)[0]
    shown = [
        line.strip()
        for block in re.findall(r"```python\n(.*?)```", section, re.S)
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#") and "..." not in line
    ]
    demo = {line.strip() for path in SITE.rglob("*.py") for line in path.read_text().splitlines()}

    assert len(shown) >= 10
    assert [line for line in shown if line not in demo] == []
