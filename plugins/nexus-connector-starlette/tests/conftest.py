"""Fixtures for the Starlette / FastAPI integration's tests.

- ``clock``: a `FakeClock` the apps' managers run on, so breakers and limiters move when a
  test says;
- ``serve(app)``: the app served by uvicorn on 127.0.0.1 and a free port, with its lifespan,
  in a thread; returns a `Served` (``url``, ``stop()``); stopped at teardown;
- ``trigger_happy``: resilience that opens the breaker on the first failure, for a minute.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from nexus_connector_core.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def trigger_happy() -> dict[str, Any]:
    return {
        "retry": {"enabled": False},
        "circuit_breaker": {"window": 1, "min_calls": 1, "open_for": 30, "half_open_calls": 1},
    }


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Any]]:
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    class Served:
        def __init__(self, url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
            self.url = url
            self._server = server
            self._thread = thread

        def stop(self) -> None:
            """Shut the server down (the app's lifespan ends) and wait for it."""
            self._server.should_exit = True
            self._thread.join(timeout=10)
            assert not self._thread.is_alive()

    def start(app: Any) -> Served:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started.append((server, thread))
        ready = threading.Event()
        for _ in range(500):  # bounded: the server starts in a few milliseconds
            if server.started or not thread.is_alive():
                break
            ready.wait(0.01)
        assert server.started, "uvicorn did not start (see its log above)"
        return Served(f"http://127.0.0.1:{port}", server, thread)

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(timeout=10)
