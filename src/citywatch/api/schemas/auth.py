"""Login, sessions, tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citywatch.api.schemas.common import Schema


class LoginRequest(Schema):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class MePublic(Schema):
    user: str
    role: str
    cameras: list[str] | None
    permissions: list[str]
    csrf_token: str | None = Field(
        None, description="The CSRF token of this console session (cookie logins)."
    )


class PasswordChange(Schema):
    current: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


class TokenCreate(Schema):
    label: str = Field("", max_length=200)
    expires_days: int | None = Field(
        None, ge=1, le=3650, description="Default and maximum: api.token_max_days."
    )


class TokenPublic(Schema):
    id: int
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The bearer token. Shown once; only its hash is stored.")
