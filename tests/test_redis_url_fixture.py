"""The core's tests that need Redis get it by the repository's rule (the ``redis_url``
fixture of tests/conftest.py): ``REDIS_URL`` when set, else a ``redis-server`` started for
the session on a free port, never whatever happens to listen on 127.0.0.1:6379."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest


@pytest.mark.redis
def test_the_core_tests_redis_is_redis_url_or_a_server_started_for_the_session(
    redis_url: str,
) -> None:
    if os.environ.get("REDIS_URL"):
        assert redis_url == os.environ["REDIS_URL"]
    else:
        parts = urlsplit(redis_url)
        assert parts.hostname == "127.0.0.1"
        assert parts.port != 6379
    redis = pytest.importorskip("redis")
    with redis.Redis.from_url(redis_url, socket_timeout=1.0) as client:
        assert client.ping()
