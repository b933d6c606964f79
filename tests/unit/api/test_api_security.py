"""Passwords, secrets and the login rate limit (pure functions, injected clock)."""

from __future__ import annotations

import pytest

from citywatch.api.security import (
    LoginLimiter,
    check_password_policy,
    digest,
    hash_password,
    new_token,
    verify_password,
)
from citywatch.errors import PolicyError


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_limiter_locks_a_user_and_address_after_max_failures_until_the_window_passes() -> None:
    clock = Clock()
    lim = LoginLimiter(max_failures=3, window_seconds=60, clock=clock)
    for _ in range(3):
        assert lim.retry_after("ann", "10.0.0.1") == 0
        lim.failed("ann", "10.0.0.1")
        clock.t += 1
    assert (
        lim.retry_after("ann", "10.0.0.1") == 57
    )  # now 1003; the first failure (1000) leaves the window at 1060
    assert lim.retry_after("ANN", "10.0.0.1") == 57  # names are not a way around it
    assert lim.retry_after("ann", "10.0.0.2") == 0  # another address
    assert lim.retry_after("bob", "10.0.0.1") == 0  # another user
    clock.t = 1060.5
    assert lim.retry_after("ann", "10.0.0.1") == 0


def test_a_success_clears_the_count() -> None:
    lim = LoginLimiter(max_failures=2, window_seconds=60, clock=Clock())
    lim.failed("ann", "a")
    lim.succeeded("ann", "a")
    lim.failed("ann", "a")
    assert lim.retry_after("ann", "a") == 0


@pytest.mark.parametrize(
    ("password", "user", "error"),
    [
        ("long enough password", "ann", None),
        ("short", "ann", "too short"),
        ("annannannann", "annannannann", "user name"),
    ],
)
def test_password_policy(password: str, user: str, error: str | None) -> None:
    if error is None:
        check_password_policy(password, user)
    else:
        with pytest.raises(PolicyError, match=error):
            check_password_policy(password, user)


def test_hashes_verify_and_refuse() -> None:
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and "correct" not in h
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "wrong")
    assert not verify_password(None, "anything")  # no password set: never logs in
    assert not verify_password("not a hash", "anything")


def test_tokens_are_random_and_stored_as_digests() -> None:
    a, b = new_token(), new_token()
    assert a != b and a.startswith("cw_") and len(a) > 40
    assert digest(a) != a and len(digest(a)) == 64 and digest(a) == digest(a)
