"""A local webhook endpoint for the events tests (a unique module name: safe to import)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Receiver:
    """What the endpoint saw; answers ``status`` to the first ``fail_first`` requests, then 204."""

    fail_first: int = 0
    status: int = 503
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests.append((headers, body))
            return self.status if len(self.requests) <= self.fail_first else 204
