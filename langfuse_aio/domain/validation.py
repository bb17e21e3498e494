"""Validation primitives shared by the event schemas: JS-style numbers, ISO datetimes, ids, environments.

Everything here mirrors a rule Langfuse enforces with zod, written for JSON decoded by Python:
- a JSON number may arrive as `int` or `float`, and `bool` is never a number;
- zod's `.int()` accepts `5.0` (JS has one number type), so integral floats count as integers and are
  stored as ints, the way `JSON.stringify` would write them.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeGuard

from pydantic_core import PydanticCustomError


class Invalid(Exception):
    """One or more validation issues, each a readable `path: problem` string."""

    def __init__(self, *issues: str) -> None:
        super().__init__("; ".join(issues))
        self.issues = list(issues)


# zod 3.23.8 `z.string().datetime({offset: true})`, verbatim except `\d` spelled `[0-9]` (ASCII only, as in
# JS; Python and Rust `\d` would also match other scripts' digits). Day and month are checked by the
# pattern itself, leap years included; hours 00-23, minutes and seconds 00-59, any fraction length; the
# zone is `Z` or `±HH:MM` / `±HHMM` (offset digits are not range-checked, as in zod).
_DATE = (
    r"(([0-9][0-9][2468][048]|[0-9][0-9][13579][26]|[0-9][0-9]0[48]|[02468][048]00|[13579][26]00)-02-29"
    r"|[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    r"|(02)-(0[1-9]|1[0-9]|2[0-8])))"
)
ISO_DATETIME_PATTERN: Final = (
    "^" + _DATE + r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})$"
)
_ISO_DATETIME = re.compile(ISO_DATETIME_PATTERN)
INVALID_DATETIME: Final = "invalid ISO-8601 datetime (expected YYYY-MM-DDTHH:MM:SS[.fff] with Z or ±HH:MM)"


def is_iso_datetime(value: object) -> TypeGuard[str]:
    # fullmatch, not match: Python's `$` also matches before a final newline.
    return type(value) is str and _ISO_DATETIME.fullmatch(value) is not None


def epoch_us(value: str) -> int:
    """Microseconds since the epoch of a string that passed `is_iso_datetime` (digits past µs dropped)."""
    try:
        return (datetime.fromisoformat(value) - _EPOCH) // _MICROSECOND
    except ValueError:  # year 0 or an offset beyond ±24h: valid for zod, out of range for datetime
        return _epoch_us_slow(value)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def _epoch_us_slow(value: str) -> int:
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    # days from civil (proleptic Gregorian), valid for any year including 0
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    seconds = days * 86400 + int(value[11:13]) * 3600 + int(value[14:16]) * 60 + int(value[17:19])
    rest = value[19:]
    micros = 0
    if rest[:1] == ".":
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        micros = int((rest[1:end] + "000000")[:6])
        rest = rest[end:]
    if rest != "Z":
        sign = -1 if rest[0] == "-" else 1
        digits = rest[1:].replace(":", "")
        seconds -= sign * (int(digits[0:2]) * 3600 + int(digits[2:4]) * 60)
    return seconds * 1_000_000 + micros


def js_int(value: Any) -> int:
    """zod `z.number().int()`: an int, or an integral float (stored as int); never a bool."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise PydanticCustomError("js_int", "expected an integer")


def is_js_number(value: object) -> bool:
    """zod `z.number()` on JSON input: int or finite float; never a bool (nor NaN/Infinity)."""
    return type(value) is int or (type(value) is float and math.isfinite(value))


def js_number(value: Any) -> int | float:
    if is_js_number(value):
        return value  # type: ignore[no-any-return]
    raise PydanticCustomError("js_number", "expected a number")


MAX_ID_LENGTH: Final = 800


def check_id(path: str, value: str) -> None:
    """Langfuse HEAD `idSchema`: 1..800 characters, no carriage return."""
    if not value:
        raise Invalid(f"{path}: must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise Invalid(f"{path}: must be at most {MAX_ID_LENGTH} characters")
    if "\r" in value:
        raise Invalid(f"{path}: must not contain a carriage return")


DEFAULT_ENVIRONMENT: Final = "default"
_ENV_RESERVED_PREFIX = re.compile(r"^(?:langfuse[-_]?)+")
_ENV_NAME = re.compile(r"[a-z0-9_-]+")
_MAX_ENV_LENGTH: Final = 40


def normalize_environment(value: str | None) -> str:
    """Langfuse HEAD environment rules: lowercase, strip leading `langfuse` prefixes (with an optional
    `-`/`_`; the namespace is reserved), truncate to 40 characters; anything not `[a-z0-9-_]+` becomes
    `"default"`, and so does an absent or null value."""
    if not value:
        return DEFAULT_ENVIRONMENT
    name = _ENV_RESERVED_PREFIX.sub("", value.lower())[:_MAX_ENV_LENGTH]
    return name if _ENV_NAME.fullmatch(name) else DEFAULT_ENVIRONMENT
