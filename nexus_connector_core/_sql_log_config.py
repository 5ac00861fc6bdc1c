"""The ``[observability.sql]`` table: where the SQL sink of the integration log writes.

``url`` names the database: ``sqlite:///log.db`` (a path relative to the config file's
folder), ``sqlite:////var/log/nexus/log.db`` (absolute) or ``postgresql://host:5432/db``.
A PostgreSQL password belongs in ``password`` as a secret reference (``env:PG_PASSWORD``),
resolved like a connector's credentials; no message ever quotes the URL, only
`SqlLogConfig.safe_url` (scheme, host, port and database).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from ._config_ranges import between, check_ranges
from ._credentials import Secret

__all__ = ["POSTGRESQL_EXTRA", "SqlLogConfig", "postgresql_driver_hint"]

#: The extra that installs the PostgreSQL driver (psycopg 3).
POSTGRESQL_EXTRA = "nexus-connector-core[postgresql]"

_MAX_URL = 4096
_URL_CHARS = re.compile(r"[!-~]*")
#: A table name: lower-case so PostgreSQL and SQLite agree on it unquoted, short enough that
#: its index names stay within PostgreSQL's 63 characters; PostgreSQL may put a schema first.
_NAME = r"[a-z_][a-z0-9_]{0,39}"
_TABLE = re.compile(rf"{_NAME}(\.{_NAME})?")
_ENCODE = (
    "percent-encode the user name and password (`/` as %2F, `#` as %23, `?` as %3F, `@` as "
    "%40, `%` as %25), or better, leave the password out of the URL and set password = "
    '"env:PG_PASSWORD" in [observability.sql]'
)


def postgresql_driver_hint() -> str | None:
    """Why PostgreSQL cannot be used here (its driver is not installed), else None."""
    try:
        found = importlib.util.find_spec("psycopg") is not None
    except (ImportError, ValueError):  # a broken or blocked install
        found = False
    return None if found else f"PostgreSQL needs psycopg: pip install '{POSTGRESQL_EXTRA}'"


class SqlLogConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how the SQL sink writes integration-log records.

    Records wait in a buffer of `buffer_size` (when it is full, new records are dropped and
    counted, never waited for); a background thread writes them in batches of up to
    `batch_size`, at the latest `flush_interval` seconds after they were emitted. A write
    gives up after `write_timeout` seconds (a held lock, a stalled server) and is retried
    after a reconnect; closing the manager writes what is left within `close_timeout`.
    """

    #: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
    #: ``postgresql://[user@]host[:port]/database[?libpq parameters]``.
    url: str = "sqlite:///integration-log.db"
    #: The table (created with its indexes when missing); PostgreSQL also takes
    #: ``schema.table`` for an existing schema.
    table: str = "nexus_integration_log"
    #: The PostgreSQL password: a secret reference such as ``env:PG_PASSWORD``.
    password: Secret | None = None
    #: Records kept in memory while they wait to be written.
    buffer_size: Annotated[int, between(1, 10_000_000)] = 10_000
    #: Records written in one transaction.
    batch_size: Annotated[int, between(1, 100_000)] = 500
    #: Seconds a record may wait before its batch is written anyway.
    flush_interval: Annotated[float, between(0.001, 3600)] = 1.0
    #: Seconds one write may take (a lock held elsewhere, a stalled server) before it is
    #: abandoned and retried.
    write_timeout: Annotated[float, between(0.001, 3600)] = 5.0
    #: Seconds to connect.
    connect_timeout: Annotated[float, between(0.001, 600)] = 5.0
    #: Seconds closing the manager waits for the records still buffered to be written.
    close_timeout: Annotated[float, between(0, 3600)] = 5.0

    def __post_init__(self) -> None:
        check_ranges(self)
        # Each message starts with the key it is about: the config names that key.
        problem = _url_problem(self.url)
        if problem:
            raise ValueError(f"url: {problem}")
        if not _TABLE.fullmatch(self.table):
            raise ValueError(
                "table: expected a name of 1 to 40 lower-case letters, digits and `_`, not "
                "starting with a digit (PostgreSQL: optionally `schema.table`)"
            )
        if self.dialect == "sqlite":
            if "." in self.table:
                raise ValueError("table: SQLite takes a plain table name, without a schema")
            if self.password is not None:
                raise ValueError("password: SQLite takes no password; leave it out")
        else:
            if self.password is not None and urlsplit(self.url).password is not None:
                raise ValueError(
                    "password: set here and in the url too; keep this one (a secret "
                    "reference) and take the password out of the url"
                )
            hint = postgresql_driver_hint()
            if hint:
                raise ValueError(f"url: {hint}")

    def __repr__(self) -> str:
        # The URL's user name and password are never shown, not even in a repr.
        password = ", password=Secret('**********')" if self.password is not None else ""
        return f"SqlLogConfig(url={self.safe_url!r}, table={self.table!r}{password}, ...)"

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        """Which database the URL names."""
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (relative paths as written: `resolved` makes them absolute)."""
        if self.dialect != "sqlite":
            raise ValueError("not a SQLite URL")
        return Path(unquote(self.url[len("sqlite:///") :]))

    def resolved(self, folder: Path) -> SqlLogConfig:
        """This config with a relative SQLite path made absolute against `folder` (the config
        file's folder), so that a later change of directory moves nothing."""
        if self.dialect != "sqlite" or self.sqlite_path.is_absolute():
            return self
        path = (folder / self.sqlite_path).resolve()
        return msgspec.structs.replace(self, url=f"sqlite:///{path.as_posix()}")

    @property
    def safe_url(self) -> str:
        """The URL without user name, password or query, for messages."""
        if self.dialect == "sqlite":
            return self.url
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2] or "localhost"
        return f"{parts.scheme}://{host}{parts.path}"


def _url_problem(url: str) -> str | None:
    """What is wrong with `url`, in words that quote no part of it: the user name, password
    and even the host may be secrets, and a cut URL spreads one over every part."""
    if len(url) > _MAX_URL:
        return f"longer than {_MAX_URL} characters"
    if not _URL_CHARS.fullmatch(url):
        return f"holds a space, a control or a non-ASCII character: {_ENCODE}"
    if url.startswith("sqlite:"):
        return _sqlite_problem(url)
    if not url.startswith(("postgresql://", "postgres://")):
        return (
            "must start with sqlite:/// (a file: sqlite:///log.db, relative to the config "
            "file's folder) or postgresql:// (postgresql://host:5432/database)"
        )
    if "#" in url:
        return f"holds a `#`, which ends a URL: {_ENCODE}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"is not a valid URL (a `[` or `]` out of place): {_ENCODE}"
    if "@" in parts.path or "@" in parts.query:
        return f"has an `@` after the host: {_ENCODE}"
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        return "names no database: write postgresql://host:5432/database"
    return None


def _sqlite_problem(url: str) -> str | None:
    if not url.startswith("sqlite:///"):
        return (
            "a SQLite URL is sqlite:/// followed by a path (sqlite:///log.db relative to "
            "the config file's folder, sqlite:////var/log/nexus/log.db absolute)"
        )
    path = unquote(url[len("sqlite:///") :])
    if "?" in url or "#" in url:
        return "a SQLite URL takes no query or fragment; percent-encode `?` and `#` in the path"
    if not path or path.endswith("/"):
        return "names no file: write sqlite:///log.db"
    if path == ":memory:" or "\x00" in path:
        return (
            "must name a file: other processes (and `nexus-connector log`) read the log "
            "back, which an in-memory database does not allow"
        )
    return None
