"""The async backend's wires (`nexus_connector_redis._wire`): its scripts go straight to the
sockets of redis-py's connections, and every way a command can end leaves them in step.

A call cancelled while it waits leaves its reply to be dropped (the next call on the wire
gets its own reply, never that one); a server that resets the connection mid-command, or does
not answer within the timeout, is an outage as with redis-py, and the connection goes back to
the pool, which reconnects; a connection the server closed while it was idle is passed over;
the connection's options (TLS, password, database) are redis-py's, the wire only reads.

Real servers, each test its own where it pauses, kills or restarts one.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from nexus_connector_redis import AsyncRedisStateBackend, RedisOptions, _wire as wire_module
from nexus_connector_redis._wire import Wire
from nexus_connector_redis.testing import RedisServer

from nexus_connector_core import SYSTEM_CLOCK, Secret, StateBackendUnavailableError
from nexus_connector_core.state import (
    Admission,
    BackendSettings,
    BreakerPolicy,
    GuardPlan,
    IdempotencyClaim,
)

PLAN = GuardPlan(scope="sms:memory", breaker_key="sms:memory", breaker=BreakerPolicy())
#: Seconds a test gives the server to reach the state it puts it in (a failure, not a wait).
SETTLE = 10.0


def _backend(url: str, prefix: str, **options: Any) -> AsyncRedisStateBackend:
    settings = BackendSettings(
        options=RedisOptions(url=url, **options), clock=SYSTEM_CLOCK, prefix=prefix
    )
    return AsyncRedisStateBackend(settings)


def _wires(backend: AsyncRedisStateBackend) -> list[Wire]:
    return list(backend._idle)


async def _sent(backend: AsyncRedisStateBackend, call: asyncio.Task[Any]) -> None:
    """Wait until `call` has written its command and waits for the reply."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE
    while not any(wire.waiters for wire in _busy(backend)):
        assert not call.done(), call
        assert loop.time() < deadline, "the call never sent its command"
        await asyncio.sleep(0.005)


def _busy(backend: AsyncRedisStateBackend) -> list[Wire]:
    """The wires in use (taken from the idle list): found through the protocols of the
    pool's connections."""
    pool = backend._pool
    assert pool is not None
    found = []
    for connection in pool._in_use_connections:
        writer = getattr(connection, "_writer", None)
        if writer is not None and isinstance(writer.transport.get_protocol(), Wire):
            found.append(writer.transport.get_protocol())
    return found


def _pause(server: RedisServer) -> redis.Redis:
    """A control client that paused the server's writes (the scripts write): a command sent
    now waits for its reply until `unpause`."""
    control = server.client()
    control.client_pause(int(SETTLE * 1000), all=False)
    return control


# -- the hot path ------------------------------------------------------------------------------


async def test_the_scripts_go_through_a_wire_and_answer_as_before(
    redis_url: str, unique_prefix: str
) -> None:
    backend = _backend(redis_url, unique_prefix)
    try:
        admission = await backend.admit(PLAN)
        assert isinstance(admission, Admission)
        assert admission.allowed
        claim = await backend.idempotency_begin("k", b"fingerprint", ttl=60.0)
        assert claim.status == "acquired"
        (wire,) = _wires(backend)
        assert isinstance(wire, Wire)
        assert wire.error is None
        assert not wire.waiters
    finally:
        await backend.aclose()
    assert wire.error is not None  # closed with the pool


async def test_a_server_that_lost_the_scripts_gets_them_again_on_the_same_wire(
    redis_url: str, unique_prefix: str
) -> None:
    backend = _backend(redis_url, unique_prefix)
    try:
        await backend.admit(PLAN)
        (wire,) = _wires(backend)
        with redis.Redis.from_url(redis_url) as admin:
            admin.script_flush()
        assert (await backend.admit(PLAN)).allowed  # EVALSHA refused, EVAL sent
        assert _wires(backend) == [wire]
        assert wire.error is None
    finally:
        await backend.aclose()


