"""Signed audit export: verifies with the public key alone; any change to the file fails."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from citywatch.governance.audit import ensure_keys, export_audit, verify_export
from citywatch.store import Store


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home")
    for i in range(5):
        s.append_audit("alice", "search", "sightings", case_ref="C-1", reason="r", details={"results": i})
    yield s
    s.close()


def _export(store: Store, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "export" / "audit.jsonl"
    res = export_audit(store, out)
    assert res.entries == 5 and (res.first_seq, res.last_seq) == (1, 5)
    keys = ensure_keys(store.home)
    assert keys.public_hex == res.public_key
    return out, keys.public_path


def test_export_verifies_with_the_public_key_alone(store: Store, tmp_path: Path) -> None:
    out, pub = _export(store, tmp_path)
    elsewhere = tmp_path / "oversight"
    elsewhere.mkdir()
    shutil.copy(out, elsewhere / "a.jsonl")
    shutil.copy(pub, elsewhere / "key.pub")
    store.close()
    shutil.rmtree(store.home)  # no database, no private key
    res = verify_export(elsewhere / "a.jsonl", elsewhere / "key.pub")
    assert res.ok, res.reason
    assert (res.entries, res.first_seq, res.last_seq) == (5, 1, 5)
    hex_key = (elsewhere / "key.pub").read_text().strip()
    assert verify_export(elsewhere / "a.jsonl", hex_key).ok


def test_private_key_is_private_and_stable(store: Store) -> None:
    a = ensure_keys(store.home)
    assert stat.S_IMODE(os.stat(a.private_path).st_mode) == 0o600
    assert ensure_keys(store.home) == a


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_a_modified_line_fails(store: Store, tmp_path: Path) -> None:
    out, pub = _export(store, tmp_path)
    lines = _lines(out)
    lines[3] = lines[3].replace('"reason":"r"', '"reason":"x"')
    out.write_text("".join(lines), encoding="utf-8")
    res = verify_export(out, pub)
    assert not res.ok and "signature" in (res.reason or "")


@pytest.mark.parametrize("change", ["drop", "swap", "truncate"])
def test_dropped_swapped_or_truncated_lines_fail(store: Store, tmp_path: Path, change: str) -> None:
    out, pub = _export(store, tmp_path)
    lines = _lines(out)
    if change == "drop":
        del lines[2]
    elif change == "swap":
        lines[2], lines[3] = lines[3], lines[2]
    else:
        lines = lines[:-2]
    out.write_text("".join(lines), encoding="utf-8")
    assert not verify_export(out, pub).ok


def test_resigned_with_another_key_fails(store: Store, tmp_path: Path) -> None:
    """A forger who edits an entry, fixes its hash chain and re-signs with their own key is caught."""
    out, pub = _export(store, tmp_path)
    lines = _lines(out)
    body = "".join(lines[:-1]).replace('"actor":"alice"', '"actor":"mallory"').encode()
    key = Ed25519PrivateKey.generate()
    sig = {
        "type": "signature",
        "alg": "Ed25519",
        "public_key": "",
        "sha256": "",
        "signature": key.sign(body).hex(),
    }
    out.write_bytes(body + (json.dumps(sig) + "\n").encode())
    res = verify_export(out, pub)
    assert not res.ok and "signature" in (res.reason or "")


def test_entry_hashes_are_checked_even_under_a_valid_signature(store: Store, tmp_path: Path) -> None:
    """The file's own entries must hash correctly: a signer cannot vouch for a broken chain."""
    from citywatch.governance import audit as audit_mod

    out, pub = _export(store, tmp_path)
    lines = _lines(out)
    body = "".join(lines[:-1]).replace('"reason":"r"', '"reason":"x"', 1).encode()
    priv = audit_mod._load_private(ensure_keys(store.home).private_path)
    sig = {"type": "signature", "alg": "Ed25519", "signature": priv.sign(body).hex()}
    out.write_bytes(body + (json.dumps(sig) + "\n").encode())
    res = verify_export(out, pub)
    assert not res.ok and res.bad_line == 2 and "hash" in (res.reason or "")


def test_since_until_selects_a_contiguous_range(store: Store, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    out = tmp_path / "none.jsonl"
    res = export_audit(store, out, since=now + timedelta(days=1))
    assert res.entries == 0
    assert verify_export(out, ensure_keys(store.home).public_path).ok
    res = export_audit(
        store, tmp_path / "all.jsonl", since=now - timedelta(days=1), until=now + timedelta(days=1)
    )
    assert res.entries == 5
