"""Videos -> MediaPipe Holistic landmarks -> pose CSV, and videos -> predicted signs.

``extract_dataset`` / ``extract_video`` (:mod:`.extractor`) need MediaPipe 0.10.21 and OpenCV
(the ``mediapipe`` extra); the joint mapping (:mod:`.landmarks`) needs neither. Prediction
(:mod:`.predict`) imports torch, so it is loaded only when asked for: extraction worker processes
stay light.
"""

from .extractor import (ExtractionError, ExtractionReport, ExtractOptions, VideoItem, VideoResult,
                        collect_videos, extract_dataset, extract_video, extract_videos)
from .landmarks import frame_from_holistic
from .video import VideoError

__all__ = ["ExtractionError", "ExtractionReport", "ExtractOptions", "VideoError", "VideoItem",
           "VideoResult", "collect_videos", "extract_dataset", "extract_video", "extract_videos",
           "frame_from_holistic", "predict"]


def __getattr__(name):
    if name == "predict":
        from .predict import predict
        return predict
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
