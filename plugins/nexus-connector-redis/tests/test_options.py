"""``[state]`` options of the Redis backend: a URL is checked when the config is loaded, and
no error shows any part of its user name or password; the password may be a reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from hypothesis import example, given, strategies as st
from nexus_connector_redis import AsyncRedisStateBackend, RedisOptions, RedisStateBackend

from nexus_connector_core import (
    SYSTEM_CLOCK,
    ConfigError,
    ConnectorManager,
    PluginRegistry,
    Secret,
    SmsMessage,
    StateBackendUnavailableError,
    load_config,
)
from nexus_connector_core.cli import cli
from nexus_connector_core.state import BackendSettings


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    import nexus_connector_redis.plugin

    registry = PluginRegistry()
    registry.register(nexus_connector_redis.plugin, name="redis")
    return registry


def _state(registry: PluginRegistry, environ: dict[str, str] | None = None, **table: Any) -> Any:
    config = load_config(
        {"state": {"backend": "redis", **table}}, registry=registry, environ=environ or {}
    )
    return config.state


def _load(registry: PluginRegistry, url: str) -> tuple[Any, ConfigError | None]:
    """The ``[state]`` settings for `url`, or the `ConfigError` (no other exception)."""
    try:
        return _state(registry, url=url), None
    except ConfigError as error:
        return None, error


def _texts(error: ConfigError) -> str:
    """Everything an error could show: its text, repr and arguments, and its problems'."""
    parts = [str(error), repr(error), repr(error.args)]
    for problem in error.problems:
        parts += [str(problem), repr(problem), repr(problem.args), problem.detail]
    return "\n".join(parts)


def _builds(options: RedisOptions) -> None:
    """Both backends are made from the options without connecting and without an error."""
    settings = BackendSettings(options=options, clock=SYSTEM_CLOCK, prefix="options-test")
    RedisStateBackend(settings).close()
    AsyncRedisStateBackend(settings)


# -- a password the URL cannot hold as it is -------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "Xq7/Zk9#Wv3",
        "Xq7#Zk9",
        "12Xq/34Zk",
        "Xq7?Zk9",
        "Xq7@Zk9/Wv3",
        "Xq7@host2/1",
        "Xq7 Zk9",
        "Xq7äZk9",
    ],
)
def test_an_unencoded_password_is_a_config_error_naming_state_url_and_showing_none_of_it(
    password: str, registry: PluginRegistry
) -> None:
    url = f"redis://nexus-user:{password}@127.0.0.1:6379/0"
    with pytest.raises(ConfigError) as caught:
        _state(registry, url=url)
    error = caught.value
    assert error.problems[0].path == "state.url"
    assert "percent-encode" in error.problems[0].detail
    assert 'password = "env:REDIS_PASSWORD"' in error.problems[0].detail
    texts = _texts(error)
    assert "nexus-user" not in texts
    for piece in re.findall(r"[A-Za-z0-9]{2,}", password):
        assert piece not in texts, piece


def test_the_same_password_percent_encoded_loads(registry: PluginRegistry) -> None:
    password = "pa/ss#wo?rd@%"
    state = _state(registry, url=f"redis://nexus-user:{quote(password, safe='')}@127.0.0.1:6379/0")
    assert password not in repr(state.options)
    _builds(state.options)


def test_check_refuses_the_url_without_a_traceback_or_the_password(tmp_path: Path) -> None:
    config = tmp_path / "connectors.toml"
    config.write_text('[state]\nbackend = "redis"\nurl = "redis://:Xq7/Zk9#Wv3@127.0.0.1:6379/0"\n')
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code != 0
    assert "state.url" in result.output
    assert "Traceback" not in result.output
    for piece in ("Xq7", "Zk9", "Wv3"):
        assert piece not in result.output


# -- any string at all ------------------------------------------------------------------------

#: Characters that no message the config makes contains, so that any of them in an error's
#: text came from the password.
_MARKERS = "QXZJKVY~^|!$*"
_passwords = st.text(alphabet=_MARKERS + "/#?@:%[]. " + "aZ09é\n", min_size=1, max_size=40)


