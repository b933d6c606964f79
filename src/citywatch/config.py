"""One pydantic model tree for all configuration, loaded from one YAML file.

Every model forbids unknown keys and every field has a default and a
description, so an empty file is a valid configuration and ``config validate``
can point at the exact YAML line of a mistake.

Environment overrides: ``CITYWATCH_<SECTION>__<FIELD>=value`` (nested with
``__``; the value is parsed as YAML, so ``0.5`` is a float and ``[a, b]`` a
list), e.g. ``CITYWATCH_MATCH__TARGET_FAR=1e-4``. ``CITYWATCH_DATABASE_URL`` is
kept as a short alias for ``database.url``. ``CITYWATCH_HOME`` (or the CLI's
``--data-dir``) selects the data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from citywatch.errors import ConfigError

ENV_PREFIX = "CITYWATCH_"
DEFAULT_HOME = "citywatch-data"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- detect ---------------------------------------------------------------


class BlazeFaceConfig(_Strict):
    type: Literal["blazeface"] = Field("blazeface", description="MediaPipe BlazeFace (TFLite, Apache-2.0).")
    variant: Literal["full_range", "short_range"] = Field(
        "full_range", description="full_range finds small faces far away; short_range is for selfies."
    )
    min_confidence: float = Field(
        0.6, ge=0.0, le=1.0, description="Minimum detector score to keep a face (MediaPipe uses 0.6)."
    )
    nms_iou: float = Field(0.3, gt=0.0, le=1.0, description="IoU above which overlapping boxes merge.")
    tile: bool = Field(
        True,
        description="Run the 192x192 model on overlapping square tiles of wide frames "
        "(small faces stay large enough to find).",
    )
    threads: int = Field(1, ge=1, description="Interpreter threads (one per camera worker is usual).")


class DlibHogConfig(_Strict):
    type: Literal["dlib_hog"] = Field(
        "dlib_hog", description="dlib HOG + SVM: fast, blind below ~80 px faces."
    )
    upsample: int = Field(0, ge=0, le=2, description="Times to upsample the image before detecting.")
    min_confidence: float = Field(0.0, description="Minimum SVM score (can be negative).")


class DlibCnnConfig(_Strict):
    type: Literal["dlib_cnn"] = Field(
        "dlib_cnn", description="dlib MMOD CNN: accurate, seconds a frame on CPU."
    )
    upsample: int = Field(0, ge=0, le=2, description="Times to upsample the image before detecting.")
    min_confidence: float = Field(0.0, description="Minimum MMOD score.")


class _OnnxModelConfig(_Strict):
    """Fields every ONNX plugin shares: where its weights are and what runs them."""

    model_path: str = Field(
        "",
        description="The .onnx file. Empty: <data-dir>/models/<the catalogue's file name> "
        "(`citywatch models pull NAME` puts it there).",
    )
    providers: tuple[str, ...] = Field(
        ("CPUExecutionProvider",),
        description="ONNX Runtime execution providers in order of preference, e.g. "
        "[CUDAExecutionProvider, CPUExecutionProvider]; missing ones are skipped with a warning.",
    )
    threads: int = Field(
        1, ge=0, description="Intra-op threads per session (0: ONNX Runtime's default, every core)."
    )


class YuNetConfig(_Strict):
    type: Literal["yunet"] = Field(
        "yunet", description="OpenCV YuNet (cv2.FaceDetectorYN, MIT): small and fast, 5 landmarks."
    )
    model_path: str = Field(
        "", description="face_detection_yunet_2023mar.onnx. Empty: <data-dir>/models/<that file>."
    )
    min_confidence: float = Field(0.6, ge=0.0, le=1.0, description="Minimum face score.")
    nms_iou: float = Field(0.3, gt=0.0, le=1.0, description="IoU above which overlapping boxes merge.")
    top_k: int = Field(5000, ge=1, description="Candidates kept before non-maximum suppression.")
    max_side: int = Field(
        0, ge=0, description="Downscale frames whose longer side exceeds this before detecting (0: never)."
    )


class ScrfdConfig(_OnnxModelConfig):
    type: Literal["scrfd"] = Field(
        "scrfd",
        description="InsightFace SCRFD on ONNX Runtime (weights non-commercial research only, e.g. buffalo_l "
        "det_10g.onnx); needs a model with landmarks (*_bnkps / *_kps).",
    )
    input_size: int = Field(
        640, ge=32, multiple_of=32, description="Square input side for models without a fixed input size."
    )
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Minimum face score.")
    nms_iou: float = Field(0.4, gt=0.0, le=1.0, description="IoU above which overlapping boxes merge.")


DetectorConfig = Annotated[
    BlazeFaceConfig | DlibHogConfig | DlibCnnConfig | YuNetConfig | ScrfdConfig, Field(discriminator="type")
]


# --- embed ----------------------------------------------------------------


class DlibResnetConfig(_Strict):
    type: Literal["dlib_resnet"] = Field(
        "dlib_resnet", description="dlib ResNet-34, 128-d (face_recognition_models)."
    )
    jitter: int = Field(
        0, ge=0, le=10, description="Random re-crops averaged per face (slower, slightly better)."
    )
    batch_size: int = Field(16, ge=1, description="Faces per forward pass.")


class _OnnxEmbedderConfig(_OnnxModelConfig):
    batch_size: int = Field(
        16, ge=1, description="Faces per forward pass (models with a fixed batch run one by one)."
    )
    model_id: str = Field(
        "",
        pattern=r"^$|^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="Name of the vector space these weights make. Empty: <type>-<file stem>. "
        "Vectors of two model ids are never compared.",
    )


class SFaceConfig(_OnnxEmbedderConfig):
    type: Literal["sface"] = Field("sface", description="OpenCV SFace (Apache-2.0), 128-d, on ONNX Runtime.")


class ArcFaceConfig(_OnnxEmbedderConfig):
    type: Literal["arcface"] = Field(
        "arcface",
        description="InsightFace ArcFace on ONNX Runtime, 512-d (buffalo_l w600k_r50.onnx: non-commercial "
        "research only).",
    )
    input_mean: float = Field(
        127.5,
        description="Subtracted from each pixel (0-255). InsightFace models since 2021 (buffalo_l, antelopev2) "
        "use 127.5; old MXNet exports that normalise inside the graph need 0.",
    )
    input_std: float = Field(
        127.5, gt=0, description="Each pixel is then divided by this (MXNet exports: 1)."
    )


EmbedderConfig = Annotated[DlibResnetConfig | SFaceConfig | ArcFaceConfig, Field(discriminator="type")]


# --- track / match --------------------------------------------------------


class TrackerConfig(_Strict):
    activation_threshold: float = Field(
        0.5, ge=0, le=1, description="Detector score that starts a new track."
    )
    lost_seconds: float = Field(1.0, gt=0, description="A track ends after this long without a detection.")
    matching_threshold: float = Field(0.8, gt=0, le=1, description="ByteTrack IoU matching threshold.")
    min_detections: int = Field(2, ge=1, description="Tracks with fewer detections are discarded as noise.")
    confirm_rate: float = Field(
        2.0,
        ge=1,
        le=10,
        description="A face seen for the first time is looked for again on the next frames, at this "
        "multiple of the camera's detect_fps (up to the source's own rate), until its track would be "
        "kept (min_detections, and a shot good enough to embed) or confirm_seconds have passed: a short "
        "glimpse is kept instead of being dropped as noise, at the cost of a few extra detections per "
        "new face. 1: off (every frame on the detect_fps grid only).",
    )
    confirm_seconds: float = Field(
        1.0,
        ge=0,
        le=10,
        description="How long a new track may get the extra looks of confirm_rate (a track that never "
        "yields a usable shot, such as the back of a head, then goes back to detect_fps).",
    )
    best_shots: int = Field(5, ge=1, le=50, description="Best-quality shots kept (and embedded) per track.")
    verify_faces: bool = Field(
        True,
        description="Keep a track only if a second, higher-resolution frontal-face check (dlib HOG on the "
        "upscaled best shots) confirms a face: drops backs of heads and hair that small-face detectors "
        "report, which cannot be recognised anyway.",
    )
    min_face_px: float = Field(
        12.0, ge=0, description="Shots whose inter-eye distance is below this many pixels are not kept."
    )


class MatchConfig(_Strict):
    target_far: float = Field(
        1e-3, gt=0, lt=1, description="False-accept rate the threshold is calibrated for (per comparison)."
    )
    threshold: float | None = Field(
        None,
        description="Cosine-similarity threshold written by `citywatch calibrate`. "
        "Empty: use the calibration shipped with the embedder for target_far.",
    )


# --- ingest ---------------------------------------------------------------


class MotionConfig(_Strict):
    enabled: bool = Field(True, description="Skip detection on frames where nothing moved.")
    pixel_threshold: int = Field(20, ge=1, le=255, description="Grey-level change that counts as motion.")
    min_area: float = Field(
        0.0005, ge=0, le=1, description="Share of pixels that must change for a frame to count as moving."
    )
    keepalive_seconds: float = Field(
        2.0, ge=0, description="Detect anyway at least this often, so a still face is not missed (0: never)."
    )
    focus: bool = Field(
        False,
        description="Between keepalive frames, run only the detector tiles that overlap moving areas or "
        "tracked faces (same detections there; pays where motion keeps to one part of a wide frame; measured "
        "no gain on the shared clips, docs/speed.md); off: every frame that passes the gate gets a full pass.",
    )


class IngestConfig(_Strict):
    queue_size: int = Field(
        8, ge=1, description="Frames buffered between decode and detect; extra are dropped."
    )
    reconnect_min_seconds: float = Field(
        0.5, gt=0, description="First wait before reconnecting a live source."
    )
    reconnect_max_seconds: float = Field(30.0, gt=0, description="Longest wait between reconnect attempts.")
    max_pixels: int = Field(
        40_000_000,
        gt=0,
        description="Images or frames above this many pixels are refused (decompression bombs).",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion gate.")


class CameraConfig(_Strict):
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Unique camera id.")
    source: str = Field(
        "",
        description="File path, image folder, GIF, rtsp:// or http(s):// URL, or replay:FILE (a file as a live camera).",
    )
    detect_fps: float = Field(5.0, gt=0, le=60, description="Frames per second sent to detection.")
    location: str = Field("", description="Human-readable place.")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude (WGS84).")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude (WGS84).")
    enabled: bool = Field(True, description="Process this camera.")
    recognition: bool = Field(True, description="Run face recognition on this camera.")
    district: str = Field("", description="District, for the public transparency report.")
    purpose: str = Field("", description="Why the camera is there, for the public transparency report.")
    vendor: str = Field("", description="Camera vendor, for the public transparency report.")
    cost: float | None = Field(None, ge=0, description="Purchase and installation cost, for the report.")
    installed_on: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Installation date (YYYY-MM-DD), for the report."
    )


class RetentionConfig(_Strict):
    """How long data is kept. Tunable, never off: every bound has a floor and a ceiling."""

    unmatched_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 30,
        description="Unmatched sightings (rows, vectors, thumbnails) expire after this.",
    )
    matched_days: float = Field(
        30.0,
        gt=0,
        le=365,
        description="Matched sightings and their alerts expire after this, unless on legal hold.",
    )
    audit_days: float = Field(
        183.0, ge=183, description="Audit entries are kept at least this long (never under six months)."
    )
    interval_minutes: float = Field(
        15.0, gt=0, le=24 * 60, description="How often `serve` runs the retention job."
    )


class GovernanceConfig(_Strict):
    """Safeguards: configuration tunes them, it cannot remove them."""

    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention periods.")
    watchlist_default_days: int = Field(30, ge=1, description="Default expiry of a watchlist entry.")
    watchlist_max_days: int = Field(
        90, ge=1, le=365, description="Longest expiry a watchlist entry may have."
    )
    urgent_live_hours: float = Field(
        24.0,
        gt=0,
        le=24,
        description="An urgent live-identification authorisation must be granted within this.",
    )
    urgent_post_event_hours: float = Field(
        48.0, gt=0, le=48, description="An urgent post-event authorisation must be granted within this."
    )
    min_eye_px: float = Field(
        16.0,
        ge=8,
        description="Capture-quality floor: recognition is refused on a camera whose median inter-eye distance "
        "is below this many pixels.",
    )
    min_quality_sightings: int = Field(
        20, ge=1, description="Sightings needed before a camera's capture quality is judged."
    )
    operator_name: str = Field("", description="Who runs this system (shown on the transparency report).")


class DatabaseConfig(_Strict):
    url: str = Field("", description="SQLAlchemy URL. Empty: SQLite file citywatch.db in the data directory.")


class VectorConfig(_Strict):
    uri: str = Field(
        "",
        description="Empty: FAISS files in the data directory (one process writes, embedded use). "
        "Otherwise Milvus: a server URI (http://host:19530) or a milvus-lite file ending in .db "
        "(relative to the data directory; single process only).",
    )
    token_env: str = Field(
        "CITYWATCH_MILVUS_TOKEN",
        description="Environment variable holding the Milvus token or user:password (never put it in this file).",
    )
    collection_prefix: str = Field(
        "citywatch",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="Milvus collection names start with this (one collection per embedding model).",
    )
    index_type: Literal["FLAT", "HNSW"] = Field(
        "HNSW",
        description="Milvus vector index: FLAT is exact (brute force); HNSW is approximate and fast at scale.",
    )
    hnsw_ef: int = Field(
        128,
        ge=1,
        le=32768,
        description="HNSW search breadth (raised to k when k is larger): recall vs speed.",
    )
    faiss_exact_limit: int = Field(
        200_000,
        ge=1,
        description="FAISS (empty uri): a day segment with more vectors than this is rebuilt as IVF "
        "at the next flush (exact below it; an exact scan of 200,000 takes a few ms).",
    )
    faiss_probe_factor: float = Field(
        5.0,
        gt=0,
        le=1000,
        description="FAISS IVF segments: an unfiltered query visits this x sqrt(lists) lists "
        "(5: recall@10 ~0.99 at 1 M and 10 M, docs/speed.md). Higher: better recall, slower.",
    )


# --- events (alerts out) ----------------------------------------------------


class MqttConfig(_Strict):
    """MQTT publisher (MQTT 5) with Home Assistant discovery."""

    enabled: bool = Field(False, description="Publish alerts to an MQTT broker.")
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    tls: bool = Field(False, description="Connect with TLS (system CA certificates).")
    username: str = Field("", description="Broker user name (empty: anonymous).")
    password_env: str = Field(
        "CITYWATCH_MQTT_PASSWORD",
        description="Environment variable holding the broker password (never put it in this file).",
    )
    client_id: str = Field("citywatch-events", description="MQTT client id (unique per dispatcher).")
    topic_prefix: str = Field(
        "citywatch",
        pattern=r"^[^#+/][^#+]*$",
        description="Alerts go to <prefix>/alerts; each camera's last alert to <prefix>/<camera>/alert "
        "(retained).",
    )
    qos: Literal[1, 2] = Field(1, description="Delivery guarantee to the broker (1: at least once).")
    keepalive_seconds: int = Field(30, ge=5, le=3600, description="MQTT keepalive interval.")
    publish_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="How long to wait for the broker's acknowledgement before retrying."
    )
    discovery: bool = Field(
        True, description="Announce one Home Assistant sensor per camera (retained config messages)."
    )
    discovery_prefix: str = Field("homeassistant", description="Home Assistant's MQTT discovery prefix.")


class WebhookConfig(_Strict):
    """One HTTP endpoint that receives alerts as signed JSON POSTs."""

    name: str = Field(
        ..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Unique name (in logs and the outbox)."
    )
    url: str = Field(..., pattern=r"^https?://", description="Endpoint (http:// or https://).")
    secret_env: str = Field(
        "CITYWATCH_WEBHOOK_SECRET",
        description="Environment variable holding the HMAC-SHA256 signing secret (never put it in this file).",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per-request timeout.")


class EventsConfig(_Strict):
    """Alerts out: every alert is committed with its outbox row, then delivered at least once."""

    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT publisher.")
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Webhook endpoints.")
    include_names: bool = Field(
        False,
        description="Put the watchlist entry's name in alert messages. Off: an alert is a lead for a "
        "human to verify, not an identification, and messages leave this system.",
    )
    max_attempts: int = Field(
        12, ge=1, le=1000, description="Delivery attempts per destination before an alert is marked dead."
    )
    backoff_seconds: float = Field(
        2.0, gt=0, le=3600, description="Wait after the first failed attempt; doubles after each failure."
    )
    backoff_max_seconds: float = Field(600.0, gt=0, description="Longest wait between two attempts.")
    poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the dispatcher looks for new alerts when idle."
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="Outbox rows handled per round.")
    lease_seconds: float = Field(
        60.0,
        gt=0,
        description="A claimed row is left to its dispatcher this long before another one retries it.",
    )

    @model_validator(mode="after")
    def _unique_webhooks(self) -> EventsConfig:
        names = [w.name for w in self.webhooks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"events.webhooks: duplicate webhook name(s) {dupes}")
        return self


class SearchConfig(_Strict):
    default_limit: int = Field(50, ge=1, le=10_000, description="Results returned when --limit is not given.")
    max_window_days: int = Field(
        31,
        ge=1,
        le=366,
        description="Longest time window one search may cover; a search must name a bounded window.",
    )


class ApiConfig(_Strict):
    """The REST API and console served by ``citywatch serve``. Login protection cannot be switched off."""

    session_hours: float = Field(12.0, gt=0, le=24 * 7, description="A console login lasts this long.")
    token_max_days: int = Field(365, ge=1, le=3650, description="Longest validity of an API bearer token.")
    login_max_failures: int = Field(
        5, ge=1, le=20, description="Failed logins per user and client address within the window before 429."
    )
    login_window_seconds: float = Field(
        60.0, ge=10, le=3600, description="The window failed logins are counted in."
    )
    cookie_secure: bool = Field(
        False, description="Send cookies only over HTTPS (set when serving behind TLS)."
    )
    max_upload_mb: float = Field(20.0, gt=0, le=200, description="Largest photo upload accepted.")
    alert_poll_seconds: float = Field(
        0.1,
        ge=0.02,
        le=5.0,
        description="How often the live alert stream looks for new alerts committed by camera workers.",
    )


class ConsoleConfig(_Strict):
    """The operator console's look; nothing here can widen what a user may see."""

    map_tile_url: str = Field(
        "",
        description="Optional map tile URL template (e.g. https://tile.example.org/{z}/{x}/{y}.png) drawn "
        "under the camera markers. Empty: a plain background with a grid, which works offline.",
    )
    map_tile_attribution: str = Field("", description="Attribution shown with the map tiles.")