async def test_without_hiredis_the_scripts_go_through_redis_py(
    redis_url: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire_module, "AVAILABLE", False)
    backend = _backend(redis_url, unique_prefix)
    try:
        assert (await backend.admit(PLAN)).allowed
        assert (await backend.admit(PLAN)).allowed
        assert not _wires(backend)
        assert len(backend._connections) == 1  # kept idle between calls, as before
    finally:
        await backend.aclose()


# -- cancellation ------------------------------------------------------------------------------


async def test_a_cancelled_call_leaves_its_wire_in_step_for_the_next(
    launch_redis: Callable[..., RedisServer], unique_prefix: str
) -> None:
    # One connection: the call after the cancelled one gets the same wire while the
    # cancelled call's reply is still to come. Were it handed that reply (an idempotency
    # claim, a list), the admission would not parse.
    server = launch_redis()
    backend = _backend(server.url, unique_prefix, pool_size=1, timeout=SETTLE)
    try:
        await backend.admit(PLAN)
        await backend.idempotency_begin("warm", b"f", ttl=60.0)  # the server has the script
        (wire,) = _wires(backend)
        with _pause(server) as control:
            claim = asyncio.create_task(backend.idempotency_begin("k", b"f", ttl=60.0))
            await _sent(backend, claim)
            claim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await claim
            assert _wires(backend) == [wire]  # back at once, its reply still to come
            admit = asyncio.create_task(backend.admit(PLAN))
            await asyncio.sleep(0.05)
            assert len(wire.waiters) == 2  # the cancelled call's reply, then this one's
            control.client_unpause()
        admission = await asyncio.wait_for(admit, SETTLE)
        assert isinstance(admission, Admission)
        assert admission.allowed
        assert _wires(backend) == [wire]
        assert wire.error is None
        assert not wire.waiters
        # The cancelled claim may have been processed (it was: the server had it): "maybe
        # processed", never forgotten.
        again = await backend.idempotency_begin("k", b"f", ttl=60.0)
        assert again.status == "in_flight"
    finally:
        await backend.aclose()


async def test_many_cancelled_calls_on_two_connections_leave_both_in_step(
    redis_url: str, unique_prefix: str
) -> None:
    backend = _backend(redis_url, unique_prefix, pool_size=2)
    try:
        for round_ in range(30):
            calls = [
                asyncio.create_task(
                    backend.admit(PLAN)
                    if n % 2
                    else backend.idempotency_begin(f"k{round_}-{n}", b"f", ttl=60.0)
                )
                for n in range(4)
            ]
            await asyncio.sleep(0)
            for n, call in enumerate(calls):
                if (n + round_) % 3:
                    call.cancel()
            for result in await asyncio.gather(*calls, return_exceptions=True):
                # cancelled, answered, or refused a third connection by the pool of two
                expected = (asyncio.CancelledError, Admission, IdempotencyClaim)
                assert isinstance(result, (*expected, StateBackendUnavailableError)), result
                if isinstance(result, StateBackendUnavailableError):
                    assert "MaxConnectionsError" in str(result)
        # Every reply went to its own call: each connection answers the next ones right.
        for again in range(2):
            admissions = await asyncio.gather(backend.admit(PLAN), backend.admit(PLAN))
            assert all(isinstance(a, Admission) and a.allowed for a in admissions)
            claims = await asyncio.gather(
                *(backend.idempotency_begin(f"new-{again}-{n}", b"f", ttl=60.0) for n in (0, 1))
            )
            assert [claim.status for claim in claims] == ["acquired", "acquired"]
        assert all(wire.error is None for wire in _wires(backend))
    finally:
        await backend.aclose()


# -- failures ----------------------------------------------------------------------------------


