"""The ``citywatch`` command line (Typer).

Exit codes: 0 ok, 1 error (bad input, a refused request, a failed step),
2 bad usage (unknown option, missing required option; Typer's convention).
Machine output (``--json``) goes to stdout, one JSON object per line;
progress bars and messages go to stderr so they never mix with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from citywatch.commands import access, audit, events, export, models, serve
from citywatch.commands.common import (
    ActorOpt,
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    emit,
    err,
    fail,
    handled,
    out,
    parse_time,
)
from citywatch.config import check_config_text

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="citywatch: accountable camera face recognition."
)
config_app = typer.Typer(no_args_is_help=True, help="Configuration files.")
eval_app = typer.Typer(no_args_is_help=True, help="Accuracy evaluation on labelled photo sets.")
app.add_typer(config_app, name="config")
app.add_typer(eval_app, name="eval")
# accountability commands live in their own modules (citywatch.commands.*)
for _module in (access, audit, events, export, models, serve):
    _module.register(app)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from citywatch.log import setup_logging

    setup_logging("DEBUG" if verbose else "WARNING")


# --- config -------------------------------------------------------------------


@config_app.command("validate")
def config_validate(
    file: Annotated[Path, typer.Argument(help="YAML configuration file.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a configuration file; report every error with its YAML line."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror}") from exc
    cfg, issues = check_config_text(text)
    if as_json:
        emit({"ok": cfg is not None, "errors": [i.model_dump() for i in issues]})
    elif cfg is not None:
        out.print(f"[green]ok[/]: {file} ({len(cfg.cameras)} cameras, detector {cfg.detector.type})")
    else:
        for i in issues:
            value = f" (got {i.value})" if i.value is not None else ""
            err.print(f"{file}:{i.line or '?'}: [bold]{i.path}[/]: {i.message}{value}", highlight=False)
    if cfg is None:
        raise typer.Exit(1)


# --- enroll -------------------------------------------------------------------


@app.command()
@handled
def enroll(
    watchlist: Annotated[str, typer.Option("--watchlist", help="Watchlist name (created if new).")],
    name: Annotated[str, typer.Option("--name", help="Name of the person.")],
    photo: Annotated[list[Path], typer.Option("--photo", help="Photo with exactly one face (repeatable).")],
    legal_basis: Annotated[str, typer.Option("--legal-basis", help="Statute that allows this entry.")],
    legal_reference: Annotated[
        str, typer.Option("--legal-reference", help="Order or reference number under that statute.")
    ],
    provenance: Annotated[
        list[str],
        typer.Option("--provenance", help="Where each photo comes from: one per --photo, or one for all."),
    ],
    expires_days: Annotated[
        int | None,
        typer.Option("--expires-days", help="Expiry in days (default governance.watchlist_default_days)."),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Request a watchlist entry from one or more photos (pending until another user approves it)."""
    from citywatch.app import current_actor, open_app

    with open_app(config, data_dir) as a:
        res = a.enroll(
            watchlist,
            name,
            photo,
            legal_basis,
            current_actor(actor),
            provenance=provenance,
            legal_reference=legal_reference,
            expires_days=expires_days,
        )
    if as_json:
        emit(
            {
                "identity_id": res.identity_id,
                "watchlist": res.watchlist,
                "name": res.name,
                "photos": res.photos,
                "status": res.status,
                "expires_at": res.expires_at.isoformat() if res.expires_at else None,
            }
        )
    else:
        out.print(
            f"requested [bold]{res.name}[/] on {res.watchlist} (entry {res.identity_id}, {res.photos} "
            f"photo(s), expires {res.expires_at:%Y-%m-%d}): {res.status} until another user approves it "
            f"(`citywatch watchlist approve {res.identity_id}`)"
        )


# --- process ------------------------------------------------------------------


