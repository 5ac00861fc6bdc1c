"""A 20 MB object put from a generator and read back with ``open`` costs under 8 MB above
the baseline, sync and async: the issue's bound, measured as the benchmark measures it
(``benchmarks/s3_streaming_memory.py``: tracemalloc, peak above a warmed-up baseline), in a
process of its own, so that the local S3 serving this test (moto, in this process) and its
copy of the object are not counted. A memory bound only: no timing is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nexus_connector_s3.testing import LocalS3

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "s3_streaming_memory.py"
MIB = 1024 * 1024
#: The issue's bound: peak memory above the baseline, for a 20 MB object.
BOUND = 8 * 1000 * 1000

_MEASURE = """
import asyncio, importlib.util, json, sys

spec = importlib.util.spec_from_file_location("s3_streaming_memory", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
url, bucket, size, part = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sync = bench.measure_sync(url, bucket, size, part)
async_ = asyncio.run(bench.measure_async(url, bucket, size, part))
print(json.dumps({"sync": sync[:2], "async": async_[:2]}))
"""


@pytest.mark.slow
def test_a_20_mb_object_streamed_in_and_out_stays_under_8_mb(
    local_s3: LocalS3, bucket: str
) -> None:
    arguments = [BENCHMARK, local_s3.url, bucket, 20 * MIB, 5 * MIB]
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    peaks = json.loads(measured.stdout.splitlines()[-1])  # MiB: put, then get

    for twin in ("sync", "async"):
        put_peak, get_peak = (mib * MIB for mib in peaks[twin])
        assert put_peak < BOUND, f"{twin} put: {peaks[twin][0]:.2f} MiB above the baseline"
        assert get_peak < BOUND, f"{twin} get: {peaks[twin][1]:.2f} MiB above the baseline"
    assert local_s3.list_multipart_uploads(bucket) == []
