"""A real Redis for tests, an application's or the plugin's: ``redis-server`` processes on
127.0.0.1 and free ports (never fakeredis, whose scripts and clock are not Redis's).

- `redis_url` gives a test session its Redis by the rule this repository's tests follow:
  ``REDIS_URL`` when set (it must answer PING); else a ``redis-server`` started on a free
  port for as long as the ``with`` block lasts, when the binary is on PATH; else the test
  is skipped with the reason (`unittest.SkipTest`, which pytest and unittest both honour),
  except with ``NEXUS_REQUIRE_SERVICES=1`` (set it in CI), where a missing server is a
  failure (`RedisUnavailableError`).
- `RedisServer` is one ``redis-server`` of the test's own: it may stop it (the process
  exits: an outage) and start it again on the same port.
- `RedisCluster` is a three-node Redis Cluster (no replicas) on free ports.

Persistence is off (no snapshot, no append-only file): a restarted server is empty. In an
application's test, its workers' shared state in a real Redis:

>>> from nexus_connector_core import ConnectorManager, SmsMessage
>>> from nexus_connector_redis.testing import RedisServer, redis_url
>>> with redis_url() as url:
...     config = {
...         "state": {"backend": "redis", "url": url, "fail_mode": "closed"},
...         "connectors": {"sms": {"vendor": "memory"}},
...     }
...     with ConnectorManager.from_config(config) as manager:
...         manager.sms.send(SmsMessage("+14155550100", "Your code is 4242")).vendor
'memory'

A pytest suite makes it a session fixture::

    @pytest.fixture(scope="session")
    def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        with redis_url(tmp_path_factory.mktemp("redis")) as url:
            yield url

A server of the test's own takes more ``redis-server`` arguments, and can go away:

>>> with RedisServer("--maxmemory", "10mb") as server:
...     with server.client() as client:
...         client.config_get("maxmemory")
...         server.stop()  # an outage: the process has exited
...         server.start()  # back on the same port, empty
...         client.config_get("maxmemory")
{'maxmemory': '10485760'}
{'maxmemory': '10485760'}
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "HOST",
    "RedisCluster",
    "RedisServer",
    "RedisStartupError",
    "RedisUnavailableError",
    "redis_url",
]

#: Where the servers listen.
HOST = "127.0.0.1"
#: Seconds a server gets to answer PING after it was launched, and to exit after SHUTDOWN.
STARTUP_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
#: ``redis-cli --cluster create`` waits in steps of a second for the nodes to join: ~3 s.
CLUSTER_CREATE_TIMEOUT = 20.0
CLUSTER_READY_TIMEOUT = 10.0
CLUSTER_SLOTS = 16384
#: A cluster node also listens on its port + 10000 (the cluster bus).
CLUSTER_BUS_OFFSET = 10000
#: Attempts to launch a server on a fresh port when another process took the port first.
LAUNCH_ATTEMPTS = 3
_POLL_INTERVAL = 0.02
_LOG_TAIL_LINES = 20
_INSTALL = "install Redis (e.g. `apt-get install redis-server`)"


class RedisUnavailableError(RuntimeError):
    """No Redis for the tests while ``NEXUS_REQUIRE_SERVICES=1`` says one is required."""


class RedisStartupError(RuntimeError):
    """A redis-server did not come up; the message ends with the tail of its log."""

    def __init__(self, message: str, *, port_taken: bool) -> None:
        super().__init__(message)
        #: Another process holds the port: launching on a fresh port may succeed.
        self.port_taken = port_taken


def _missing(reason: str) -> NoReturn:
    """Skip the test for want of a server, or fail it when services are required (CI)."""
    if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
        raise RedisUnavailableError(f"{reason} (NEXUS_REQUIRE_SERVICES=1: a missing service fails)")
    raise unittest.SkipTest(reason)


def _binary(name: str, advice: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"`{name}` is not on PATH: {advice}")
    return path


def _control_client(port: int) -> redis.Redis:
    """A client for managing a server: short timeouts, no retries, so a dead server is news
    at once rather than after redis-py's default backoff."""
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )


