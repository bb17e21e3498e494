"""Make parsed JSON safe to store: JSON may carry lone UTF-16 surrogates (`"\\ud800"`), which
Python accepts but UTF-8 cannot encode. They become U+FFFD, as a browser's TextDecoder would do."""

from __future__ import annotations

from typing import Any


def _fix_str(value: str) -> str:
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def may_have_surrogates(raw: bytes) -> bool:
    """Cheap test on the raw body: only escaped surrogates can produce lone ones."""
    lowered = raw.lower()
    return any(f"\\ud{c}".encode() in lowered for c in "89abcdef")


def replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _fix_str(value)
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_str(k): replace_lone_surrogates(v) for k, v in value.items()}
    return value
