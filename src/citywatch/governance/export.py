"""Redacted evidence packages: the rules of ``citywatch export`` whatever door it comes through.

An export is a zip of

* ``frames/NNNN_<t>s.jpg``: frames sampled around the sighting (from
  ``start_offset - seconds`` to ``end_offset + seconds`` of the run's source
  file), every face but the subject's blurred, watermarked;
* ``thumbnail.jpg``: the sighting's stored thumbnail, other faces blurred,
  watermarked;
* ``audit.jsonl``: the audit entries of the case and of the alert/sighting;
* ``manifest.json``: SHA-256 of every other file, case, alert, exporter,
  creation time, source file SHA-256, blur parameters, the audit head.

Rules (each a :class:`PolicyError`/:class:`NotFoundError` with a message that
says what to do): the exporter needs ``Perm.EXPORT`` and must see the camera;
only *confirmed* alerts are exported; the case must be the one the recording
or the alert's authorisation belongs to (when they name one); the source file
must still exist. An unblurred package needs an unblur request approved by a
second user, is made by the requester, uses the approval once, and says so in
the manifest, the ``exports`` row and the audit entry.

How no bystander is missed: faces are detected on every sampled frame and
linked into tracks (:func:`redact.link_tracks`), which fills a face's box into
frames where detection failed and a couple of frames beyond its ends; every
track but the subject's is blurred; then the detector runs again on the
redacted frame and anything it still finds away from the subject is blurred
too (``BlurParams.residual_passes``). The subject's track is the one covering
the sighting's time span best, plus its embedding's similarity to the
sighting's stored template when an embedder of the same model is given. With
no track overlapping the sighting, every face is blurred.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

from citywatch.detect.base import FaceDetector, nearest_centre_index
from citywatch.embed import FaceEmbedder, FaceInput
from citywatch.errors import NotFoundError, PolicyError, SourceError
from citywatch.governance.access import Perm, require
from citywatch.governance.redact import BlurParams, FaceTrack, add_watermark, blur_faces, box_iou, link_tracks
from citywatch.images import encode_jpeg, load_image
from citywatch.store.exports import (
    AlertContext,
    UnblurRequestRecord,
    alert_context,
    audit_excerpt,
    audit_head,
    create_unblur_request,
    decide_unblur_request,
    get_unblur_request,
    record_export,
)
from citywatch.store.repo import Store
from citywatch.types import FaceDetections, FloatArray, ImageArray

logger = logging.getLogger(__name__)

MAX_FPS = 5.0
MAX_FRAMES = 60
JPEG_QUALITY = 92


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one export wrote and recorded."""

    export_id: int
    path: Path
    sha256: str
    case_ref: str
    alert_id: int
    exporter: str
    frames: int
    files: int
    unblurred: bool
    unblur_approved_by: str | None
    subject_track: int | None
    blurred_boxes: int
    """Bystander boxes blurred over all frames (tracked, filled-in and residual)."""
    residual_boxes: int
    """Of those, faces found only by re-detecting on a redacted frame."""

    def to_json(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "path": str(self.path),
            "sha256": self.sha256,
            "case": self.case_ref,
            "alert_id": self.alert_id,
            "exporter": self.exporter,
            "frames": self.frames,
            "files": self.files,
            "unblurred": self.unblurred,
            "unblur_approved_by": self.unblur_approved_by,
            "subject_track": self.subject_track,
            "blurred_boxes": self.blurred_boxes,
            "residual_boxes": self.residual_boxes,
        }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_window(
    path: Path, t0: float, t1: float, *, max_fps: float = MAX_FPS, max_frames: int = MAX_FRAMES
) -> list[tuple[float, ImageArray]]:
    """Frames of ``path`` with media time in ``[t0, t1]``, at most ``max_fps`` and ``max_frames`` of them.

    Seeks to the keyframe before ``t0`` and decodes forward. The rate is
    lowered so a long window still yields at most ``max_frames`` frames.
    Raises SourceError naming the file when it cannot be decoded.
    """
    t0 = max(0.0, t0)
    fps = min(max_fps, max_frames / max(t1 - t0, 1e-3))
    step = 1.0 / fps
    frames: list[tuple[float, ImageArray]] = []
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            if t0 > 0 and stream.time_base is not None:
                c.seek(int(t0 / stream.time_base), stream=stream, backward=True)
            next_t = t0
            for frame in c.decode(stream):
                if frame.pts is None or frame.time_base is None:
                    continue
                t = float(frame.pts * frame.time_base)
                if t < t0 - 1e-6 or t < next_t - 1e-6:
                    continue
                if t > t1 + 1e-6 or len(frames) >= max_frames:
                    break
                frames.append((t, np.ascontiguousarray(frame.to_ndarray(format="rgb24"))))
                while next_t <= t + 1e-6:
                    next_t += step
    except av.FFmpegError as exc:
        raise SourceError(f"{path}: cannot decode the recording ({exc})") from exc
    return frames


