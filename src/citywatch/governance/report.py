"""The public transparency report: cameras, retention settings, and counts for one month.

Public by design: building it needs no acting user, and it holds counts only,
never identities, names, images or case references. ``build_report`` returns a
pydantic model (the API can serve it as ``/transparency.json``);
``write_report`` writes ``report.json``, ``report.csv`` and ``activity.png``.

Where the counts come from (rows of personal data are deleted by retention, so
counts must not depend on them):

* faces processed: ``runs.sightings`` of runs started in the month (kept after
  the sighting rows expire), plus rows of runs still going;
* alerts: alert rows created in the month, plus alerts of that month that
  retention deleted (per-month counts in each ``retention.run`` audit entry),
  plus alerts deleted with a refused/expired authorisation's outputs
  (``authorisation.outputs_deleted`` entries of the month);
* confirmed/rejected alerts: ``alert.confirmed``/``alert.rejected`` audit entries;
* searches, authorisations, exports: their tables (never deleted);
* deletions: ``retention.run`` and ``authorisation.outputs_deleted`` entries of the month;
* watchlist entries by legal basis: entries approved and unexpired at some
  point of the month (counts per basis);
* audit head: the newest audit entry's ``seq`` and hash, published so that
  anyone holding an old report can detect a rewritten trail.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from citywatch.config import Config
from citywatch.errors import ModelError, PolicyError
from citywatch.governance.quality import camera_quality
from citywatch.match.calibration import shipped_calibration
from citywatch.store import stats
from citywatch.store.audit_io import action_details, count_actions, table_head
from citywatch.store.repo import Store

log = logging.getLogger(__name__)

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ACTIVITY_MONTHS = 12


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraEntry(_Model):
    name: str
    location: str
    district: str
    purpose: str
    vendor: str
    cost: float | None
    installed_on: str | None
    recognition: bool = Field(description="Recognition is configured on for this camera.")
    recognition_running: bool = Field(
        description="Recognition configured on and not refused by the capture-quality floor."
    )
    recognition_note: str = ""


class RetentionSettings(_Model):
    unmatched_hours: float
    matched_days: float
    audit_days: float
    audit_note: str = "audit entries are never deleted (the hash chain must stay verifiable)"


class AuthorisationCounts(_Model):
    requested: int
    granted: int
    refused: int
    expired: int
    pending: int
    late: int = Field(description="Urgent authorisations not granted by their deadline.")


class DeletionCounts(_Model):
    sightings: int
    alerts: int
    retention_runs: int
    by_retention: int
    by_authorisation: int = Field(
        description="Sightings deleted because an authorisation was refused or expired."
    )


class ModelInfo(_Model):
    embedder: str
    threshold: float | None
    target_far: float
    threshold_source: str


class Accuracy(_Model):
    measured: bool
    source: str
    tar: float | None = Field(None, description="True-accept rate at the threshold.")
    far: float | None = Field(None, description="False-accept rate per comparison at the threshold.")
    dataset: str = ""
    n_genuine: int | None = None
    n_impostor: int | None = None
    note: str = ""


class Metrics(_Model):
    faces_processed: int
    alerts: int
    alerts_confirmed: int
    alerts_rejected: int
    searches: int
    authorisations: AuthorisationCounts
    deletions: DeletionCounts
    exports: int
    watchlist_entries_by_legal_basis: dict[str, int]


class MonthActivity(_Model):
    month: str
    faces_processed: int
    alerts: int
    searches: int


class AuditHeadInfo(_Model):
    seq: int
    hash: str


class TransparencyReport(_Model):
    operator: str
    period: str
    period_start: datetime
    period_end: datetime
    generated: datetime
    cameras: list[CameraEntry]
    retention: RetentionSettings
    metrics: Metrics
    model: ModelInfo
    accuracy: Accuracy
    activity: list[MonthActivity]
    audit_head: AuditHeadInfo | None
    not_built: list[str] = Field(
        default_factory=lambda: [
            "attribute inference (age, gender, race, emotion)",
            "clustering of unknown faces into persistent identities",
            "import of scraped photos",
        ]
    )


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``[first instant, first instant of the next month)`` of ``YYYY-MM`` in UTC; PolicyError if malformed."""
    m = _PERIOD.match(period.strip())
    if m is None:
        raise PolicyError(f"period {period!r} is not YYYY-MM (e.g. 2026-11)")
    y, mo = int(m.group(1)), int(m.group(2))
    start = datetime(y, mo, 1, tzinfo=UTC)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _shift(period: str, months: int) -> str:
    y, mo = int(period[:4]), int(period[5:7])
    idx = y * 12 + (mo - 1) + months
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def _embedder_id(cfg: Config) -> str:
    from citywatch.embed.dlib_resnet import DlibResnetEmbedder

    return DlibResnetEmbedder.model_id if cfg.embedder.type == "dlib_resnet" else cfg.embedder.type