class FleetConfig(_Strict):
    """The camera fleet that ``citywatch serve`` runs: one worker per enabled camera."""

    service_user: str = Field(
        "citywatch-fleet",
        min_length=1,
        description="User the camera workers process as (needs the `process` permission). Created on "
        "first start as a password-less service account (role admin, cannot log in) once a first "
        "admin exists; audited as user.create.",
    )
    restart_min_seconds: float = Field(1.0, gt=0, description="First wait before restarting a dead worker.")
    restart_max_seconds: float = Field(
        60.0, gt=0, description="Longest wait between restarts; a worker that ran this long resets it."
    )
    health_seconds: float = Field(1.0, gt=0, le=60, description="How often workers report their health.")
    live_frame_seconds: float = Field(
        1.0,
        ge=0,
        description="How often each camera's latest frame is written to <data dir>/live/<camera>.jpg "
        "for the console tiles (0: never). The file is overwritten in place and deleted when the camera stops.",
    )
    live_frame_quality: int = Field(70, ge=10, le=95, description="JPEG quality of the live frames.")
    stop_seconds: float = Field(
        10.0, gt=0, description="Grace period for a worker to finish its open tracks before it is killed."
    )


class RayConfig(_Strict):
    """The Ray engine: camera workers and recognition as Ray actors (``engine: ray``)."""

    address: str = Field(
        "",
        description="Ray cluster to join (host:port of the head, or 'auto'). Empty: start a local Ray "
        "instance in this process. Env: CITYWATCH_RAY_ADDRESS.",
    )
    namespace: str = Field("citywatch", min_length=1, description="Ray namespace of the named actors.")
    camera_cpus: float = Field(
        1.0, gt=0, description="CPUs reserved per camera actor (decode, detect, track)."
    )
    recognition_actors: int = Field(1, ge=1, description="Recognition actors (batched embedding).")
    recognition_cpus: float = Field(1.0, ge=0, description="CPUs reserved per recognition actor.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per recognition actor (0: CPU only).")
    batch_size: int = Field(32, ge=1, description="Most faces one recognition forward pass takes.")
    batch_wait_ms: float = Field(
        10.0, ge=0, description="How long a recognition actor waits to fill a batch (latency vs throughput)."
    )
    max_restarts: int = Field(
        -1, ge=-1, description="Times Ray restarts a dead actor (-1: forever); its work is retried."
    )


