"""The README's example runs as written, from the application's folder: its
``connectors.toml`` (pointed at the local S3 by environment overrides, as a deployment's
settings would) and its Python, whose presigned URLs then work with plain httpx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from nexus_connector_s3.testing import ACCESS_KEY_ID, SECRET_ACCESS_KEY, LocalS3

from nexus_connector_core.testing import FaultServer

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```(toml|python)\n(.*?)^```$", re.M | re.S)


def test_the_example_stores_streams_lists_and_presigns_an_invoice(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server: FaultServer,
    local_s3: LocalS3,
    bucket: str,
) -> None:
    blocks = _BLOCK.findall(README.read_text(encoding="utf-8"))
    toml = next(code for kind, code in blocks if kind == "toml")
    python = next(code for kind, code in blocks if kind == "python")
    (tmp_path / "connectors.toml").write_text(toml, encoding="utf-8")
    invoice = b"%PDF-1.7 invoice 0042"
    (tmp_path / "0042.pdf").write_bytes(invoice)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    overrides = {"BUCKET": bucket, "ENDPOINT_URL": s3_server.url, "ADDRESSING_STYLE": "path"}
    for name, value in overrides.items():
        monkeypatch.setenv(f"NEXUS_CONNECTOR__CONNECTORS__INVOICES__OPTIONS__{name}", value)
    namespace: dict[str, Any] = {}

    try:
        exec(python, namespace)  # the README's own code, as written
    finally:
        if "manager" in namespace:
            namespace["manager"].close()

    assert local_s3.objects(bucket) == {"2026/0042.pdf": invoice}
    head = local_s3.head(bucket, "2026/0042.pdf")
    assert (head["ContentType"], head["Metadata"]) == ("application/pdf", {"customer": "C-17"})
    assert [item.key for item in namespace["page"].items] == ["2026/0042.pdf"]
    with httpx.Client() as plain:
        assert plain.get(namespace["url"]).content == invoice
        assert plain.put(namespace["upload"], content=b"\x89PNG").status_code == 200
    assert local_s3.objects(bucket)["uploads/scan.png"] == b"\x89PNG"
