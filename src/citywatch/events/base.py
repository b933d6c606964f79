"""What every alert destination shares: the message, the sink interface, the delivery error."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from citywatch.errors import CitywatchError


class DeliveryError(CitywatchError):
    """A destination did not take a message. ``permanent``: retrying the same message cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert as it leaves the system: the JSON body and what receivers de-duplicate on."""

    key: str
    """Idempotency key: the same for every destination and every retry of one alert."""
    camera: str
    payload: dict[str, Any]
    body: bytes
    """``payload`` as compact UTF-8 JSON: exactly the bytes sent (and signed)."""


@runtime_checkable
class Sink(Protocol):
    """A destination. ``send`` returns once the destination acknowledged, else raises DeliveryError."""

    @property
    def name(self) -> str:
        """The outbox destination name (``mqtt``, ``webhook:<name>``)."""

    def announce(self, cameras: Collection[str]) -> None:
        """Tell the destination which cameras exist (e.g. Home Assistant discovery); best effort."""

    def send(self, message: AlertMessage) -> None: ...

    def close(self) -> None: ...
