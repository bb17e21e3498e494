"""Domain errors that carry their HTTP status and Langfuse's error-class name."""

from __future__ import annotations

from typing import Any


class LangfuseError(Exception):
    status: int = 500
    error: str = "InternalServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def response_body(self) -> dict[str, Any]:
        return {"message": self.message, "error": self.error}


class InvalidRequestError(LangfuseError):
    status = 400
    error = "InvalidRequestError"


class UnauthorizedError(LangfuseError):
    status = 401
    error = "UnauthorizedError"


class ForbiddenError(LangfuseError):
    status = 403
    error = "ForbiddenError"


class NotFoundError(LangfuseError):
    status = 404
    error = "LangfuseNotFoundError"


class MethodNotAllowedError(LangfuseError):
    status = 405
    error = "MethodNotAllowedError"