def _check(
    store: Store, ctx: AlertContext, case_ref: str, exporter: str, unblur_request_id: int | None
) -> None:
    if ctx.status != "confirmed":
        raise PolicyError(
            f"alert {ctx.alert_id} is {ctx.status}: only confirmed matches can be exported "
            "(two verifiers must confirm it first)"
        )
    for what, other in (("recording", ctx.run_case_ref), ("authorisation", ctx.authorisation_case_ref)):
        if other and other != case_ref:
            raise PolicyError(
                f"alert {ctx.alert_id} belongs to case {other!r} (its {what}), not {case_ref!r}"
            )
    if unblur_request_id is not None:
        req = get_unblur_request(store, unblur_request_id)
        if req.case_ref != case_ref or req.alert_id != ctx.alert_id:
            raise PolicyError(
                f"unblur request {req.id} is for case {req.case_ref!r}, alert {req.alert_id}, "
                f"not case {case_ref!r}, alert {ctx.alert_id}"
            )
        if req.requested_by != exporter:
            raise PolicyError(
                f"unblur request {req.id} was made by {req.requested_by!r}: only they may use it"
            )
        if req.status != "approved":
            hint = (
                " (a supervisor other than the requester must approve it)" if req.status == "pending" else ""
            )
            raise PolicyError(f"unblur request {req.id} is {req.status}{hint}")


def _subject_track(
    tracks: list[FaceTrack],
    times: list[float],
    frames: list[ImageArray],
    dets: list[FaceDetections],
    ctx: AlertContext,
    template: tuple[str, FloatArray] | None,
    embedder: FaceEmbedder | None,
) -> tuple[int | None, list[dict[str, Any]]]:
    """Index of the subject's track (``None``: no track overlaps the sighting) and the scores of all."""
    span = max(ctx.end_offset - ctx.start_offset, 0.2)
    scores: list[dict[str, Any]] = []
    best: tuple[float, int] | None = None
    for i, t in enumerate(tracks):
        a, b = times[t.first], times[t.last]
        overlap = max(0.0, min(b, ctx.end_offset) - max(a, ctx.start_offset))
        if a <= ctx.start_offset <= b or ctx.start_offset <= a <= ctx.end_offset:
            overlap = max(overlap, 1e-3)  # a single-frame track inside the span still overlaps
        coverage = min(1.0, overlap / span)
        sim: float | None = None
        if embedder is not None and template is not None and template[0] == embedder.model_id:
            f = max(t.observed, key=lambda k: float(np.prod(t.observed[k][0][2:] - t.observed[k][0][:2])))
            box, di = t.observed[f]
            vec = embedder.embed([FaceInput(frames[f], box, dets[f].kps[di])])[0]
            sim = float(np.dot(vec, template[1]))
        score = coverage + (sim if sim is not None else 0.0)
        scores.append(
            {
                "track": i,
                "from": round(a, 3),
                "to": round(b, 3),
                "coverage": round(coverage, 4),
                "similarity": None if sim is None else round(sim, 4),
            }
        )
        if coverage > 0 and (best is None or score > best[0]):
            best = (score, i)
    return (best[1] if best else None), scores


def _is_subject(box: FloatArray, subject: FloatArray | None) -> bool:
    if subject is None:
        return False
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    inside = subject[0] <= cx <= subject[2] and subject[1] <= cy <= subject[3]
    return inside or box_iou(box, subject) > 0.3


def _redact(
    image: ImageArray,
    boxes: list[FloatArray],
    subject: FloatArray | None,
    detector: FaceDetector,
    params: BlurParams,
) -> tuple[ImageArray, int]:
    """Blur ``boxes``, then re-detect and blur whatever is not the subject; returns (image, residual count)."""
    out = blur_faces(image, boxes, params)
    residual = 0
    for _ in range(params.residual_passes):
        left = [b for b in detector.detect(out).xyxy if not _is_subject(b, subject)]
        if not left:
            break
        residual += len(left)
        out = blur_faces(out, left, BlurParams(pad=params.pad * 1.5, cells=params.cells, sigma=params.sigma))
    return out, residual


