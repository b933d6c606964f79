"""Composition root: builds plugins, stores and pipelines from one Config.

This is the only module (with ``engine/``) that sees several stages. The CLI,
the API and the benchmarks all go through :class:`App`, so a rule enforced
here (a legal basis on every entry, a case and a reason on every search, an
audit entry for each) holds whichever door a request came through.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from citywatch.config import BlazeFaceConfig, CameraConfig, Config, load_config, resolve_home
from citywatch.detect import build_detector
from citywatch.detect.base import FaceDetector, nearest_centre_index
from citywatch.embed import FaceEmbedder, FaceInput, build_embedder
from citywatch.engine.pipeline import CameraPipeline, TrackOutcome
from citywatch.engine.verify import FaceVerifier
from citywatch.errors import (
    CorruptMediaError,
    ModelError,
    MultipleFacesError,
    NoFaceError,
    NotFoundError,
    PolicyError,
)
from citywatch.governance.access import Perm, require
from citywatch.governance.authorisations import alert_scope, enforce_deadlines, restrict_gallery
from citywatch.governance.config_audit import record_config_changes
from citywatch.governance.quality import recognition_allowed
from citywatch.governance.retention import in_window
from citywatch.governance.watchlist import expiry_for
from citywatch.images import encode_jpeg, load_image
from citywatch.ingest.base import FrameSource
from citywatch.ingest.sources import open_source
from citywatch.log import scrub_url
from citywatch.match import Matcher, resolve_threshold
from citywatch.store.records import PhotoIn, SightingIn, SightingOut
from citywatch.store.repo import Store
from citywatch.store.retention import get_case
from citywatch.track.quality import frontalness
from citywatch.types import FloatArray, Gallery, ImageArray, SearchHit, SourceStats

logger = logging.getLogger(__name__)

# A second face smaller than this share of the largest one is background, not a
# second subject (a poster, a passer-by far behind): it does not make an
# enrolment photo ambiguous.
SECOND_FACE_MIN_SHARE = 0.35
LIVE_RECHECK_S = 30.0
"""A live run re-reads its authorisations this often: a refusal stops its alerting within this."""
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def current_actor(explicit: str | None = None) -> str:
    """Who is acting: ``--as``, else ``$CITYWATCH_USER``, else the OS user."""
    return explicit or os.environ.get("CITYWATCH_USER") or getpass.getuser()


@dataclass(frozen=True, slots=True)
class EnrolledIdentity:
    identity_id: int
    watchlist: str
    name: str
    photos: int
    status: str = "pending"
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SightingEvent:
    """What ``process`` reports for each stored sighting (and alert)."""

    kind: Literal["sighting", "alert"]
    sighting_id: int
    alert_id: int | None
    camera: str
    track_id: int
    start: datetime
    end: datetime
    identity: str | None
    watchlist: str | None
    score: float
    threshold: float
    thumbnail: str
    quality: float
    detections: int

    def to_json(self) -> dict[str, object]:
        return {
            "type": self.kind,
            "sighting_id": self.sighting_id,
            "alert_id": self.alert_id,
            "camera": self.camera,
            "track_id": self.track_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "identity": self.identity,
            "watchlist": self.watchlist,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "thumbnail": self.thumbnail,
            "quality": round(self.quality, 4),
            "detections": self.detections,
        }


@dataclass
class ProcessSummary:
    run_id: int
    camera: str
    source: str
    frames: int = 0
    sightings: int = 0
    alerts: int = 0
    seconds: float = 0.0
    status: str = "done"
    error: str | None = None
    stats: SourceStats = field(default_factory=SourceStats)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    detected: int = 0
    """Frames the detector ran on (the rest: off the detect_fps grid, or nothing moved)."""
    confirm_looks: int = 0
    """Of those, frames off the detect_fps grid looked at to confirm a new face (``tracker.confirm_rate``)."""
    case_ref: str | None = None
    authorisations: tuple[int, ...] = ()
    """Active authorisations this run's alerting ran under."""
    note: str = ""
    """Why no alert could be raised (no case, no active authorisation), else empty."""


