"""The cloud_storage requests refuse, before any vendor is called, what no store can take:
keys and listing prefixes that could escape a store's root, and content types or metadata
that cannot travel as HTTP headers."""

from __future__ import annotations

import pytest

from nexus_connector_core import ListObjects, ObjectKey, PutObject


@pytest.mark.parametrize("prefix", ["/etc", "../", "a/../b", "..", "a\x00", "\ud800"])
def test_a_listing_prefix_that_could_escape_the_root_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="listing prefix"):
        ListObjects(prefix=prefix)


@pytest.mark.parametrize("prefix", ["", "a", "invoices/2026/", "a..b/", ".hidden/"])
def test_ordinary_listing_prefixes_are_accepted(prefix: str) -> None:
    assert ListObjects(prefix=prefix).prefix == prefix


def test_a_key_that_is_not_unicode_text_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        ObjectKey("a\udc80b")


@pytest.mark.parametrize(
    "content_type", ["text/plain\r\nX-Injected: 1", "text/\x00plain", "tëxt/plain", " "]
)
def test_a_content_type_that_cannot_be_a_header_is_refused(content_type: str) -> None:
    with pytest.raises(ValueError, match="content_type"):
        PutObject(key="k", data=b"", content_type=content_type)


@pytest.mark.parametrize(
    "metadata",
    [
        {"bad name": "v"},
        {"": "v"},
        {"x:y": "v"},
        {"name": "line\r\nbreak"},
        {"name": "nul\x00"},
        {"name": "naïve"},
    ],
)
def test_metadata_that_cannot_be_a_header_is_refused(metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="metadata"):
        PutObject(key="k", data=b"", metadata=metadata)


def test_header_safe_content_type_and_metadata_are_accepted() -> None:
    put = PutObject(
        key="k",
        data=b"",
        content_type="text/csv; charset=utf-8",
        metadata={"invoice-id": "2026-0042", "customer_ref": "C 17 (ACME, Inc.)"},
    )

    assert put.metadata["customer_ref"] == "C 17 (ACME, Inc.)"
