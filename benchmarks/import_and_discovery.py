"""How long ``from nexus_connector_core import ConnectorManager`` and plugin discovery take,
in fresh processes, beside the imports of httpx and stamina.

    python benchmarks/import_and_discovery.py [--rounds 20] [--instructions]

Everything runs in a virtual environment made for the run, holding what this one holds but
of the plugins only four (redis, smtp, twilio, stripe: a state backend and three vendors).
Each round starts one fresh interpreter per command, in turns, the first of the round rotating:

- ``python -c pass``, our import, ``import httpx``, ``import stamina`` (when installed:
  ``pip install -e '.[bench]'``). Goal (issue 16): our import <= 75 ms, where httpx took
  142 ms and stamina 80 ms; the ratios of medians are printed.
- discovery cold (``NEXUS_CONNECTOR_CACHE_DIR=``: a scan, what a first start after
  ``pip install`` does) and warm (the cache). Each process measures, in-process,
  ``PluginRegistry()``, ``load_entry_points()`` and ``plugins()`` after
  ``from nexus_connector_core import ConnectorManager`` (what an application has imported
  before it discovers). Goal: warm <= 30 ms. The whole process is timed too.

Medians over the rounds with the interquartile range. Byte code is compiled once before the
rounds, as an installed package's is (this machine's shell sets PYTHONDONTWRITEBYTECODE,
which would compile every module at every start: it is unset here). ``--instructions`` adds
callgrind's count of instructions for each import (one run each): a number the load of a
shared machine does not move.
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
PASS = "python -c pass"
COLD, WARM = "cold", "warm"
#: The plugins of the four-plugin environment (distribution names, as installed).
FOUR = ("nexus_connector_redis", "nexus_connector_smtp", "nexus_connector_twilio",
        "nexus_connector_stripe")  # fmt: skip

#: What an application does first: its manager from a config (the embedded memory vendors).
STARTUP = (
    "from nexus_connector_core import ConnectorManager, EMBEDDED_DEFAULTS\n"
    "ConnectorManager.from_config(EMBEDDED_DEFAULTS).close()"
)
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


# -- the environment --------------------------------------------------------------------------


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


def _importable(python: str, code: str, env: dict[str, str], cwd: str) -> bool:
    try:
        _run(python, code, env, cwd)
    except subprocess.CalledProcessError:
        return False
    return True


# -- the rounds --------------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        #: Whole processes: the imports, then the start-ups.
        self.imports: dict[str, list[float]] = {}
        self.startups: dict[str, list[float]] = {}
        #: In-process discovery, cold and warm.
        self.discovery: dict[str, list[float]] = {COLD: [], WARM: []}
        self.plugins: list[str] = []


def measure(python: str, rounds: int, cache: Path, cwd: str) -> Results:
    """Every command once a round, in turns (who goes first rotates)."""
    env = _environ()
    imports = {n: code for n, code in IMPORTS.items() if _importable(python, code, env, cwd)}
    envs = {COLD: _environ(NEXUS_CONNECTOR_CACHE_DIR=""),
            WARM: _environ(NEXUS_CONNECTOR_CACHE_DIR=str(cache))}  # fmt: skip
    for code in [*imports.values(), STARTUP]:  # byte code written once, as pip install does
        _run(python, code, env, cwd)
    # A folder changed in the last 2 s is not trusted (see _entry_points): the new
    # environment's is, until then, so the first cache is written after that.
    from nexus_connector_core._entry_points import RACY_SECONDS

    time.sleep(RACY_SECONDS + 0.5)
    _run(python, DISCOVER, envs[WARM], cwd)  # writes the cache

    results = Results()
    results.imports = {name: [] for name in imports}
    startups = {COLD: "our import + discovery, cold", WARM: "our import + discovery, warm"}
    from_config = "ConnectorManager.from_config(EMBEDDED_DEFAULTS), warm"
    results.startups = {startups[COLD]: [], startups[WARM]: [], from_config: []}
    names = [*imports, COLD, WARM, from_config]
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            if name in imports:
                results.imports[name].append(_run(python, imports[name], env, cwd)[0])
            elif name == from_config:
                results.startups[name].append(_run(python, STARTUP, envs[WARM], cwd)[0])
            else:
                seconds, out = _run(python, DISCOVER, envs[name], cwd)
                elapsed, results.plugins, scanned = json.loads(out)
                if scanned != (name == COLD):
                    raise SystemExit(f"a {name} discovery {'scanned' if scanned else 'did not'}")
                results.discovery[name].append(elapsed)
                results.startups[startups[name]].append(seconds)
    return results


def report(results: Results, rounds: int) -> None:
    installed = [p for p in results.plugins if p != "builtin"]
    print(
        f"fresh processes, {rounds} rounds, each command once a round in turns; "
        f"{len(installed)} plugins installed ({', '.join(installed)})"
    )
    print("import, whole process (median, interquartile range)")
    medians = {name: statistics.median(values) for name, values in results.imports.items()}
    for name, values in results.imports.items():
        note = ""
        if name == OURS:
            note = "goal <= 75 ms"
        elif name != PASS:
            note = f"ours / this = {medians[OURS] / medians[name]:.2f}"
        _row(name, values, note)
    print(f"  {'  our import beyond python -c pass':<52} "
          f"{(medians[OURS] - medians[PASS]) * 1000:7.1f} ms")  # fmt: skip
    print("start-up, whole process")
    for name, values in results.startups.items():
        _row(name, values)
    print("discovery, in-process: PluginRegistry(), load_entry_points(), plugins()")
    cold = statistics.median(results.discovery[COLD])
    warm = statistics.median(results.discovery[WARM])
    _row(f"{COLD}: a scan (no cache)", results.discovery[COLD])
    _row(
        f"{WARM}: the cache",
        results.discovery[WARM],
        f"goal <= 30 ms; cold / warm = {cold / warm:.1f}",
    )


def instructions(python: str, cwd: str) -> None:
    if shutil.which("valgrind") is None:
        print("  (valgrind not found: no instruction counts)")
        return
    env = _environ()
    print("instructions (callgrind, whole process, one run each)")
    counts = {}
    for name, code in IMPORTS.items():
        if not _importable(python, code, env, cwd):
            continue
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-c", code],
            env=env, cwd=cwd, capture_output=True, text=True, check=True,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", out.stderr)
        counts[name] = int(found.group(1)) if found else 0
        ratio = ""
        if name not in (OURS, PASS) and counts.get(OURS) and counts[name]:
            ratio = f"ours / this = {counts[OURS] / counts[name]:.2f}"
        print(f"  {name:<52} {counts[name] / 1e6:7.1f} M    {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--instructions", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = str(Path(tmp) / "cwd")
        os.mkdir(cwd)
        python = four_plugin_environment(Path(tmp) / "venv")
        report(measure(python, args.rounds, Path(tmp) / "cache", cwd), args.rounds)
        if args.instructions:
            instructions(python, cwd)
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
