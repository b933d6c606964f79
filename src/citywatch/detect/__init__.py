"""citywatch.detect: faces in a frame (boxes, scores, five landmarks).

Plugins: ``blazeface`` (MediaPipe BlazeFace on LiteRT, tiled for small faces),
``dlib_hog``, ``dlib_cnn``, and with user-supplied weights ``yunet`` (OpenCV
DNN) and ``scrfd`` (ONNX Runtime). Build one from config with :func:`build_detector`.
"""

from citywatch.detect.base import (
    FaceDetector,
    ImageFormatError,
    check_image,
    nearest_centre,
    nearest_centre_index,
    nms,
)
from citywatch.detect.registry import build_detector

__all__ = [
    "FaceDetector",
    "ImageFormatError",
    "build_detector",
    "check_image",
    "nearest_centre",
    "nearest_centre_index",
    "nms",
]