class Config(_Strict):
    """The whole configuration."""

    detector: DetectorConfig = Field(default_factory=BlazeFaceConfig, description="Face detector plugin.")
    embedder: EmbedderConfig = Field(default_factory=DlibResnetConfig, description="Face embedder plugin.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracking and best shots.")
    match: MatchConfig = Field(default_factory=MatchConfig, description="Watchlist matching.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Decoding and back-pressure.")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Configured cameras.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Relational store.")
    vectors: VectorConfig = Field(default_factory=VectorConfig, description="Vector store.")
    events: EventsConfig = Field(default_factory=EventsConfig, description="Alerts out: MQTT and webhooks.")
    search: SearchConfig = Field(default_factory=SearchConfig, description="Retrospective search.")
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig, description="Safeguards.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="REST API, console logins and sessions.")
    console: ConsoleConfig = Field(default_factory=ConsoleConfig, description="Operator console.")
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Where camera workers run: local worker processes, or Ray actors (env CITYWATCH_ENGINE).",
    )
    fleet: FleetConfig = Field(default_factory=FleetConfig, description="Camera fleet supervision.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray engine settings.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Logging level.")

    @model_validator(mode="after")
    def _watchlist_expiry(self) -> Config:
        g = self.governance
        if g.watchlist_default_days > g.watchlist_max_days:
            raise ValueError("governance.watchlist_default_days is above governance.watchlist_max_days")
        return self

    @model_validator(mode="after")
    def _unique_cameras(self) -> Config:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.name in seen:
                raise ValueError(f"cameras: duplicate camera name {cam.name!r}")
            seen.add(cam.name)
        return self

    def camera(self, name: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.name == name), None)

    def sample_fps(self, cam: CameraConfig) -> float:
        """Frames a second a camera's source hands to the pipeline: ``detect_fps`` times
        ``tracker.confirm_rate`` (the pipeline detects the extra frames only to confirm new faces)."""
        return cam.detect_fps * self.tracker.confirm_rate


