"""What anyone may read without logging in: health and the transparency report (HTML, JSON, CSV).

The report holds counts only, never identities, images or case references
(``governance.report``); building it needs no user.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import text

from citywatch.api.deps import Ctx
from citywatch.api.routes.audit import current_period
from citywatch.api.schemas.audit import HealthPublic
from citywatch.api.schemas.common import ERROR_RESPONSES
from citywatch.governance.report import TransparencyReport, build_report, report_csv

router = APIRouter(tags=["public"], responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)})
Period = Annotated[
    str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM; default this month")
]


@router.get("/healthz", response_model=HealthPublic, summary="Liveness and database check")
def healthz(ctx: Ctx) -> HealthPublic:
    try:
        with ctx.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db = True
    except Exception:  # noqa: BLE001 - health reports the failure instead of raising it
        db = False
    return HealthPublic(
        status="ok" if db else "degraded",
        database=db,
        cameras=len(ctx.cameras()),
        fleet="running" if ctx.fleet is not None else "absent",
    )


def _report(ctx: Ctx, period: str | None) -> TransparencyReport:
    app = ctx.app
    return build_report(
        app.store, app.cfg, period or current_period(), accuracy_file=app.home / "accuracy.json"
    )


@router.get("/transparency.json", response_model=TransparencyReport, summary="Transparency report (JSON)")
def transparency_json(ctx: Ctx, period: Period = None) -> TransparencyReport:
    return _report(ctx, period)


@router.get(
    "/transparency.csv",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "section,item,field,value"}},
    summary="Transparency report (CSV)",
)
def transparency_csv(ctx: Ctx, period: Period = None) -> PlainTextResponse:
    rep = _report(ctx, period)
    return PlainTextResponse(
        report_csv(rep),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="transparency-{rep.period}.csv"'},
    )


def _row(*cells: object) -> str:
    return "<tr>" + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in cells) + "</tr>"


def render_html(rep: TransparencyReport) -> str:
    m = rep.metrics
    cams = "".join(
        _row(
            c.name,
            c.location,
            c.district,
            c.purpose,
            c.vendor,
            c.cost,
            c.installed_on,
            "on" if c.recognition_running else f"off ({c.recognition_note})",
        )
        for c in rep.cameras
    )
    bases = "".join(_row(k, v) for k, v in sorted(m.watchlist_entries_by_legal_basis.items()))
    activity = "".join(_row(a.month, a.faces_processed, a.alerts, a.searches) for a in rep.activity)
    head = f"{rep.audit_head.seq} / {rep.audit_head.hash}" if rep.audit_head else "empty"
    acc = rep.accuracy
    accuracy = (
        f"TAR {acc.tar} at FAR {acc.far} on {acc.dataset} ({acc.source})" if acc.measured else "not measured"
    )
    op = escape(rep.operator) if rep.operator else "citywatch"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Transparency report {escape(rep.period)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}
th{{background:#f3f3f3}}</style></head><body>
<h1>{op}: transparency report {escape(rep.period)}</h1>
<p>Generated {escape(rep.generated.isoformat())}. Counts only: no names, images or case references.
Also as <a href="/transparency.json?period={escape(rep.period)}">JSON</a> and
<a href="/transparency.csv?period={escape(rep.period)}">CSV</a>.</p>
<h2>Cameras</h2><table><tr><th>name</th><th>location</th><th>district</th><th>purpose</th><th>vendor</th>
<th>cost</th><th>installed</th><th>recognition</th></tr>{cams}</table>
<h2>This month</h2><table>
{_row("faces processed", m.faces_processed)}{_row("alerts", m.alerts)}
{_row("alerts confirmed", m.alerts_confirmed)}{_row("alerts rejected", m.alerts_rejected)}
{_row("searches", m.searches)}{_row("exports", m.exports)}
{_row("sightings deleted", m.deletions.sightings)}{_row("retention runs", m.deletions.retention_runs)}
</table>
<h2>Watchlist entries by legal basis</h2><table><tr><th>legal basis</th><th>entries</th></tr>{bases}</table>
<h2>Retention</h2><table>{_row("unmatched faces kept (hours)", rep.retention.unmatched_hours)}
{_row("matched faces kept (days)", rep.retention.matched_days)}{_row("audit trail kept (days, at least)", rep.retention.audit_days)}</table>
<h2>Model</h2><p>{escape(rep.model.embedder)}, threshold {escape(str(rep.model.threshold))}
({escape(rep.model.threshold_source)}). Accuracy: {escape(accuracy)}.</p>
<h2>Activity</h2><table><tr><th>month</th><th>faces processed</th><th>alerts</th><th>searches</th></tr>{activity}</table>
<h2>Not built, on purpose</h2><ul>{"".join(f"<li>{escape(x)}</li>" for x in rep.not_built)}</ul>
<p>Audit trail head: <code>{escape(head)}</code></p>
</body></html>"""


@router.get("/transparency", response_class=HTMLResponse, summary="Transparency report (public page)")
def transparency_page(request: Request, ctx: Ctx, period: Period = None) -> HTMLResponse:
    rep = _report(ctx, period)
    try:  # the console's page (camera map, charts) when the console is installed
        from citywatch.web.routes import transparency_page as console_page
    except ImportError:
        return HTMLResponse(render_html(rep))
    return console_page(request, rep, ctx.positions())
