"""The language of alert rules: what it accepts, what it refuses (with the column and what to
write instead), and what a parsed rule reads and decides."""

from __future__ import annotations

import math
from typing import Any

import pytest

from nexus_connector_core import ConfigError, PluginRegistry, load_config
from nexus_connector_core._alert_rules import AlertRuleError, parse_rule
from nexus_connector_core._slo import Objective, SloSpec, WindowCounts


class Scope:
    """Connectors payment (vendors stripe, memory; an availability SLO) and email."""

    def operations(self, connector: str) -> tuple[str, ...] | None:
        return {
            "payment": ("authorize", "capture", "refund"),
            "email": ("send", "send_batch"),
        }.get(connector)

    def vendors(self, connector: str) -> tuple[str, ...]:
        return ("stripe", "memory")

    def slo(self, target: str) -> SloSpec | None:
        if target != "payment":
            return None
        return SloSpec(
            connector="payment",
            window=30 * 86400.0,
            objectives=(Objective(kind="availability", target=0.999),),
        )

    def connectors(self) -> tuple[str, ...]:
        return ("payment", "email")


class Data:
    """Counts per (connector, window) and open breakers, as the leader reads them."""

    def __init__(self, counts: dict[tuple[str, float], WindowCounts], open_: set[Any]) -> None:
        self._counts, self._open = counts, open_

    def counts(self, connector: str, operation: str | None, window: float) -> WindowCounts:
        return self._counts.get((connector, window), WindowCounts())

    def slo(self, target: str) -> SloSpec:
        found = Scope().slo(target)
        assert found is not None
        return found

    def breaker_open(self, connector: str, vendor: str | None) -> bool:
        return (connector, vendor) in self._open


@pytest.mark.parametrize(
    "rule",
    [
        "burn_rate(payment, 1h) > 14.4 and burn_rate(payment, 5m) > 14.4",
        "breaker_open(payment, stripe) for 2m",
        "error_rate(email) > 0.2 for 5m",
        "p95(email.send) > 2s for 10m",
        "not breaker_open(payment) or (calls(email, 1h) < 3 and budget_left(payment) < 10%)",
        "attainment(payment) <= 99.9%",
    ],
)
def test_the_documented_rules_parse(rule: str) -> None:
    parse_rule(rule, Scope())


@pytest.mark.parametrize(
    ("rule", "column", "message"),
    [
        ("burnrate(payment, 1h) > 1", 1, "unknown function 'burnrate' (did you mean 'burn_rate'?)"),
        ("error_rate(emial) > 1", 12, "no connector 'emial' (did you mean 'email'?)"),
        ("p95(email.sned) > 2s", 11, "connector 'email' has no operation 'sned'"),
        ("error_rate(email) > 0.2 and", 28, "expected a number, a function"),
        ("error_rate(email)", 1, "the rule must be a truth"),
        ("breaker_open(payment) > 1", 1, "'>' compares numbers, but this is a truth"),
        ("breaker_open(payment, strip)", 23, "connector 'payment' has no vendor 'strip'"),
        ("burn_rate(email, 1h) > 1", 11, "burn_rate needs an SLO for 'email'"),
        ("burn_rate(payment) > 1", 1, "burn_rate(target, window) takes 2 arguments, got 1"),
        ("error_rate(email, 7s) > 1", 19, "a window must be from 1m to 90d"),
        ("error_rate(email, 450m) > 1", 19, "whole hours"),
        ("error_rate(email) > 1 for 1m for 2m", 30, "expected the end of the rule, found 'for'"),
        ("error_rate(email) > 1 for 5", 27, "expected a duration such as 2m after 'for'"),
        ("p95(email) > 2s ^", 17, "unexpected character '^'"),
        ("", 1, "the rule is empty"),
        ("calls(email) > 1 and 5", 22, "the right of 'and' must be a truth"),
        ("(" * 40 + "calls(email) > 1" + ")" * 40, 33, "nests too deeply"),
    ],
)
def test_a_wrong_rule_is_refused_with_the_column_of_its_first_problem(
    rule: str, column: int, message: str
) -> None:
    with pytest.raises(AlertRuleError) as caught:
        parse_rule(rule, Scope())
    assert caught.value.column == column
    assert message in caught.value.message


def test_a_rule_reads_only_what_it_names_and_gives_its_thresholds_to_the_histogram() -> None:
    parsed = parse_rule(
        "p95(email.send) > 2s and error_rate(payment, 1h) > 5% and breaker_open(payment)",
        Scope(),
    )
    assert parsed.needs.windows == {("email", 300.0), ("payment", 3600.0)}
    assert parsed.needs.breakers == {("payment", None)}
    assert parsed.needs.thresholds == {2.0}


def test_burn_rate_and_error_rate_decide_on_the_counts_of_their_windows() -> None:
    rule = parse_rule("burn_rate(payment, 1h) > 14.4 and error_rate(payment) > 1%", Scope())
    burning = WindowCounts(ok=980, failed=20)  # 2 %: a burn rate of 20
    assert rule.holds(Data({("payment", 3600.0): burning, ("payment", 300.0): burning}, set()))
    calm = WindowCounts(ok=999, failed=1)
    assert not rule.holds(Data({("payment", 3600.0): calm, ("payment", 300.0): burning}, set()))


def test_no_data_makes_a_comparison_false_either_way() -> None:
    for rule in ("error_rate(email) > 5%", "error_rate(email) <= 5%", "p95(email) < 1s"):
        assert not parse_rule(rule, Scope()).holds(Data({}, set()))


def test_a_percentile_beyond_the_last_bound_is_infinite() -> None:
    counts = WindowCounts(ok=1, latency=((math.inf, 1),))
    assert parse_rule("p99(email) > 30s", Scope()).holds(Data({("email", 300.0): counts}, set()))


def test_breaker_open_reads_the_named_vendor_or_any() -> None:
    data = Data({}, {("payment", "stripe")})
    assert parse_rule("breaker_open(payment, stripe)", Scope()).holds(data)
    assert not parse_rule("breaker_open(payment, memory)", Scope()).holds(data)
    assert not parse_rule("not breaker_open(payment, stripe)", Scope()).holds(data)


def test_a_rule_in_the_config_is_checked_against_its_connectors_with_key_path_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "connectors": {"email": {"vendor": "memory"}},
                "alerts": {
                    "slow-mail": {"when": "p95(email.sned) > 2s"},
                    "Bad Name": {"when": "calls(email) > 1"},
                    "noisy": {"when": "calls(email) > 1", "notify": ["pager"]},
                    "late": {"when": "calls(email) > 1", "repeat": "forever"},
                },
            },
            registry=PluginRegistry(),
            environ={},
        )
    problems = {p.path: p.detail for p in caught.value.problems}
    assert problems["alerts.slow-mail.when"].startswith(
        "column 11: connector 'email' has no operation 'sned'"
    )
    assert "a rule name is 1 to 64" in problems['alerts."Bad Name"']
    assert "unknown alert sink 'pager'" in problems["alerts.noisy.notify[0]"]
    assert "expected a duration" in problems["alerts.late.repeat"]
