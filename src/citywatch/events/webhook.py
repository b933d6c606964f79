"""Webhooks: each alert as a JSON POST signed with HMAC-SHA256.

Headers: ``Idempotency-Key`` (the alert's key, also ``event_id`` in the body),
``X-Citywatch-Timestamp`` (Unix seconds) and ``X-Citywatch-Signature``
(``sha256=<hex HMAC of "<timestamp>." + body>``). Receivers check the
signature and the timestamp's age with :func:`verify_signature`, then
de-duplicate on the key: a message may arrive more than once.

A 2xx answer is a delivery; 408, 425, 429 and 5xx answers and network errors
are retried; any other 4xx means the receiver refuses this message, and it is
given up at once (marked dead with the status).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Collection

import httpx

from citywatch.config import WebhookConfig
from citywatch.events.base import AlertMessage, DeliveryError
from citywatch.log import scrub_url

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Citywatch-Signature"
TIMESTAMP_HEADER = "X-Citywatch-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRYABLE_4XX = frozenset({408, 425, 429})


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: safe to log (no path, query or credentials)."""
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_seconds: float = 300.0,
) -> bool:
    """True when ``signature`` is ours for this body and the timestamp is recent (replays fail)."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    if abs(age) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSink:
    """POSTs alerts to one endpoint. The secret is held in memory only, never logged."""

    def __init__(self, cfg: WebhookConfig, secret: bytes, client: httpx.Client | None = None) -> None:
        if not secret:
            raise ValueError(f"webhook {cfg.name}: empty signing secret")
        self._cfg = cfg
        self._secret = secret
        self._client = client or httpx.Client(timeout=cfg.timeout_seconds, follow_redirects=False)
        # httpx logs every request's full URL at INFO; a webhook URL may carry a token
        logging.getLogger("httpx").setLevel(
            max(logging.getLogger("httpx").getEffectiveLevel(), logging.WARNING)
        )

    @property
    def name(self) -> str:
        return f"webhook:{self._cfg.name}"

    def announce(self, cameras: Collection[str]) -> None:
        return None  # nothing to announce over plain HTTP

    def send(self, message: AlertMessage) -> None:
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "citywatch-events",
            IDEMPOTENCY_HEADER: message.key,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(self._secret, ts, message.body),
        }
        try:
            res = self._client.post(self._cfg.url, content=message.body, headers=headers)
        except httpx.HTTPError as exc:
            # the URL may carry a token: name the webhook and its host, never the full URL
            text = str(exc).replace(self._cfg.url, _origin(self._cfg.url))
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {scrub_url(text)}") from exc
        if 200 <= res.status_code < 300:
            return
        permanent = 400 <= res.status_code < 500 and res.status_code not in _RETRYABLE_4XX
        raise DeliveryError(f"{self.name}: HTTP {res.status_code}", permanent=permanent)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"WebhookSink({self._cfg.name}, {_origin(self._cfg.url)})"