def file_recorded_at(path: Path) -> datetime:
    """When a recording started: the container's ``creation_time`` if it has one, else the file's mtime."""
    import av

    try:
        with av.open(str(path)) as c:
            created = c.metadata.get("creation_time")
        if created:
            return datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
    except (av.FFmpegError, ValueError, OSError):
        pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def simulate_capture(image: ImageArray, face: FaceInput, eye_px: float) -> ImageArray:
    """``image`` as a surveillance camera would see it: face scaled to ``eye_px`` between the eyes, JPEG q 70."""
    import cv2

    eyes = float(np.linalg.norm(face.kps[1] - face.kps[0]))
    f = min(1.0, eye_px / max(eyes, 1.0))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1.0 else image
    captured: ImageArray = load_image(encode_jpeg(np.ascontiguousarray(small), quality=70))
    return captured


class App:
    """Everything built from one configuration and one data directory."""

    def __init__(self, cfg: Config, home: Path, store: Store, *, worker: bool = False) -> None:
        """``worker``: a camera worker's App (``engine/``), built from a config holding only its
        camera; the process that started the workers already stored the cameras and audited the
        configuration, so a worker does neither (it would record every other camera as removed)."""
        self.cfg = cfg
        self.home = home
        self.store = store
        if worker:
            return
        for cam in cfg.cameras:
            store.upsert_camera(
                cam.name,
                source=cam.source,
                location=cam.location,
                lat=cam.lat,
                lon=cam.lon,
                recognition=cam.recognition,
                district=cam.district,
                purpose=cam.purpose,
                vendor=cam.vendor,
                cost=cam.cost,
                installed_on=cam.installed_on,
            )
        record_config_changes(store, cfg)

    @classmethod
    def open(
        cls, config_path: Path | None = None, data_dir: Path | None = None, cfg: Config | None = None
    ) -> App:
        home = resolve_home(data_dir)
        home.mkdir(parents=True, exist_ok=True)
        if cfg is None:
            if config_path is None and (home / "config.yaml").is_file():
                config_path = home / "config.yaml"
            cfg = load_config(config_path)
        return cls(cfg, home, Store.open(cfg.database.url, home, vectors=cfg.vectors))

    def close(self) -> None:
        for name in ("detector", "photo_detector", "verifier"):
            if name in self.__dict__:
                self.__dict__[name].close()
        self.store.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plugins ---------------------------------------------------------------

    @cached_property
    def detector(self) -> FaceDetector:
        det = build_detector(self.cfg.detector, self.home / "models")
        det.load()
        return det

    @cached_property
    def photo_detector(self) -> FaceDetector:
        """The detector for still photos: tiling only pays on wide frames with small faces."""
        cfg = self.cfg.detector
        if isinstance(cfg, BlazeFaceConfig) and cfg.tile:
            det = build_detector(cfg.model_copy(update={"tile": False}))
            det.load()
            return det
        return self.detector

    @cached_property
    def verifier(self) -> FaceVerifier:
        v = FaceVerifier()
        v.load()
        return v

    @cached_property
    def embedder(self) -> FaceEmbedder:
        emb = build_embedder(self.cfg.embedder, self.home / "models")
        emb.load()
        return emb

    @cached_property
    def threshold(self) -> float:
        return resolve_threshold(self.cfg.match, self.embedder.model_id)

    def gallery(self, now: datetime | None = None) -> Gallery:
        return self.store.active_gallery(self.embedder.model_id, now or datetime.now(UTC))

    def matcher(self, now: datetime | None = None) -> Matcher:
        return Matcher(self.gallery(now), self.threshold)

    def camera(self, name: str) -> CameraConfig:
        cam = self.cfg.camera(name)
        if cam is None:
            known = ", ".join(c.name for c in self.cfg.cameras) or "none configured"
            raise NotFoundError(f"unknown camera {name!r} (configured: {known})")
        return cam

    # --- photos ------------------------------------------------------------------

    def photo_face(
        self, image: ImageArray, label: str, policy: Literal["single", "centre"] = "single"
    ) -> FaceInput | None:
        """The face of a still photo, or ``None`` if it shows none.

        ``single`` (enrolment, search probes) refuses a photo with several
        comparable faces; ``centre`` (LFW-style evaluation) takes the face
        nearest the centre.
        """
        dets = self.photo_detector.detect(image)
        if len(dets) == 0:
            return None
        if policy == "centre":
            i = nearest_centre_index(dets, image.shape)
            assert i is not None
        else:
            sizes = np.maximum(dets.xyxy[:, 2] - dets.xyxy[:, 0], dets.xyxy[:, 3] - dets.xyxy[:, 1])
            big = np.flatnonzero(sizes >= SECOND_FACE_MIN_SHARE * sizes.max())
            if len(big) > 1:
                raise MultipleFacesError(
                    f"{label}: shows {len(big)} faces; use a photo of the one person only (or crop it)"
                )
            i = int(big[0])
        return FaceInput(image, dets.xyxy[i], dets.kps[i])

    def check_vector_space(self) -> None:
        """Refuse to search when the store holds only vectors of other embedders.

        A new embedder is a new vector space: searching it would find nothing
        and look like "this person was never seen".
        """
        model = self.embedder.model_id
        if self.store.vector_index(model) is not None:
            return
        held = sorted(self.store.vectors.models() - {model})
        if held:
            raise ModelError(
                f"no sightings here were embedded with {model!r} (the configured embedder); this data "
                f"directory holds vectors of {', '.join(held)}. Vectors of two embedders cannot be compared: "
                f"configure that embedder again, or process the footage anew with {model!r}"
            )

    def embed_photo(self, path: Path, policy: Literal["single", "centre"] = "single") -> FloatArray:
        """Load, detect and embed one photo; NoFaceError/MultipleFacesError/InvalidImageError name it."""
        image = load_image(path, max_pixels=self.cfg.ingest.max_pixels)
        face = self.photo_face(image, str(path), policy)
        if face is None:
            raise NoFaceError(f"{path}: no face found; use a photo where the face is clearly visible")
        vec: FloatArray = self.embedder.embed([face])[0]
        return vec

    def eval_encoder(self, capture_eye_px: float = 0.0) -> Callable[[Path], FloatArray | None]:
        """``path -> vector | None`` with the LFW convention (face nearest the centre).

        With ``capture_eye_px > 0`` the photo is first turned into a simulated
        camera capture: scaled down until its eyes are that many pixels apart,
        then JPEG-compressed, and the face is detected again in the result.
        That is what the matcher compares enrolment photos with, and impostor
        scores of such captures run higher than those of two good photos.
        """

        def encode(path: Path) -> FloatArray | None:
            image = load_image(path, max_pixels=self.cfg.ingest.max_pixels)
            face = self.photo_face(image, str(path), "centre")
            if face is not None and capture_eye_px > 0:
                image = simulate_capture(image, face, capture_eye_px)
                face = self.photo_face(image, str(path), "centre")
            return None if face is None else self.embedder.embed([face])[0]

        return encode

    # --- watchlists --------------------------------------------------------------

    def enroll(
        self,
        watchlist: str,
        name: str,
        photos: Sequence[Path],
        legal_basis: str,
        actor: str,
        *,
        provenance: Sequence[str] | str = (),
        legal_reference: str = "",
        expires_days: int | None = None,
        now: datetime | None = None,
    ) -> EnrolledIdentity:
        """Request a watchlist entry from one or more photos, each with exactly one face.

        The entry is ``pending`` (it never alerts) until a different user with
        ``watchlist.approve`` approves it (``governance.watchlist.decide``).
        ``actor`` needs ``watchlist.request``. Needs a legal basis (statute) and
        a legal reference, and a provenance for every photo: one per photo, or
        one for all (no unlabelled photos, no folders). The expiry is
        ``expires_days`` (default ``governance.watchlist_default_days``) and may
        not exceed ``governance.watchlist_max_days``. Every photo is checked
        before anything is written, so a bad photo leaves no partial entry.
        """
        now = now or datetime.now(UTC)
        who = require(self.store, actor, Perm.WATCHLIST_REQUEST)
        if not legal_basis.strip():
            raise PolicyError(f"watchlist entry {name!r} needs a legal basis: the statute (--legal-basis)")
        if not legal_reference.strip():
            raise PolicyError(
                f"watchlist entry {name!r} needs a legal reference: the order or reference number "
                "(--legal-reference)"
            )
        if not name.strip():
            raise PolicyError("a watchlist entry needs a name")
        if not photos:
            raise PolicyError("enrolment needs at least one photo")
        expires_at = expiry_for(self.cfg.governance, expires_days, now)
        provs = [provenance] if isinstance(provenance, str) else list(provenance)
        if len(provs) == 1:
            provs = provs * len(photos)
        if len(provs) != len(photos):
            raise PolicyError(
                f"give one --provenance per photo or one for all ({len(photos)} photo(s), "
                f"{len(provs)} provenance(s))"
            )
        for p, prov in zip(photos, provs, strict=True):
            if p.is_dir():
                raise PolicyError(
                    f"{p}: is a folder; bulk import of photo folders is not allowed, "
                    "give each photo with --photo and its --provenance"
                )
            if not prov.strip():
                raise PolicyError(f"{p}: photo has no provenance (--provenance: where it comes from)")
        ins: list[PhotoIn] = []
        for p, prov in zip(photos, provs, strict=True):
            vec = self.embed_photo(p, "single")
            ins.append(
                PhotoIn(
                    sha256=hashlib.sha256(p.read_bytes()).hexdigest(),
                    filename=p.name,
                    provenance=prov.strip(),
                    embedding=vec,
                    model=self.embedder.model_id,
                )
            )
        self.store.ensure_watchlist(watchlist, created_by=who.name)
        ident = self.store.add_identity(
            watchlist,
            name,
            legal_basis,
            enrolled_by=who.name,
            photos=ins,
            legal_reference=legal_reference.strip(),
            expires_at=expires_at,
            requested_by=who.name,
            status="pending",
        )
        self.store.append_audit(
            who.name,
            "watchlist.request",
            f"identity:{ident}",
            reason=legal_basis,
            role=who.role,
            details={
                "watchlist": watchlist,
                "legal_reference": legal_reference.strip(),
                "expires_at": expires_at.isoformat(),
                "photos": [{"sha256": p.sha256, "provenance": p.provenance} for p in ins],
            },
        )
        return EnrolledIdentity(ident, watchlist, name, len(ins), "pending", expires_at)

    # --- processing --------------------------------------------------------------

    def pipeline(self, camera: str, fps: float, matcher: Matcher | None = None) -> CameraPipeline:
        return CameraPipeline(
            camera,
            self.detector,
            self.embedder,
            matcher if matcher is not None else self.matcher(),
            self.cfg.tracker,
            fps=fps,
            motion_cfg=self.cfg.ingest.motion,
            verifier=self.verifier if self.cfg.tracker.verify_faces else None,
        )

    def process(
        self,
        source: str,
        camera: str,
        *,
        actor: str,
        case_ref: str | None = None,
        now: datetime | None = None,
        on_event: Callable[[SightingEvent], None] | None = None,
        on_frame: Callable[[int, float], None] | None = None,
        recorded_at: datetime | None = None,
        max_frames: int | None = None,
        frames: FrameSource | None = None,
    ) -> ProcessSummary:
        """Run one source through the pipeline as ``actor`` (``process``), storing a sighting per track.

        Alerts need an authorisation (``governance.authorisations``): a
        recorded file is a post-event use and alerts only for entries covered
        by an active post-event authorisation of ``case_ref`` whose cameras
        include ``camera`` and whose window covers the sighting time; a live
        source needs an active live authorisation covering the camera and the
        time (re-read every ``LIVE_RECHECK_S`` seconds). The matcher only sees
        the photos of covered entries, so any other person is stored as an
        unmatched sighting (no identity, no alert): that match was not
        authorised. Without ``case_ref`` a file gives sightings and no alerts
        (``ProcessSummary.note`` says so). Urgent authorisations past their
        deadline are expired (outputs deleted) first. ``now`` injects the clock.

        ``frames``: an already open source for ``source`` to read instead of opening
        one (camera workers own the connection across runs, read its health
        counters and close it to stop); it is closed when the run ends.

        Each sighting (and its alert) is committed before ``on_event`` hears of
        it. A corrupt file keeps every sighting found before the damage: the run
        is marked failed and :class:`CorruptMediaError` is raised afterwards.
        """
        who = require(self.store, actor, Perm.PROCESS)
        cam = self.camera(camera)
        if not who.sees_camera(camera):
            raise NotFoundError(f"unknown camera {camera!r} for user {who.name!r}")
        clock_now = now or datetime.now(UTC)
        case_ref = case_ref.strip() if case_ref and case_ref.strip() else None
        enforce_deadlines(self.store, who.name, now=clock_now)
        src = (
            frames
            if frames is not None
            else open_source(
                camera,
                source,
                detect_fps=cam.detect_fps,
                sample_fps=self.cfg.sample_fps(cam),
                cfg=self.cfg.ingest,
            )
        )
        live = src.live
        if recorded_at is None:
            path = Path(source)
            recorded_at = file_recorded_at(path) if not live and path.is_file() else datetime.now(UTC)
        window = (clock_now, _FAR_FUTURE) if live else (recorded_at, recorded_at + timedelta(days=1))
        scope = alert_scope(
            self.store, live=live, camera=camera, case_ref=case_ref, window=window, now=clock_now
        )
        allowed, why = recognition_allowed(self.store, camera, self.cfg.governance)
        if not allowed:
            logger.warning("camera %s: %s", camera, why)
        ids = scope.identity_ids() if allowed else set()
        gallery = restrict_gallery(self.gallery(clock_now), ids)
        pipe = self.pipeline(camera, cam.detect_fps, Matcher(gallery, self.threshold))
        threshold = pipe.matcher.threshold
        run_id = self.store.begin_run(
            camera,
            source,
            recorded_at,
            replace_unfinished=not live,
            case_ref=case_ref,
            authorisation_id=scope.run_authorisation(),
        )
        self.store.append_audit(
            who.name,
            "process",
            f"run:{run_id}",
            case_ref=case_ref,
            role=who.role,
            details={
                "camera": camera,
                "source": scrub_url(source),
                "live": live,
                "authorisations": [a.id for a in scope.authorisations],
                "recognition": allowed,
            },
        )
        summary = ProcessSummary(
            run_id=run_id,
            camera=camera,
            source=source,
            case_ref=case_ref,
            authorisations=tuple(a.id for a in scope.authorisations),
        )
        if not allowed:
            summary.note = f"{why}: sightings stored, no alerts raised"
        elif not live and case_ref is None:
            summary.note = (
                "no --case given: a recorded file is a post-event use; sightings stored, no alerts raised"
            )
        elif not scope.authorisations:
            what = f"case {case_ref!r}" if case_ref else "this camera"
            summary.note = (
                f"no active {'live' if live else 'post-event'} authorisation for {what} on camera "
                f"{camera!r}: sightings stored, no alerts raised"
            )
        last_check = [time.monotonic()]
        t0 = time.perf_counter()

        def authorised(identity_id: int | None, at: datetime) -> int | None:
            if identity_id is None:
                return None
            check_now = clock_now
            if live:
                check_now = now or datetime.now(UTC)
                if time.monotonic() - last_check[0] >= LIVE_RECHECK_S:
                    scope.refresh(check_now)
                    last_check[0] = time.monotonic()
            return scope.covering(identity_id, at, check_now)

        def when(ts: float) -> datetime:
            return datetime.fromtimestamp(ts, UTC) if live else recorded_at + timedelta(seconds=ts)

        def persist(outcomes: list[TrackOutcome]) -> None:
            for o in outcomes:
                tr, m = o.track, o.match
                auth_id = authorised(m.identity_id, when(tr.start))
                if auth_id is None and m.identity_id is not None:
                    m = replace(m, identity_id=None, identity_name=None, watchlist=None)
                out: SightingOut = self.store.add_sighting(
                    SightingIn(
                        run_id=run_id,
                        camera=camera,
                        track_id=tr.track_id,
                        start=when(tr.start),
                        end=when(tr.end),
                        start_offset=0.0 if live else tr.start,
                        end_offset=0.0 if live else tr.end,
                        embedding=o.embedded.template,
                        model=o.embedded.model,
                        quality=tr.shots[0].quality,
                        detections=tr.detections,
                        score=m.score,
                        threshold=threshold,
                        identity_id=m.identity_id,
                        face_px=tr.shots[0].face_px,
                        frontal=frontalness(tr.shots[0].kps),
                        authorisation_id=auth_id,
                    ),
                    encode_jpeg(o.thumbnail),
                )
                summary.sightings += 1
                summary.alerts += out.alert_id is not None
                if on_event is not None:
                    on_event(
                        SightingEvent(
                            kind="alert" if out.alert_id is not None else "sighting",
                            sighting_id=out.id,
                            alert_id=out.alert_id,
                            camera=camera,
                            track_id=tr.track_id,
                            start=when(tr.start),
                            end=when(tr.end),
                            identity=m.identity_name,
                            watchlist=m.watchlist,
                            score=m.score,
                            threshold=threshold,
                            thumbnail=str(self.store.thumbnail_path(out.thumbnail)),
                            quality=tr.shots[0].quality,
                            detections=tr.detections,
                        )
                    )

        store_seconds = [0.0]

        def persist_timed(outcomes: list[TrackOutcome]) -> None:
            t_store = time.perf_counter()
            persist(outcomes)
            store_seconds[0] += time.perf_counter() - t_store

        decode_seconds = 0.0
        try:
            with src:
                t_loop = time.perf_counter()
                for frame in src:
                    summary.frames += 1
                    persist_timed(pipe.feed(frame))
                    if on_frame is not None:
                        on_frame(frame.index, frame.timestamp)
                    if max_frames is not None and summary.frames >= max_frames:
                        break
                # what the loop spent outside the pipeline and the store: decoding and sampling
                decode_seconds = (
                    time.perf_counter() - t_loop - sum(pipe.times.seconds.values()) - store_seconds[0]
                )
                summary.stats = src.stats
            persist_timed(pipe.finish())
            summary.stats = replace(summary.stats, motion_skipped=pipe.times.motion_skipped)
            summary.detected, summary.confirm_looks = pipe.times.detected, pipe.times.confirm_looks
        except CorruptMediaError as exc:
            # keep what the intact part of the file gave us
            persist(pipe.finish())
            summary.status, summary.error = "failed", str(exc)
            self.store.finish_run(run_id, summary.frames, "failed", str(exc))
            summary.seconds = time.perf_counter() - t0
            raise
        summary.seconds = time.perf_counter() - t0
        summary.stage_seconds = {"decode": decode_seconds, **pipe.times.seconds, "store": store_seconds[0]}
        self.store.finish_run(run_id, summary.frames, "done")
        return summary

    # --- search ------------------------------------------------------------------

    def search(
        self,
        photo: Path,
        case_ref: str,
        reason: str,
        actor: str,
        *,
        cameras: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        now: datetime | None = None,
    ) -> list[SearchHit]:
        """Probe photo -> ranked sightings, inside a case, a reason and a bounded scope.

        Refused (PolicyError) without a case reference or a reason, for a case
        that does not exist (NotFoundError), without ``since``, or for a window
        longer than ``search.max_window_days``; ``until`` defaults to ``now``.
        ``cameras`` defaults to every camera the user may see, and the scope
        actually used is what gets recorded. Only sightings still inside their
        retention window are returned, even if the retention job is late.

        The search is recorded (case, reason, probe SHA-256, scope, result
        count) and appended to the audit trail, even when it finds nothing.
        """
        who = require(self.store, actor, Perm.SEARCH)
        if not case_ref.strip():
            raise PolicyError("a search needs a case reference (--case)")
        if not reason.strip():
            raise PolicyError("a search needs a reason (--reason)")
        case_ref = case_ref.strip()
        get_case(self.store, case_ref)
        clock_now = now or datetime.now(UTC)
        since, until = self._search_window(since, until, clock_now)
        for c in cameras or ():
            self.camera(c)
            if not who.sees_camera(c):
                raise NotFoundError(f"unknown camera {c!r}")
        if not cameras:
            cameras = sorted(who.cameras) if who.cameras is not None else [c.name for c in self.cfg.cameras]
            cameras = cameras or None  # no configured cameras: every camera that has sightings
        limit = limit or self.cfg.search.default_limit
        probe_sha = hashlib.sha256(photo.read_bytes()).hexdigest() if photo.is_file() else None
        self.check_vector_space()
        vec = self.embed_photo(photo, "single")
        retention = self.cfg.governance.retention
        # over-fetch: a late retention job may leave expired rows that are filtered out below
        found = [
            (s, score)
            for s, score in self.store.search_vectors(
                vec, limit * 2, cameras=cameras, since=since, until=until, model=self.embedder.model_id
            )
            if in_window(s, retention, clock_now)
        ][:limit]
        hits = [
            SearchHit(
                sighting_id=s.id,
                camera=s.camera,
                start=s.start.timestamp(),
                end=s.end.timestamp(),
                score=score,
                thumbnail=str(self.store.thumbnail_path(s.thumbnail)) if s.thumbnail else None,
                identity_name=s.identity_name,
            )
            for s, score in found
        ]
        self.store.record_search(case_ref, reason, actor, probe_sha, cameras, since, until, limit, len(hits))
        self.store.append_audit(
            actor,
            "search",
            "sightings",
            case_ref=case_ref,
            reason=reason,
            role=who.role,
            details={
                "probe_sha256": probe_sha,
                "results": len(hits),
                "cameras": list(cameras or []),
                "since": since.isoformat(),
                "until": until.isoformat(),
            },
        )
        return hits

    def _search_window(
        self, since: datetime | None, until: datetime | None, now: datetime
    ) -> tuple[datetime, datetime]:
        """A bounded, ordered search window; PolicyError naming the bad value otherwise."""
        max_days = self.cfg.search.max_window_days
        if since is None:
            raise PolicyError(
                f"a search needs a bounded time window: give --since (and --until, default now); "
                f"at most {max_days} days"
            )
        until = until or now
        if until <= since:
            raise PolicyError(f"search window is empty: --until {until.isoformat()} is not after --since")
        if until - since > timedelta(days=max_days):
            raise PolicyError(
                f"search window {since.isoformat()} .. {until.isoformat()} is longer than "
                f"search.max_window_days = {max_days}; narrow it"
            )
        return since, until


@contextmanager
def open_app(config_path: Path | None = None, data_dir: Path | None = None) -> Iterator[App]:
    app = App.open(config_path, data_dir)
    try:
        yield app
    finally:
        app.close()