async def test_a_server_reset_mid_command_is_an_outage_and_the_next_call_reconnects(
    launch_redis: Callable[..., RedisServer], unique_prefix: str
) -> None:
    server = launch_redis()
    backend = _backend(server.url, unique_prefix, pool_size=1, timeout=SETTLE)
    try:
        await backend.admit(PLAN)
        (wire,) = _wires(backend)
        with _pause(server) as control:
            call = asyncio.create_task(backend.admit(PLAN))
            await _sent(backend, call)
            control.client_kill_filter(_type="normal", skipme=True)
            with pytest.raises(StateBackendUnavailableError) as caught:
                await asyncio.wait_for(call, SETTLE)
            control.client_unpause()
        assert "did not answer: ConnectionError" in str(caught.value)  # as with redis-py
        assert unique_prefix not in str(caught.value)
        assert isinstance(wire.error, redis.ConnectionError)
        # The pool's one connection is back, closed: the next call reconnects.
        assert (await backend.admit(PLAN)).allowed
        (fresh,) = _wires(backend)
        assert fresh is not wire
        assert fresh.error is None
    finally:
        await backend.aclose()


async def test_no_reply_within_the_timeout_is_an_outage_and_the_next_call_reconnects(
    launch_redis: Callable[..., RedisServer], unique_prefix: str
) -> None:
    server = launch_redis()
    backend = _backend(server.url, unique_prefix, pool_size=1, timeout=0.2)
    try:
        await backend.admit(PLAN)
        (wire,) = _wires(backend)
        with _pause(server) as control:
            with pytest.raises(StateBackendUnavailableError) as caught:
                await asyncio.wait_for(backend.admit(PLAN), SETTLE)
            control.client_unpause()
        assert "did not answer: TimeoutError" in str(caught.value)  # as with redis-py
        assert isinstance(wire.error, redis.TimeoutError)
        assert (await backend.admit(PLAN)).allowed
        assert _wires(backend)[0] is not wire
    finally:
        await backend.aclose()