@app.command()
@handled
def process(
    source: Annotated[str, typer.Argument(help="Video file, GIF, image folder, rtsp:// or http(s):// URL.")],
    camera: Annotated[str, typer.Option("--camera", help="Configured camera name.")],
    recorded_at: Annotated[
        str | None,
        typer.Option("--recorded-at", help="Start of the recording (ISO 8601); default from file."),
    ] = None,
    case: Annotated[
        str | None,
        typer.Option("--case", help="Case the recording is processed for (alerts need its authorisation)."),
    ] = None,
    now: Annotated[str | None, typer.Option("--now", hidden=True, help="Clock override (tests).")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a source through the pipeline; store a sighting per face track; alert only where authorised.

    A recorded file is a post-event use: alerts are raised only for watchlist
    entries covered by a granted (or urgent, inside its deadline) post-event
    authorisation of --case. Without --case: sightings only. A live source
    needs a live authorisation covering the camera.
    """
    from citywatch.app import SightingEvent, current_actor, open_app
    from citywatch.errors import CorruptMediaError

    start = parse_time(recorded_at, "--recorded-at")
    clock = parse_time(now, "--now")

    def on_event(ev: SightingEvent) -> None:
        if as_json:
            emit(ev.to_json() | {"type": "sighting"})
            if ev.kind == "alert":
                emit(ev.to_json())
        elif ev.kind == "alert":
            err.print(
                f"[bold red]ALERT[/] {ev.camera} track {ev.track_id}: {ev.identity} ({ev.watchlist}) "
                f"score {ev.score:.3f} >= {ev.threshold:.3f}",
                highlight=False,
            )

    with open_app(config, data_dir) as a:
        total = _frame_estimate(source, a.cfg.sample_fps(a.camera(camera)))
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=as_json,
        ) as bar:
            task = bar.add_task(f"{camera}", total=total)
            try:
                summary = a.process(
                    source,
                    camera,
                    actor=current_actor(actor),
                    case_ref=case,
                    now=clock,
                    on_event=on_event,
                    on_frame=lambda i, ts: bar.advance(task),
                    recorded_at=start,
                )
            except CorruptMediaError as exc:
                raise fail(f"{exc} (sightings found before the damage were kept)") from exc
    fps = summary.frames / summary.seconds if summary.seconds else 0.0
    msg = (
        f"{camera}: {summary.frames} frames in {summary.seconds:.1f} s ({fps:.1f} frames/s): "
        f"{summary.sightings} sightings, {summary.alerts} alerts (run {summary.run_id})"
    )
    if as_json:
        err.print(msg, highlight=False)
    else:
        out.print(msg, highlight=False)
    if summary.note:
        err.print(f"[yellow]note:[/] {summary.note}", highlight=False)


def _frame_estimate(source: str, detect_fps: float) -> int | None:
    """Sampled frames a file will give, for the progress bar (None when unknown or live)."""
    p = Path(source)
    if not p.is_file():
        return None
    try:
        import av

        with av.open(str(p)) as c:
            if c.duration:
                return max(1, int(c.duration / 1_000_000 * detect_fps))
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None


# --- search -------------------------------------------------------------------


@app.command()
@handled
def search(
    photo: Annotated[Path, typer.Option("--photo", help="Probe photo with one face.")],
    case: Annotated[str, typer.Option("--case", help="Case reference (required, stored with the search).")],
    reason: Annotated[str, typer.Option("--reason", help="Why this search is needed (required, stored).")],
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Only these cameras (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (ISO 8601; required: a bounded window).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until this time (ISO 8601; default now).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=10_000, help="Most results.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find sightings of the person in a probe photo, best first.

    A search belongs to an existing case (`citywatch case create`), names a
    reason, and covers a bounded window (`--since`, at most
    search.max_window_days) on the cameras given (default: all you may see).
    Only data still inside the retention window is searched.
    """
    from citywatch.app import current_actor, open_app

    t_since, t_until = parse_time(since, "--since"), parse_time(until, "--until")
    with open_app(config, data_dir) as a:
        hits = a.search(
            photo,
            case,
            reason,
            current_actor(actor),
            cameras=camera,
            since=t_since,
            until=t_until,
            limit=limit,
        )
        threshold = a.threshold
    if as_json:
        for rank, h in enumerate(hits, 1):
            emit(
                {
                    "type": "hit",
                    "rank": rank,
                    "sighting_id": h.sighting_id,
                    "camera": h.camera,
                    "start": datetime.fromtimestamp(h.start, UTC).isoformat(),
                    "end": datetime.fromtimestamp(h.end, UTC).isoformat(),
                    "score": round(h.score, 4),
                    "above_threshold": h.score >= threshold,
                    "identity": h.identity_name,
                    "thumbnail": h.thumbnail,
                }
            )
        return
    table = Table(title=f"case {case}: {len(hits)} result(s); threshold {threshold:.3f}")
    for col in ("#", "score", "camera", "start (UTC)", "identity", "thumbnail"):
        table.add_column(col)
    for rank, h in enumerate(hits, 1):
        mark = "[green]" if h.score >= threshold else "[dim]"
        table.add_row(
            str(rank),
            f"{mark}{h.score:.3f}",
            h.camera,
            datetime.fromtimestamp(h.start, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            h.identity_name or "",
            h.thumbnail or "",
        )
    out.print(table)


# --- eval ---------------------------------------------------------------------


@eval_app.command("pairs")
@handled
def eval_pairs(
    pairs: Annotated[Path, typer.Option("--pairs", help="LFW pairs.txt or CSV file_x,file_y,Decision.")],
    root: Annotated[
        Path | None, typer.Option("--root", help="Image root (default: the pairs file's folder).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """1:1 verification, standard 10-fold protocol: accuracy, TAR at FAR 1e-3, faces not found."""
    from citywatch.app import open_app
    from citywatch.eval.pairs import evaluate_pairs, load_pairs

    try:
        plist = load_pairs(pairs, root)
    except OSError as exc:
        raise fail(f"{pairs}: {exc.strerror}") from exc
    with open_app(config, data_dir) as a:
        encode = _progress_encoder(a.eval_encoder(), len({p for pr in plist for p in (pr.path_a, pr.path_b)}))
        report = evaluate_pairs(plist, encode)
        model = a.embedder.model_id
    data = report.to_json()
    if as_json:
        emit(data | {"model": model, "detector": a.cfg.detector.type})
        return
    out.print(
        f"{model}: accuracy {report.accuracy * 100:.2f} % ± {report.accuracy_std * 100:.2f} "
        f"over {len(report.fold_accuracies)} folds; TAR {data['tar_at_far_1e-3']} at FAR 1e-3 "
        f"({data['impostor_pairs']} impostor pairs{', coarse' if data['far_coarse'] else ''}); "
        f"{len(data['no_face'])} image(s) without a face; {data['pairs']} pairs in {data['seconds']:.1f} s",
        highlight=False,
    )
    for p in data["no_face"]:
        out.print(f"  no face: {p}", highlight=False)


@eval_app.command("identify")
@handled
def eval_identify(
    root: Annotated[Path, typer.Option("--root", help="Folder per identity.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open-set 1:N (NIST FRTE style): FNIR at FPIR 0.01/0.003/0.001 and rank-1."""
    from citywatch.app import open_app
    from citywatch.eval.calibrate import scan_identity_tree
    from citywatch.eval.identify import evaluate_identification

    if not root.is_dir():
        raise fail(f"{root}: not a folder")
    n = sum(len(v) for v in scan_identity_tree(root).values())
    with open_app(config, data_dir) as a:
        report = evaluate_identification(root, _progress_encoder(a.eval_encoder(), n))
    data = report.to_json()
    if as_json:
        emit(data)
        return
    out.print(
        f"rank-1 {data['rank1']}; FNIR {data['fnir_at_fpir_0.01']} / {data['fnir_at_fpir_0.003']} / "
        f"{data['fnir_at_fpir_0.001']} at FPIR 0.01 / 0.003 / 0.001; gallery {data['gallery']}, "
        f"probes {data['probes']} ({data['mated']} mated, {data['non_mated']} non-mated)",
        highlight=False,
    )


def _progress_encoder(encode: Callable[[Path], Any], total: int) -> Callable[[Path], Any]:
    """Wrap an encoder with a progress bar on stderr (photos take ~0.1-0.2 s each)."""
    bar = Progress(
        TextColumn("encoding photos"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )
    task = bar.add_task("encode", total=total)
    bar.start()

    def wrapped(path: Path) -> Any:
        try:
            return encode(path)
        finally:
            bar.advance(task)
            if bar.tasks[0].completed >= total:
                bar.stop()

    return wrapped


def main() -> None:
    app()


@eval_app.command("build-set")
@handled
def eval_build_set(
    out_dir: Annotated[Path, typer.Option("--out", help="Empty output folder (outside the repository).")],
    data: Annotated[
        Path | None, typer.Option("--data", envvar="CITYWATCH_DATA", help="Shared data folder.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier build.")] = False,
) -> None:
    """Build an LFW-format set (pairs.txt + name/name_000N.jpg + identities/) from the shared data."""
    from citywatch.eval.datasets import build_lfw_set

    src = data or Path("../shared/data")
    if not src.is_dir():
        raise fail(f"{src}: shared data folder not found (set CITYWATCH_DATA)")
    try:
        pairs = build_lfw_set(src, out_dir, overwrite=overwrite)
    except (FileExistsError, ValueError) as exc:
        raise fail(str(exc)) from exc
    out.print(f"wrote {pairs} (identities for `eval identify`: {out_dir / 'identities'})")


@app.command()
@handled
def calibrate(
    identities: Annotated[
        Path | None, typer.Option("--identities", help="Folder per identity: all genuine and impostor pairs.")
    ] = None,
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="Labelled pairs (LFW pairs.txt or CSV).")
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Image root for --pairs.")] = None,
    far: Annotated[
        list[float] | None, typer.Option("--far", help="Target FAR(s) (default 1e-3, 1e-2).")
    ] = None,
    write_config: Annotated[
        Path | None, typer.Option("--write-config", help="YAML config whose match.threshold is set.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the calibration JSON here.")
    ] = None,
    dataset: Annotated[str, typer.Option("--dataset", help="Description stored with the result.")] = "",
    allow_coarse: Annotated[
        bool, typer.Option("--allow-coarse", help="Accept fewer than 1/FAR impostor pairs.")
    ] = False,
    capture_eye_px: Annotated[
        float,
        typer.Option(
            "--capture-eye-px",
            min=0,
            help="Compare each photo with a simulated camera capture of the other (face scaled to this "
            "many px between the eyes, JPEG); 0 compares the photos as they are.",
        ),
    ] = 20.0,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure the similarity threshold at a target false-accept rate and write it to config.

    Every impostor (different-person) comparison of the set is scored; the
    threshold is the score that only a share FAR of them exceed. With fewer
    than 1/FAR impostor pairs that cannot be measured and is refused unless
    --allow-coarse.
    """
    import numpy as np

    from citywatch.app import open_app
    from citywatch.eval.calibrate import (
        genuine_pairs_from_folders,
        impostor_pairs_from_folders,
        scan_identity_tree,
        threshold_at_far,
    )
    from citywatch.eval.pairs import encode_images, load_pairs
    from citywatch.match.calibration import CalibrationFile, CalibrationPoint

    if (identities is None) == (pairs is None):
        raise fail("give exactly one of --identities DIR or --pairs FILE", 2)
    fars = sorted(set(far or [1e-3, 1e-2]))
    if identities is not None:
        gen = genuine_pairs_from_folders(identities)
        imp = impostor_pairs_from_folders(identities, max_pairs=None)
        n_images = sum(len(v) for v in scan_identity_tree(identities).values())
        desc = dataset or f"{identities.name}: {n_images} photos"
    else:
        assert pairs is not None
        plist = load_pairs(pairs, root)
        gen = [(p.path_a, p.path_b) for p in plist if p.same]
        imp = [(p.path_a, p.path_b) for p in plist if not p.same]
        desc = dataset or f"{pairs.name}"
    images = sorted({p for pr in gen + imp for p in pr})
    with open_app(config, data_dir) as a:
        vecs = encode_images(images, _progress_encoder(a.eval_encoder(), len(images)))
        caps = vecs
        if capture_eye_px > 0:
            caps = encode_images(images, _progress_encoder(a.eval_encoder(capture_eye_px), len(images)))
            desc += (
                f"; enrolment photo vs simulated capture ({capture_eye_px:g} px between the eyes, JPEG q 70)"
            )
        model = a.embedder.model_id

    def scores(prs: list[tuple[Path, Path]]) -> np.ndarray:
        # photo x against the capture of y, and (for captures) the other way round
        directed = prs + [(y, x) for x, y in prs] if capture_eye_px > 0 else prs
        out_scores = []
        for x, y in directed:
            u, v = vecs[x], caps[y]
            if u is not None and v is not None:
                out_scores.append(float(np.dot(u, v)))
        return np.asarray(out_scores, np.float64)

    g, i = scores(gen), scores(imp)
    if len(i) == 0:
        raise fail("no impostor pair could be scored (no faces found?)")
    points = []
    for f in fars:
        try:
            t = threshold_at_far(i, f, allow_coarse=allow_coarse)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        # the matcher accepts score >= threshold; nudge above the impostor score the rule sits on
        t = float(np.nextafter(t, np.inf))
        points.append(CalibrationPoint(far=f, threshold=t, tar=float(np.mean(g >= t)) if len(g) else 0.0))
    cal = CalibrationFile(
        model=model,
        dataset=f"{desc}; {len(g)} genuine and {len(i)} impostor pairs scored",
        n_genuine=len(g),
        n_impostor=len(i),
        created=datetime.now(UTC).date().isoformat(),
        points=points,
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(cal.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if write_config is not None:
        _write_threshold(write_config, points[0].threshold, points[0].far)
    if as_json:
        emit(json.loads(cal.model_dump_json()))
        return
    for p in points:
        out.print(f"FAR {p.far:g}: threshold {p.threshold:.4f} (TAR {p.tar:.3f})", highlight=False)
    out.print(f"{len(g)} genuine, {len(i)} impostor pairs; model {model}", highlight=False)
    if write_config is not None:
        out.print(f"wrote match.threshold = {points[0].threshold:.4f} to {write_config}", highlight=False)


def _write_threshold(path: Path, threshold: float, far: float) -> None:
    """Set match.threshold and match.target_far in a YAML config, keeping the rest, then re-validate."""
    import yaml

    data: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    match = data.setdefault("match", {})
    match["threshold"] = round(threshold, 6)
    match["target_far"] = far
    text = yaml.safe_dump(data, sort_keys=False)
    cfg, issues = check_config_text(text, env={})
    if cfg is None:
        raise fail(f"{path}: would become invalid: {issues[0].path}: {issues[0].message}")
    path.write_text(text, encoding="utf-8")


# --- demo ---------------------------------------------------------------------


@app.command()
@handled
def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Demo data directory (wiped and re-created).")
    ] = Path("citywatch-demo"),
    serve_after: Annotated[
        bool,
        typer.Option(
            "--serve", help="Then run `citywatch serve` on it (console, API, the live demo camera)."
        ),
    ] = False,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port for --serve.")] = 8080,
) -> None:
    """Run the main job end to end on the embedded default and say what happened.

    Generated part: a public-domain portrait (scikit-image's astronaut) walks
    past three synthetic cameras; it is enrolled on a demo watchlist, the clips
    are processed (alerts), and a photo search draws the trajectory. Real part,
    when the shared data is present: the Intel indoor clip as a fourth camera.
    """
    from PIL import Image

    from citywatch.app import App
    from citywatch.demo import (
        DEMO_CASE,
        DEMO_USERS,
        REAL_CAMERAS,
        astronaut,
        create_demo_users,
        demo_authorisation,
        demo_clips,
        demo_config,
        prepare_home,
        set_demo_passwords,
        shared_data_dir,
    )
    from citywatch.governance.audit import verify_audit_trail
    from citywatch.governance.cases import open_case
    from citywatch.governance.verification import verify
    from citywatch.governance.watchlist import decide
    from citywatch.search import trajectory
    from citywatch.store.repo import Store

    home = data_dir.expanduser().resolve()
    try:
        prepare_home(home)
    except FileExistsError as exc:
        raise fail(str(exc)) from exc
    shared = shared_data_dir()
    cfg = demo_config(shared, home)
    import yaml

    (home / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    out.rule("[bold]citywatch demo")
    out.print(
        "[yellow]GENERATED DEMO[/]: the person below is a public-domain NASA portrait shipped with "
        "scikit-image, pasted into synthetic camera scenes. No real person is tracked in this part.",
    )
    a = App(cfg, home, Store.open(cfg.database.url, home, vectors=cfg.vectors))
    try:
        photo = home / "demo-scene" / "astronaut-enrolment.png"
        probe = home / "demo-scene" / "astronaut-probe.png"
        photo.parent.mkdir(parents=True, exist_ok=True)
        img = astronaut()
        Image.fromarray(img).save(photo)
        Image.fromarray(img[:, ::-1].copy()).save(probe)  # mirrored: not the enrolled pixels
        create_demo_users(a.store)
        password = set_demo_passwords(a.store)
        out.print(f"0. demo users (DEMO ONLY): {', '.join(f'{n} ({r})' for n, r in DEMO_USERS)}")
        out.print(f"   console password of every demo user, this run only: [bold]{password}[/]")
        ent = a.enroll(
            "demo-watchlist",
            "Demo person (astronaut portrait)",
            [photo],
            "DEMO ONLY - no legal effect; generated scene",
            "demo-investigator",
            provenance="scikit-image data.astronaut (NASA, public domain)",
            legal_reference="DEMO ONLY - DEMO-WL-0001",
        )
        decide(a.store, "demo-supervisor", ent.identity_id, approve=True, note="DEMO ONLY")
        out.print(
            f"1. demo-investigator requested '{ent.name}' on watchlist {ent.watchlist} "
            f"(entry {ent.identity_id}); demo-supervisor approved it"
        )
        clips = demo_clips(home)
        open_case(a.store, "demo-investigator", DEMO_CASE, "DEMO ONLY - generated scene")
        auth = demo_authorisation(
            a.store, a.cfg.governance, ent.identity_id, [c.camera for c in clips], clips[0].recorded_at
        )
        out.print(
            f"   [yellow]DEMO AUTHORISATION[/] {auth.id} for case {DEMO_CASE} ({auth.authority}; "
            f"{auth.reference}): requested by demo-investigator, granted by demo-supervisor"
        )
        out.print(f"2. rendered {len(clips)} generated clips: {', '.join(c.camera for c in clips)}")
        alert_ids: list[int] = []
        for clip in clips:
            s = a.process(
                str(clip.path),
                clip.camera,
                actor="demo-investigator",
                case_ref=DEMO_CASE,
                recorded_at=clip.recorded_at,
                on_event=lambda ev: alert_ids.append(ev.alert_id) if ev.alert_id is not None else None,
            )
            out.print(f"   {clip.camera}: {s.frames} frames, {s.sightings} sighting(s), {s.alerts} alert(s)")
        if alert_ids:
            verify(a.store, "demo-verifier-1", alert_ids[0], "confirm", "DEMO ONLY")
            res = verify(a.store, "demo-verifier-2", alert_ids[0], "confirm", "DEMO ONLY")
            out.print(
                f"   alert {alert_ids[0]}: two verifiers decided independently -> {res.status}; "
                f"{len(alert_ids) - 1} other alert(s) stay unconfirmed"
            )
        if shared is not None:
            out.print(f"3. real footage from the shared data ({shared}):")
            for name, _, _, _ in REAL_CAMERAS:
                cam = a.camera(name)
                s = a.process(cam.source, name, actor="demo-investigator", case_ref=DEMO_CASE)
                out.print(
                    f"   {name}: {Path(cam.source).name}: {s.frames} frames, {s.sightings} sighting(s) "
                    f"of real people (none enrolled: {s.alerts} alerts)"
                )
        else:
            out.print("3. shared data not found ($CITYWATCH_DATA): real-footage part skipped")
        t0 = min(c.recorded_at for c in clips)
        hits = a.search(
            probe,
            DEMO_CASE,
            "demo of a retrospective search",
            "demo-investigator",
            # the walk's cameras: the GIF strangers are a different scene (docs/calibration.md, known limits)
            cameras=[c.camera for c in clips],
            since=t0 - timedelta(hours=1),
            until=t0 + timedelta(hours=2),
            limit=20,
        )
        positions = {c.name: (c.lat, c.lon) for c in a.cfg.cameras}
        path = trajectory(hits, a.threshold, positions)
        out.print(
            f"4. searched with a mirrored copy of the photo (case DEMO-0001): {len(hits)} result(s), "
            f"{sum(h.score >= a.threshold for h in hits)} above the threshold {a.threshold:.3f}; "
            "trajectory (leads for a person to verify, not identifications):"
        )
        for i, stop in enumerate(path, 1):
            when = datetime.fromtimestamp(stop.start, UTC).strftime("%H:%M:%S")
            out.print(
                f"   {i}. {when} UTC at {stop.camera} ({stop.lat}, {stop.lon}), score {stop.best_score:.3f}"
            )
        chain = verify_audit_trail(a.store)
        state = "intact" if chain.ok else f"BROKEN at entry {chain.first_bad_seq}: {chain.reason}"
        out.print(f"5. audit trail (`citywatch audit verify`): {chain.entries} entries, chain {state}")
    finally:
        a.close()
    out.print(f"\nData directory: {home} (config.yaml, citywatch.db, thumbnails/, vectors/)")
    out.print(
        f"Try (with .venv/bin on PATH): citywatch search --data-dir {data_dir} --as demo-investigator "
        f"--photo {probe} --case {DEMO_CASE} --reason 'why' --camera plaza "
        f"--since {(t0 - timedelta(hours=1)).isoformat()} --until {(t0 + timedelta(hours=2)).isoformat()}"
    )
    if serve_after:
        from citywatch.commands.serve import serve

        out.rule("[bold]citywatch serve")
        out.print(
            f"Console: http://127.0.0.1:{port}/ (log in as any demo user above with the password "
            f"printed in step 0); API docs /docs; public report /transparency. The live camera 'lobby' "
            "replays a recording as a live stream. Ctrl-C stops."
        )
        serve(port=port, config=None, data_dir=home)
