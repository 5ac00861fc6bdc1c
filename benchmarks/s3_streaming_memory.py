"""How much memory a 20 MB object costs the s3 adapter, put and got by streaming, against a
real S3 API (moto's server) on 127.0.0.1.

    python benchmarks/s3_streaming_memory.py [--size-mb 20] [--part-mb 5]

The object is produced by a generator (never whole in memory) and read back with
``open`` (64 KiB chunks), through the sync and the async manager. Peak memory is measured
with tracemalloc (every Python allocation of this process: httpx, botocore and ours),
above a baseline taken after a warm-up call has loaded botocore's S3 model. moto runs in a
process of its own, so its copy of the object is not counted. Defaults: parts of 5 MiB
(S3's minimum, the adapter's default), multipart above 5 MiB.

The issue's bound: under 8 MB above the baseline for a 20 MB object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto's server did not start")


def produce(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`size` random bytes, in chunks of their own (no chunk shared), never held whole."""
    sent = 0
    while sent < size:
        piece = os.urandom(min(chunk, size - sent))
        sent += len(piece)
        yield piece


def config(url: str, bucket: str, part: int) -> dict[str, Any]:
    return {
        "connectors": {
            "files": {
                "category": "cloud_storage",
                "vendor": "s3",
                "options": {
                    "bucket": bucket,
                    "endpoint_url": url,
                    "addressing_style": "path",
                    "multipart_threshold": part,
                    "part_size": part,
                },
                "credentials": {"access_key_id": "env:K", "secret_access_key": "env:S"},
            }
        }
    }


def measure_sync(url: str, bucket: str, size: int, part: int) -> tuple[float, float, float]:
    from nexus_connector_core import ConnectorManager

    environ = {"K": "AKIAIOSFODNN7EXAMPLE", "S": "benchmark-secret"}
    with ConnectorManager.from_config(config(url, bucket, part), environ=environ) as manager:
        files = manager.connector("files")
        files.put("warm-up", b"x")  # loads botocore's model, opens the pool
        files.get("warm-up")
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        start = time.perf_counter()
        files.put("big.bin", produce(size))
        put_peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.reset_peak()
        received = 0
        with files.open("big.bin") as chunks:
            for chunk in chunks:
                received += len(chunk)
        get_peak = tracemalloc.get_traced_memory()[1] - baseline
        elapsed = time.perf_counter() - start
        tracemalloc.stop()
        assert received == size, received
    return put_peak / MIB, get_peak / MIB, elapsed


async def measure_async(url: str, bucket: str, size: int, part: int) -> tuple[float, float, float]:
    from nexus_connector_core import AsyncConnectorManager

    environ = {"K": "AKIAIOSFODNN7EXAMPLE", "S": "benchmark-secret"}
    async with AsyncConnectorManager.from_config(
        config(url, bucket, part), environ=environ
    ) as manager:
        files = manager.connector("files")
        await files.put("warm-up", b"x")
        await files.get("warm-up")
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        start = time.perf_counter()
        await files.put("big-async.bin", produce(size))
        put_peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.reset_peak()
        received = 0
        async with files.open("big-async.bin") as chunks:
            async for chunk in chunks:
                received += len(chunk)
        get_peak = tracemalloc.get_traced_memory()[1] - baseline
        elapsed = time.perf_counter() - start
        tracemalloc.stop()
        assert received == size, received
    return put_peak / MIB, get_peak / MIB, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--part-mb", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    size, part = args.size_mb * MIB, args.part_mb * MIB
    server, url = start_moto()
    try:
        import botocore.session

        client = botocore.session.Session().create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="benchmark-secret",
        )
        client.create_bucket(Bucket="benchmark")
        print(f"{args.size_mb} MiB object, parts of {args.part_mb} MiB, moto at {url}")
        print(f"{'':6} {'put peak':>10} {'get peak':>10} {'put+get':>9}")
        for name, result in (
            ("sync", measure_sync(url, "benchmark", size, part)),
            ("async", asyncio.run(measure_async(url, "benchmark", size, part))),
        ):
            put_peak, get_peak, elapsed = result
            print(f"{name:6} {put_peak:8.2f} MiB {get_peak:8.2f} MiB {elapsed:7.2f} s")
        uploads = client.list_multipart_uploads(Bucket="benchmark").get("Uploads", [])
        print(f"multipart uploads left behind: {len(uploads)}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
