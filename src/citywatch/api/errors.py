"""One JSON shape for every API error: ``{"error": {"code", "message", "detail"}}``.

Domain errors map to statuses here, once: NotFoundError -> 404 (also for what
the user may not know exists), a safeguard's refusal (PolicyError) -> 400, or
403 when it is about who may act, or 409 when the thing was already done;
bad photos -> 400; validation -> 422 with the field errors in ``detail``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from citywatch.errors import (
    CitywatchError,
    ConfigError,
    InvalidImageError,
    ModelError,
    MultipleFacesError,
    NoFaceError,
    NotFoundError,
    PolicyError,
    SourceError,
    StoreError,
)

log = logging.getLogger(__name__)

_WHO = re.compile(r"\bmay not\b")
_DONE = re.compile(r"\balready\b")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ApiError(Exception):
    """An HTTP error raised by the API's own code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.headers = (
            status,
            code,
            message,
            detail,
            headers,
        )


def body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


def status_of(exc: CitywatchError) -> tuple[int, str]:
    """HTTP status and error code of a domain error."""
    msg = str(exc)
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, PolicyError):
        if _WHO.search(msg):
            return 403, "forbidden"
        if _DONE.search(msg):
            return 409, "conflict"
        return 400, "refused"
    if isinstance(exc, NoFaceError | MultipleFacesError | InvalidImageError):
        return 400, "bad_photo"
    if isinstance(exc, SourceError | ConfigError | StoreError):
        return 400, "bad_request"
    if isinstance(exc, ModelError):
        return 500, "model_error"
    return 400, "bad_request"


def _json(status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(content), status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _json(exc.status, body(exc.code, exc.message, exc.detail), exc.headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CitywatchError)
    status, code = status_of(exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
    return _json(status, body(code, str(exc)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return _json(exc.status_code, body(code, message), dict(exc.headers) if exc.headers else None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    # RequestValidationError (the request's shape) or pydantic's own (a value a route combined itself)
    assert isinstance(exc, RequestValidationError | ValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return _json(
        422, body("validation_error", f"{where}: {first['msg']}" if where else str(first["msg"]), errors)
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return _json(500, body("internal", "internal error; see the server log"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(CitywatchError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