def _free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_cluster_port() -> int:
    """A free loopback port whose cluster-bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randrange(20000, 65536 - CLUSTER_BUS_OFFSET)
        if _bindable(port) and _bindable(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("found no free port pair (port, port + 10000) on 127.0.0.1")


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, on a free port the first `start` picks and every
    later one reuses; stopped on leaving a ``with`` block.

    Args:
        args: more ``redis-server`` arguments (``"--requirepass", "pw"``); they come after
            this class's own, so they win.
        workdir: the server's folder (its log, ``redis-<port>.log``); by default a
            temporary one, removed on leaving the ``with`` block.
        binary: the ``redis-server`` to run; by default the one on PATH (none: the test is
            skipped, or fails with ``NEXUS_REQUIRE_SERVICES=1``).

    Example::

        def test_backend_recovers(tmp_path):
            with RedisServer(workdir=tmp_path) as server:
                server.stop()   # the process exits: clients get connection errors
                server.start()  # the same port again, empty
    """

    def __init__(self, *args: str, workdir: Path | None = None, binary: str | None = None) -> None:
        self._binary = binary or _binary("redis-server", _INSTALL)
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="redis-")
            workdir = Path(self._temporary.name)
        self.workdir = workdir
        self.port = 0
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"redis-{self.port}.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Launch the server (on a free port the first time, on the same port after) and
        return once it answers PING, within `STARTUP_TIMEOUT`. A port another process took
        meanwhile is given up for a fresh one, the first time only."""
        if self.running:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        if self.port:
            self._launch()
            return
        for attempt in range(1, LAUNCH_ATTEMPTS + 1):
            self.port = self._pick_port()
            try:
                self._launch()
            except RedisStartupError as error:
                if not error.port_taken or attempt == LAUNCH_ATTEMPTS:
                    raise
            else:
                return

    def _pick_port(self) -> int:
        return _free_port()

    def _launch(self) -> None:
        command = [
            self._binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            *self._args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
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

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client for this server. Unlike redis-py's defaults (retries with
        backoff), it does not retry and times out after 1 s, so an outage shows at once;
        keyword arguments override. Close it (``with server.client() as c:``)."""
        options: dict[str, Any] = {
            "socket_timeout": 1.0,
            "socket_connect_timeout": 1.0,
            "retry": Retry(NoBackoff(), 0),
        }
        return redis.Redis.from_url(self.url, **(options | kwargs))

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the server wrote (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._temporary is not None:
            self._temporary.cleanup()

    def __repr__(self) -> str:
        return f"RedisServer({self.url!r}, running={self.running})"


class _ClusterNode(RedisServer):
    """A ``--cluster-enabled`` server (its ``nodes.conf`` in its own `workdir`), on a port
    whose cluster-bus port is free too."""

    def __init__(self, workdir: Path, binary: str) -> None:
        super().__init__("--cluster-enabled", "yes", workdir=workdir, binary=binary)

    def _pick_port(self) -> int:
        return _free_cluster_port()


class RedisCluster:
    """A three-node Redis Cluster on loopback ports, every slot assigned, no replicas; ready
    once every node reports ``cluster_state:ok`` (~3 s), stopped on leaving the ``with``
    block. Needs ``redis-server`` and ``redis-cli``.

    `url` names the first node; a cluster client discovers the others from it.
    """

    NODES = 3

    def __init__(self, *, workdir: Path | None = None) -> None:
        self._server = _binary("redis-server", _INSTALL)
        self._cli = _binary("redis-cli", _INSTALL)
        self._stack = ExitStack()
        self._workdir = workdir
        self.ports: list[int] = []

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.ports[0]}"

    def client(self, **kwargs: Any) -> redis.RedisCluster:
        """A redis-py cluster client (1 s timeouts; keyword arguments override). Close it."""
        options: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        return redis.RedisCluster(host=HOST, port=self.ports[0], **(options | kwargs))

    def __enter__(self) -> Self:
        with ExitStack() as stack:
            workdir = self._workdir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-cluster-"))
            )
            nodes = []
            for number in range(self.NODES):
                (workdir / f"node-{number}").mkdir()
                node = _ClusterNode(workdir / f"node-{number}", self._server)
                node.start()
                stack.callback(node.stop)
                nodes.append(node)
            self.ports = [node.port for node in nodes]
            self._create(workdir)
            self._wait_until_ok(nodes)
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def _create(self, workdir: Path) -> None:
        nodes = [f"{HOST}:{port}" for port in self.ports]
        command = [self._cli, "--cluster", "create", *nodes]
        command += ["--cluster-replicas", "0", "--cluster-yes"]
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

    def _wait_until_ok(self, nodes: list[_ClusterNode]) -> None:
        """Return once every node reports ``cluster_state:ok``, all slots assigned, all
        nodes known: then a cluster client may start from any of them."""
        expected = {
            "cluster_state": "ok",
            "cluster_slots_assigned": str(CLUSTER_SLOTS),
            "cluster_known_nodes": str(len(nodes)),
        }
        deadline = time.monotonic() + CLUSTER_READY_TIMEOUT
        while True:
            infos = {node.port: _cluster_info(node.port) for node in nodes}
            if all({key: info.get(key) for key in expected} == expected for info in infos.values()):
                return
            if time.monotonic() > deadline:
                states = ", ".join(
                    f"{port}: state={info.get('cluster_state')} "
                    f"nodes={info.get('cluster_known_nodes')} "
                    f"slots={info.get('cluster_slots_assigned')}"
                    for port, info in infos.items()
                )
                logs = "\n".join(f"--- {n.log_path}\n{n.log_tail()}" for n in nodes)
                raise RuntimeError(
                    f"the Redis Cluster was not ok within {CLUSTER_READY_TIMEOUT} s "
                    f"({states}):\n{logs}"
                )
            time.sleep(_POLL_INTERVAL)

    def __repr__(self) -> str:
        return f"RedisCluster(ports={self.ports})"


def _cluster_info(port: int) -> dict[str, str]:
    with _control_client(port) as client:
        raw = client.execute_command("CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _shown(url: str) -> str:
    """`url` without its user name and password, which may be secrets."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host, query="", fragment="").geturl()


@contextmanager
def redis_url(workdir: Path | None = None) -> Iterator[str]:
    """The URL of a Redis for tests, by the rule of the module docstring: ``REDIS_URL``;
    else a ``redis-server`` started on a free 127.0.0.1 port (its files in `workdir`, by
    default a temporary folder) and stopped when the block ends; else `unittest.SkipTest`,
    or `RedisUnavailableError` with ``NEXUS_REQUIRE_SERVICES=1``."""
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            with redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0) as c:
                c.ping()
        except (redis.RedisError, ValueError) as error:  # ValueError: not a Redis URL
            _missing(f"REDIS_URL ({_shown(url)}) does not answer PING ({type(error).__name__})")
        yield url
        return
    binary = _binary("redis-server", f"{_INSTALL}, or set REDIS_URL to a server's URL")
    with RedisServer(workdir=workdir, binary=binary) as server:
        yield server.url
