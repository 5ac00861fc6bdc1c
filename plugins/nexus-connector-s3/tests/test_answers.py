"""Reading S3's answers (pure): a listing with an object no S3 lists is refused by the
reader, naming the field and not the value."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_s3._answers import UnreadableAnswerError, page, unreadable


def listing(**entry: Any) -> dict[str, Any]:
    """A ListObjectsV2 answer as botocore parses it, listing one object."""
    return {"Contents": [{"Key": "a.txt", "Size": 3, "ETag": '"x"', **entry}], "IsTruncated": False}


def test_a_listed_object_is_read_with_its_size() -> None:
    [item] = page("s3", listing(Size=0)).items

    assert (item.key, item.size, item.etag) == ("a.txt", 0, '"x"')


@pytest.mark.parametrize(
    "size",
    [-5, -(2**70), 2**63, 2**70, 1.5, float("inf"), float("nan"), "3", True, None],
    ids=lambda size: repr(size)[:12],
)
def test_a_size_no_object_has_is_refused_by_the_reader(size: Any) -> None:
    with pytest.raises(UnreadableAnswerError, match="Size") as caught:
        page("s3", listing(Size=size))

    assert repr(size) not in str(caught.value)


@pytest.mark.parametrize("key", [None, "", 7])
def test_an_object_listed_without_a_key_is_refused_by_the_reader(key: Any) -> None:
    with pytest.raises(UnreadableAnswerError, match="Key"):
        page("s3", listing(Key=key))


def test_an_unreadable_answer_may_have_been_processed_and_names_only_a_parsers_class() -> None:
    mine = unreadable("ListObjectsV2", UnreadableAnswerError("the Size is not a count"))
    botocores = unreadable("PutObject", ValueError("<Error>quoting the body s3cr3t</Error>"))

    assert (mine.code, mine.maybe_processed) == ("UnreadableAnswer", True)
    assert "the Size is not a count" in str(mine)
    assert "s3cr3t" not in str(botocores)
    assert "(ValueError)" in str(botocores)
