"""Retention: what is kept how long, the job that deletes what is due, and the search window.

Rules (``RetentionConfig``):

* an **unmatched** sighting (row, vector, thumbnail) is due once both its
  capture end and the moment it was stored are more than ``unmatched_hours``
  ago (so a recording processed days after it was made is still kept for the
  full period, not deleted at once);
* a **matched** sighting and its alerts are due after ``matched_days``, unless
  a case on legal hold refers to it (see ``store.retention.due_sightings``);
  unmatched sightings are never held: a hold keeps evidence of a match, not
  the faces of bystanders;
* **audit entries are never deleted** by the job. ``audit_days`` (>= 183) is
  a floor: deleting entries would break the hash chain that makes the trail
  verifiable, so "kept at least six months" is met by keeping them.

The job appends one ``retention.run`` audit entry with the counts, including
per-month counts of deleted sightings and alerts (the transparency report uses
them, since the rows themselves are gone).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from citywatch.config import RetentionConfig
from citywatch.store.records import SightingRecord
from citywatch.store.repo import Store
from citywatch.store.retention import due_sightings, remove_empty_thumbnail_dirs, thumbnails_of

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:retention"
"""The actor of scheduled runs (``serve``)."""


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention run deleted and kept."""

    now: datetime
    unmatched_cutoff: datetime
    matched_cutoff: datetime
    unmatched_sightings: int
    matched_sightings: int
    alerts: int
    thumbnails: int
    vectors: int
    held: int
    """Matched sightings past their period kept because of a legal hold."""
    audit_entries_deleted: int = 0
    """Always 0: audit entries are never deleted (see module docstring)."""
    by_month: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def sightings(self) -> int:
        return self.unmatched_sightings + self.matched_sightings

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("now", "unmatched_cutoff", "matched_cutoff"):
            d[k] = d[k].isoformat()
        d["sightings"] = self.sightings
        return d


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: pass a timezone-aware (UTC) datetime")
    return t


def retention_floor(cfg: RetentionConfig, now: datetime, *, matched: bool = False) -> datetime:
    """The earliest storage/capture time still inside the retention window at ``now``.

    ``matched=False`` (searches): ``now - unmatched_hours``; ``matched=True``
    (alert review, evidence): ``now - matched_days``.
    """
    now = _aware(now)
    return now - (timedelta(days=cfg.matched_days) if matched else timedelta(hours=cfg.unmatched_hours))


def in_window(sighting: SightingRecord, cfg: RetentionConfig, now: datetime) -> bool:
    """Whether a sighting is still inside its retention window (the job may not have run yet).

    Mirrors the job's rule: due when both ``end`` and ``created_at`` are
    before the floor of its kind. Legal holds are not considered here: held
    sightings are kept for the case, not served to searches.
    """
    floor = retention_floor(cfg, now, matched=sighting.matched)
    return sighting.end >= floor or sighting.created_at >= floor


def run_retention(
    store: Store, cfg: RetentionConfig, now: datetime, actor: str = SYSTEM_ACTOR, *, role: str | None = None
) -> RetentionReport:
    """Delete every sighting past its period (rows, alerts, vectors, thumbnails); audit the counts.

    ``now`` is injected (tests, ``--now``). The caller checks permissions.
    Deletion goes through ``Store.delete_sightings`` (rows first, then
    vectors and files; a kill in between leaves orphans that ``reconcile``
    removes). Emptied vector day segments are deleted on flush; emptied
    thumbnail day directories are removed here.
    """
    now = _aware(now)
    u_cut = retention_floor(cfg, now)
    m_cut = retention_floor(cfg, now, matched=True)
    due = due_sightings(store, u_cut, m_cut)
    ids = [*due.unmatched, *due.matched]
    thumbs = thumbnails_of(store, ids)
    n_thumbs = sum(1 for t in thumbs if store.thumbnail_path(t).is_file())
    deleted = store.delete_sightings(ids)
    store.flush()
    remove_empty_thumbnail_dirs(store)
    report = RetentionReport(
        now=now,
        unmatched_cutoff=u_cut,
        matched_cutoff=m_cut,
        unmatched_sightings=len(due.unmatched),
        matched_sightings=len(due.matched),
        alerts=due.alerts,
        thumbnails=n_thumbs,
        vectors=deleted,
        held=len(due.held),
        by_month=due.by_month,
    )
    if deleted != len(ids):
        log.warning("retention: %d sighting(s) due but %d deleted (a concurrent delete?)", len(ids), deleted)
    store.append_audit(
        actor,
        "retention.run",
        "sightings",
        role=role,
        reason=f"retention periods: unmatched {cfg.unmatched_hours:g} h, matched {cfg.matched_days:g} d",
        details=report.to_json(),
    )
    log.info(
        "retention: deleted %d unmatched and %d matched sighting(s), %d alert(s); %d held",
        report.unmatched_sightings,
        report.matched_sightings,
        report.alerts,
        report.held,
    )
    return report


__all__ = ["SYSTEM_ACTOR", "RetentionReport", "in_window", "retention_floor", "run_retention"]
