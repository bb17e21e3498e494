"""The one error of the pure merge step: stored events that can never become a row."""

from __future__ import annotations


class UnprocessableEntity(Exception):
    """The events (or current row) of one entity cannot be merged, whatever the retry.

    The worker records `reason` and skips the entity; a retry would fail the same way. Examples: a
    score with neither a numeric nor a string value, events of mixed entity types, a stored body whose
    field has the wrong JSON type, a count or cost that does not fit its ClickHouse column.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