async def test_a_write_that_fails_fails_the_wire_and_the_next_call_reconnects(
    redis_url: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(redis_url, unique_prefix, pool_size=1)
    try:
        await backend.admit(PLAN)
        (wire,) = _wires(backend)

        def refuse(data: bytes) -> None:
            raise RuntimeError("the transport refused the write")

        monkeypatch.setattr(wire.transport, "write", refuse)
        with pytest.raises(StateBackendUnavailableError, match="did not answer: ConnectionError"):
            await backend.admit(PLAN)
        assert isinstance(wire.error, redis.ConnectionError)
        assert not wire.waiters  # no reply is awaited for a command that never went out
        assert (await backend.admit(PLAN)).allowed
        assert _wires(backend)[0] is not wire
    finally:
        await backend.aclose()


async def test_a_connection_with_unread_data_is_not_wired_but_reconnected(
    redis_url: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool checks a connection before handing it out; should one still come with data
    # nobody asked for, a wire on it would hand that to the first call.
    backend = _backend(redis_url, unique_prefix, pool_size=1)
    pool = backend._pool
    assert pool is not None
    real_get = pool.get_connection

    async def dirty() -> Any:
        connection = await real_get()
        connection._reader.feed_data(b"+a reply to no one\r\n")
        return connection

    try:
        monkeypatch.setattr(pool, "get_connection", dirty)
        with pytest.raises(StateBackendUnavailableError, match="did not answer: ConnectionError"):
            await backend.admit(PLAN)
        monkeypatch.undo()
        assert (await backend.admit(PLAN)).allowed  # the pool's one connection, reconnected
        assert isinstance(_wires(backend)[0], Wire)  # wires still made
    finally:
        await backend.aclose()


async def test_a_connection_the_server_closed_while_idle_is_passed_over(
    restartable_redis: RedisServer, unique_prefix: str
) -> None:
    backend = _backend(restartable_redis.url, unique_prefix, pool_size=1)
    try:
        await backend.admit(PLAN)
        (wire,) = _wires(backend)
        restartable_redis.stop()
        restartable_redis.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE
        while wire.error is None:  # the server's close reaches the wire
            assert loop.time() < deadline, "the wire never saw its connection close"
            await asyncio.sleep(0.01)
        assert (await backend.admit(PLAN)).allowed  # no outage for the restart
    finally:
        await backend.aclose()


async def test_an_error_reply_leaves_the_wire_in_step(
    launch_redis: Callable[..., RedisServer], unique_prefix: str
) -> None:
    server = launch_redis()
    backend = _backend(server.url, unique_prefix, pool_size=1)
    try:
        await backend.admit(PLAN)
        (wire,) = _wires(backend)
        with server.client() as admin:
            admin.execute_command("ACL", "SETUSER", "default", "-evalsha", "-eval")
            with pytest.raises(StateBackendUnavailableError, match="with NoPermissionError"):
                await backend.admit(PLAN)
            admin.execute_command("ACL", "SETUSER", "default", "+evalsha", "+eval")
        assert (await backend.admit(PLAN)).allowed
        assert _wires(backend) == [wire]
        assert wire.error is None
    finally:
        await backend.aclose()


async def test_a_task_cancelled_while_a_failed_connection_is_released_gives_it_back(
    launch_redis: Callable[..., RedisServer], unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failed wire's connection goes back to the pool, shielded: redis-py 8.1 made
    # `release` wait for the pool's lock, and a task cancelled there lost its connection for
    # good. Here the release waits on a gate the test opens after cancelling the task.
    server = launch_redis()
    backend = _backend(server.url, unique_prefix, pool_size=1, timeout=SETTLE)
    pool = backend._pool
    assert pool is not None
    real_release = pool.release
    entered, gate, released = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def contended_release(connection: Any) -> None:
        entered.set()
        await gate.wait()
        await real_release(connection)
        released.set()

    try:
        await backend.admit(PLAN)
        monkeypatch.setattr(pool, "release", contended_release)
        with _pause(server) as control:
            call = asyncio.create_task(backend.admit(PLAN))
            await _sent(backend, call)
            control.client_kill_filter(_type="normal", skipme=True)
            await asyncio.wait_for(entered.wait(), SETTLE)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            control.client_unpause()
        gate.set()
        await asyncio.wait_for(released.wait(), SETTLE)
        monkeypatch.undo()
        assert (await backend.admit(PLAN)).allowed  # the pool's one connection is back
    finally:
        await backend.aclose()


# -- the connection's options are redis-py's -----------------------------------------------------


async def test_a_password_and_a_database_apply_to_the_wire(
    launch_redis: Callable[..., RedisServer], unique_prefix: str
) -> None:
    server = launch_redis()
    with server.client() as admin:
        admin.config_set("requirepass", "s3cret")
    url = f"redis://127.0.0.1:{server.port}/3"
    backend = _backend(url, unique_prefix, password=Secret("s3cret"))
    try:
        assert (await backend.admit(PLAN)).allowed
        assert isinstance(_wires(backend)[0], Wire)
    finally:
        await backend.aclose()
    with redis.Redis(port=server.port, password="s3cret", db=3) as admin:
        assert admin.keys(f"{unique_prefix}:*")
    with redis.Redis(port=server.port, password="s3cret", db=0) as admin:
        assert not admin.keys(f"{unique_prefix}:*")


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1 with its key: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nexus test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


async def test_a_tls_connection_is_wired_too(
    launch_redis: Callable[..., RedisServer], unique_prefix: str, tmp_path: Path
) -> None:
    ca, cert, key = _certificates(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        tls_port = probe.getsockname()[1]
    launch_redis(
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(ca),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}"
    backend = _backend(url, unique_prefix, timeout=SETTLE, connect_timeout=SETTLE)
    try:
        for _ in range(3):
            assert (await backend.admit(PLAN)).allowed
        claim = await backend.idempotency_begin("k", b"f", ttl=60.0)
        assert claim.status == "acquired"
        (wire,) = _wires(backend)
        assert isinstance(wire, Wire)
        assert wire.transport.get_extra_info("sslcontext") is not None
    finally:
        await backend.aclose()
