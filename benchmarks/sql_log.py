"""How fast the SQL sink of the integration log writes, and what `emit` costs a call.

    python benchmarks/sql_log.py [--records 50000] [--rounds 3] [--postgres URL]

For each database — a SQLite file in a temporary folder, and PostgreSQL at ``--postgres``
(default ``$POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``; a table of its
own, dropped afterwards) — and each batch size, `--records` records are emitted into a
`SqlCallLogger` whose buffer holds them all, and the time until `flush` returns gives the
writer's rate (records written per second). Separately, the cost of `emit` itself, the part
a call pays, is timed over the same records with the writer stalled (nothing written, so
nothing competes for the interpreter). Each figure is the median of `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from nexus_connector_core._observe import IntegrationLogRecord
from nexus_connector_core._sql_log import SqlCallLogger
from nexus_connector_core._sql_log_config import SqlLogConfig
from nexus_connector_core._sql_log_store import LogDatabase, Row, open_database

BATCH_SIZES = (100, 500, 5000)


def _records(count: int) -> list[IntegrationLogRecord]:
    now = datetime.now(UTC)
    return [
        IntegrationLogRecord(
            id=secrets.token_hex(12),
            timestamp=now,
            connector="payment",
            vendor="stripe",
            operation="capture",
            status="ok" if n % 10 else "error",
            attempts=1 if n % 10 else 3,
            duration_ms=123.456,
            vendor_status_code=200 if n % 10 else 503,
            error_class=None if n % 10 else "VendorUnavailableError",
            error_message=None if n % 10 else "stripe answered 503: service unavailable",
            retryable=None if n % 10 else True,
            idempotency_key=f"order-{n}",
            trace_id=secrets.token_hex(16),
        )
        for n in range(count)
    ]


def _write_rate(config: SqlLogConfig, records: Sequence[IntegrationLogRecord]) -> float:
    sink = SqlCallLogger(config)
    try:
        sink.emit(records[0])  # connect and create the table outside the timing
        assert sink.flush(60)
        start = time.perf_counter()
        for record in records:
            sink.emit(record)
        assert sink.flush(600), "the writer did not finish"
        elapsed = time.perf_counter() - start
    finally:
        sink.close()
    assert sink.dropped == 0
    return len(records) / elapsed


class _Stalled:
    """A database whose writes wait until the benchmark ends."""

    def __init__(self, inner: LogDatabase) -> None:
        self.inner = inner
        self.config = inner.config
        self.release = threading.Event()

    def connect(self, *, readonly: bool = False) -> Any:
        return self.inner.connect(readonly=readonly)

    def ensure_schema(self, connection: Any) -> None:
        self.inner.ensure_schema(connection)

    def insert(self, connection: Any, rows: Sequence[Row]) -> None:
        self.release.wait()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _emit_cost(config: SqlLogConfig, records: Sequence[IntegrationLogRecord]) -> float:
    database = _Stalled(open_database(config))
    sink = SqlCallLogger(config, database=database)  # type: ignore[arg-type]
    try:
        start = time.perf_counter()
        for record in records:
            sink.emit(record)
        elapsed = time.perf_counter() - start
    finally:
        database.release.set()
        sink.close(timeout=0)
    return elapsed / len(records) * 1e9


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    records = _records(args.records)
    with tempfile.TemporaryDirectory() as folder:
        targets = {"sqlite": f"sqlite:///{folder}/bench.db", "postgresql": args.postgres}
        print(f"{args.records} records, median of {args.rounds} rounds")
        for name, url in targets.items():
            table = f"nexus_log_bench_{secrets.token_hex(4)}"
            try:
                for batch_size in BATCH_SIZES:
                    config = SqlLogConfig(
                        url=url, table=table, batch_size=batch_size, buffer_size=len(records) + 1
                    )
                    rate = _median([_write_rate(config, records) for _ in range(args.rounds)])
                    print(f"  {name:<10} batch {batch_size:>5}: {rate:>9,.0f} records/s written")
                config = SqlLogConfig(url=url, table=table, buffer_size=len(records) + 1)
                cost = _median([_emit_cost(config, records) for _ in range(args.rounds)])
                print(f"  {name:<10} emit (the call's share): {cost:.0f} ns a record")
            finally:
                if name == "postgresql":
                    import psycopg

                    with psycopg.connect(url, autocommit=True) as connection:
                        connection.execute(f'DROP TABLE IF EXISTS "{table}"')


if __name__ == "__main__":
    main()
