"""`langfuse-aio models refresh --file PATH` as an operator runs it, on embedded stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ROOT, STORE_VARS, kill_leftovers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    kill_leftovers(path)


def refresh(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARS and not k.startswith("LANGFUSE_")}
    env.update(LANGFUSE_AIO_DATA_DIR=str(data_dir), LANGFUSE_LOG_LEVEL="error")
    return subprocess.run([sys.executable, "-m", "langfuse_aio.cli", "models", "refresh", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180, check=False)


def test_refresh_from_an_upstream_file_then_again(data_dir: Path, tmp_path: Path) -> None:
    upstream = [{"modelName": "cli-model", "matchPattern": "(?i)^cli-model$", "updatedAt": "2030-01-01T00:00:00Z",
                 "tokenizerId": None, "pricingTiers": [{"name": "Standard", "isDefault": True, "priority": 0,
                                                        "conditions": [], "prices": {"input": 1e-6}}]}]
    path = tmp_path / "default-model-prices.json"
    path.write_text(json.dumps(upstream))

    first = refresh(data_dir, "--file", str(path))
    assert first.returncode == 0, first.stderr
    assert "1 written" in first.stdout
    again = refresh(data_dir, "--file", str(path))
    assert again.returncode == 0 and "0 written, 1 unchanged" in again.stdout

    path.write_text(json.dumps([{"modelName": "broken"}]))
    bad = refresh(data_dir, "--file", str(path))
    assert bad.returncode != 0 and "matchPattern" in bad.stderr
