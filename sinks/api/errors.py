"""One JSON error shape for every failure: `{"error": code, "message": text}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from learnstream.errors import LearnstreamError


class ErrorBody(BaseModel):
    error: str
    message: str


class ApiError(LearnstreamError):
    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}


class Unauthorized(ApiError):
    """401: no token, or one that fails verification. Always asks for a Bearer token."""

    def __init__(self, message: str, code: str = "invalid_token") -> None:
        challenge = f'Bearer realm="learnstream", error="{code}"'
        if code == "missing_token":  # RFC 6750 §3.1: no error code when no credentials sent
            challenge = 'Bearer realm="learnstream"'
        super().__init__(401, code, message, {"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(403, "forbidden", message)


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(404, "not_found", message)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "Missing, invalid or expired bearer token"},
    403: {"model": ErrorBody, "description": "The token's roles do not allow this resource"},
    404: {"model": ErrorBody, "description": "Unknown learner, manager or course"},
}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status,
            content=ErrorBody(error=exc.error, message=exc.message).model_dump(),
            headers=exc.headers,
        )
