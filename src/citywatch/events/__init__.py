"""citywatch.events: alerts out, from the outbox to MQTT and webhooks, at least once.

An alert is committed with its outbox row (``Store.add_sighting``); the
:class:`Dispatcher` delivers it to every configured destination and retries
with exponential backoff. Receivers de-duplicate on the idempotency key.
"""

from citywatch.events.base import AlertMessage, DeliveryError, Sink
from citywatch.events.outbox import Dispatcher, DispatchReport, alert_message, build_sinks

__all__ = [
    "AlertMessage",
    "DeliveryError",
    "DispatchReport",
    "Dispatcher",
    "Sink",
    "alert_message",
    "build_sinks",
]
