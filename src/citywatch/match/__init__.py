"""citywatch.match: open-set watchlist matching with calibrated thresholds."""

from citywatch.match.calibration import CalibrationFile, resolve_threshold, shipped_calibration
from citywatch.match.matcher import Matcher

__all__ = ["CalibrationFile", "Matcher", "resolve_threshold", "shipped_calibration"]
