"""How long ``from nexus_connector_core import ConnectorManager`` and plugin discovery take,
in fresh processes, beside the imports of httpx and stamina.

    python benchmarks/import_and_discovery.py [--rounds 20] [--instructions]

Import (issue 16: <= 75 ms; anchors httpx and stamina): each round starts one fresh
interpreter per command, in turns (``python -c pass``, our import, ``import httpx``,
``import stamina`` when installed: ``pip install -e '.[bench]'``); the table gives the median
over the rounds, the quartiles, and the ratio of medians. Byte code is compiled once before
the rounds, as an installed package's is (this machine's shell sets PYTHONDONTWRITEBYTECODE,
which would compile every module at every start: it is unset here).

Discovery (issue 16: <= 30 ms warm): a virtual environment made for the run holds what this
one holds, but of the plugins only four (redis, smtp, twilio, stripe: a state backend and
three vendors). Each round runs, in turns, a process that discovers without the cache (a scan:
``NEXUS_CONNECTOR_CACHE_DIR=``, what a first start after ``pip install`` does) and one that
reads the cache; each measures, in-process, ``PluginRegistry()``, ``load_entry_points()``
and ``plugins()`` after ``from nexus_connector_core import ConnectorManager`` (what an
application has imported before it discovers), and the whole process is timed too.

``--instructions`` adds callgrind's count of instructions for each import (one run each): a
number the load of a shared machine does not move.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

IMPORTS: dict[str, str] = {
    "python -c pass": "pass",
    "from nexus_connector_core import ConnectorManager": (
        "from nexus_connector_core import ConnectorManager"
    ),
    "import httpx": "import httpx",
    "import stamina": "import stamina",
}
OURS = "from nexus_connector_core import ConnectorManager"
#: The plugins of the four-plugin environment (distribution names, as installed).
FOUR = ("nexus_connector_redis", "nexus_connector_smtp", "nexus_connector_twilio",
        "nexus_connector_stripe")  # fmt: skip

DISCOVER = textwrap.dedent(
    """
    import json, sys, time
    from nexus_connector_core import ConnectorManager, PluginRegistry
    start = time.perf_counter()
    registry = PluginRegistry()
    registry.load_entry_points()
    plugins = registry.plugins()
    elapsed = time.perf_counter() - start
    assert not registry.failures, registry.failures
    print(json.dumps([elapsed, sorted(p.name for p in plugins),
                      "importlib_metadata" in sys.modules]))
    """
)


def _environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_CONNECTOR")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def _run(python: str, code: str, env: dict[str, str], cwd: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [python, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, out.stdout


def _spread(values: Sequence[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1 * 1000:6.1f} to {q3 * 1000:<6.1f}"


def _row(name: str, values: Sequence[float], note: str = "") -> None:
    median = statistics.median(values)
    print(f"  {name:<52} {median * 1000:7.1f} ms   IQR {_spread(values)} ms  {note}")


# -- import ------------------------------------------------------------------------------------


def import_times(rounds: int, cwd: str) -> dict[str, list[float]]:
    env = _environ()
    commands = {name: code for name, code in IMPORTS.items() if _importable(code, env, cwd)}
    for code in commands.values():  # byte code written once, as pip install does
        _run(sys.executable, code, env, cwd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for index in range(rounds):
        turn = names[index % len(names) :] + names[: index % len(names)]  # who goes first rotates
        for name in turn:
            times[name].append(_run(sys.executable, commands[name], env, cwd)[0])
    return times


def _importable(code: str, env: dict[str, str], cwd: str) -> bool:
    try:
        _run(sys.executable, code, env, cwd)
    except subprocess.CalledProcessError:
        return False
    return True


def report_imports(times: dict[str, list[float]]) -> None:
    rounds = len(times[OURS])
    print(f"import, fresh processes in turns, {rounds} rounds (median, interquartile range)")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        note = ""
        if name == OURS:
            note = "goal <= 75 ms"
        elif name != "python -c pass":
            note = f"ours / this = {medians[OURS] / medians[name]:.2f}"
        _row(name, values, note)
    bare = medians["python -c pass"]
    print(f"  {'  our import beyond python -c pass':<52} {(medians[OURS] - bare) * 1000:7.1f} ms")


def instructions(cwd: str) -> None:
    if shutil.which("valgrind") is None:
        print("  (valgrind not found: no instruction counts)")
        return
    env = _environ()
    print("instructions (callgrind, whole process, one run each)")
    counts = {}
    for name, code in IMPORTS.items():
        if not _importable(code, env, cwd):
            continue
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, "-c", code],
            env=env, cwd=cwd, capture_output=True, text=True, check=True,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", out.stderr)
        counts[name] = int(found.group(1)) if found else 0
        ratio = ""
        if name not in (OURS, "python -c pass") and counts.get(OURS) and counts[name]:
            ratio = f"ours / this = {counts[OURS] / counts[name]:.2f}"
        print(f"  {name:<52} {counts[name] / 1e6:7.1f} M    {ratio}")


# -- discovery ---------------------------------------------------------------------------------


def four_plugin_environment(root: Path) -> str:
    """A virtual environment with what this one has installed, but only the `FOUR` plugins
    (entries of this site-packages linked into its own); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = Path(sysconfig.get_paths()["purelib"])
    others = {
        info.name.split("-")[0]
        for info in ours.glob("*.dist-info")
        if "[nexus_connector]" in _read(info / "entry_points.txt")
    } - set(FOUR)
    for entry in ours.iterdir():
        bare = entry.name.removeprefix("_editable_impl_").removeprefix("__editable__.")
        if bare in others or any(bare.startswith((f"{o}-", f"{o}.")) for o in others):
            continue
        target = Path(purelib) / entry.name
        if not target.exists():
            target.symlink_to(entry)
    return str(python)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def discovery_times(
    python: str, rounds: int, cache: Path, cwd: str
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[str]]:
    warm_env = _environ(NEXUS_CONNECTOR_CACHE_DIR=str(cache))
    cold_env = _environ(NEXUS_CONNECTOR_CACHE_DIR="")
    _run(python, DISCOVER, cold_env, cwd)  # byte code
    # A folder changed in the last 2 s is not trusted (see _entry_points): the new
    # environment's is, until then, so the first cache is written after that.
    from nexus_connector_core._entry_points import RACY_SECONDS

    time.sleep(RACY_SECONDS + 0.5)
    _run(python, DISCOVER, warm_env, cwd)  # writes the cache
    inner: dict[str, list[float]] = {"cold": [], "warm": []}
    whole: dict[str, list[float]] = {"cold": [], "warm": []}
    plugins: list[str] = []
    for index in range(rounds):
        turn = ["cold", "warm"] if index % 2 == 0 else ["warm", "cold"]
        for kind in turn:
            seconds, out = _run(python, DISCOVER, cold_env if kind == "cold" else warm_env, cwd)
            elapsed, plugins, scanned = json.loads(out)
            if scanned != (kind == "cold"):
                raise SystemExit(f"a {kind} discovery {'scanned' if scanned else 'did not'}")
            inner[kind].append(elapsed)
            whole[kind].append(seconds)
    return inner, whole, plugins


def report_discovery(
    inner: dict[str, list[float]], whole: dict[str, list[float]], plugins: list[str]
) -> None:
    installed = [p for p in plugins if p != "builtin"]
    print(
        f"discovery, {len(installed)} plugins installed ({', '.join(installed)}), "
        f"{len(inner['cold'])} rounds, cold and warm in turns"
    )
    cold, warm = statistics.median(inner["cold"]), statistics.median(inner["warm"])
    _row("discovery, cold (a scan: no cache)", inner["cold"])
    _row(
        "discovery, warm (the cache)",
        inner["warm"],
        f"goal <= 30 ms; cold / warm = {cold / warm:.1f}",
    )
    _row("whole process: ConnectorManager + discovery, cold", whole["cold"])
    _row("whole process: ConnectorManager + discovery, warm", whole["warm"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--instructions", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = str(Path(tmp) / "cwd")
        os.mkdir(cwd)
        report_imports(import_times(args.rounds, cwd))
        if args.instructions:
            instructions(cwd)
        python = four_plugin_environment(Path(tmp) / "venv")
        report_discovery(*discovery_times(python, args.rounds, Path(tmp) / "cache", cwd))
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
