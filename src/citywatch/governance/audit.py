"""The audit trail's guarantees: full verification, signing keys, signed export and its verification.

Verification (``verify_audit_trail``) walks the hash chain in ``seq`` order and
then compares the newest row with the head anchor kept outside the table
(``<home>/audit-head.json``, see ``store.audit_io``). Together they detect:

* an **edited** entry (its fields no longer hash to its ``hash``): that entry;
* a **deleted** entry in the middle (a gap in ``seq``): the missing ``seq``;
* **reordered** or **inserted** entries (a ``prev_hash`` that does not link):
  the first entry whose link is broken;
* **deleted last** entries (the table ends before the anchored head): the
  first missing ``seq``;
* entries **appended after the fact** or a **rewritten** chain (rows after the
  anchored head, or the anchored row's hash changed).

Limit: someone who can rewrite both the database and the anchor file can
forge a consistent history; signed exports handed to an oversight body and
the head hash published in the transparency report are the external anchors
that catch that.

Signed export (JSON Lines, UTF-8, ``\\n`` line ends), one object per line::

    {"type": "header", "format": "citywatch-audit-export", "version": 1, ...}
    {"type": "entry", "seq": 1, "ts": ..., ..., "prev_hash": ..., "hash": ...}
    ...
    {"type": "signature", "alg": "Ed25519", "public_key": HEX, "sha256": HEX, "signature": HEX}

The signature is Ed25519 over the exact bytes of every line before the
signature line (newlines included). ``verify_export`` needs only the file and
the public key: it checks the signature, then recomputes every entry's hash
and the links between consecutive entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from citywatch.errors import PolicyError, StoreError
from citywatch.store.audit_io import (
    AuditHead,
    audit_hash_at,
    audit_head_path,
    iter_audit_rows,
    read_audit_head,
    seq_range,
    table_head,
)
from citywatch.store.repo import GENESIS_HASH, Store, audit_hash, canonical_json

log = logging.getLogger(__name__)

EXPORT_FORMAT = "citywatch-audit-export"
EXPORT_VERSION = 1
PRIVATE_KEY_FILE = "audit-ed25519.pem"
PUBLIC_KEY_FILE = "audit-ed25519.pub"
HASHED_FIELDS = ("seq", "ts", "actor", "role", "action", "target", "case_ref", "reason", "client", "details")


# --- verification of the live trail ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """Result of ``verify_audit_trail``. ``ok`` is False exactly when ``reason`` is set."""

    ok: bool
    entries: int
    """Rows read from the table."""
    head: AuditHead | None
    """The newest row in the table."""
    anchor: AuditHead | None
    """What ``audit-head.json`` records."""
    first_bad_seq: int | None = None
    """The first entry found bad (edited, missing, mislinked); ``None`` when ok or not attributable."""
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": asdict(self.head) if self.head else None,
            "anchor": asdict(self.anchor) if self.anchor else None,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def _check_chain(
    rows: list[dict[str, Any]] | Any, prev: str, expected: int
) -> tuple[int, int | None, str | None]:
    """Walk ``rows`` (raw dicts in seq order) from ``(prev, expected)``: ``(count, bad seq, reason)``."""
    n = 0
    for r in rows:
        n += 1
        seq = int(r["seq"])
        if seq != expected:
            return (
                n,
                expected,
                (f"entry {expected} is missing (deleted); entry {seq} follows entry {expected - 1}"),
            )
        if r["prev_hash"] != prev:
            return (
                n,
                seq,
                (
                    f"entry {seq} does not link to entry {seq - 1} (prev_hash differs): an entry was "
                    "inserted or reordered here, or one before it was rewritten"
                ),
            )
        fields = {k: r[k] for k in HASHED_FIELDS}
        if audit_hash(prev, fields) != r["hash"]:
            return n, seq, f"entry {seq} was edited: its contents no longer match its hash"
        prev, expected = r["hash"], expected + 1
    return n, None, None


UNANCHORED_RETRIES = 4
"""Re-reads when entries stand after the anchor: a live appender anchors within milliseconds."""


def verify_audit_trail(store: Store) -> AuditVerification:
    """Verify the whole chain and the head anchor; see the module docstring for what is detected.

    Never raises for a damaged trail: the result says what is wrong and where.
    An append commits its row before it moves the anchor, so a verification
    running beside a live writer can see a tail that is not anchored yet; that
    one finding is re-checked a few times (0.25 s apart) before it is reported.
    """
    for _ in range(UNANCHORED_RETRIES):
        result = _verify_pass(store)
        behind = result.head is not None and result.anchor is not None and result.head.seq > result.anchor.seq
        if result.ok or not behind:
            return result
        time.sleep(0.25)
    return _verify_pass(store)


def _verify_pass(store: Store) -> AuditVerification:
    head = table_head(store)
    try:
        anchor = read_audit_head(store.home)
    except StoreError as exc:
        return AuditVerification(False, 0, head, None, None, str(exc))
    n, bad, reason = _check_chain(iter_audit_rows(store), GENESIS_HASH, 1)
    if reason is not None:
        return AuditVerification(False, n, head, anchor, bad, reason)
    if anchor is None:
        if head is None:
            return AuditVerification(True, 0, None, None)
        return AuditVerification(
            False, n, head, None, None,
            f"the head anchor {audit_head_path(store.home)} is missing, so deleted last entries "
            "cannot be ruled out (it is written on every append)",
        )  # fmt: skip
    if head is None or head.seq < anchor.seq:
        first_missing = 1 if head is None else head.seq + 1
        return AuditVerification(
            False, n, head, anchor, first_missing,
            f"entries {first_missing}..{anchor.seq} were deleted: the trail ends at "
            f"{head.seq if head else 0} but the anchor records entry {anchor.seq}",
        )  # fmt: skip
    if audit_hash_at(store, anchor.seq) != anchor.hash:
        return AuditVerification(
            False, n, head, anchor, anchor.seq,
            f"entry {anchor.seq} differs from the anchored head: the chain was rewritten up to it",
        )  # fmt: skip
    if head.seq > anchor.seq:
        return AuditVerification(
            False, n, head, anchor, anchor.seq + 1,
            f"entries {anchor.seq + 1}..{head.seq} are after the anchored head {anchor.seq}: "
            "added outside citywatch (or the process died between commit and anchor update)",
        )  # fmt: skip
    return AuditVerification(True, n, head, anchor)


# --- keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """Where the signing key pair of a data directory lives, and the public key in hex."""

    private_path: Path
    public_path: Path
    public_hex: str


def keys_dir(home: Path) -> Path:
    return Path(home) / "keys"


def ensure_keys(home: Path) -> AuditKeys:
    """The Ed25519 key pair under ``<home>/keys/``, created on first use.

    The private key is PKCS#8 PEM, created with mode 0600 (exclusive create: an
    existing key is never overwritten); the public key file holds the raw
    32-byte key as hex on one line, which is all a verifier needs.
    """
    d = keys_dir(home)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    priv_path, pub_path = d / PRIVATE_KEY_FILE, d / PUBLIC_KEY_FILE
    if not priv_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            log.info("created audit signing key %s", priv_path)
    key = _load_private(priv_path)
    pub_hex = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    if not pub_path.is_file() or pub_path.read_text(encoding="utf-8").strip() != pub_hex:
        pub_path.write_text(pub_hex + "\n", encoding="utf-8")
    return AuditKeys(priv_path, pub_path, pub_hex)


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise StoreError(f"audit signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(f"audit signing key {path} is not an Ed25519 key")
    return key


def load_public_key(spec: str | Path) -> Ed25519PublicKey:
    """A public key from a file (hex line or PEM) or a 64-character hex string; PolicyError if unusable."""
    text = str(spec).strip()
    path = Path(text)
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise PolicyError(f"public key {spec}: not an Ed25519 key")
            return key
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise PolicyError(
            f"public key {spec}: not a file or a 64-character hex Ed25519 public key ({exc})"
        ) from exc


# --- signed export -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditExport:
    path: Path
    entries: int
    first_seq: int | None
    last_seq: int | None
    sha256: str
    """SHA-256 of the whole file (signature line included)."""
    public_key: str


def _line(obj: dict[str, Any]) -> bytes:
    return (canonical_json(obj) + "\n").encode("utf-8")


def export_audit(
    store: Store,
    out: Path,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    now: datetime | None = None,
) -> AuditExport:
    """Write the entries with ``since <= ts < until`` to ``out`` as signed JSON Lines.

    The contiguous ``seq`` range from the first to the last matching entry is
    written (so the links inside the file are checkable). Creates the key pair
    on first use. The caller checks permissions and audits the export.
    """
    keys = ensure_keys(store.home)
    key = _load_private(keys.private_path)
    rng = seq_range(store, since, until)
    rows = list(iter_audit_rows(store, first_seq=rng[0], last_seq=rng[1])) if rng else []
    header = {
        "type": "header",
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "created": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "count": len(rows),
        "first_seq": rows[0]["seq"] if rows else None,
        "last_seq": rows[-1]["seq"] if rows else None,
        "public_key": keys.public_hex,
        "hash_rule": "hash = sha256_hex(prev_hash + canonical_json(seq, ts, actor, role, action, target, "
        "case_ref, reason, client, details)); canonical_json: sorted keys, no spaces, UTF-8",
    }
    body = bytearray(_line(header))
    for r in rows:
        body += _line({"type": "entry", **r})
    signed = bytes(body)
    sig = key.sign(signed)
    body += _line(
        {
            "type": "signature",
            "alg": "Ed25519",
            "public_key": keys.public_hex,
            "sha256": hashlib.sha256(signed).hexdigest(),
            "signature": sig.hex(),
        }
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(bytes(body))
    tmp.replace(out)
    return AuditExport(
        out,
        len(rows),
        rows[0]["seq"] if rows else None,
        rows[-1]["seq"] if rows else None,
        hashlib.sha256(bytes(body)).hexdigest(),
        keys.public_hex,
    )


@dataclass(frozen=True, slots=True)
class ExportVerification:
    ok: bool
    entries: int
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    bad_line: int | None = None
    """1-based line number of the first problem."""
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verify_export(path: Path, public_key: str | Path | Ed25519PublicKey) -> ExportVerification:
    """Check a signed audit export with the public key alone (no database).

    Checks, in order: the signature over everything before the last line; the
    header; every entry's hash; the links and ``seq`` continuity between
    consecutive entries; the header's count. Never raises for a bad file.
    """
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(public_key)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ExportVerification(False, 0, bad_line=None, reason=f"{path}: {exc.strerror}")
    if not data.endswith(b"\n"):
        return ExportVerification(False, 0, reason="the file does not end with a newline (truncated?)")
    lines = data[:-1].split(b"\n")
    if len(lines) < 2:
        return ExportVerification(False, 0, bad_line=1, reason="no header and signature lines")
    signed = data[: len(data) - len(lines[-1]) - 1]
    try:
        sig_obj = json.loads(lines[-1])
        if sig_obj.get("type") != "signature" or sig_obj.get("alg") != "Ed25519":
            raise ValueError("the last line is not an Ed25519 signature line")
        key.verify(bytes.fromhex(sig_obj["signature"]), signed)
    except InvalidSignature:
        return ExportVerification(
            False, 0, bad_line=len(lines),
            reason="the signature does not match this public key: the file was changed or signed by another key",
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return ExportVerification(False, 0, bad_line=len(lines), reason=f"bad signature line: {exc}")
    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        return ExportVerification(False, 0, bad_line=1, reason=f"bad header: {exc}")
    if header.get("type") != "header" or header.get("format") != EXPORT_FORMAT:
        return ExportVerification(False, 0, bad_line=1, reason="the first line is not an audit export header")
    prev: str | None = None
    prev_seq: int | None = None
    first_seq: int | None = None
    n = 0
    for i, raw in enumerate(lines[1:-1], start=2):
        try:
            r = json.loads(raw)
            if r.get("type") != "entry":
                raise ValueError("not an entry line")
            seq = int(r["seq"])
            fields = {k: r[k] for k in HASHED_FIELDS}
            if audit_hash(r["prev_hash"], fields) != r["hash"]:
                return ExportVerification(
                    False, n, first_seq, prev_seq, prev, i, f"entry {seq} does not match its hash"
                )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return ExportVerification(False, n, first_seq, prev_seq, prev, i, f"bad entry line: {exc}")
        if prev is not None and (seq != (prev_seq or 0) + 1 or r["prev_hash"] != prev):
            return ExportVerification(
                False, n, first_seq, prev_seq, prev, i,
                f"entry {seq} does not follow entry {prev_seq} (missing, inserted or reordered entries)",
            )  # fmt: skip
        if first_seq is None:
            first_seq = seq
        prev, prev_seq, n = r["hash"], seq, n + 1
    if header.get("count") != n:
        return ExportVerification(
            False,
            n,
            first_seq,
            prev_seq,
            prev,
            1,
            f"the header says {header.get('count')} entries, found {n}",
        )
    return ExportVerification(True, n, first_seq, prev_seq, prev)


__all__ = [
    "AuditExport",
    "AuditKeys",
    "AuditVerification",
    "ExportVerification",
    "ensure_keys",
    "export_audit",
    "load_public_key",
    "verify_audit_trail",
    "verify_export",
]
