"""Fixtures of the monitoring tests (SLOs, alert rules, the dashboard).

- ``workers``: starts worker processes (``worker.py``: a manager on a fake clock, driven by
  JSON commands) and closes them after the test; ``workers.start(setup)`` returns a `Worker`
  with ``send(command) -> answer`` and ``run(commands) -> answers``.
- ``webhook_receiver``: an HTTP server on 127.0.0.1 that records every request (method,
  headers, body) and answers each with the next status of its ``statuses`` list (then 200).
- ``serve``: runs an ASGI app under uvicorn on 127.0.0.1.

With ``--import-mode=importlib`` test modules cannot import this file: everything a test
needs is a fixture.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("worker.py")


class Worker:
    """One worker process, driven by JSON commands on its stdin."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(setup)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log = ""

    def send(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise AssertionError(f"worker exited: {self.process.stderr.read()}")  # type: ignore[union-attr]
        return dict(json.loads(line))

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.send(command) for command in commands]

    def close(self) -> str:
        """Close the manager, wait for the process, and return what it logged."""
        if self.process.poll() is None:
            self.send({"close": True})
            self.process.wait(timeout=30)
        assert self.process.stderr is not None
        self.log += self.process.stderr.read()
        return self.log


class Workers:
    def __init__(self) -> None:
        self.started: list[Worker] = []

    def start(self, setup: dict[str, Any]) -> Worker:
        worker = Worker(setup)
        self.started.append(worker)
        return worker


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers()
    yield pool
    for worker in pool.started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=30)
        for stream in (worker.process.stdin, worker.process.stdout, worker.process.stderr):
            if stream is not None:
                stream.close()


class Receiver:
    """What the webhook receiver got, and what it answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        self.url = ""


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/nexus?team=ops"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(app)`` runs `app` under uvicorn on 127.0.0.1 (a free port) in a thread, and
    returns its base URL; the servers stop after the test."""
    uvicorn = pytest.importorskip("uvicorn")
    servers: list[Any] = []

    def start(app: Any) -> str:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        for _ in range(500):  # bounded: the server starts in a few milliseconds
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