def export_evidence(
    store: Store,
    detector: FaceDetector,
    *,
    case_ref: str,
    alert_id: int,
    exporter: str,
    output: Path,
    reason: str = "evidence export",
    seconds: float = 2.0,
    unblur_request_id: int | None = None,
    embedder: FaceEmbedder | None = None,
    params: BlurParams | None = None,
    max_fps: float = MAX_FPS,
    max_frames: int = MAX_FRAMES,
) -> ExportResult:
    """Write the package for ``alert_id`` to ``output`` (a ``.zip``), record it and audit it. See the module doc."""
    p = params or BlurParams()
    case_ref = case_ref.strip()
    if not case_ref:
        raise PolicyError("an export needs a case reference (--case)")
    if not reason.strip():
        raise PolicyError("an export needs a reason (--reason)")
    actor = require(store, exporter, Perm.EXPORT)
    ctx = alert_context(store, alert_id)
    require(store, exporter, Perm.EXPORT, camera=ctx.camera)
    _check(store, ctx, case_ref, exporter, unblur_request_id)
    source = Path(ctx.source)
    if not source.is_file():
        raise NotFoundError(
            f"the recording of alert {alert_id} is missing: {ctx.source} (run {ctx.run_id}, camera "
            f"{ctx.camera}); restore the file to export"
        )
    unblurred = unblur_request_id is not None
    created = datetime.now(UTC).replace(microsecond=0)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")

    window = (ctx.start_offset - seconds, ctx.end_offset + seconds)
    decoded = decode_window(source, *window, max_fps=max_fps, max_frames=max_frames)
    if not decoded:
        raise SourceError(f"{source}: no frames between {window[0]:.2f} s and {window[1]:.2f} s")
    times = [t for t, _ in decoded]
    images = [img for _, img in decoded]
    dets = [detector.detect(img) for img in images]
    tracks = link_tracks(dets, p)
    try:
        template: tuple[str, FloatArray] | None = store.get_sighting_embedding(ctx.sighting_id)
    except NotFoundError:
        template = None
    subject_i, track_scores = _subject_track(tracks, times, images, dets, ctx, template, embedder)
    logger.info(
        "export alert %d: %d frames, %d tracks, subject %s", alert_id, len(images), len(tracks), subject_i
    )

    def watermark(img: ImageArray, what: str) -> ImageArray:
        mode = "UNBLURRED (two-person approved)" if unblurred else "bystanders blurred"
        lines = [
            f"EVIDENCE case {case_ref} alert {alert_id} - {what}",
            f"exported by {exporter} {stamp} - {mode}",
        ]
        return add_watermark(img, lines, f"{case_ref} / {exporter}")

    files: dict[str, bytes] = {}
    frame_notes: list[dict[str, Any]] = []
    blurred = residual_total = 0
    for f, (t, img) in enumerate(decoded):
        subject_box = tracks[subject_i].boxes.get(f) if subject_i is not None else None
        others = [tr.boxes[f] for i, tr in enumerate(tracks) if i != subject_i and f in tr.boxes]
        if unblurred:
            red, residual, others = img, 0, []
        else:
            red, residual = _redact(img, others, subject_box, detector, p)
        blurred += len(others) + residual
        residual_total += residual
        name = f"frames/{f:04d}_{t:08.3f}s.jpg"
        files[name] = encode_jpeg(watermark(red, f"t={t:.2f}s"), quality=JPEG_QUALITY)
        frame_notes.append(
            {
                "file": name,
                "t": round(t, 3),
                "blurred": len(others) + residual,
                "subject": subject_box is not None,
            }
        )
    if ctx.thumbnail:
        try:
            thumb = load_image(store.thumbnail_path(ctx.thumbnail))
        except (OSError, NotFoundError, SourceError, ValueError) as exc:
            logger.warning("export alert %d: thumbnail unavailable: %s", alert_id, exc)
        else:
            if not unblurred:
                td = detector.detect(thumb)
                ci = nearest_centre_index(td, thumb.shape)
                centre = td.xyxy[ci] if ci is not None else None
                thumb, r = _redact(thumb, [b for i, b in enumerate(td.xyxy) if i != ci], centre, detector, p)
                blurred += len(td) - (ci is not None) + r
            files["thumbnail.jpg"] = encode_jpeg(watermark(thumb, "sighting thumbnail"), quality=JPEG_QUALITY)

    excerpt = audit_excerpt(store, case_ref, [f"alert:{alert_id}", f"sighting:{ctx.sighting_id}"])
    files["audit.jsonl"] = "".join(
        json.dumps(
            {
                "seq": a.seq,
                "ts": a.ts.isoformat(),
                "actor": a.actor,
                "role": a.role,
                "action": a.action,
                "target": a.target,
                "case": a.case_ref,
                "reason": a.reason,
                "details": a.details,
                "prev_hash": a.prev_hash,
                "hash": a.hash,
            },
            sort_keys=True,
        )
        + "\n"
        for a in excerpt
    ).encode()
    head = audit_head(store)
    approved_by = (
        get_unblur_request(store, unblur_request_id).decided_by if unblur_request_id is not None else None
    )
    manifest = {
        "format": "citywatch-evidence/1",
        "case": case_ref,
        "alert_id": alert_id,
        "sighting_id": ctx.sighting_id,
        "identity": ctx.identity_name,
        "camera": ctx.camera,
        "exporter": exporter,
        "reason": reason,
        "created": stamp,
        "source": {
            "path": str(source),
            "sha256": sha256_file(source),
            "recorded_at": ctx.recorded_at.isoformat(),
            "window_seconds": [round(max(0.0, window[0]), 3), round(window[1], 3)],
            "sighting_offsets": [ctx.start_offset, ctx.end_offset],
        },
        "unblurred": unblurred,
        "unblur_request": unblur_request_id,
        "unblur_approved_by": approved_by,
        "blur": None if unblurred else p.to_json(),
        "detector": type(detector).__name__,
        "subject_track": subject_i,
        "tracks": track_scores,
        "frames": frame_notes,
        "audit_head": {"seq": head[0], "hash": head[1]} if head else None,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()

    output = output.expanduser().resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    tmp = output.with_name(output.name + ".part")
    tmp.write_bytes(payload)
    os.replace(tmp, output)
    try:
        rec = record_export(
            store,
            case_ref=case_ref,
            alert_id=alert_id,
            path=str(output),
            sha256=digest,
            exporter=exporter,
            unblur_request_id=unblur_request_id,
        )
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    store.append_audit(
        exporter,
        "export",
        f"alert:{alert_id}",
        case_ref=case_ref,
        reason=reason,
        role=actor.role.value,
        details={
            "export_id": rec.id,
            "sha256": digest,
            "path": str(output),
            "sighting_id": ctx.sighting_id,
            "frames": len(decoded),
            "unblurred": unblurred,
            "unblur_request": unblur_request_id,
            "unblur_approved_by": rec.unblur_approved_by,
        },
    )
    return ExportResult(
        export_id=rec.id,
        path=output,
        sha256=digest,
        case_ref=case_ref,
        alert_id=alert_id,
        exporter=exporter,
        frames=len(decoded),
        files=len(files),
        unblurred=unblurred,
        unblur_approved_by=rec.unblur_approved_by,
        subject_track=subject_i,
        blurred_boxes=blurred,
        residual_boxes=residual_total,
    )


def request_unblur(
    store: Store, *, case_ref: str, alert_id: int, reason: str, requested_by: str
) -> UnblurRequestRecord:
    """Ask for an unblurred package of ``alert_id`` (needs ``Perm.EXPORT``); audited."""
    actor = require(store, requested_by, Perm.EXPORT)
    ctx = alert_context(store, alert_id)
    require(store, requested_by, Perm.EXPORT, camera=ctx.camera)
    req = create_unblur_request(store, case_ref, alert_id, reason, requested_by)
    store.append_audit(
        requested_by,
        "export.unblur_request",
        f"unblur_request:{req.id}",
        case_ref=req.case_ref,
        reason=req.reason,
        role=actor.role.value,
        details={"alert_id": alert_id, "sighting_id": ctx.sighting_id},
    )
    return req


def decide_unblur(store: Store, request_id: int, decided_by: str, *, approve: bool) -> UnblurRequestRecord:
    """Approve or refuse an unblur request (needs ``Perm.UNBLUR_APPROVE``, not the requester); audited."""
    actor = require(store, decided_by, Perm.UNBLUR_APPROVE)
    req = decide_unblur_request(store, request_id, decided_by, approve=approve)
    store.append_audit(
        decided_by,
        "export.unblur_approve" if approve else "export.unblur_refuse",
        f"unblur_request:{req.id}",
        case_ref=req.case_ref,
        reason=req.reason,
        role=actor.role.value,
        details={"alert_id": req.alert_id, "requested_by": req.requested_by},
    )
    return req


__all__ = [
    "ExportResult",
    "decide_unblur",
    "decode_window",
    "export_evidence",
    "request_unblur",
    "sha256_file",
]
