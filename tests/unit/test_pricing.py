"""Model choice, pricing tiers and costs (domain/pricing.py), with the spec's worked examples."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from langfuse_aio.domain.pricing import (
    AttributeCondition,
    ModelDefinition,
    PricingTier,
    UsageCondition,
    calculate_costs,
    choose_model,
    condition_to_json,
    match_tier,
    parse_condition,
)
from langfuse_aio.domain.provided_usage import provided_costs, to_cost

D = Decimal


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def model(model_id: str, *, project: str | None = None, start: str | None = None, updated: str = "2024-01-01",
          **prices: str) -> ModelDefinition:
    tier = PricingTier(f"{model_id}_tier_default", "Standard", True, 0, (), {k: D(v) for k, v in prices.items()})
    return ModelDefinition(model_id, project, model_id.split(":", maxsplit=1)[0], "(?i)^x$",
                           start_date=None if start is None else at(start), updated_at=at(updated), tiers=(tier,))


def costs_of(chosen: ModelDefinition | None, usage: dict[str, int]) -> tuple[dict[str, Decimal], Decimal | None]:
    assert chosen is not None and chosen.default_tier is not None
    return calculate_costs(usage, chosen.default_tier.prices)


# --- v2-migration §5.5 and ingestion §3.5 examples -------------------------------------------------


def test_gpt_4o_input_and_output_add_up() -> None:
    costs, total = calculate_costs({"input": 1000, "output": 200, "total": 1200}, {"input": D("5e-06"),
                                                                                    "output": D("1.5e-05")})
    assert costs == {"input": D("0.005"), "output": D("0.003"), "total": D("0.008")} and total == D("0.008")


def test_embedding_priced_by_total_only() -> None:
    costs, total = calculate_costs({"input": 1000, "total": 1000}, {"total": D("2e-08")})
    assert costs == {"total": D("0.00002")} and total == D("0.00002")


def test_a_total_price_is_total_units_times_price_not_the_sum() -> None:
    costs, total = calculate_costs({"input": 100, "output": 200, "total": 300},
                                   {"input": D("0.01"), "output": D("0.02"), "total": D("0.03")})
    assert total == D("9.00") and costs["input"] + costs["output"] == D("5.00")


def test_no_matching_price_gives_no_cost() -> None:
    assert calculate_costs({"input": 10}, {"output": D("1")}) == ({}, None)
    assert calculate_costs({}, {"input": D("1")}) == ({}, None)


@pytest.mark.parametrize(("provided", "total"), [
    ({"input": D(1), "output": D(2)}, D(3)), ({"total": D(2)}, D(2)), ({"output": D(2)}, D(2)),
    ({"input": D(1), "total": D(1)}, D(1)),
])
def test_provided_costs_win_and_give_the_total(provided: dict[str, Decimal], total: Decimal) -> None:
    details, got = provided_costs(provided)
    assert got == total and details["total"] == total and "output" not in provided.keys() - details.keys()


# --- §2.4.5 verified examples (default models + one project override), as ingestion computes them ---

GPT35 = [
    model("gpt-3.5-turbo:none", input="0.000002", output="0.000002"),
    model("gpt-3.5-turbo:0627", start="2023-06-27", input="0.0000015", output="0.000002"),
    model("gpt-3.5-turbo:1106", start="2023-11-06", input="0.000001", output="0.000002"),
    model("gpt-3.5-turbo:0216", start="2024-02-16", input="0.0000005", output="0.0000015"),
]


def test_o_a_project_gpt_4_beats_the_managed_one() -> None:
    managed = model("gpt-4:managed", input="0.00003", output="0.00006")
    own = model("gpt-4:project", project="p1", updated="2020-01-01", input="0.001", output="0.002")
    chosen = choose_model([managed, own], at("2024-06-02"))
    assert chosen is own
    costs, total = costs_of(chosen, {"input": 100, "output": 10, "total": 110})
    assert (costs["input"], costs["output"], total) == (D("0.1"), D("0.02"), D("0.12"))


def test_o_b_latest_start_date_not_after_the_observation() -> None:
    chosen = choose_model(GPT35, at("2024-06-02"))
    assert chosen is not None and chosen.id == "gpt-3.5-turbo:0216"
    costs, total = costs_of(chosen, {"input": 1000, "output": 100, "total": 1100})
    assert (costs["input"], costs["output"], total) == (D("0.0005"), D("0.00015"), D("0.00065"))


def test_o_c_an_older_observation_gets_the_older_price() -> None:
    chosen = choose_model(GPT35, at("2023-07-01"))
    assert chosen is not None and chosen.id == "gpt-3.5-turbo:0627"
    costs, total = costs_of(chosen, {"input": 1000, "output": 100, "total": 1100})
    assert (costs["input"], costs["output"], total) == (D("0.0015"), D("0.0002"), D("0.0017"))


def test_before_every_start_date_the_undated_row_applies() -> None:
    chosen = choose_model(GPT35, at("2023-01-01"))
    assert chosen is not None and chosen.id == "gpt-3.5-turbo:none"
    assert choose_model(GPT35[1:], at("2023-01-01")) is None


def test_o_d_a_provided_input_cost_wins() -> None:
    # The v3 backfill copies it alone (0.5 / NULL / NULL); ingestion also fills the total (§3.5 Case 1).
    details, total = provided_costs({"input": to_cost(0.5, "input")})
    assert details == {"input": D("0.5"), "total": D("0.5")} and total == D("0.5")


def test_o_e_embedding_total_only() -> None:
    ada = model("text-embedding-ada-002", total="1e-7")
    costs, total = costs_of(choose_model([ada], at("2024-06-02")), {"total": 1000})
    assert costs == {"total": D("0.0001")} and total == D("0.0001")


def test_same_scope_and_start_prefers_the_newer_definition() -> None:
    stale = model("gpt-4o:v2-row", updated="2024-05-13", input="0.000005")
    ours = model("gpt-4o:ours", updated="2026-08-20", input="0.0000025")
    assert choose_model([ours, stale], at("2025-01-01")) is ours
    assert choose_model([stale, ours], at("2025-01-01")) is ours


# --- pricing tiers --------------------------------------------------------------------------------

DEFAULT = PricingTier("t0", "Standard", True, 0, (), {"input": D("0.000003")})
LARGE = PricingTier("t1", "Large context", False, 2, (UsageCondition("(input|cache)", "gt", 200_000),),
                    {"input": D("0.000006")})
FAST = PricingTier("t2", "Fast", False, 1, (AttributeCondition("model_parameters", "service_tier", ("fast",)),),
                   {"input": D("0.00001")})
TIERS = (LARGE, DEFAULT, FAST)


def test_default_tier_below_the_threshold() -> None:
    assert match_tier(TIERS, {"input": 150_000, "output": 10}) is DEFAULT


def test_usage_condition_sums_every_matching_key() -> None:
    assert match_tier(TIERS, {"input": 150_000, "input_cache_read": 60_000}) is LARGE
    assert match_tier(TIERS, {"INPUT_tokens": 250_000}) is LARGE  # case-insensitive unless caseSensitive
    strict = PricingTier("t3", "Strict", False, 3, (UsageCondition("^input$", "gte", 10, True),), {})
    assert match_tier((DEFAULT, strict), {"INPUT": 50}) is DEFAULT
    assert match_tier((DEFAULT, strict), {"input": 50}) is strict


def test_lower_priority_number_wins_and_attributes_compare_exactly() -> None:
    usage = {"input": 300_000}
    assert match_tier(TIERS, usage, model_parameters={"service_tier": "fast"}) is FAST
    assert match_tier(TIERS, usage, model_parameters={"service_tier": "flex"}) is LARGE
    assert match_tier(TIERS, {"input": 1}, metadata={"service_tier": "fast"}) is DEFAULT  # other source
    assert match_tier((DEFAULT, FAST), {}, model_parameters={"service_tier": 1}) is DEFAULT


def test_a_tier_with_prices_applies_to_costs() -> None:
    tier = match_tier(TIERS, {"input": 250_000})
    assert tier is not None and calculate_costs({"input": 250_000}, tier.prices)[1] == D("1.500000")


def test_no_tiers_means_no_tier() -> None:
    assert match_tier((), {"input": 1}) is None


@pytest.mark.parametrize("raw", [
    {"usageDetailPattern": "(input)", "operator": "gt", "value": 272000, "caseSensitive": False},
    {"source": "metadata", "key": "speed", "operator": "in", "values": ["fast"]},
])
def test_conditions_round_trip_in_langfuses_shape(raw: dict[str, object]) -> None:
    assert condition_to_json(parse_condition(raw)) == raw


@pytest.mark.parametrize("raw", [
    {"usageDetailPattern": "(", "operator": "gt", "value": 1}, {"usageDetailPattern": "x", "operator": "between",
                                                               "value": 1},
    {"usageDetailPattern": "x", "operator": "gt", "value": "1"}, {"source": "headers", "key": "k", "operator": "in",
                                                                  "values": ["a"]},
    {"source": "metadata", "key": "k", "operator": "in", "values": []}, "gt",
])
def test_bad_conditions_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_condition(raw)
