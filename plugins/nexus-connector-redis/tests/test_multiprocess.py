"""Many processes, one Redis: the guard holds across processes exactly as within one, and a
process whose clock is wrong by minutes changes nothing (the server's clock decides)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nexus_connector_redis.testing import RedisCluster

from nexus_connector_core.testing import Fault, FaultServer

pytestmark = pytest.mark.redis

WORKER = Path(__file__).with_name("worker.py")
PROCESSES = 4


def run_workers(tmp_path: Path, scenario: str, runs: list[dict[str, Any]]) -> list[Any]:
    """Start one worker process per entry of `runs`, release them together, collect results."""
    go = tmp_path / f"go-{os.urandom(4).hex()}"
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), scenario, json.dumps({**args, "go": str(go)})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in runs
    ]
    try:
        for worker in workers:
            line = worker.stdout.readline() if worker.stdout else ""
            assert line.strip() == "ready", worker.stderr.read() if worker.stderr else line
        go.touch()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()


def _args(redis_url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {"url": redis_url, "prefix": prefix, **extra}


def test_a_token_bucket_of_n_admits_exactly_n_across_processes(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    args = _args(redis_url, unique_prefix, capacity=25, tries=20)
    admitted = run_workers(tmp_path, "limit", [args] * PROCESSES)
    assert sum(admitted) == 25
    assert all(0 <= n <= 20 for n in admitted)


def test_the_breaker_opens_for_every_process_once_the_threshold_is_reached_across_them(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    # Each process fails twice: eight failures in all reach the window of 8 between them.
    args = _args(redis_url, unique_prefix, window=8, tries=2)
    assert sum(run_workers(tmp_path, "fail", [args] * PROCESSES)) == 8
    states = run_workers(tmp_path, "state", [args] * PROCESSES)
    assert states == ["open"] * PROCESSES
    # No process gets through any more: all refused without reaching a vendor.
    assert run_workers(tmp_path, "fail", [args] * PROCESSES) == [0] * PROCESSES


def test_half_open_admits_exactly_the_permitted_trials_across_processes(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    args = _args(redis_url, unique_prefix, window=4, tries=4, open_for=0.5, trials=3)
    assert run_workers(tmp_path, "fail", [args]) == [4]  # opens the breaker
    trials = run_workers(tmp_path, "trial", [{**args, "wait": 0.6}] * 8)
    assert sum(trials) == 3


def test_a_process_ending_without_close_records_the_outcomes_it_kept(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    # No admission carries the 4th failure and no flush comes within the run: the exit does.
    args = _args(redis_url, unique_prefix, window=4, tries=4, record_delay=10.0)
    assert run_workers(tmp_path, "fail", [args]) == [4]
    assert run_workers(tmp_path, "state", [args]) == ["open"]


def test_a_process_that_dies_loses_only_the_outcomes_it_kept(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    # Each admission carried the failure before it; the last one was kept, and is lost.
    args = _args(redis_url, unique_prefix, window=4, tries=4, record_delay=10.0)
    assert run_workers(tmp_path, "fail_and_die", [args]) == [4]
    assert run_workers(tmp_path, "state", [args]) == ["closed"]
    assert run_workers(tmp_path, "fail", [{**args, "tries": 1}]) == [1]  # the 4th of 4 again
    assert run_workers(tmp_path, "state", [args]) == ["open"]


def test_one_process_holds_a_token_refresh_lock(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    owners = run_workers(tmp_path, "token_lock", [_args(redis_url, unique_prefix)] * 6)
    assert sum(owner is not None for owner in owners) == 1


def test_twenty_concurrent_duplicates_from_four_processes_reach_the_vendor_once(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    release = threading.Event()

    def vendor(request: Any) -> Fault:
        release.wait(1.0)  # hold the first answer so the duplicates arrive meanwhile
        return Fault.respond(200, {"id": f"pi_{request.path[-4:]}{os.urandom(4).hex()}"})

    with FaultServer() as server:
        server.default = vendor
        args = _args(redis_url, unique_prefix, vendor_url=server.url, key="order-77", threads=5)
        timer = threading.Timer(0.5, release.set)
        timer.start()
        per_process = run_workers(tmp_path, "idempotent_purchase", [args] * PROCESSES)
        timer.cancel()
        assert server.hits == 1
    ids = [vendor_id for ids in per_process for vendor_id in ids]
    assert len(ids) == 20
    assert len(set(ids)) == 1


def test_an_expired_token_shared_by_four_processes_is_refreshed_once(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    issued: list[str] = []
    lock = threading.Lock()

    def token_endpoint(request: Any) -> Fault:
        with lock:
            issued.append(request.path)
            number = len(issued)
        time.sleep(0.2)  # a slow token endpoint: every other caller is waiting meanwhile
        return Fault.respond(
            200, {"access_token": f"at-{number}", "token_type": "Bearer", "expires_in": 3600}
        )

    with FaultServer() as server:
        server.default = token_endpoint
        args = _args(redis_url, unique_prefix, token_url=f"{server.url}/oauth/token", threads=5)
        tokens = run_workers(tmp_path, "oauth_token", [args] * PROCESSES)
    assert issued == ["/oauth/token"]
    assert tokens == [["at-1"]] * PROCESSES


def test_a_process_with_a_skewed_clock_changes_nothing(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    # The breaker opens for an hour; a host five minutes ahead must not see it half-open,
    # and a host five minutes behind must not find the spent bucket full again.
    args = _args(redis_url, unique_prefix, window=4, tries=4, capacity=3)
    assert run_workers(tmp_path, "fail", [args]) == [4]
    skewed = [{**args, "skew": 300.0}, {**args, "skew": -300.0}]
    assert run_workers(tmp_path, "state", skewed) == ["open", "open"]
    assert run_workers(tmp_path, "trial", skewed) == [False, False]
    assert sum(run_workers(tmp_path, "limit", [args])) == 3
    assert run_workers(tmp_path, "limit", [{**a, "tries": 3} for a in skewed]) == [0, 0]


@pytest.mark.cluster
def test_a_token_bucket_of_n_admits_exactly_n_across_processes_on_a_cluster(
    tmp_path: Path, redis_cluster: RedisCluster, unique_prefix: str
) -> None:
    args = {"url": redis_cluster.url, "cluster": True, "prefix": unique_prefix}
    admitted = run_workers(tmp_path, "limit", [{**args, "capacity": 25, "tries": 20}] * PROCESSES)
    assert sum(admitted) == 25
