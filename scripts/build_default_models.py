"""Build langfuse_aio/data/default_models.json, our default model table, from upstream's price figures.

    .venv/bin/python scripts/build_default_models.py [UPSTREAM_JSON] [--check]

UPSTREAM_JSON defaults to ../shared/reference/default-model-prices.json (Langfuse's current
`default-model-prices.json`). The derivation (our ids, decimal prices, tier ids) lives in
`langfuse_aio.domain.model_table.derive_table`, which `langfuse-aio models refresh` uses too. `--check`
fails when the committed table differs from what the figures give.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from langfuse_aio.domain.model_table import derive_table, parse_table

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "default-model-prices.json"
TARGET = ROOT / "langfuse_aio" / "data" / "default_models.json"


def render(source: Path) -> str:
    table = derive_table(json.loads(source.read_text()))
    table["source"] = "figures of Langfuse's default-model-prices.json, derived by scripts/build_default_models.py"
    parse_table(table)  # what we ship must load
    return json.dumps(table, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--check", action="store_true", help="only compare with the committed table")
    args = parser.parse_args()
    text = render(args.source)
    if args.check:
        if TARGET.read_text() != text:
            sys.exit(f"{TARGET} is out of date: run scripts/build_default_models.py")
        print(f"{TARGET.name} is up to date")
        return
    TARGET.write_text(text)
    print(f"wrote {TARGET} ({len(json.loads(text)['models'])} models)")


if __name__ == "__main__":
    main()