@given(password=_passwords, user=st.sampled_from(["", "nexus", "a:b"]))
@example(password="pa/ss#word", user="")
@example(password="QX#", user="nexus")
@example(password="Q/Z", user="")
def test_a_url_with_any_password_loads_or_is_a_config_error_that_shows_none_of_it(
    password: str, user: str, registry: PluginRegistry
) -> None:
    password = password if any(c in _MARKERS for c in password) else f"Q{password}"
    url = f"redis://{user}:{password}@127.0.0.1:6379/0"
    state, error = _load(registry, url)
    if error is not None:
        texts = _texts(error)
        assert not set(texts) & set(_MARKERS), texts
        assert error.problems[0].path == "state.url"
    else:
        assert not set(repr(state.options)) & set(_MARKERS)
        _builds(state.options)


_schemes = st.sampled_from(["redis://", "rediss://", "unix://", "redis+cluster://", ""])


@given(url=st.one_of(st.text(max_size=80), st.builds(str.__add__, _schemes, st.text(max_size=80))))
@example(url="redis://h?foo=1")
@example(url="redis://h?ssl_cert_reqs=maybe")
@example(url="redis://[::1")
@example(url="redis://h:0")
@example(url="unix://")
def test_any_url_string_loads_and_builds_or_is_a_config_error_naming_state_url(
    url: str, registry: PluginRegistry
) -> None:
    state, error = _load(registry, url)
    if error is not None:
        assert [problem.path for problem in error.problems] == ["state.url"]
    else:
        _builds(state.options)


# -- the password as a reference ---------------------------------------------------------------


def test_the_password_may_be_a_secret_reference(registry: PluginRegistry) -> None:
    state = _state(registry, {"REDIS_PW": "s3cret-redis-pw"}, password="env:REDIS_PW")
    assert isinstance(state.options.password, Secret)
    assert state.options.password.reveal() == "s3cret-redis-pw"
    assert "s3cret-redis-pw" not in repr(state.options)


def test_an_unresolved_password_reference_names_state_password(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        _state(registry, password="env:REDIS_PW_MISSING")
    assert caught.value.problems[0].path == "state.password"
    assert "REDIS_PW_MISSING is not set" in str(caught.value)


def test_a_password_that_is_not_text_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError, match="state.password: expected a secret reference"):
        _state(registry, password=1234)


def test_a_password_in_the_option_and_in_the_url_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        _state(registry, url="redis://:other-pw@127.0.0.1:6379/0", password="literal:pw")
    assert caught.value.problems[0].path == "state.password"
    assert "other-pw" not in _texts(caught.value)


def test_a_server_with_a_password_is_reached_with_the_referenced_one(
    launch_redis: Callable[..., Any], registry: PluginRegistry, tmp_path: Path
) -> None:
    server = launch_redis()
    with server.client() as admin:
        admin.config_set("requirepass", "pw/with#odd?chars")
    secret_file = tmp_path / "redis-password"
    secret_file.write_text("pw/with#odd?chars\n")
    config = {
        "connectors": {"sms": {"vendor": "memory"}},
        "state": {
            "backend": "redis",
            "url": server.url,
            "password": f"file:{secret_file}",
            "fail_mode": "closed",
        },
    }
    sms = SmsMessage("+14155550100", "Your code is 4242")
    with ConnectorManager.from_config(config, registry=registry) as manager:
        assert manager.sms.send(sms).vendor == "memory"
    secret_file.write_text("wrong-password\n")
    with ConnectorManager.from_config(config, registry=registry) as manager:
        with pytest.raises(StateBackendUnavailableError) as caught:
            manager.sms.send(sms)
    assert "wrong-password" not in str(caught.value)


def test_the_options_repr_shows_no_user_name_or_password() -> None:
    options = RedisOptions(url="redis://admin:hunter2-pw@cache.internal:6380/2?db=2")
    assert repr(options) == (
        "RedisOptions(url='redis://cache.internal:6380?...', cluster=False, pool_size=64, "
        "timeout=0.25, connect_timeout=0.25, record_delay=0.05)"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pool_size", 0),
        ("pool_size", 2**70),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", 0.0),
        ("connect_timeout", -1.0),
        ("connect_timeout", 60.000001),
        ("record_delay", -0.001),
        ("record_delay", float("nan")),
        ("record_delay", float("inf")),
        ("record_delay", 10.5),
    ],
)
def test_a_number_out_of_its_range_is_a_config_error_at_its_own_key(
    registry: PluginRegistry, key: str, value: float
) -> None:
    with pytest.raises(ConfigError) as caught:
        _state(registry, **{key: value})

    assert [problem.path for problem in caught.value.problems] == [f"state.{key}"]
