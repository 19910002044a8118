"""Videos -> MediaPipe Holistic landmarks -> a SPOTER/Siformer pose CSV.

One video at a time (:func:`extract_video`), or a batch (:func:`extract_dataset`): inputs are
video files, folder trees whose folder names are the labels, and list files of ``path,label``
lines. Each finished video is saved atomically as one ``.npz`` in a work folder, keyed by the
video's path, size, modification time and the extraction settings, so an interrupted run started
again skips what is done; the CSV (and ``<name>_classes.txt``) is assembled from the work folder at
the end. A bad video (missing, not a video, no frames, no person) gets one message and never stops
the others.
"""

import hashlib
import json
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..data.csv_format import save_npz_atomic, write_pose_csv
from ..data.joints import NUM_BODY, NUM_HAND
from .landmarks import NUM_JOINTS, frame_from_holistic
from .video import VIDEO_SUFFIXES, FrameOptions, VideoError, read_planned_frames

WORK_VERSION = 1
LIST_SUFFIXES = (".txt", ".csv", ".lst", ".list")

# Result statuses. "ok" and "no_hands" videos go into the CSV; the others do not.
OK, NO_HANDS, NO_PERSON, ERROR = "ok", "no_hands", "no_person", "error"


class ExtractionError(ValueError):
    """Extraction cannot run at all (no MediaPipe, no videos, nothing extracted)."""


@dataclass(frozen=True)
class ExtractOptions:
    """Every setting that changes the landmarks of a video (part of the resume key)."""

    fps: Optional[float] = None           # resample to this frame rate; None keeps the video's
    max_frames: Optional[int] = None      # longer videos are subsampled uniformly to this length
    start_frame: int = 0                  # first source frame used (0-based)
    end_frame: Optional[int] = None       # source frame where use stops (exclusive)
    model_complexity: int = 1             # Holistic pose model: 0 lite, 1 full, 2 heavy

    def __post_init__(self):
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"the model complexity must be 0, 1 or 2, got {self.model_complexity}")
        self.frame_options()  # validates the frame settings

    def frame_options(self) -> FrameOptions:
        return FrameOptions(self.fps, self.max_frames, self.start_frame, self.end_frame)


@dataclass
class VideoItem:
    path: str
    label: str


