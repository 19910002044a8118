"""Inputs of ``slr render`` -> landmark sequences (and source pictures) -> a video file."""

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ..data.csv_format import PoseDataError, read_class_names, read_pose_csv
from .compose import compose_frames
from .writer import RenderError, VideoWriter


def load_landmarks(path, row: Optional[int] = None) -> Tuple[np.ndarray, List[str]]:
    """(frames (T, 54, 2), caption per frame) of a pose CSV (one row, 1-based, or every row one
    after another) or an extraction result (.npz with ``frames``, from ``slr extract``'s work
    folder)."""
    path = Path(path)
    if not path.is_file():
        raise RenderError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                frames = np.asarray(data["frames"], np.float32)
        except (OSError, KeyError, ValueError) as error:
            raise RenderError(f"{path}: not an extraction result with 'frames' ({error})") from None
        if frames.ndim != 3 or frames.shape[1:] != (54, 2) or not len(frames):
            raise RenderError(f"{path}: expected (frames, 54, 2) landmarks, got {frames.shape}")
        return frames, [f"frame {t}" for t in range(len(frames))]
    try:
        sequences = read_pose_csv(path)
    except PoseDataError as error:
        raise RenderError(str(error)) from None
    names = read_class_names(path, int(sequences.labels.max()) + 1) or []
    rows = range(len(sequences)) if row is None else [row - 1]
    if row is not None and not 1 <= row <= len(sequences):
        raise RenderError(f"{path}: --row {row} is out of range (1 to {len(sequences)})")
    pieces, captions = [], []
    for i in rows:
        sample = sequences.sample(i)
        label = int(sequences.labels[i])
        name = names[label] if label < len(names) else str(label)
        pieces.append(sample)
        captions += [f"row {i + 1}: {name}"] * len(sample)
    return np.concatenate(pieces), captions


def video_pictures(path):
    """(iterator of BGR frames, fps) of every frame of a video."""
    from ..extract.video import FrameOptions, VideoError, read_planned_frames
    import cv2
    try:
        frames, info = read_planned_frames(path, FrameOptions())
    except VideoError as error:
        raise RenderError(str(error)) from None
    return (cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) for _, rgb in frames), info["fps"] or 30.0


def render(frames: np.ndarray, output, fps: float = 30.0, images=None, side_by_side: bool = False,
           captions=None, size: int = 480) -> Path:
    """Write the sequence as MP4/GIF; returns the path. The file appears only when complete."""
    writer = VideoWriter(output, fps)
    try:
        for picture in compose_frames(frames, images, side_by_side, captions, size):
            writer.write(picture)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def render_input(source, output, row: Optional[int] = None, video=None, fps: Optional[float] = None,
                 side_by_side: bool = False, size: int = 480, model_complexity: int = 1) -> Tuple[Path, int]:
    """``slr render``: a CSV (row or all), an extraction result (.npz) or a video (landmarks
    extracted with MediaPipe, drawn over it) -> (output path, frames written). ``video``: draw a
    CSV's or result's landmarks over this video (frame t over frame t)."""
    source, output = Path(source), Path(output)
    if output.resolve() in {source.resolve(), Path(video).resolve() if video else None}:
        raise RenderError(f"{output}: the output would replace an input")
    images, video_fps = None, None
    if source.suffix.lower() in (".csv", ".npz"):
        frames, captions = load_landmarks(source, row)
        if video:
            images, video_fps = video_pictures(video)
    else:
        if not source.is_file():
            raise RenderError(f"{source}: no such file")
        from ..extract.extractor import ExtractOptions, extract_video
        result = extract_video(source, ExtractOptions(model_complexity=model_complexity))
        if not result.usable:
            raise RenderError(result.message)
        frames = result.frames
        captions = None
        images, video_fps = video_pictures(source)
    path = render(frames, output, fps or video_fps or 30.0, images, side_by_side, captions, size)
    return path, len(frames)