# --- loading --------------------------------------------------------------


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key in {"CITYWATCH_HOME", "CITYWATCH_USER"}:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name == "database_url":
            path = ["database", "url"]
        elif name == "vector_uri":
            path = ["vectors", "uri"]
        elif name == "engine":
            path = ["engine"]
        elif name == "ray_address":
            path = ["ray", "address"]
        elif "__" in name:
            path = name.split("__")
        else:
            continue
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        if path[-1] in ("url", "uri", "address"):
            value = raw  # URLs stay strings even if they look like YAML
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based YAML line of the value at ``loc`` (or of its nearest existing parent)."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    child = v
                    best = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            best = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return best


class ConfigIssue(BaseModel):
    """One problem found in a configuration file."""

    path: str
    line: int | None
    message: str
    value: str | None = None


def _issues(err: ValidationError, root: yaml.Node | None) -> list[ConfigIssue]:
    issues = []
    for e in err.errors():
        # drop discriminator tags that pydantic inserts into the location
        loc = tuple(
            p
            for p in e["loc"]
            if p
            not in (
                "blazeface",
                "dlib_hog",
                "dlib_cnn",
                "yunet",
                "scrfd",
                "dlib_resnet",
                "sface",
                "arcface",
            )
        )
        value = e.get("input")
        issues.append(
            ConfigIssue(
                path=".".join(str(p) for p in loc) or "(root)",
                line=_line_of(root, loc),
                message=e["msg"],
                value=None if isinstance(value, dict | list) else repr(value),
            )
        )
    return issues


