"""Ingest: frames in, sampled to the detect fps, with reconnects, back-pressure and a motion gate.

Public API::

    open_source(camera, uri, *, detect_fps, cfg, sample_fps=None, clock=time.time, sleep=None) -> FrameSource
    MotionGate(cfg).moving(frame) -> bool
    DropQueue(maxsize, drop="oldest")
"""

from citywatch.ingest.base import FrameSource, Sampler
from citywatch.ingest.files import ImageFolderSource, VideoFileSource
from citywatch.ingest.live import LiveSource
from citywatch.ingest.motion import MotionGate
from citywatch.ingest.queue import DropQueue, QueueClosed
from citywatch.ingest.sources import open_source

__all__ = [
    "DropQueue",
    "FrameSource",
    "ImageFolderSource",
    "LiveSource",
    "MotionGate",
    "QueueClosed",
    "Sampler",
    "VideoFileSource",
    "open_source",
]
