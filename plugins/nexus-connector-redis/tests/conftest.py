"""Real Redis servers for the plugin's tests, all on 127.0.0.1 (never fakeredis).

Fixtures:

- ``redis_server`` (session): the server the tests share. ``REDIS_URL`` when set, else a
  ``redis-server`` this session starts on a free port. ``redis_url`` is its URL.
- ``restartable_redis`` (function): a server of the test's own that it may `RedisServer.stop`
  (the process exits) and `RedisServer.start` again on the same port, for outage tests.
- ``launch_redis`` (function): starts servers of the test's own with extra ``redis-server``
  arguments (``launch_redis("--requirepass", "pw")``); stopped after the test.
- ``redis_cluster`` (session): a three-node Redis Cluster (no replicas) on free ports.
- ``unique_prefix`` (function): a random key prefix, so tests never collide on a shared server.

Where the ``redis-server`` (or, for the cluster, ``redis-cli``) binary is missing, the tests
that need it skip with the reason; with ``NEXUS_REQUIRE_SERVICES=1`` (``.ci/run`` sets it)
they fail instead. Tests using these fixtures get the ``redis`` marker, and cluster tests
the ``cluster`` marker too, so ``-m "not cluster"`` or ``-m redis`` selects them.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"
#: Seconds a server gets to answer PING after it was launched, and to exit after SHUTDOWN.
STARTUP_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
#: ``redis-cli --cluster create`` waits in steps of a second for the nodes to join: ~3 s.
CLUSTER_CREATE_TIMEOUT = 20.0
CLUSTER_READY_TIMEOUT = 10.0
CLUSTER_NODES = 3
CLUSTER_SLOTS = 16384
#: A cluster node also listens on its port + 10000 (the cluster bus).
CLUSTER_BUS_OFFSET = 10000
#: Attempts to launch a server on a fresh port when another process took the port first.
LAUNCH_ATTEMPTS = 3
_POLL_INTERVAL = 0.02
_LOG_TAIL_LINES = 20


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the local three-node Redis Cluster the tests start"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the servers it uses, so it can be selected (or left out) with -m."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        servers = {"redis_server", "redis_url", "restartable_redis", "launch_redis"}
        if fixtures & (servers | {"redis_cluster"}):
            item.add_marker(pytest.mark.redis)
        if "redis_cluster" in fixtures:
            item.add_marker(pytest.mark.cluster)


# -- finding the binaries ---------------------------------------------------------------------


def service_missing(reason: str) -> NoReturn:
    """Skip the test for want of a server, or fail it when services are required (CI)."""
    if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (NEXUS_REQUIRE_SERVICES=1: a missing service fails)", pytrace=False)
    pytest.skip(reason)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        service_missing(
            f"`{name}` is not on PATH: install Redis (e.g. `apt-get install redis-server`) "
            "or point REDIS_URL at a server"
        )
    return path


# -- ports --------------------------------------------------------------------------------------


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def free_cluster_port() -> int:
    """A free loopback port whose cluster-bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randrange(20000, 65536 - CLUSTER_BUS_OFFSET)
        if _bindable(port) and _bindable(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("found no free port pair (port, port + 10000) on 127.0.0.1")


# -- one redis-server process ---------------------------------------------------------------------


class RedisStartupError(RuntimeError):
    """A redis-server did not come up; the message ends with the tail of its log."""

    def __init__(self, message: str, *, port_taken: bool) -> None:
        super().__init__(message)
        #: Another process holds the port: launching on a fresh port may succeed.
        self.port_taken = port_taken


def _control_client(port: int) -> redis.Redis:
    """A client for managing a server: short timeouts, no retries, so a dead server is news
    at once rather than after redis-py's default backoff (10 retries, seconds)."""
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )


