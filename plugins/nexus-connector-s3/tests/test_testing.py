"""The local S3 an application's tests use: the example in `nexus_connector_s3.testing`'s
docstring runs as written."""

from __future__ import annotations

import textwrap

from nexus_connector_s3 import testing


def test_the_docstring_example_of_an_application_test_runs(local_s3: testing.LocalS3) -> None:
    doc = testing.__doc__ or ""
    block = doc.split("In an application's test::\n", 1)[1].split("\nThe signature itself")[0]
    example = textwrap.dedent(block)
    # The example checks itself: its last line asserts what the bucket holds.
    assert "assert s3.objects(bucket) ==" in example

    exec(compile(example, "nexus_connector_s3.testing example", "exec"), {})
