"""The process's managers: one `ConnectorManager`, one `AsyncConnectorManager` per event loop,
built from the ``NEXUS_CONNECTOR`` setting on first use and closed at exit.

Why one async manager per loop: an async adapter's connections (httpx, aiosmtplib, redis)
belong to the event loop that opened them. Under ASGI there is one loop for the process;
under WSGI, Django runs each async view in an event loop of its own, so each gets its own
async manager, and the manager of a loop that has ended is closed when the next one is made.
With the memory state backend every manager shares one `MemoryStateBackend`, so breakers,
limiters and webhook ids are the process's whichever manager a call goes through (with
Redis they are shared anyway).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping

from nexus_connector_core import AsyncConnectorManager, Clock, Config, ConnectorManager, load_config
from nexus_connector_core.state import AsyncMemoryStateBackend, MemoryStateBackend

from ._settings import ConfigSource, read_settings

__all__ = ["Managers", "active", "amanager", "close_managers", "install", "manager"]

logger = logging.getLogger("nexus_connector_django")

#: Seconds to wait for an async manager closed from another thread than its loop's.
_CLOSE_WAIT = 5.0


AnyManager = ConnectorManager | AsyncConnectorManager


class Managers:
    """The managers built from one config: a sync one, and an async one per event loop.

    `on_retire` is called with each manager just before it is closed (the test override
    keeps what its memory vendors recorded)."""

    def __init__(
        self,
        source: ConfigSource | None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        on_retire: Callable[[AnyManager], None] | None = None,
    ) -> None:
        self._source = source
        self._environ = environ
        self._clock = clock
        self._on_retire = on_retire
        self._lock = threading.Lock()
        self._config: Config | None = None
        self._memory: MemoryStateBackend | None = None
        self._sync: ConnectorManager | None = None
        self._async: dict[asyncio.AbstractEventLoop, AsyncConnectorManager] = {}
        self._closed = False

    def config(self) -> Config:
        """The config, read and checked on first use (`ConfigError` if it is invalid)."""
        with self._lock:
            return self._load()

    def _load(self) -> Config:
        if self._closed:
            raise RuntimeError("these Nexus Connector managers are closed")
        if self._config is None:
            config = load_config(self._source, environ=self._environ)
            if config.state.backend.key == "memory":
                self._memory = MemoryStateBackend(clock=self._clock)
            self._config = config
        return self._config

    def sync(self) -> ConnectorManager:
        """The process's `ConnectorManager`."""
        with self._lock:
            if self._sync is None:
                config = self._load()
                self._sync = ConnectorManager(config, clock=self._clock, state=self._memory)
            return self._sync

    def for_running_loop(self) -> AsyncConnectorManager:
        """The `AsyncConnectorManager` of the running event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "amanager() is for async code (an async view, a task): no event loop is "
                "running here; synchronous code uses manager()"
            ) from None
        ended: list[tuple[asyncio.AbstractEventLoop, AsyncConnectorManager]] = []
        with self._lock:
            found = self._async.get(loop)
            if found is None:
                config = self._load()
                gone = [other for other in self._async if other.is_closed()]
                ended = [(other, self._async.pop(other)) for other in gone]
                state = AsyncMemoryStateBackend(shared=self._memory) if self._memory else None
                found = AsyncConnectorManager(config, clock=self._clock, state=state)
                self._async[loop] = found
        for other, manager in ended:  # outside the lock: closing them may take a moment
            self._retire(manager)
            _close_async(other, manager)
        return found

    def built(self) -> list[AnyManager]:
        """The managers built so far: the sync one first, then the async ones."""
        with self._lock:
            return [m for m in (self._sync, *self._async.values()) if m is not None]

    def close(self) -> None:
        """Close every manager; later use raises. Calling it again does nothing."""
        with self._lock:
            self._closed = True
            sync, self._sync = self._sync, None
            loops, self._async = self._async, {}
        try:
            if sync is not None:
                self._retire(sync)
                sync.close()
        finally:
            for loop, manager in loops.items():
                self._retire(manager)
                _close_async(loop, manager)

    def _retire(self, manager: AnyManager) -> None:
        if self._on_retire is not None:
            self._on_retire(manager)


_closing: set[asyncio.Task[None]] = set()


def _close_async(loop: asyncio.AbstractEventLoop, manager: AsyncConnectorManager) -> None:
    """Close `manager` on `loop`, or, once `loop` has ended, on an event loop of its own (in
    a thread when this one runs a loop): what can be released is (its sockets' loop may be
    gone), and waiting for it is bounded."""
    try:
        current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if loop is current:  # in its own loop's code: close it as soon as this code yields
        task = loop.create_task(_quietly(manager))
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    elif loop.is_running():  # its loop runs in another thread
        future = asyncio.run_coroutine_threadsafe(_quietly(manager), loop)
        with contextlib.suppress(Exception):
            future.result(_CLOSE_WAIT)
    elif current is None:
        _run_closing(loop, manager)
    else:  # its loop has stopped and this thread runs another: close it in a thread
        thread = threading.Thread(target=_run_closing, args=(loop, manager), daemon=True)
        thread.start()
        thread.join(_CLOSE_WAIT)


def _run_closing(loop: asyncio.AbstractEventLoop, manager: AsyncConnectorManager) -> None:
    if loop.is_closed():
        asyncio.run(_quietly(manager))
    else:
        loop.run_until_complete(_quietly(manager))


async def _quietly(manager: AsyncConnectorManager) -> None:
    try:
        await manager.aclose()
    except Exception as exc:  # noqa: BLE001 - closing at exit or after a loop ended
        logger.debug("closing an async Nexus Connector manager failed: %r", exc)


# -- the process's managers -----------------------------------------------------------------

_lock = threading.Lock()
_active: Managers | None = None
_atexit = False


def active() -> Managers:
    """The process's managers, made from the ``NEXUS_CONNECTOR`` setting on first use."""
    global _active, _atexit  # noqa: PLW0603 - one set of managers per process, by design
    with _lock:
        if _active is None:
            _active = Managers(read_settings().config)
            if not _atexit:
                atexit.register(close_managers)
                _atexit = True
        return _active


def install(managers: Managers | None) -> Managers | None:
    """Make `managers` the process's (None: made from the setting on next use); the ones
    they replace are returned, not closed."""
    global _active
    with _lock:
        previous, _active = _active, managers
    return previous


def close_managers() -> None:
    """Close the process's managers; the next `manager()` builds new ones from the settings
    (the app does this when ``NEXUS_CONNECTOR`` changes, and at exit)."""
    previous = install(None)
    if previous is not None:
        previous.close()


def manager() -> ConnectorManager:
    """The process's `ConnectorManager`, built from ``settings.NEXUS_CONNECTOR`` on first use.

    >>> from nexus_connector_django import manager
    >>> manager().sms.send(SmsMessage(to="+14155550100", body="Your code: 4242"))  # doctest: +SKIP
    """
    return active().sync()


def amanager() -> AsyncConnectorManager:
    """The running event loop's `AsyncConnectorManager` (for async views and tasks).

    >>> async def checkout(request):                                   # doctest: +SKIP
    ...     payment = await amanager().payment.purchase(PaymentRequest(...))
    """
    return active().for_running_loop()
