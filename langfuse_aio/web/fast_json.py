"""Parsing ingestion bodies with orjson where it gives exactly what the stdlib parser gives.

orjson parses a 50-event SDK batch in ~0.1 ms against ~0.6 ms for `json.loads` (see pyproject).
Whenever orjson refuses a body (invalid JSON or UTF-8, NaN/Infinity, lone surrogates, numbers
beyond a double), the stdlib path in `web.body.parse_json` runs instead, so every 400 message
and the surrogate replacement stay as they were. Two cases where orjson would *accept* a body
differently are also sent there: integers of 19 or more digits (orjson turns those beyond 64 bits
into floats; the stdlib keeps ints) and bodies with many brackets (orjson nests up to 1024 deep,
the stdlib less: a body with at most `_MAX_OPENERS` brackets cannot nest deeper than that).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from langfuse_aio.web.body import parse_json

_MAX_OPENERS = 768
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_json_fast(raw: bytes) -> Any:
    if raw.count(b"{") + raw.count(b"[") <= _MAX_OPENERS and _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return parse_json(raw)
