"""ONNX Runtime sessions for the model plugins: execution providers from config, with a clear fallback.

A shared leaf (like ``types`` and ``errors``): the ONNX detectors and embedders
both build their sessions here, so provider choice, threading and the
"asked for CUDA, running on CPU" warning behave the same everywhere.

ONNX Runtime itself falls back silently when a provider is compiled in but
cannot start (CUDA libraries missing, no device); we compare what was asked
with what the session reports and log one warning naming both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citywatch.errors import ModelError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"


def available_providers() -> list[str]:
    """Providers this onnxruntime build offers (``onnxruntime-gpu`` adds CUDA/TensorRT)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def runtime_errors() -> tuple[type[Exception], ...]:
    """The exceptions onnxruntime raises for bad models and failed runs (pybind11: no common base)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as e

    return (
        e.Fail,
        e.InvalidArgument,
        e.InvalidGraph,
        e.InvalidProtobuf,
        e.NoSuchFile,
        e.NotImplemented,
        e.RuntimeException,
    )


def choose_providers(requested: Sequence[str], available: Sequence[str], what: str) -> list[str]:
    """``requested`` in order, minus those this build lacks (warned once), CPU last as the floor."""
    wanted = list(requested) or [CPU]
    usable = [p for p in wanted if p in available]
    missing = [p for p in wanted if p not in available]
    if missing:
        log.warning(
            "%s: execution provider(s) %s not available in this onnxruntime build (available: %s); using %s",
            what,
            ", ".join(missing),
            ", ".join(available) or "none",
            ", ".join(usable or [CPU]),
        )
    if CPU not in usable:
        usable.append(CPU)
    return usable


def create_session(path: Path, providers: Sequence[str], threads: int, what: str) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``; ``what`` names the plugin in messages.

    Raises :class:`ModelError` when the file is missing or not a model ONNX
    Runtime can load. ``threads`` 0 keeps ONNX Runtime's default (all cores).
    """
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"{what}: model file {path} not found")
    usable = choose_providers(providers, available_providers(), what)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # its own warnings repeat ours; errors still surface as exceptions
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=usable)
    except runtime_errors() as exc:
        raise ModelError(f"{what}: cannot load {path}: {exc}") from exc
    active = list(session.get_providers())
    if usable[0] not in active:
        log.warning(
            "%s: %s did not start (missing CUDA/cuDNN libraries or no device?); running on %s",
            what,
            usable[0],
            active[0] if active else "nothing",
        )
    log.info("%s: %s on %s", what, path.name, active[0] if active else "?")
    return session


def fixed_dim(value: object) -> int | None:
    """A tensor dimension as an int, or ``None`` when it is symbolic (``"batch"``, ``None``, ``-1``)."""
    return value if isinstance(value, int) and value > 0 else None


def resolve_model_path(configured: str, model_dir: Path | None, default_file: str) -> Path | None:
    """The weights file: ``configured`` (relative paths under ``model_dir``), else ``model_dir/default_file``.

    ``None`` when nothing is configured and there is no model folder to look in.
    """
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute() and model_dir is not None:
            path = model_dir / path
        return path
    return model_dir / default_file if model_dir is not None else None


def require_model_path(path: Path | None, what: str, setting: str, catalogue_name: str) -> Path:
    """``path`` if the file exists, else a :class:`ModelError` that says how to get one."""
    if path is not None and path.is_file():
        return path
    where = f"{path} not found" if path is not None else "no model file configured"
    raise ModelError(
        f"{what}: {where}; set {setting} to the .onnx file, or download it with "
        f"`citywatch models pull {catalogue_name}` (saved under <data-dir>/models/)"
    )
