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


class InvalidBodyError(InvalidRequestError):
    """A request-body rule failed: Langfuse's zod shape, the issue's `path` naming the field."""

    def __init__(self, path: tuple[str | int, ...], problem: str) -> None:
        where = ".".join(str(p) for p in path) or "body"
        super().__init__(f"Invalid request data: {where}: {problem}")
        self.path = path
        self.problem = problem

    def response_body(self) -> dict[str, Any]:
        issue = {"code": "custom", "path": list(self.path), "message": self.problem}
        return {"message": self.message, "error": [issue]}


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
