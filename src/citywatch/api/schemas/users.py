"""Users and roles (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from citywatch.api.schemas.common import Schema

RoleName = Literal["operator", "investigator", "verifier", "supervisor", "auditor", "admin"]


class UserCreate(Schema):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: RoleName
    cameras: list[str] | None = Field(None, description="Limit to these cameras; null: all cameras.")
    password: str | None = Field(None, max_length=1024, description="Null: the user cannot log in yet.")


class UserUpdate(Schema):
    role: RoleName | None = None
    cameras: list[str] | None = Field(None, description="New camera set (see all_cameras to lift the limit).")
    all_cameras: bool = False
    active: bool | None = None
    password: str | None = Field(None, max_length=1024)


class UserPublic(Schema):
    name: str
    role: str
    cameras: list[str] | None
    active: bool
    has_password: bool
    created_by: str
    created_at: datetime
