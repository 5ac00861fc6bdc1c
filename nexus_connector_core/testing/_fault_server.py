"""A real HTTP/1.1 server on 127.0.0.1 that misbehaves on cue, for tests of vendor adapters
and of the resilience pipeline over real sockets. A script says what the "vendor" does with
each incoming request, in order (answer, stall, reset, close); then the default answers.

    >>> import httpx
    >>> with FaultServer() as server:
    ...     server.script(Fault.status(503, retry_after=2))
    ...     with httpx.Client(base_url=server.url) as client:
    ...         first = client.post("/v1/charges", json={"amount": 1999})
    ...         second = client.get("/v1/charges/ch_1")
    >>> first.status_code, first.headers["retry-after"], second.status_code
    (503, '2', 200)
    >>> [(r.method, r.path, r.fault.status_code) for r in server.requests]
    [('POST', '/v1/charges', 503), ('GET', '/v1/charges/ch_1', 200)]
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from email.utils import formatdate
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Literal, Self

__all__ = ["Fault", "FaultServer", "ReceivedRequest"]

FaultKind = Literal[
    "respond",
    "trickle",
    "stall",
    "reset",
    "reset_after_request",
    "close_after_request",
    "undecodable_answer",
]

_MAX_HEAD = 64 * 1024
_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server does with one request. Build one with the class methods:

    - `Fault.respond(status, body, headers)`: an answer (a dict or list body is sent as JSON);
    - `Fault.status(503, retry_after=2)`: an error answer, with a ``Retry-After`` header in
      seconds or as an HTTP-date string;
    - `Fault.trickle(interval, status, body)`: an answer sent one byte every `interval`
      seconds, status line first (each read of the client's gets something in time, the
      whole answer takes long); ends early when the client hangs up or the server stops;
    - `Fault.stall(seconds)`: read the request, then answer nothing for `seconds` (forever
      when None) and close; a stall ends early when the client hangs up or the server stops;
    - `Fault.reset()`: reset the connection (TCP RST) as soon as the request starts to
      arrive, before reading it;
    - `Fault.reset_after_request()`: read the whole request, then reset: the request reached
      the vendor, the answer never came;
    - `Fault.close_after_request()`: read the whole request, then close (FIN), no answer;
    - `Fault.undecodable_answer()`: let the default answer the request (the vendor acts on
      it), then send that answer's status under ``Content-Encoding: gzip`` with a body that
      is not gzip: the vendor said yes in a form no client can decode.

    A per-request default decides after reading the request, so its `reset` acts like
    `reset_after_request`.
    """

    kind: FaultKind
    status_code: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float | None = None

    @classmethod
    def respond(
        cls,
        status: int = 200,
        body: bytes | Mapping[str, Any] | list[Any] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with `status`, `body` and `headers`.

        >>> Fault.respond(201, {"id": "pi_1"}).headers
        (('Content-Type', 'application/json'),)
        """
        extra = dict(headers or {})
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            if not any(name.lower() == "content-type" for name in extra):
                extra = {"Content-Type": "application/json", **extra}
        return cls("respond", status_code=status, body=body, headers=tuple(extra.items()))

    @classmethod
    def status(
        cls,
        status: int,
        *,
        retry_after: float | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An error answer with a small JSON body and, when given, ``Retry-After``.

        >>> dict(Fault.status(429, retry_after=1.5).headers)["Retry-After"]
        '1.5'
        """
        extra = dict(headers or {})
        if retry_after is not None:
            if isinstance(retry_after, float) and retry_after.is_integer():
                retry_after = int(retry_after)
            extra["Retry-After"] = str(retry_after)
        return cls.respond(status, {"error": {"message": _phrase(status)}}, extra)

    @classmethod
    def trickle(
        cls,
        interval: float,
        status: int = 200,
        body: bytes | Mapping[str, Any] | list[Any] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer like `respond`, one byte every `interval` seconds.

        >>> Fault.trickle(0.4, 200, b"ok").seconds
        0.4
        """
        answer = cls.respond(status, body, headers)
        return replace(answer, kind="trickle", seconds=interval)

    @classmethod
    def stall(cls, seconds: float | None = None) -> Fault:
        """Read the request, then say nothing for `seconds` (None: until the server stops)."""
        return cls("stall", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Reset the connection when the request starts to arrive, without reading it."""
        return cls("reset")

    @classmethod
    def reset_after_request(cls) -> Fault:
        """Read the whole request, then reset the connection without answering."""
        return cls("reset_after_request")

    @classmethod
    def close_after_request(cls) -> Fault:
        """Read the whole request, then close the connection (FIN) without answering."""
        return cls("close_after_request")

    @classmethod
    def undecodable_answer(cls) -> Fault:
        """Answer as the default does (the vendor acts), in a body that cannot be decoded
        (see `undecodable`)."""
        return cls("undecodable_answer")

    def undecodable(self) -> Fault:
        """This answer, its body replaced by one that ``Content-Encoding: gzip`` claims is
        gzip and is not (an answer that is no answer, a stall or a reset, is kept).

        >>> Fault.respond(201, {"id": "pi_1"}).undecodable().headers
        (('Content-Type', 'application/json'), ('Content-Encoding', 'gzip'))
        """
        if self.kind not in ("respond", "trickle"):
            return self
        dropped = {"content-encoding", "content-length"}
        headers = tuple(
            (name, value) for name, value in self.headers if name.lower() not in dropped
        )
        return replace(
            self, headers=(*headers, ("Content-Encoding", "gzip")), body=b"not gzip: " + self.body
        )


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as the server received it, and the fault it got.

    `headers` has lower-cased names (repeated headers joined with ``", "``). A request the
    server reset before reading (`Fault.reset`) is recorded with an empty method and path.
    `connection` numbers the connections from 1, so tests can see keep-alive at work.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    connection: int
    fault: Fault | None = None

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


#: The default may decide per request: a callable from the request to its fault.
Responder = Callable[[ReceivedRequest], Fault]


class _Connection:
    """One accepted socket with a read buffer."""

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.number = number
        self.buffer = bytearray()

    def request_arrives(self) -> bool:
        """Wait until the next request starts to arrive (without reading it); False on EOF."""
        if self.buffer:
            return True
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except OSError:
            return False

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionAbortedError("the client hung up")
        self.buffer += data

    def read_until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > _MAX_HEAD:
                raise ValueError("request head too large")
            self._fill()
        return self.read_exactly(end + len(marker))

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_request(self) -> ReceivedRequest:
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        request_line, *lines = head[:-4].split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            body = self.read_exactly(int(headers.get("content-length", "0")))
        return ReceivedRequest(method, path, MappingProxyType(headers), body, self.number)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while size := int(self.read_until(b"\r\n").split(b";")[0], 16):
            body += self.read_exactly(size)
            self.read_exactly(2)
        while self.read_until(b"\r\n") != b"\r\n":  # trailers
            pass
        return bytes(body)

    def send(self, fault: Fault, keep_alive: bool) -> None:
        data = self.answer(fault, keep_alive)
        if fault.kind != "trickle":
            self.sock.sendall(data)
            return
        assert fault.seconds is not None
        for index in range(len(data)):
            self.wait_quietly(fault.seconds)  # returns at once when the client hung up
            self.sock.sendall(data[index : index + 1])
        self.sock.settimeout(None)

    def answer(self, fault: Fault, keep_alive: bool) -> bytes:
        status = fault.status_code
        lines = [f"HTTP/1.1 {status} {_phrase(status)}", f"Date: {formatdate(usegmt=True)}"]
        names = {name.lower() for name, _ in fault.headers}
        lines += [f"{name}: {value}" for name, value in fault.headers]
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(fault.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + fault.body

    def wait_quietly(self, seconds: float | None) -> bool:
        """Say nothing for `seconds` (None: forever); ends early when the client hangs up
        (then True) or the server shuts the socket down."""
        self.sock.settimeout(seconds)
        try:
            while self.sock.recv(65536):
                pass  # the client may send more; a stalled vendor does not care
        except (TimeoutError, OSError):
            return False
        return True

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)


class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 (an ephemeral port) that follows a script of faults.

    >>> with FaultServer() as server:
    ...     server.script(Fault.reset(), Fault.status(500))
    ...     server.default = Fault.respond(200, {"id": "pi_1"})
    ...     server.url.startswith("http://127.0.0.1:")
    True

    The server starts when made; `close` (or the end of a ``with`` block) ends every
    connection, stalled ones too, and joins every thread it started. One thread serves each
    connection (keep-alive included), for many sync or async clients at once. `default` is
    a `Fault` or a callable from the `ReceivedRequest` to its fault (run on the connection's
    thread, it may block to hold an answer back). `requests` lists every request received,
    with its fault, in arrival order; `hits` counts them; `hangups` counts the stalls a
    client hung up on.
    """

    def __init__(self, *, default: Fault | Responder | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        #: The origin to send requests to: ``http://127.0.0.1:<port>``.
        self.url = f"http://{self.host}:{self.port}"
        self._lock = threading.Lock()
        self._script: deque[Fault] = deque()
        #: What a request gets once the script is used up.
        self.default: Fault | Responder = default or Fault.respond(200, {"ok": True})
        self._requests: list[ReceivedRequest] = []
        self._hangups = 0
        self._live: dict[socket.socket, threading.Thread] = {}
        self._closed = False
        self._accepter = threading.Thread(
            target=self._accept, name=f"FaultServer:{self.port}", daemon=True
        )
        self._accepter.start()

    # -- what tests use ------------------------------------------------------------------------

    def script(self, *faults: Fault) -> None:
        """Replace the faults still to come: one per incoming request, in order."""
        with self._lock:
            self._script = deque(faults)

    @property
    def pending(self) -> int:
        """How many scripted faults have not been used yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, with the fault it got (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def hangups(self) -> int:
        """How many stalled requests the client gave up on: it closed the connection
        before the stall ended (a cancelled or timed-out call)."""
        with self._lock:
            return self._hangups

    @property
    def hits(self) -> int:
        """How many requests reached the server."""
        with self._lock:
            return len(self._requests)

    def close(self) -> None:
        """Stop accepting, end every connection (stalls included) and join every thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for sock in self._live:
                with suppress(OSError):  # the client is already gone
                    sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._live.values())
        with suppress(OSError):  # accept() blocks until a connection comes: make one
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        self._accepter.join()
        self._listener.close()
        for thread in threads:
            thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FaultServer {self.url} hits={self.hits} pending={self.pending}>"

    # -- the machinery -------------------------------------------------------------------------

    def _accept(self) -> None:
        number = 0
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    sock.close()
                    return
                number += 1
                thread = threading.Thread(
                    target=self._serve,
                    args=(_Connection(sock, number),),
                    name=f"FaultServer:{self.port}:{number}",
                    daemon=True,
                )
                self._live[sock] = thread
                thread.start()

    def _record(self, request: ReceivedRequest, fault: Fault) -> None:
        with self._lock:
            self._requests.append(replace(request, fault=fault))

    def _decide(self, request: ReceivedRequest) -> Fault:
        default = self.default
        if isinstance(default, Fault):
            return default
        try:
            return default(request)
        except Exception as exc:  # noqa: BLE001 - a broken responder is the test's bug: show it
            return Fault.respond(500, f"FaultServer default raised {exc!r}".encode())

    def _serve(self, conn: _Connection) -> None:
        try:
            while conn.request_arrives():
                with self._lock:
                    fault = self._script.popleft() if self._script else None
                if fault is not None and fault.kind == "reset":
                    self._record(
                        ReceivedRequest("", "", MappingProxyType({}), b"", conn.number), fault
                    )
                    conn.reset()
                    return
                try:
                    request = conn.read_request()
                except ValueError:
                    conn.send(Fault.status(400), keep_alive=False)
                    return
                fault = fault or self._decide(request)
                if fault.kind == "undecodable_answer":
                    fault = self._decide(request).undecodable()
                self._record(request, fault)
                if fault.kind in ("respond", "trickle"):
                    keep_alive = request.headers.get("connection", "").lower() != "close"
                    conn.send(fault, keep_alive)
                    if not keep_alive:
                        return
                    continue
                if fault.kind == "stall":
                    if conn.wait_quietly(fault.seconds):
                        with self._lock:
                            self._hangups += 1
                elif fault.kind != "close_after_request":  # reset, from the default too
                    conn.reset()
                return
        except OSError:
            pass  # the client hung up or the server is stopping
        finally:
            with self._lock:
                del self._live[conn.sock]
            conn.sock.close()
