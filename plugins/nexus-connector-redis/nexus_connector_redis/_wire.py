"""The async backend's scripts on a lean wire: one asyncio protocol per connection, replies
parsed by hiredis, no redis-py command layer between a script call and its socket.

Why: on loopback, redis.asyncio's connection spends ~20 µs of CPU per command of its own
(``asyncio.timeout`` around every read, ``wait_for`` around every write, its parser's
StreamReader reads, observability hooks), two to three times the round trip the event loop
itself needs (``benchmarks/redis_guard.py`` prints both). Here a command is a write to the
transport and a future that `Wire.data_received` resolves.

redis-py still makes every connection (TLS, AUTH, SELECT, client name: the URL's options, all
of them), bounds them (``pool_size``) and closes them; the backend then hands the socket's
transport to a `Wire` (`wired`), which keeps redis-py's own protocol informed of the end of the
connection, so that redis-py closes it as it would its own.

Replies come in the order the commands went out, so a wire holds a queue of waiters: a task
cancelled while it waits for its reply leaves its waiter behind, the reply is read and
dropped when it comes, and the wire serves the next call at once (no reconnection, and never
someone else's reply). A wire that fails (the server closed it or reset it, a reply that does
not parse, a reply not in within ``timeout``) fails every waiter with redis-py's error for it
(`redis.exceptions.ConnectionError`, `~redis.exceptions.TimeoutError`,
`~redis.exceptions.InvalidResponse`) and is closed; the backend gives its connection back to
the pool, which reconnects it when it is next used.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

try:  # a dependency (redis[hiredis]); without it the backend uses redis-py's connections
    import hiredis

    #: Whether wires can be made: hiredis parses their replies.
    AVAILABLE = True
except ImportError:  # pragma: no cover - hiredis is installed with the plugin
    AVAILABLE = False

from redis._parsers import BaseParser
from redis.exceptions import ConnectionError, InvalidResponse, ResponseError, TimeoutError

__all__ = ["Wire", "wired"]

#: A timer may run this much before its time (the loop's clock resolution, rounded up).
_LATE = 1e-6
_Future = asyncio.Future
_monotonic = time.monotonic
#: What a waiter waits for: its future, and when its command went out (``time.monotonic``).
Waiter = tuple["asyncio.Future[Any]", float]


class Wire(asyncio.Protocol):
    """One redis-py connection's socket, read by this protocol while the backend holds it.

    `send` writes one command and returns the future of its reply (an error reply is an
    exception instance, as hiredis gives it: `send`'s caller raises it). Not thread-safe:
    the event loop's thread only, as every asyncio protocol.
    """

    def __init__(
        self, connection: Any, transport: asyncio.Transport, original: Any, timeout: float
    ) -> None:
        #: The redis-py connection whose socket this is (given back to its pool when done).
        self.connection = connection
        self.transport = transport
        #: redis-py's own protocol: told when the connection ends, so its close completes.
        self.original = original
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=_parse_error)
        self.waiters: deque[Waiter] = deque()
        #: Why the wire is unusable, once it is: the error its waiters got.
        self.error: BaseException | None = None
        self._watch: asyncio.TimerHandle | None = None

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Write `command`; the future of its reply. Raises the wire's error if it failed."""
        if self.error is not None:
            raise _again(self.error)
        loop = self.loop
        try:
            self.transport.write(command)
        except BaseException as exc:  # its state unknown: no command may follow on it
            error = ConnectionError(f"writing failed: {type(exc).__name__}")
            self.fail(error)
            raise error from exc
        future: asyncio.Future[Any] = _Future(loop=loop)
        self.waiters.append((future, _monotonic()))  # after the write: one that raised has none
        if self._watch is None:
            self._watch = loop.call_later(self.timeout, self._check)
        return future

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader, waiters = self.reader, self.waiters
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                if not waiters:
                    raise InvalidResponse("a reply to no command")
                future = waiters.popleft()[0]
                if not future.done():  # else its task was cancelled: the reply is dropped
                    future.set_result(reply)
        except InvalidResponse as exc:
            self.fail(exc)

    def eof_received(self) -> bool:
        self.fail(ConnectionError("Connection closed by server."))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError("Connection closed by server."))
        self.original.connection_lost(exc)

    def pause_writing(self) -> None:
        self.original.pause_writing()

    def resume_writing(self) -> None:
        self.original.resume_writing()

    # -- failure -------------------------------------------------------------------------------

    def _check(self) -> None:
        """The watch: fail the wire once its oldest command waited `timeout` for its reply.

        One timer per wire, not one per command: it fires `timeout` after the command that
        armed it, and then looks again `timeout` after the oldest still waiting, if any."""
        self._watch = None
        if not self.waiters or self.error is not None:
            return
        left = self.waiters[0][1] + self.timeout - _monotonic()
        if left <= _LATE:
            self.fail(TimeoutError("Timeout reading from the Redis server"))
        else:
            self._watch = self.loop.call_later(left, self._check)

    def fail(self, error: BaseException) -> None:
        """The wire is unusable: every waiter gets `error`, the socket is closed."""
        if self.error is None:
            self.error = error
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        waiters, self.waiters = self.waiters, deque()
        for future, _ in waiters:
            if not future.done():
                future.set_exception(_again(self.error))
        if not self.transport.is_closing():
            self.transport.abort()


def _again(error: BaseException) -> BaseException:
    """A fresh exception like `error` (one exception object is raised by one task only)."""
    return type(error)(*error.args)


#: An error reply as redis-py's parsers make it (NOSCRIPT: `NoScriptError`, ...).
_parse_error: Callable[[str], ResponseError] = BaseParser.parse_error


def wired(connection: Any, timeout: float) -> Wire | None:
    """Take over `connection`'s socket (a connected redis.asyncio connection, nothing unread).

    None when connections cannot be wired (no hiredis, or one made otherwise than redis-py's
    own classes make them): the backend then sends through redis-py. `ConnectionError` when
    this one cannot be (data nobody asked for, or already closed): the pool's to reconnect.
    """
    if not AVAILABLE:
        return None
    reader = getattr(connection, "_reader", None)
    writer = getattr(connection, "_writer", None)
    transport = getattr(writer, "transport", None)
    if not isinstance(reader, asyncio.StreamReader) or not isinstance(transport, asyncio.Transport):
        return None
    if getattr(reader, "_buffer", None) or reader.at_eof() or transport.is_closing():
        raise ConnectionError("the connection has unread data or is closed")
    original = transport.get_protocol()
    taken = Wire(connection, transport, original, timeout)
    transport.set_protocol(taken)
    return taken
