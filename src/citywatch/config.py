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


DetectorConfig = Annotated[BlazeFaceConfig | DlibHogConfig | DlibCnnConfig, Field(discriminator="type")]


# --- embed ----------------------------------------------------------------


class DlibResnetConfig(_Strict):
    type: Literal["dlib_resnet"] = Field(
        "dlib_resnet", description="dlib ResNet-34, 128-d (face_recognition_models)."
    )
    jitter: int = Field(
        0, ge=0, le=10, description="Random re-crops averaged per face (slower, slightly better)."
    )
    batch_size: int = Field(16, ge=1, description="Faces per forward pass.")


EmbedderConfig = Annotated[DlibResnetConfig, Field(discriminator="type")]


# --- track / match --------------------------------------------------------


class TrackerConfig(_Strict):
    activation_threshold: float = Field(
        0.5, ge=0, le=1, description="Detector score that starts a new track."
    )
    lost_seconds: float = Field(1.0, gt=0, description="A track ends after this long without a detection.")
    matching_threshold: float = Field(0.8, gt=0, le=1, description="ByteTrack IoU matching threshold.")
    min_detections: int = Field(2, ge=1, description="Tracks with fewer detections are discarded as noise.")
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
    source: str = Field("", description="File path, image folder, GIF, rtsp:// or http(s):// URL.")
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
    uri: str = Field("", description="Empty: FAISS files in the data directory.")


class SearchConfig(_Strict):
    default_limit: int = Field(50, ge=1, le=10_000, description="Results returned when --limit is not given.")
    max_window_days: int = Field(
        31,
        ge=1,
        le=366,
        description="Longest time window one search may cover; a search must name a bounded window.",
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
    search: SearchConfig = Field(default_factory=SearchConfig, description="Retrospective search.")
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig, description="Safeguards.")
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
        elif "__" in name:
            path = name.split("__")
        else:
            continue
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        if path[-1] == "url" or path[-1] == "uri":
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
        loc = tuple(p for p in e["loc"] if p not in ("blazeface", "dlib_hog", "dlib_cnn", "dlib_resnet"))
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
