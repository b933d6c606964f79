"""One error root for everything citywatch raises on purpose.

Messages name the camera or step and the bad value, so an operator can act on
them without reading a traceback.
"""

from __future__ import annotations


class CitywatchError(Exception):
    """Root of all deliberate citywatch errors."""


class ConfigError(CitywatchError):
    """The configuration file or an override is invalid."""


class SourceError(CitywatchError):
    """A frame source cannot be opened or read (missing file, bad URL, dropped stream)."""


class CorruptMediaError(SourceError):
    """A media file is damaged; frames before the damage were already delivered."""

    def __init__(self, message: str, *, frames_ok: int = 0) -> None:
        super().__init__(message)
        self.frames_ok = frames_ok


class InvalidImageError(CitywatchError):
    """An upload or photo is not a readable image, or is too large to decode safely."""


class NoFaceError(CitywatchError):
    """A photo that must show exactly one face shows none."""


class MultipleFacesError(CitywatchError):
    """A photo that must show exactly one face shows several."""


class ModelError(CitywatchError):
    """A model file is missing, corrupt, or does not match what the index was built with."""


class StoreError(CitywatchError):
    """The database or the vector index refused an operation."""


class NotFoundError(CitywatchError):
    """A named object (camera, watchlist, identity, sighting) does not exist."""


class PolicyError(CitywatchError):
    """A safeguard refused the request (missing case reference, reason, legal basis...)."""