def check_config_text(
    text: str, env: Mapping[str, str] | None = None
) -> tuple[Config | None, list[ConfigIssue]]:
    """Validate YAML text; return the config or the list of problems with their lines."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [ConfigIssue(path="(yaml)", line=mark.line + 1 if mark else None, message=str(exc))]
    if not isinstance(data, dict):
        return None, [ConfigIssue(path="(root)", line=1, message="the file must be a YAML mapping")]
    data = _merge(data, _env_overrides(os.environ if env is None else env))
    try:
        return Config.model_validate(data), []
    except ValidationError as err:
        return None, _issues(err, root)


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load ``path`` (or defaults when ``None``), apply environment overrides, validate.

    Raises :class:`ConfigError` listing every problem with its YAML line.
    """
    text = ""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from exc
    cfg, issues = check_config_text(text, env)
    if cfg is None:
        where = str(path) if path else "(defaults)"
        lines = [f"{where}:{i.line or '?'}: {i.path}: {i.message}" for i in issues]
        raise ConfigError("invalid configuration\n" + "\n".join(lines))
    return cfg


def resolve_home(data_dir: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The data directory: ``--data-dir``, else ``$CITYWATCH_HOME``, else ``./citywatch-data``."""
    e = os.environ if env is None else env
    home = data_dir or Path(e.get("CITYWATCH_HOME") or DEFAULT_HOME)
    return home.expanduser().resolve()
