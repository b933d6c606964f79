"""Shared schema pieces: the base model and the error body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2**63 - 1
"""Ids are 64-bit database integers: anything larger is refused as invalid (422), not sent to SQL."""
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A time; one without a zone is taken as UTC (as the CLI does)."""


class Schema(BaseModel):
    """Base of every API model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ErrorInfo(Schema):
    code: str
    message: str
    detail: Any = None


class ErrorBody(Schema):
    """The one error shape of the API."""

    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Refused by a safeguard or bad input"},
    401: {"model": ErrorBody, "description": "Not logged in"},
    403: {"model": ErrorBody, "description": "Missing permission or CSRF token"},
    404: {"model": ErrorBody, "description": "Not found (or not visible to this user)"},
    409: {"model": ErrorBody, "description": "Already exists or already decided"},
    422: {"model": ErrorBody, "description": "Invalid request"},
}


def media(kind: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route whose 200 answer is not JSON (an image, a zip, an event stream)."""
    return {200: {"content": {kind: {}}, "description": description}}


JPEG = media("image/jpeg", "JPEG image")
