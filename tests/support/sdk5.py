"""The official Python SDK 5.x in its own virtualenv (it shares the package name with the 2.x SDK
that the main test environment pins, so the two cannot live in one environment).

`sdk5_python()` returns that environment's interpreter, creating `.venv-sdk5/` in the repository on
first use (about 20 s, from the package index) and reusing it while the pinned version stands.
Scripts run there as child processes and print JSON for the test to check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SDK5_REQUIREMENT = "langfuse==5.2.0"
ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-sdk5"
STAMP = VENV / "langfuse-aio-requirement.txt"


def sdk5_python() -> Path:
    python = VENV / "bin" / "python"
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == SDK5_REQUIREMENT:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK5_REQUIREMENT],
                   check=True)
    STAMP.write_text(SDK5_REQUIREMENT + "\n")
    return python


def run_sdk5_script(script: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run `script` under the 5.x SDK; its last stdout line must be JSON, which is returned."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "OTEL_"))}
    done = subprocess.run([str(sdk5_python()), str(script), *args], env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{script.name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
