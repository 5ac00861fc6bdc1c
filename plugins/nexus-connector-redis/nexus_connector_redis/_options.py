"""The ``[state]`` options of the Redis backend."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import SplitResult, parse_qsl, urlsplit

import msgspec

from nexus_connector_core import Secret

__all__ = ["RedisOptions"]

_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
_MAX_URL = 4096
#: What a URL may hold: printable ASCII; anything else is percent-encoded.
_URL_CHARS = re.compile(r"[!-~]*")
_DB = re.compile(r"/*([0-9]{1,5})?/*")
_FLAG = ("true", "false", "yes", "no", "on", "off", "1", "0")
#: The query parameters a URL may set, with the values redis-py accepts. Timeouts and the
#: pool size are options of their own (the URL's would silently override them); RESP3
#: (``protocol``) changes the replies the backend reads.
_QUERY: dict[str, re.Pattern[str] | tuple[str, ...]] = {
    "db": re.compile(r"[0-9]{1,5}"),
    "client_name": re.compile(r"[!-~]{1,128}"),
    "health_check_interval": re.compile(r"[0-9]{1,6}"),
    "socket_keepalive": _FLAG,
    "ssl_cert_reqs": ("none", "optional", "required"),
    "ssl_ca_certs": re.compile(r".{1,4096}"),
    "ssl_ca_path": re.compile(r".{1,4096}"),
    "ssl_certfile": re.compile(r".{1,4096}"),
    "ssl_keyfile": re.compile(r".{1,4096}"),
    "ssl_check_hostname": _FLAG,
}
_ENCODE = (
    "percent-encode the user name and password (`/` as %2F, `#` as %23, `?` as %3F, `@` as "
    "%40, `%` as %25), or better, leave the password out of the URL and set password = "
    '"env:REDIS_PASSWORD" in [state]'
)


def _url_problem(url: str) -> str | None:
    """What is wrong with `url`, in words that quote no part of it: the user name, password
    and even the host may be secrets, and a cut URL spreads one over every part."""
    if len(url) > _MAX_URL:
        return f"longer than {_MAX_URL} characters"
    if not _URL_CHARS.fullmatch(url):
        return f"holds a space, a control or a non-ASCII character: {_ENCODE}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"is not a valid URL (a `[` or `]` out of place): {_ENCODE}"
    try:
        port = parts.port
    except ValueError:
        return (
            "has a port that is not a number from 1 to 65535 (a `/`, `?` or `#` in the "
            f"password makes the rest of it look like the port): {_ENCODE}"
        )
    if parts.scheme not in _SCHEMES or not url.startswith(f"{parts.scheme}://"):
        return "must start with redis://, rediss://, unix:// or redis+cluster://"
    if "#" in url:
        return f"holds a `#`, which ends a URL: {_ENCODE}"
    if parts.scheme == "unix":
        if not parts.path.strip("/"):
            return "names no socket: write unix:///path/to/redis.sock"
    else:
        problem = _network_problem(parts, port)
        if problem:
            return problem
    return _query_problem(parts.query)


def _network_problem(parts: SplitResult, port: int | None) -> str | None:
    if not parts.hostname:
        return f"names no host (a `/`, `?` or `#` in the password cuts the URL short): {_ENCODE}"
    if port == 0:
        return "has port 0: use 1 to 65535"
    if not _DB.fullmatch(parts.path):
        return (
            f"has a path that is not a database number (/0 to /15; a `/` in the password "
            f"starts the path early): {_ENCODE}"
        )
    return None


def _query_problem(query: str) -> str | None:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return f"has a malformed query: {_ENCODE}"
    for name, value in pairs:
        allowed = _QUERY.get(name)
        if allowed is None:
            return (
                "has a query parameter the backend does not take; it takes "
                f"{', '.join(_QUERY)} (timeouts and the pool size are [state] keys)"
            )
        if isinstance(allowed, tuple):
            if value.lower() not in allowed:
                return f"sets {name} to a value that is not one of {', '.join(allowed)}"
        elif not allowed.fullmatch(value):
            return f"sets {name} to a value of the wrong form"
    return None


class RedisOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach Redis.

    ``url`` is a redis-py URL (``redis://``, ``rediss://`` for TLS, ``unix://``), checked when
    the config is loaded; a user name and password in it must be percent-encoded, and no
    error or log ever shows any part of it but the scheme, host and port. ``password`` is
    the better place for the password: a secret reference (``env:REDIS_PASSWORD``,
    ``file:/run/secrets/redis``), resolved like a connector's credentials. ``cluster =
    true`` (or a ``redis+cluster://`` URL) uses Redis Cluster, with the URL's host as the
    first node. Every command gives up after ``timeout`` seconds (``connect_timeout`` to
    connect), so a call never waits longer on an unreachable Redis; the pipeline then fails
    open or closed as ``[state] fail_mode`` says. An attempt's outcome rides on the next
    admission of its breaker (one round trip per call), or is sent within ``record_delay``
    seconds when none comes.
    """

    url: str = "redis://127.0.0.1:6379/0"
    password: Secret | None = None
    cluster: bool = False
    #: Connections per process, from 1 to 100000.
    pool_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 64
    #: Seconds a command may take, above 0 and at most 60.
    timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.25
    #: Seconds to connect, above 0 and at most 60.
    connect_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.25
    #: Seconds an attempt's outcome may wait in the worker for the next admission of its
    #: breaker, which records it in the same round trip, before a flush sends it: the
    #: longest an outcome takes to reach the other workers. 0 records every outcome at once
    #: (a second round trip for each call recorded). From 0 to 10.
    record_delay: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.05

    def __post_init__(self) -> None:
        # Each message starts with the key it is about: the config names that key.
        problem = _url_problem(self.url)
        if problem:
            raise ValueError(f"url: {problem}")
        if self.password is not None and urlsplit(self.url).password is not None:
            raise ValueError(
                "password: set here and in the url too; keep this one (a secret reference) "
                "and take the password out of the url"
            )

    def __repr__(self) -> str:
        # The URL's user name and password are never shown, not even in a repr.
        shown = self.safe_url + ("?..." if urlsplit(self.url).query else "")
        password = ", password=Secret('**********')" if self.password is not None else ""
        return (
            f"RedisOptions(url={shown!r}{password}, cluster={self.cluster}, "
            f"pool_size={self.pool_size}, timeout={self.timeout}, "
            f"connect_timeout={self.connect_timeout}, record_delay={self.record_delay})"
        )

    @property
    def is_cluster(self) -> bool:
        return self.cluster or "+cluster" in urlsplit(self.url).scheme

    @property
    def client_url(self) -> str:
        """The URL redis-py understands (``+cluster`` removed)."""
        return self.url.replace("+cluster://", "://", 1)

    @property
    def safe_url(self) -> str:
        """The URL without credentials, for messages."""
        parts = urlsplit(self.client_url)
        host = parts.hostname or parts.path or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"