class RedisProcess:
    """One ``redis-server`` this session owns, on a fixed loopback port, logging to a file
    in `workdir`. Persistence is off: no RDB snapshots, no AOF."""

    def __init__(self, binary: str, port: int, workdir: Path, *extra_args: str) -> None:
        self.port = port
        self.log_path = workdir / f"redis-{port}.log"
        self._args = [
            binary,
            "--port", str(port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            *extra_args,
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Launch the server and return once it answers PING (within `STARTUP_TIMEOUT`)."""
        if self.running:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_until_serving(self._process)
        except BaseException:
            self._kill()
            raise

    def _wait_until_serving(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with _control_client(self.port) as client:
            while True:
                if process.poll() is not None:
                    raise self._startup_error(f"exited with status {process.returncode}")
                try:
                    client.ping()
                except (redis.ConnectionError, redis.TimeoutError):  # not listening yet, loading
                    pass
                else:
                    break
                if time.monotonic() > deadline:
                    raise self._startup_error(f"did not answer PING within {STARTUP_TIMEOUT} s")
                time.sleep(_POLL_INTERVAL)
            # Whoever answered must be our process, not one that took the port first.
            if client.info("server")["process_id"] != process.pid:
                raise self._startup_error("lost the port to another server")

    def _startup_error(self, what: str) -> RedisStartupError:
        log = self.log_tail()
        return RedisStartupError(
            f"redis-server on {HOST}:{self.port} {what}; {self.log_path} ends with:\n{log}",
            port_taken="Address already in use" in log or "lost the port" in what,
        )

    def stop(self) -> None:
        """SHUTDOWN NOSAVE and wait for the process to exit; kill it if it will not."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            with _control_client(self.port) as client:
                client.shutdown(nosave=True)
        except redis.RedisError:
            process.terminate()  # unreachable or refusing (a password): SIGTERM stops it too
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()  # a no-op if it has exited already
            process.wait()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the server wrote (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def launch(make: Callable[[int], RedisProcess], pick_port: Callable[[], int]) -> RedisProcess:
    """Start a server on a fresh free port, trying another port if one is taken meanwhile."""
    attempts = 1
    while True:
        process = make(pick_port())
        try:
            process.start()
        except RedisStartupError as error:
            if not error.port_taken or attempts == LAUNCH_ATTEMPTS:
                raise
            attempts += 1
        else:
            return process


# -- handles the tests use ------------------------------------------------------------------------


class RedisServer:
    """A Redis server for a test: its `url`, `port`, clients, and, when this session owns the
    process, `stop` and `start` (on the same port).

    Example::

        def test_backend_recovers(restartable_redis):
            restartable_redis.stop()   # the process exits: clients get connection errors
            restartable_redis.start()  # the same port again, empty
    """

    def __init__(self, url: str, process: RedisProcess | None = None) -> None:
        self.url = url
        parts = urlsplit(url)
        self.host = parts.hostname or HOST
        self.port = parts.port or 6379
        self._process = process

    @classmethod
    def owned(cls, process: RedisProcess) -> RedisServer:
        return cls(f"redis://{HOST}:{process.port}/0", process)

    @property
    def restartable(self) -> bool:
        """This session started the process, so it may stop and start it."""
        return self._process is not None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client for this server. Unlike redis-py's defaults (10 retries with
        backoff), it does not retry and times out after 1 s, so an outage shows at once;
        pass keyword arguments to override. Close it (``with server.client() as c:``)."""
        options: dict[str, Any] = {
            "socket_timeout": 1.0,
            "socket_connect_timeout": 1.0,
            "retry": Retry(NoBackoff(), 0),
        }
        return redis.Redis.from_url(self.url, **(options | kwargs))

    def stop(self) -> None:
        """Shut the server down; the process has exited when this returns."""
        self._require_process().stop()

    def start(self) -> None:
        """Start the stopped server again on the same port (with no data)."""
        self._require_process().start()

    def _require_process(self) -> RedisProcess:
        if self._process is None:
            pytest.skip(
                f"REDIS_URL ({self.url}) is a server these tests do not own, so they cannot "
                "stop and start it; use the `restartable_redis` fixture"
            )
        return self._process

    def __repr__(self) -> str:
        return f"RedisServer({self.url!r}, restartable={self.restartable})"


class RedisClusterNodes:
    """A three-node Redis Cluster on loopback ports, every slot assigned, no replicas.

    `url` names the first node; a cluster client discovers the others from it.
    """

    def __init__(self, processes: list[RedisProcess]) -> None:
        self.ports = [process.port for process in processes]
        self.url = f"redis://{HOST}:{self.ports[0]}"

    def client(self, **kwargs: Any) -> redis.RedisCluster:
        """A redis-py cluster client (1 s timeouts; keyword arguments override). Close it."""
        options: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        return redis.RedisCluster(host=HOST, port=self.ports[0], **(options | kwargs))

    def __repr__(self) -> str:
        return f"RedisClusterNodes(ports={self.ports})"


def _create_cluster(cli: str, ports: list[int], workdir: Path) -> None:
    nodes = [f"{HOST}:{port}" for port in ports]
    command = [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLUSTER_CREATE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(
            f"`{' '.join(command)}` did not finish within {CLUSTER_CREATE_TIMEOUT} s; "
            f"node logs are in {workdir}"
        ) from error
    if result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` failed with status {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )


def _cluster_info(port: int) -> dict[str, str]:
    with _control_client(port) as client:
        raw = client.execute_command("CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _wait_for_cluster(processes: list[RedisProcess]) -> None:
    """Return once every node reports ``cluster_state:ok``, all slots assigned, all nodes
    known: then a cluster client may start from any of them."""
    expected = {
        "cluster_state": "ok",
        "cluster_slots_assigned": str(CLUSTER_SLOTS),
        "cluster_known_nodes": str(len(processes)),
    }
    deadline = time.monotonic() + CLUSTER_READY_TIMEOUT
    while True:
        infos = {process.port: _cluster_info(process.port) for process in processes}
        if all({key: info.get(key) for key in expected} == expected for info in infos.values()):
            return
        if time.monotonic() > deadline:
            states = ", ".join(
                f"{port}: state={info.get('cluster_state')} "
                f"nodes={info.get('cluster_known_nodes')} "
                f"slots={info.get('cluster_slots_assigned')}"
                for port, info in infos.items()
            )
            logs = "\n".join(f"--- {p.log_path}\n{p.log_tail()}" for p in processes)
            raise RuntimeError(
                f"the Redis Cluster was not ok within {CLUSTER_READY_TIMEOUT} s ({states}):\n{logs}"
            )
        time.sleep(_POLL_INTERVAL)


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The server the session's tests share: ``REDIS_URL`` when set, else one started here."""
    url = os.environ.get("REDIS_URL")
    if url:
        server = RedisServer(url)
        try:
            with server.client() as client:
                client.ping()
        except redis.RedisError as error:
            service_missing(f"REDIS_URL={url} does not answer PING: {error}")
        yield server
        return
    binary = _binary("redis-server")
    workdir = tmp_path_factory.mktemp("redis")
    process = launch(lambda port: RedisProcess(binary, port, workdir), free_port)
    try:
        yield RedisServer.owned(process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """The URL of `redis_server`, for backends built from a URL."""
    return redis_server.url


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop and start again on the same port."""
    binary = _binary("redis-server")
    process = launch(lambda port: RedisProcess(binary, port, tmp_path), free_port)
    try:
        yield RedisServer.owned(process)
    finally:
        process.stop()


@pytest.fixture
def launch_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start servers of this test's own with extra ``redis-server`` arguments."""
    binary = _binary("redis-server")
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(*extra_args: str) -> RedisServer:
            workdir = tmp_path / f"server-{next(numbers)}"
            workdir.mkdir()
            process = launch(
                lambda port: RedisProcess(binary, port, workdir, *extra_args), free_port
            )
            stack.callback(process.stop)
            return RedisServer.owned(process)

        yield start


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """Three ``redis-server --cluster-enabled yes`` nodes joined by ``redis-cli --cluster
    create`` (no replicas); ready once every node reports ``cluster_state:ok`` (~3 s)."""
    server, cli = _binary("redis-server"), _binary("redis-cli")
    workdir = tmp_path_factory.mktemp("redis-cluster")

    def node(port: int) -> RedisProcess:
        return RedisProcess(
            server,
            port,
            workdir,
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(workdir / f"nodes-{port}.conf"),
        )  # fmt: skip

    with ExitStack() as stack:
        processes = []
        for _ in range(CLUSTER_NODES):
            process = launch(node, free_cluster_port)
            stack.callback(process.stop)
            processes.append(process)
        _create_cluster(cli, [process.port for process in processes], workdir)
        _wait_for_cluster(processes)
        yield RedisClusterNodes(processes)


@pytest.fixture
def unique_prefix() -> str:
    """A key prefix no other test uses (hex only: no hash-tag braces, no separators)."""
    return f"test-{os.urandom(6).hex()}"
