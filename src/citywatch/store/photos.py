"""Enrolment photos kept for review: ``<home>/enrolment/<sha256>.jpg`` (what the console shows next to an alert).

Keyed by the SHA-256 of the uploaded file, the same value ``identity_photos``
stores, so a row finds its photo without another column. Photos enrolled
through the CLI are not kept (the CLI reads them from the user's files).
"""

from __future__ import annotations

import re
from pathlib import Path

from citywatch.errors import StoreError
from citywatch.store.vectors import atomic_write

_SHA = re.compile(r"^[0-9a-f]{64}$")


def photo_path(home: Path, sha256: str) -> Path:
    if not _SHA.match(sha256):
        raise StoreError(f"enrolment photo key {sha256!r} is not a SHA-256 hex digest")
    return Path(home) / "enrolment" / f"{sha256}.jpg"


def save_photo(home: Path, sha256: str, jpeg: bytes) -> Path:
    path = photo_path(home, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, jpeg)
    return path


def read_photo(home: Path, sha256: str) -> bytes | None:
    path = photo_path(home, sha256)
    return path.read_bytes() if path.is_file() else None


def delete_photo(home: Path, sha256: str) -> bool:
    """Delete a kept photo; ``False`` when there was none."""
    path = photo_path(home, sha256)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
