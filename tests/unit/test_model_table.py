"""Our shipped default model table: derived from upstream's figures, loadable, with our own ids."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from langfuse_aio.domain.model_table import ModelTableError, derive_table, managed_model_id, parse_table
from langfuse_aio.domain.pricing import match_tier
from langfuse_aio.services.model_defaults import packaged_table

# a copy of upstream's figures (the reference our table is built from), kept as test data
UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "default-model-prices.json"


def test_packaged_table_loads_with_tiers_and_tokenizers() -> None:
    models = {m.model_name: m for m in parse_table(packaged_table())}
    assert len(models) > 150
    gpt4o = models["gpt-4o"]
    assert gpt4o.id == "lfaio-gpt-4o" and gpt4o.project_id is None
    assert gpt4o.tokenizer_id == "openai" and gpt4o.tokenizer_config["tokenizerModel"] == "gpt-4o"
    default = gpt4o.default_tier
    assert default is not None and default.id == "lfaio-gpt-4o_tier_default"
    assert default.prices["input"] == Decimal("0.0000025") and default.prices["output"] == Decimal("0.00001")
    fast = match_tier(gpt4o.tiers, {"input": 1}, model_parameters={"service_tier": "priority"})
    assert fast is not None and fast.name == "Fast mode" and fast.prices["input"] == Decimal("0.00000425")
    assert {m.tokenizer_id for m in models.values()} == {"openai", "claude", None}


def test_packaged_table_is_what_the_figures_give() -> None:
    derived = derive_table(json.loads(UPSTREAM.read_text()))
    shipped = packaged_table()
    assert derived["models"] == shipped["models"]
    assert all(m["id"].startswith("lfaio-") for m in shipped["models"])


def test_upstream_list_is_accepted_and_prices_become_exact_decimals() -> None:
    upstream = [{
        "id": "upstream-cuid", "modelName": "My Model 1.5", "matchPattern": "(?i)^(my-model-1.5)$",
        "updatedAt": "2026-01-02T03:04:05.678Z", "tokenizerId": None,
        "pricingTiers": [
            {"name": "Standard", "isDefault": True, "priority": 0, "conditions": [], "prices": {"input": 1.1e-07}},
            {"name": "Big", "isDefault": False, "priority": 1, "prices": {"input": 3e-07},
             "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 5, "caseSensitive": False}]},
        ],
    }]
    (only,) = parse_table(upstream)
    assert only.id == managed_model_id("My Model 1.5") == "lfaio-my-model-1-5"
    assert [t.id for t in only.tiers] == ["lfaio-my-model-1-5_tier_default", "lfaio-my-model-1-5_tier_1"]
    assert only.tiers[0].prices == {"input": Decimal("0.00000011")}


@pytest.mark.parametrize("document", [
    {"format": 2, "models": []},
    [{"modelName": "a", "matchPattern": "a", "updatedAt": "2026-01-01T00:00:00Z",
      "pricingTiers": [{"isDefault": False, "priority": 1, "conditions": [], "prices": {"input": 1}}]}],
    [{"modelName": "a", "matchPattern": "a", "updatedAt": "2026-01-01T00:00:00Z", "pricingTiers": [
        {"isDefault": True, "priority": 0, "conditions": [], "prices": {"input": -1}}]}],
    [{"modelName": "a", "matchPattern": "a", "updatedAt": "soon", "pricingTiers": []}],
    [{"modelName": "A", "matchPattern": "a", "updatedAt": "2026-01-01T00:00:00Z"},
     {"modelName": "a", "matchPattern": "a", "updatedAt": "2026-01-01T00:00:00Z"}],
])
def test_bad_tables_are_refused(document: object) -> None:
    with pytest.raises(ModelTableError):
        parse_table(document)
