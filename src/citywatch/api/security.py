"""Passwords (argon2id), random secrets, and the login rate limit.

No default password exists anywhere: a user without a password hash cannot
log in through the API until an admin (or ``citywatch users password``) sets one.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from citywatch.errors import PolicyError

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "cw_"

_hasher = PasswordHasher()
# Burnt on unknown users so a wrong name costs as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str, user: str) -> None:
    """PolicyError naming the rule a new password breaks."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PolicyError(f"password of {user!r} is too short: at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == user.strip().lower():
        raise PolicyError(f"password of {user!r} must not be the user name")


def hash_password(password: str) -> str:
    """An argon2id hash (salted; parameters are stored in the hash)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; ``None`` (no user or no password) is checked against a dummy."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A 256-bit random URL-safe string."""
    return secrets.token_urlsafe(32)


def new_token() -> str:
    """A bearer token: ``cw_`` + 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 hex of a random secret (what the database keeps of tokens and cookies)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class LoginLimiter:
    """Counts failed logins per (user, client address) in a sliding window.

    ``retry_after`` is the number of seconds until the oldest counted failure
    leaves the window, or 0 while attempts are still allowed. In memory: one
    ``serve`` process is one limiter (a restart forgets the counts, which only
    ever gives an attacker one more window).
    """

    def __init__(
        self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, user: str, client: str) -> int:
        with self._lock:
            now = self.clock()
            q = self._recent((user.lower(), client), now)
            if len(q) < self.max_failures:
                return 0
            return max(1, int(q[0] + self.window - now + 0.999))

    def failed(self, user: str, client: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent((user.lower(), client), now).append(now)
            if len(self._failures) > 10_000:  # forget idle keys so a flood cannot grow memory
                for k in [k for k, q in self._failures.items() if not q or q[-1] <= now - self.window]:
                    del self._failures[k]

    def succeeded(self, user: str, client: str) -> None:
        with self._lock:
            self._failures.pop((user.lower(), client), None)