def _model_and_accuracy(cfg: Config, accuracy_file: Path | None) -> tuple[ModelInfo, Accuracy]:
    model = _embedder_id(cfg)
    calib = None
    try:
        calib = shipped_calibration(model)
    except ModelError:
        log.warning("no shipped calibration for %s", model)
    threshold: float | None
    if cfg.match.threshold is not None:
        threshold, source = cfg.match.threshold, "calibrated for this deployment (config match.threshold)"
    elif calib is not None:
        try:
            threshold = calib.threshold_for(cfg.match.target_far)
            source = f"shipped calibration of {model} at FAR {cfg.match.target_far:g}"
        except ModelError:
            threshold, source = None, f"no calibration of {model} at FAR {cfg.match.target_far:g}"
    else:
        threshold, source = None, "not calibrated"
    info = ModelInfo(
        embedder=model, threshold=threshold, target_far=cfg.match.target_far, threshold_source=source
    )
    if accuracy_file is not None and accuracy_file.is_file():
        try:
            obj = json.loads(accuracy_file.read_text(encoding="utf-8"))
            return info, Accuracy(
                measured=True,
                source=str(accuracy_file.name),
                tar=_float(obj.get("tar")),
                far=_float(obj.get("far")),
                dataset=str(obj.get("dataset", "")),
                n_genuine=obj.get("n_genuine"),
                n_impostor=obj.get("n_impostor"),
                note=str(obj.get("note", "")),
            )
        except (OSError, ValueError, TypeError) as exc:
            log.warning(
                "accuracy file %s unreadable (%s); reporting the calibration instead", accuracy_file, exc
            )
    if cfg.match.threshold is None and calib is not None:
        for p in calib.points:
            if abs(p.far - cfg.match.target_far) <= 1e-12 + 1e-6 * cfg.match.target_far:
                return info, Accuracy(
                    measured=True,
                    source=f"shipped calibration {model} ({calib.created})",
                    tar=p.tar,
                    far=p.far,
                    dataset=calib.dataset,
                    n_genuine=calib.n_genuine,
                    n_impostor=calib.n_impostor,
                    note="measured on development data, not on this deployment's cameras",
                )
    return info, Accuracy(measured=False, source="not measured")


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _deleted_alerts_by_month(store: Store) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in action_details(
        store, "retention.run", datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    ):
        for month, c in (d.get("by_month") or {}).items():
            if isinstance(c, dict):
                out[str(month)] = out.get(str(month), 0) + int(c.get("alerts", 0))
    return out


def _alerts(
    store: Store, since: datetime, until: datetime, retention_alerts: dict[str, int], period: str
) -> int:
    by_auth = sum(
        int(d.get("alerts", 0)) for d in action_details(store, "authorisation.outputs_deleted", since, until)
    )
    return stats.alerts_created(store, since, until) + retention_alerts.get(period, 0) + by_auth