@dataclass
class VideoResult:
    """What extraction made of one video. ``frames`` is (T, 54, 2), or None when it failed."""

    path: str
    label: str
    status: str
    message: str = ""
    frames: Optional[np.ndarray] = field(default=None, repr=False)
    source_frames: int = 0                 # frames in the file
    fps: float = 0.0                       # the file's frame rate (0 = unknown)
    frames_with_person: int = 0
    frames_with_left_hand: int = 0
    frames_with_right_hand: int = 0
    seconds: float = 0.0
    cached: bool = False

    @property
    def usable(self) -> bool:
        return self.status in (OK, NO_HANDS)

    def stats(self) -> dict:
        """Everything but the frames, as JSON-able values (saved beside them in the work folder)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "frames"}


def import_mediapipe():
    """The MediaPipe module, or one clear error saying how to install the version that works."""
    try:
        import mediapipe as mp
        holistic = mp.solutions.holistic
    except ImportError as error:
        raise ExtractionError(f"landmark extraction needs MediaPipe 0.10.21, which cannot be "
                              f"imported ({error}); install it with: pip install "
                              f"'slr-fused[mediapipe]' -c constraints.txt") from None
    except AttributeError:
        raise ExtractionError("landmark extraction needs MediaPipe 0.10.21 (later versions have no "
                              "mp.solutions.holistic); install it with: pip install "
                              "'slr-fused[mediapipe]' -c constraints.txt") from None
    return holistic


POSE_MODEL_FILES = {0: "pose_landmark_lite.tflite", 2: "pose_landmark_heavy.tflite"}


def ensure_pose_model(model_complexity: int):
    """The Holistic module, with the pose model of this complexity in place.

    The wheel bundles only the full pose model (complexity 1); MediaPipe downloads the lite (0)
    and heavy (2) ones from storage.googleapis.com into its package folder on first use. Done here
    once, so a machine without network access gets one clear error instead of one per video.
    """
    holistic = import_mediapipe()
    download = getattr(holistic, "_download_oss_pose_landmark_model", None)
    if model_complexity in POSE_MODEL_FILES and download is not None:
        try:
            download(model_complexity)
        except OSError as error:  # URLError, ConnectionError, a read-only site-packages
            raise ExtractionError(
                f"model complexity {model_complexity} needs MediaPipe's "
                f"{POSE_MODEL_FILES[model_complexity]}, which is not bundled and could not be "
                f"downloaded ({error}); use model complexity 1 (bundled), or run once with network "
                f"access and a writable MediaPipe install") from None
    return holistic


def summarise_frames(frames: np.ndarray) -> Dict[str, int]:
    """Frames in which the body, the left hand and the right hand were detected."""
    present = (frames != 0).any(-1)                                     # (T, 54)
    return {"frames_with_person": int(present[:, :NUM_BODY].any(-1).sum()),
            "frames_with_left_hand": int(present[:, NUM_BODY:NUM_BODY + NUM_HAND].any(-1).sum()),
            "frames_with_right_hand": int(present[:, NUM_BODY + NUM_HAND:].any(-1).sum())}


def extract_video(path, options: ExtractOptions = ExtractOptions(), label: str = "") -> VideoResult:
    """Landmarks of one video. Problems with the video come back as the result's status and
    message (never raised); ExtractionError is raised only when MediaPipe is unavailable."""
    holistic_module = ensure_pose_model(options.model_complexity)
    start = time.perf_counter()
    result = VideoResult(str(path), label, ERROR)
    try:
        frames_iter, info = read_planned_frames(path, options.frame_options())
    except VideoError as error:
        result.message = str(error)
        result.seconds = time.perf_counter() - start
        return result
    result.source_frames, result.fps = info["frames"], info["fps"]
    by_source = {}
    # A fresh Holistic per video: in video mode it tracks the person from frame to frame, and
    # that state must not leak from one video into the next.
    try:
        with holistic_module.Holistic(static_image_mode=False,
                                      model_complexity=options.model_complexity,
                                      smooth_landmarks=True, enable_segmentation=False,
                                      refine_face_landmarks=False) as holistic:
            for source, rgb in frames_iter:
                rgb.flags.writeable = False  # lets MediaPipe use the buffer without a copy
                found = holistic.process(rgb)
                by_source[source] = frame_from_holistic(
                    found.pose_landmarks, found.left_hand_landmarks, found.right_hand_landmarks)
    except (RuntimeError, ValueError) as error:
        # MediaPipe reports a graph failure on odd input (e.g. a corrupt frame) as RuntimeError;
        # it concerns this video only, so the batch goes on.
        frames_iter.close()
        result.message = f"{path}: MediaPipe failed on this video ({type(error).__name__}: {error})"
        result.seconds = time.perf_counter() - start
        return result
    result.seconds = time.perf_counter() - start
    planned = [s for s in info["planned"] if s in by_source]
    if not planned:
        result.message = f"{path}: no frame could be decoded (corrupt video?)"
        return result
    frames = np.stack([by_source[s] for s in planned]).astype(np.float32)
    result.frames = frames
    for key, value in summarise_frames(frames).items():
        setattr(result, key, value)
    if result.frames_with_person == 0:
        result.status = NO_PERSON
        result.message = f"{path}: no person found in any of its {len(frames)} frames"
    elif result.frames_with_left_hand + result.frames_with_right_hand == 0:
        result.status = NO_HANDS
        result.message = (f"{path}: no hand found in any of its {len(frames)} frames (the body was "
                          f"found in {result.frames_with_person}); kept, with the hands missing")
    else:
        result.status = OK
    return result


# ----------------------------------------------------------------------------------------------
# Inputs


def _videos_under(folder: Path, suffixes: Sequence[str] = VIDEO_SUFFIXES) -> List[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_list_file(path: Path, default_label: Optional[str] = None) -> List[VideoItem]:
    """``path,label`` lines (label optional, then the video's folder name); relative paths are
    relative to the list file; blank lines, ``#`` comments and a ``path,label`` header skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ExtractionError(f"{path}: cannot read the list file ({error})") from None
    items = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        video, _, label = (part.strip() for part in line.rpartition(",")) if "," in line else (line, "", "")
        if line_number == 1 and video.lower() == "path" and label.lower() in ("label", ""):
            continue
        if not items and line.startswith("labels,") and "_X" in line:
            raise ExtractionError(f"{path}: this is a pose CSV, not a list of videos (path,label "
                                  f"lines); extraction reads videos")
        video_path = Path(video) if Path(video).is_absolute() else path.parent / video
        items.append(VideoItem(str(video_path), label or default_label or video_path.parent.name))
    return items


def collect_videos(inputs: Sequence, default_label: Optional[str] = None,
                   log: Callable[[str], None] = print,
                   suffixes: Sequence[str] = VIDEO_SUFFIXES) -> List[VideoItem]:
    """Video files, folders and list files -> videos with their labels, in the order given.

    A folder's videos are found recursively; each takes the name of its first folder below the
    given one as its label (videos directly inside take the folder's own name; ``suffixes``
    says which files count, e.g. ``(".pose",)`` for ``slr convert``). A file named
    directly takes ``default_label``, or its folder's name. A path that does not exist is kept, so
    it is reported with the other failures rather than stopping the batch.
    """
    items: List[VideoItem] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            found = _videos_under(path, suffixes)
            if not found:
                kind = "video" if suffixes is VIDEO_SUFFIXES else "/".join(suffixes)
                log(f"Warning: {path}: no {kind} files ({', '.join(suffixes[:5])}, ...) in the folder")
            for video in found:
                parts = video.relative_to(path).parts
                label = parts[0] if len(parts) > 1 else path.resolve().name
                items.append(VideoItem(str(video), label))
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            items.extend(read_list_file(path, default_label))
        else:
            items.append(VideoItem(str(path), default_label or path.resolve().parent.name))
    return items


# ----------------------------------------------------------------------------------------------
# The work folder: one finished video per file, written atomically


def work_key(item: VideoItem, options: ExtractOptions) -> Optional[str]:
    """Name of a video's result in the work folder; None when the file cannot be stat'ed."""
    try:
        stat = os.stat(item.path)
    except OSError:
        return None
    identity = {"version": WORK_VERSION, "path": str(Path(item.path).resolve()),
                "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "options": asdict(options)}
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def save_result(work_dir: Path, key: str, result: VideoResult) -> None:
    frames = result.frames if result.frames is not None else np.zeros((0, NUM_JOINTS, 2), np.float32)
    save_npz_atomic(work_dir / f"{key}.npz", frames=frames, stats=np.array(json.dumps(result.stats())))


def load_result(work_dir: Path, key: str, item: VideoItem) -> Optional[VideoResult]:
    try:
        with np.load(work_dir / f"{key}.npz", allow_pickle=False) as data:
            stats = json.loads(str(data["stats"]))
            frames = data["frames"]
        stats.update(path=item.path, label=item.label, cached=True)
        result = VideoResult(**stats)
    except Exception:  # absent or unreadable: the video is simply extracted again
        return None
    result.frames = frames if len(frames) else None
    return result


def _extract_job(item: VideoItem, options: ExtractOptions, work_dir: Optional[str],
                 key: Optional[str]) -> VideoResult:
    """One video, in a worker process or this one; finished results are saved for resuming."""
    result = extract_video(item.path, options, item.label)
    # Failures are not saved: a missing or unreadable file is retried when the run is repeated.
    if work_dir is not None and key is not None and result.status != ERROR:
        save_result(Path(work_dir), key, result)
    return result


def _progress_bar(total: int, enabled: Optional[bool]):
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="video", desc="extracting",
                disable=None if enabled is None else not enabled)


def extract_videos(items: Sequence[VideoItem], options: ExtractOptions = ExtractOptions(),
                   work_dir=None, workers: int = 1, progress: Optional[bool] = None) -> List[VideoResult]:
    """Extract a batch, results in the order of ``items``; finished ones in ``work_dir`` are reused.

    ``workers`` > 1 runs videos in a pool of processes, one Holistic graph each. Each worker
    takes seconds to start MediaPipe and Holistic already uses several threads, so this pays off
    with many cores and many videos, not on a 2-core machine.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    ensure_pose_model(options.model_complexity)  # fail once, up front, not once per video
    work_path = Path(work_dir) if work_dir is not None else None
    if work_path is not None:
        work_path.mkdir(parents=True, exist_ok=True)
    results: List[Optional[VideoResult]] = [None] * len(items)
    todo = []
    for i, item in enumerate(items):
        key = work_key(item, options)
        cached = load_result(work_path, key, item) if work_path is not None and key else None
        if cached is not None:
            results[i] = cached
        else:
            todo.append((i, key))

    with _progress_bar(len(items), progress) as bar:
        bar.update(len(items) - len(todo))
        if workers == 1 or len(todo) <= 1:
            for i, key in todo:
                results[i] = _extract_job(items[i], options, str(work_path) if work_path else None, key)
                bar.update(1)
        else:
            # spawn, not fork: a forked copy of a process that already runs MediaPipe or torch
            # threads can deadlock.
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context)
            try:
                futures = {pool.submit(_extract_job, items[i], options,
                                       str(work_path) if work_path else None, key): i for i, key in todo}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        results[i] = future.result()
                    except BrokenProcessPool:
                        results[i] = VideoResult(items[i].path, items[i].label, ERROR,
                                                 f"{items[i].path}: the extraction process crashed "
                                                 f"(MediaPipe or the video decoder failed)")
                    except VideoError as error:
                        results[i] = VideoResult(items[i].path, items[i].label, ERROR, str(error))
                    bar.update(1)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    return results  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# The dataset: CSV + class names


@dataclass
class ExtractionReport:
    """The outcome of :func:`extract_dataset`."""

    results: List[VideoResult]
    csv_path: Optional[Path]
    classes_path: Optional[Path]
    class_names: List[str]
    seconds: float = 0.0

    @property
    def written(self) -> List[VideoResult]:
        return [r for r in self.results if r.usable]

    @property
    def failed(self) -> List[VideoResult]:
        return [r for r in self.results if not r.usable]

    def summary(self) -> str:
        """Human-readable summary: counts, then one line per video that needs attention."""
        cached = sum(r.cached for r in self.results)
        lines = [f"{len(self.written)} of {len(self.results)} videos extracted"
                 + (f" ({cached} reused from an earlier run)" if cached else "")
                 + f" in {self.seconds:.1f} s"
                 + (f"; wrote {self.csv_path} and {self.classes_path}" if self.csv_path else "")]
        for title, status in (("no person found (skipped)", NO_PERSON),
                              ("failed (skipped)", ERROR),
                              ("no hand found (kept, hands missing)", NO_HANDS)):
            group = [r for r in self.results if r.status == status]
            if group:
                lines.append(f"{title}: {len(group)}")
                lines += [f"  {r.message}" for r in group]
        return "\n".join(lines)


def classes_file_for(csv_path) -> Path:
    """Where :func:`slr_fused.data.csv_format.read_class_names` looks for a CSV's class names:
    ``<name>_classes.txt`` beside ``<name>_<split>.csv`` (``<name>_classes.txt`` for ``<name>.csv``)."""
    csv_path = Path(csv_path)
    stem = csv_path.stem.rsplit("_", 1)[0] if "_" in csv_path.stem else csv_path.stem
    return csv_path.with_name(f"{stem}_classes.txt")


def read_names(path: Path) -> List[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a class list is not
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def starting_class_names(labels: Sequence[str], classes_path: Path, classes=None,
                         what: str = "videos") -> List[str]:
    """The label numbering to start from: the class file ``classes`` if given (labels not in it
    are an error), else the one already at ``classes_path`` (new labels get appended), else none."""
    if classes is None:
        return read_names(classes_path) if classes_path.is_file() else []
    if not Path(classes).is_file():
        raise ExtractionError(f"{classes}: no such class file")
    names = read_names(Path(classes))
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise ExtractionError(f"{classes}: labels {unknown[:5]} of the {what} are not in the "
                              f"class file")
    return names


def default_work_dir(csv_path) -> Path:
    csv_path = Path(csv_path)
    return csv_path.with_name(f".{csv_path.name}.work")


def extract_dataset(inputs: Sequence, output, options: ExtractOptions = ExtractOptions(),
                    workers: int = 1, work_dir=None, keep_work: bool = False,
                    default_label: Optional[str] = None, classes=None,
                    progress: Optional[bool] = None,
                    log: Callable[[str], None] = print) -> ExtractionReport:
    """Extract videos into a pose CSV ``output`` plus its ``<name>_classes.txt``.

    Labels are numbered in the order of the class file: ``classes`` if given (labels not in it
    are an error), otherwise the class file already beside ``output`` (so splits extracted one
    after another share numbers) with new labels appended in sorted order. The work folder
    (default ``.<output name>.work`` beside the CSV) is removed once the CSV is written, unless
    ``keep_work`` or some video failed (a rerun then only retries the failures).
    """
    start = time.perf_counter()
    output = Path(output)
    items = collect_videos(inputs, default_label, log=log)
    if not items:
        raise ExtractionError("no videos to extract: the inputs name no video files")
    classes_path = classes_file_for(output)
    names = starting_class_names([item.label for item in items], classes_path, classes)
    work = Path(work_dir) if work_dir is not None else default_work_dir(output)
    results = extract_videos(items, options, work, workers, progress)
    report = ExtractionReport(results, None, None, names, 0.0)
    usable = report.written
    if not usable:
        report.seconds = time.perf_counter() - start
        log(report.summary())
        raise ExtractionError(f"none of the {len(items)} videos gave landmarks, so no CSV was "
                              f"written (see the messages above)")
    names = names + sorted({r.label for r in usable} - set(names))
    index = {name: i for i, name in enumerate(names)}
    write_pose_csv(output, [r.frames for r in usable], [index[r.label] for r in usable])
    _write_text_atomic(classes_path, "".join(f"{name}\n" for name in names))
    # Which video each CSV row came from, as a list file that `slr extract` reads back.
    _write_text_atomic(output.with_name(output.name + ".sources.txt"),
                       "path,label\n" + "".join(f"{Path(r.path).resolve()},{r.label}\n" for r in usable))
    if not keep_work and not report.failed:
        for item in items:  # only this run's files: the folder may be shared with other runs
            key = work_key(item, options)
            if key is not None and (work / f"{key}.npz").is_file():
                (work / f"{key}.npz").unlink()
        try:
            work.rmdir()
        except OSError:
            pass  # something else lives there: leave it
    report.csv_path, report.classes_path, report.class_names = output, classes_path, names
    report.seconds = time.perf_counter() - start
    return report
