"""How long `import nexus_connector_core` and plugin discovery take, in fresh processes.

    python benchmarks/import_and_discovery.py [--runs 20]

Goals (issue 2): `python -c "import nexus_connector_core"` under 150 ms on the machine, and
discovery of 10 installed plugins under 100 ms more than discovery without them. Each number
is the median over fresh interpreter processes (so nothing is cached in memory); the plugins
are real distributions (`.dist-info` with entry points) on a folder prepended to sys.path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PLUGIN_SOURCE = """
from nexus_connector_core import hookimpl

@hookimpl
def register_{category}_vendors(register):
    register("bench{index}", "bench_plugin_{index}.adapter:Adapter",
             async_impl="bench_plugin_{index}.adapter:AsyncAdapter",
             options="bench_plugin_{index}.options:Options", description="benchmark plugin")
"""
CATEGORIES = ("email", "sms", "payment", "cloud_storage", "shipping")

DISCOVER = textwrap.dedent(
    """
    import time, nexus_connector_core as n
    t = time.perf_counter()
    registry = n.PluginRegistry()
    registry.load_entry_points()
    plugins = registry.plugins()
    elapsed = time.perf_counter() - t
    assert not registry.failures, registry.failures
    print(len(plugins), elapsed)
    """
)


def _median_command(args: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _make_plugins(site: Path, count: int) -> None:
    for index in range(count):
        info = site / f"bench_plugin_{index}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: bench-plugin-{index}\nVersion: 1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[nexus_connector]\nbench{index} = bench_plugin_{index}\n", encoding="utf-8"
        )
        package = site / f"bench_plugin_{index}"
        package.mkdir()
        source = PLUGIN_SOURCE.format(category=CATEGORIES[index % 5], index=index)
        (package / "__init__.py").write_text(source, encoding="utf-8")


def _discovery(runs: int, env: dict[str, str]) -> tuple[int, float]:
    counts, times = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", DISCOVER], check=True, env=env, capture_output=True, text=True
        ).stdout.split()
        counts.append(int(out[0]))
        times.append(float(out[1]))
    return counts[0], statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_CONNECTOR")}

    bare = _median_command([sys.executable, "-c", "pass"], args.runs, env)
    imported = _median_command(
        [sys.executable, "-c", "import nexus_connector_core"], args.runs, env
    )
    base_count, base_discovery = _discovery(args.runs, env)
    with tempfile.TemporaryDirectory() as tmp:
        _make_plugins(Path(tmp), 10)
        env_plus = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [tmp, env.get("PYTHONPATH")])),
        }
        count, discovery = _discovery(args.runs, env_plus)
        imported_plus = _median_command([sys.executable, "-c", DISCOVER], args.runs, env_plus)

    rows = [
        ("python -c pass", bare, ""),
        ("python -c 'import nexus_connector_core'", imported, "goal < 150 ms"),
        ("  of which the import itself", imported - bare, ""),
        (f"discovery, {base_count} plugin(s) installed", base_discovery, ""),
        (f"discovery, {count} plugins (10 added)", discovery, ""),
        ("  added by 10 plugins", discovery - base_discovery, "goal < 100 ms"),
        ("whole process: import + discover 10 plugins", imported_plus, ""),
    ]
    title = f"measurement (median of {args.runs} fresh processes)"
    print(f"{title:<52} {'ms':>9}")
    for name, seconds, note in rows:
        print(f"{name:<52} {seconds * 1000:>9.1f}  {note}")


if __name__ == "__main__":
    main()