def build_report(
    store: Store, cfg: Config, period: str, *, accuracy_file: Path | None = None, now: datetime | None = None
) -> TransparencyReport:
    """The transparency report for ``period`` (``YYYY-MM``). Counts only; needs no acting user.

    ``accuracy_file``: a JSON with ``tar``, ``far``, ``dataset``, ``n_genuine``,
    ``n_impostor`` measured for this deployment; without one the shipped
    calibration's measurement is reported (or "not measured").
    """
    since, until = period_bounds(period)
    g = cfg.governance
    cams: list[CameraEntry] = []
    for c in store.list_cameras():
        q = camera_quality(store, c.name, g)
        running = c.recognition and q.recognition_allowed
        note = "" if running else ("switched off" if not c.recognition else q.reason)
        cams.append(
            CameraEntry(
                name=c.name,
                location=c.location,
                district=c.district,
                purpose=c.purpose,
                vendor=c.vendor,
                cost=c.cost,
                installed_on=c.installed_on,
                recognition=c.recognition,
                recognition_running=running,
                recognition_note=note,
            )
        )
    retention_alerts = _deleted_alerts_by_month(store)
    decided = count_actions(store, ["alert.confirmed", "alert.rejected"], since, until)
    runs = action_details(store, "retention.run", since, until)
    outputs = action_details(store, "authorisation.outputs_deleted", since, until)
    by_ret = sum(int(d.get("sightings", 0)) for d in runs)
    by_auth = sum(int(d.get("sightings", 0)) for d in outputs)
    deletions = DeletionCounts(
        sightings=by_ret + by_auth,
        alerts=sum(int(d.get("alerts", 0)) for d in runs) + sum(int(d.get("alerts", 0)) for d in outputs),
        retention_runs=len(runs),
        by_retention=by_ret,
        by_authorisation=by_auth,
    )
    metrics = Metrics(
        faces_processed=stats.faces_processed(store, since, until),
        alerts=_alerts(store, since, until, retention_alerts, period),
        alerts_confirmed=decided["alert.confirmed"],
        alerts_rejected=decided["alert.rejected"],
        searches=stats.searches(store, since, until),
        authorisations=AuthorisationCounts(**stats.authorisations(store, since, until)),
        deletions=deletions,
        exports=stats.exports(store, since, until),
        watchlist_entries_by_legal_basis=stats.watchlist_by_legal_basis(store, since, until),
    )
    activity: list[MonthActivity] = []
    for k in range(ACTIVITY_MONTHS - 1, -1, -1):
        month = _shift(period, -k)
        s, u = period_bounds(month)
        activity.append(
            MonthActivity(
                month=month,
                faces_processed=stats.faces_processed(store, s, u),
                alerts=_alerts(store, s, u, retention_alerts, month),
                searches=stats.searches(store, s, u),
            )
        )
    model, accuracy = _model_and_accuracy(cfg, accuracy_file)
    head = table_head(store)
    return TransparencyReport(
        operator=g.operator_name,
        period=period,
        period_start=since,
        period_end=until,
        generated=(now or datetime.now(UTC)).astimezone(UTC),
        cameras=cams,
        retention=RetentionSettings(
            unmatched_hours=g.retention.unmatched_hours,
            matched_days=g.retention.matched_days,
            audit_days=g.retention.audit_days,
        ),
        metrics=metrics,
        model=model,
        accuracy=accuracy,
        activity=activity,
        audit_head=AuditHeadInfo(seq=head.seq, hash=head.hash) if head else None,
    )


def _flat(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, rows)
    else:
        rows.append((prefix, "" if value is None else str(value)))


CSV_COLUMNS = ("section", "item", "field", "value")


def report_csv(report: TransparencyReport) -> str:
    """A flat table ``section,item,field,value``: one row per camera field, metric and setting."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerow(("report", "", "operator", report.operator))
    w.writerow(("report", "", "period", report.period))
    w.writerow(("report", "", "generated", report.generated.isoformat()))
    for cam in report.cameras:
        for k, v in cam.model_dump().items():
            if k != "name":
                w.writerow(("camera", cam.name, k, "" if v is None else v))
    for section, obj in (
        ("retention", report.retention.model_dump()),
        ("metric", report.metrics.model_dump()),
        ("model", report.model.model_dump()),
        ("accuracy", report.accuracy.model_dump()),
    ):
        rows: list[tuple[str, str]] = []
        _flat("", obj, rows)
        for key, val in rows:
            item, _, field = key.rpartition(".")
            w.writerow((section, item, field, val))
    for a in report.activity:
        for k in ("faces_processed", "alerts", "searches"):
            w.writerow(("activity", a.month, k, getattr(a, k)))
    if report.audit_head is not None:
        w.writerow(("audit", "head", "seq", report.audit_head.seq))
        w.writerow(("audit", "head", "hash", report.audit_head.hash))
    return buf.getvalue()


def activity_chart(report: TransparencyReport, path: Path) -> None:
    """One PNG chart of faces processed (bars, left axis), alerts and searches (lines, right axis) per month."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = [a.month for a in report.activity]
    x = list(range(len(months)))
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    try:
        ax.bar(x, [a.faces_processed for a in report.activity], color="#9db4c0", label="faces processed")
        ax.set_ylabel("faces processed")
        ax2 = ax.twinx()
        ax2.plot(x, [a.alerts for a in report.activity], "o-", color="#c0392b", label="alerts")
        ax2.plot(x, [a.searches for a in report.activity], "s-", color="#2c3e50", label="searches")
        ax2.set_ylabel("alerts, searches")
        ax2.set_ylim(bottom=0)
        ax.set_xticks(x, months, rotation=45, ha="right")
        title = f"citywatch activity per month, up to {report.period}"
        ax.set_title(f"{title} ({report.operator})" if report.operator else title)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
        ax.legend(handles, labels, loc="upper left")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def write_report(report: TransparencyReport, out_dir: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.csv`` and ``activity.png`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "csv": out_dir / "report.csv", "png": out_dir / "activity.png"}
    paths["json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["csv"].write_text(report_csv(report), encoding="utf-8")
    activity_chart(report, paths["png"])
    return paths


__all__ = [
    "CSV_COLUMNS",
    "TransparencyReport",
    "activity_chart",
    "build_report",
    "period_bounds",
    "report_csv",
    "write_report",
]
