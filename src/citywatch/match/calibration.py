"""Thresholds from calibration, never typed in by hand.

A calibration file records, for one embedder, the similarity threshold at one
or more target false-accept rates, with the data it was measured on. The
package ships the calibration of its default embedder (made with
``citywatch calibrate`` on the shared development data, see docs/calibration.md);
``citywatch calibrate`` writes a new one for a deployment into its config.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from citywatch.config import MatchConfig
from citywatch.errors import ModelError


class CalibrationPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    far: float = Field(description="Target false-accept rate per comparison.")
    threshold: float = Field(description="Cosine similarity at and above which two faces match.")
    tar: float = Field(description="True-accept rate at this threshold on the calibration pairs.")


class CalibrationFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    dataset: str = Field(description="What the calibration was measured on.")
    n_genuine: int
    n_impostor: int
    created: str
    points: list[CalibrationPoint]

    def threshold_for(self, far: float) -> float:
        for p in self.points:
            if abs(p.far - far) <= 1e-12 + 1e-6 * far:
                return p.threshold
        have = ", ".join(f"{p.far:g}" for p in self.points)
        raise ModelError(
            f"no calibration of {self.model} at FAR {far:g} (have {have}); "
            "run `citywatch calibrate` to make one"
        )


def shipped_calibration(model: str) -> CalibrationFile:
    res = resources.files("citywatch.match").joinpath("calibrations", f"{model}.json")
    if not res.is_file():
        raise ModelError(f"no shipped calibration for embedder {model!r}; run `citywatch calibrate`")
    return CalibrationFile.model_validate(json.loads(res.read_text(encoding="utf-8")))


def load_calibration(path: Path) -> CalibrationFile:
    try:
        return CalibrationFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelError(f"calibration file {path}: {exc}") from exc


def resolve_threshold(cfg: MatchConfig, model: str) -> float:
    """The configured threshold if calibrated into the config, else the shipped one at ``target_far``."""
    if cfg.threshold is not None:
        return cfg.threshold
    return shipped_calibration(model).threshold_for(cfg.target_far)
