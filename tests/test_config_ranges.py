"""Every numeric setting has a documented range, checked at load: a value outside it (inf,
nan, negative, 2**70, a denormal) is a `ConfigError` naming the dotted key and the
environment variable that set it, every problem of a table at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import ConfigError, PluginRegistry, load_config
from nexus_connector_core._alerting_config import AlertingConfig
from nexus_connector_core._config import ObservabilityConfig, _env_value
from nexus_connector_core._config_ranges import describe, numeric_settings
from nexus_connector_core._resilience.config import ResilienceConfig, RetryConfig
from nexus_connector_core._slo import SloConfig
from nexus_connector_core.vendors.memory import MemoryOptions

DOCS = Path(__file__).resolve().parent.parent / "docs"
INF = float("inf")
NAN = float("nan")


def _problems(
    config: Any, registry: PluginRegistry, environ: dict[str, str] | None = None
) -> dict[str | None, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ=environ or {})
    return {p.path: p.detail for p in caught.value.problems}


def _payment(resilience: dict[str, Any], **table: Any) -> dict[str, Any]:
    return {"connectors": {"payment": {"vendor": "memory", "resilience": resilience, **table}}}


# -- item 12: non-finite and huge numbers -----------------------------------------------------


@pytest.mark.parametrize(
    ("resilience", "key"),
    [
        ({"deadline": INF}, "deadline"),
        ({"timeout": NAN}, "timeout"),
        ({"idempotency": {"ttl": INF}}, "idempotency.ttl"),
        ({"idempotency": {"claim_ttl": INF}}, "idempotency.claim_ttl"),
        ({"rate_limit": {"rate": INF}}, "rate_limit.rate"),
        ({"rate_limit": {"rate": 1e-300}}, "rate_limit.rate"),
        ({"rate_limit": {"rate": 5e-324}}, "rate_limit.rate"),
        ({"rate_limit": {"rate": 1, "per": INF}}, "rate_limit.per"),
        ({"rate_limit": {"rate": 1, "burst": 2**62}}, "rate_limit.burst"),
        ({"circuit_breaker": {"open_for": INF}}, "circuit_breaker.open_for"),
        ({"circuit_breaker": {"window": 10**12}}, "circuit_breaker.window"),
        ({"bulkhead": {"max_concurrent": 2**70}}, "bulkhead.max_concurrent"),
        ({"retry": {"budget": {"window": INF}}}, "retry.budget.window"),
        ({"retry": {"base": -1.0}}, "retry.base"),
        ({"retry": {"max_delay": 10**400}}, "retry.max_delay"),
        ({"retry": {"retry_on_status": [503, 2**64]}}, "retry.retry_on_status[1]"),
        ({"cache": {"ttl": NAN}}, "cache.ttl"),
    ],
)
def test_non_finite_and_huge_numbers_are_refused_at_load_naming_the_key(
    registry: PluginRegistry, resilience: dict[str, Any], key: str
) -> None:
    problems = _problems(_payment(resilience), registry)
    assert list(problems) == [f"connectors.payment.resilience.{key}"]
    assert problems[f"connectors.payment.resilience.{key}"].startswith("must be a number from")


def test_a_rate_limit_slower_than_one_call_a_day_is_refused(registry: PluginRegistry) -> None:
    problems = _problems(_payment({"rate_limit": {"rate": 0.001, "per": 86400}}), registry)
    assert "at least one call a day" in problems["connectors.payment.resilience.rate_limit.rate"]


def test_a_time_window_is_at_most_an_hour(registry: PluginRegistry) -> None:
    breaker = {"window_type": "time", "window": 7200}
    problems = _problems(_payment({"circuit_breaker": breaker}), registry)
    assert (
        "at most 3600 seconds" in problems["connectors.payment.resilience.circuit_breaker.window"]
    )


@pytest.mark.parametrize(
    ("options", "key"),
    [({"fail_first": 2**70}, "fail_first"), ({"latency": INF}, "latency"),
     ({"retry_after": NAN}, "retry_after"), ({"latency": -0.0001}, "latency")],
)  # fmt: skip
def test_memory_vendor_options_have_ranges(
    registry: PluginRegistry, options: dict[str, Any], key: str
) -> None:
    config = {"connectors": {"sms": {"vendor": "memory", "options": options}}}
    assert list(_problems(config, registry)) == [f"connectors.sms.options.{key}"]


def test_observability_ring_size_has_a_range(registry: PluginRegistry) -> None:
    problems = _problems({"observability": {"ring_size": 2**70}}, registry)
    assert problems == {
        "observability.ring_size": "must be a number from 1 to 1000000, got 1180591620717411303424"
    }


@pytest.mark.parametrize("prefix", ["", "a b", "x" * 65, "{tag}", "tab\there", "ünïcode", 7])
def test_state_prefix_is_a_short_printable_word(registry: PluginRegistry, prefix: Any) -> None:
    assert "state.prefix" in _problems({"state": {"prefix": prefix}}, registry)


def test_a_struct_built_in_python_is_range_checked_too() -> None:
    with pytest.raises(ValueError, match=r"^base must be a number from 0 to 86400, got inf$"):
        RetryConfig(base=INF)


# -- "no deadline" has a TOML spelling --------------------------------------------------------


def test_deadline_false_means_no_deadline(tmp_path: Path, registry: PluginRegistry) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(
        "[connectors.payment]\nvendor = 'memory'\n"
        "[connectors.payment.resilience]\ntimeout = false\ndeadline = false\n"
        "[connectors.payment.resilience.operations.capture]\ndeadline = 5.0\n",
        encoding="utf-8",
    )
    resilience = load_config(path, registry=registry, environ={}).connectors["payment"].resilience
    assert (resilience["purchase"].timeout, resilience["purchase"].deadline) == (None, None)
    assert resilience["capture"].deadline == 5.0


@pytest.mark.parametrize("value", ["none", True, [], "30"])
def test_deadline_written_otherwise_says_how_to_write_none(
    registry: PluginRegistry, value: Any
) -> None:
    problems = _problems(_payment({"deadline": value}), registry)
    assert "or false for no deadline" in problems["connectors.payment.resilience.deadline"]


def test_the_resilience_docs_write_no_deadline_in_toml() -> None:
    text = (DOCS / "resilience.md").read_text(encoding="utf-8")
    assert "deadline = none" not in text
    assert "deadline = false" in text


# -- item 14: every problem names its key and the variable that set it ------------------------


def test_a_range_error_names_the_key_and_the_environment_variable(
    registry: PluginRegistry,
) -> None:
    var = "NEXUS_CONNECTOR__CONNECTORS__PAYMENT__RESILIENCE__RETRY__BASE"
    problems = _problems({"connectors": {"payment": {"vendor": "memory"}}}, registry, {var: "inf"})
    assert problems == {
        "connectors.payment.resilience.retry.base": "must be a number from 0 to 86400, got inf "
        f"(set by environment variable {var})"
    }


def test_a_check_across_keys_names_the_key_and_the_variable(registry: PluginRegistry) -> None:
    var = "NEXUS_CONNECTOR__CONNECTORS__PAYMENT__RESILIENCE__CIRCUIT_BREAKER__MIN_CALLS"
    problems = _problems({"connectors": {"payment": {"vendor": "memory"}}}, registry, {var: "50"})
    detail = problems["connectors.payment.resilience.circuit_breaker.min_calls"]
    assert "cannot exceed a count window's size (20)" in detail
    assert var in detail


def test_an_environment_value_with_a_line_break_is_a_string_never_several_keys(
    registry: PluginRegistry,
) -> None:
    var = "NEXUS_CONNECTOR__CONNECTORS__SMS__OPTIONS__FAIL_FIRST"
    problems = _problems(
        {"connectors": {"sms": {"vendor": "memory"}}}, registry, {var: "5\nfailure = 'auth'"}
    )
    assert list(problems) == ["connectors.sms.options.fail_first"]
    assert "expected `int`, got `str`" in problems["connectors.sms.options.fail_first"]
    assert var in problems["connectors.sms.options.fail_first"]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("5", 5),
        ("inf", INF),
        ("[1, 2]", [1, 2]),
        ("{ rate = 5 }", {"rate": 5}),
        ("5\nvendor = 'x'", "5\nvendor = 'x'"),
        ("5\r\nvendor = 'x'", "5\r\nvendor = 'x'"),
        ("1, 2", "1, 2"),
        ("memory", "memory"),
        ("", ""),
    ],
)
def test_an_environment_value_is_one_toml_value_or_a_string(raw: str, value: Any) -> None:
    assert _env_value(raw) == value


# -- item 15: all problems of a table, the choices of an enum ---------------------------------


def test_every_problem_of_one_table_is_reported(registry: PluginRegistry) -> None:
    retry = {"base": INF, "max_delay": -1, "backoff": "expo", "max_atempts": 2, "jitter": 1}
    assert set(_problems(_payment({"retry": retry}), registry)) == {
        "connectors.payment.resilience.retry.base",
        "connectors.payment.resilience.retry.max_delay",
        "connectors.payment.resilience.retry.backoff",
        "connectors.payment.resilience.retry.max_atempts",
        "connectors.payment.resilience.retry.jitter",
    }


def test_every_bad_item_of_an_array_is_reported_at_its_own_index(
    registry: PluginRegistry,
) -> None:
    config = {"observability": {"loggers": ["x", "logging", "y", "memory", "z"]}}
    assert set(_problems(config, registry)) == {
        "observability.loggers[0]",
        "observability.loggers[2]",
        "observability.loggers[4]",
    }


def test_a_bad_connector_key_does_not_hide_the_problems_of_its_other_tables(
    registry: PluginRegistry,
) -> None:
    config = _payment({"deadline": -1}, optoins={}, options={"latency": "x"})
    assert set(_problems(config, registry)) == {
        "connectors.payment.optoins",
        "connectors.payment.options.latency",
        "connectors.payment.resilience.deadline",
    }


def test_a_dropped_key_causes_no_second_problem(registry: PluginRegistry) -> None:
    # rate is required: once its bad value is reported, "missing" would only repeat it;
    # min_calls is checked against window: a window refused is no reason to blame min_calls.
    config = _payment({"rate_limit": {"rate": INF}, "circuit_breaker": {"window": 0}})
    assert set(_problems(config, registry)) == {
        "connectors.payment.resilience.rate_limit.rate",
        "connectors.payment.resilience.circuit_breaker.window",
    }


def test_an_operation_reports_only_the_problems_of_what_it_sets(
    registry: PluginRegistry,
) -> None:
    resilience = {"retry": {"base": INF}, "operations": {"capture": {"deadline": INF}}}
    assert set(_problems(_payment(resilience), registry)) == {
        "connectors.payment.resilience.retry.base",
        "connectors.payment.resilience.operations.capture.deadline",
    }


def test_an_operation_that_sets_a_bad_value_of_its_own_reports_it_too(
    registry: PluginRegistry,
) -> None:
    resilience = {"deadline": INF, "operations": {"capture": {"deadline": -1}}}
    problems = _problems(_payment(resilience), registry)
    assert problems == {
        "connectors.payment.resilience.deadline": "must be a number from 0.001 to 86400, got inf",
        "connectors.payment.resilience.operations.capture.deadline": (
            "must be a number from 0.001 to 86400, got -1"
        ),
    }


def test_an_operation_table_missing_a_required_key_is_refused_never_dropped(
    registry: PluginRegistry,
) -> None:
    # Found by the property test: the problem was filtered as "the connector's own", and the
    # connector silently left out of a config that loaded.
    resilience = {"operations": {"purchase": {"rate_limit": {"max_wait": 0.0}}}}
    assert _problems(_payment(resilience), registry) == {
        "connectors.payment.resilience.operations.purchase.rate_limit.rate": "missing required key"
    }


def test_an_invalid_enum_value_lists_the_valid_values(registry: PluginRegistry) -> None:
    problems = _problems(_payment({"circuit_breaker": {"window_type": "sliding"}}), registry)
    assert problems["connectors.payment.resilience.circuit_breaker.window_type"] == (
        "invalid enum value 'sliding'; expected one of: 'count', 'time'"
    )


# -- the documented ranges --------------------------------------------------------------------

_DOCUMENTED = [
    ("configuration.md", "resilience.", ResilienceConfig),
    ("configuration.md", "options.", MemoryOptions),
    ("configuration.md", "observability.", ObservabilityConfig),
    ("configuration.md", "slo.", SloConfig),
    ("configuration.md", "alerting.", AlertingConfig),
]


@pytest.mark.parametrize(("doc", "prefix", "struct"), _DOCUMENTED)
def test_every_numeric_setting_has_a_range_and_the_docs_state_it(
    doc: str, prefix: str, struct: type[Any]
) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| ([^|]+?) \|", text, re.MULTILINE))
    settings = list(numeric_settings(struct, prefix))
    assert settings
    for key, bounds in settings:
        assert bounds is not None, f"{key} has no range"
        assert bounds.ge is not None or bounds.gt is not None, f"{key} has no lower bound"
        assert bounds.le is not None or bounds.lt is not None, f"{key} has no upper bound"
        assert rows.get(key) == describe(bounds), f"docs/{doc} states no range for {key}"
