"""Find clips, convert them, number their labels, split them by group, write the CSVs.

Inputs are ``.pose`` files, folders (a ``.pose`` tree, an ``MP_Data`` tree of sequence folders of
``.npy`` frames, or a tree of OpenPose JSON folders) whose first sub-folder names are the labels,
and list files of ``path,label`` lines, exactly as ``slr extract`` takes videos.
"""

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..atomic import write_text_atomic
from ..data.csv_format import write_pose_csv
from ..extract.extractor import (LIST_SUFFIXES, VideoItem, classes_file_for, collect_videos,
                                 read_list_file, starting_class_names)
from . import mp_data, openpose_json, pose_file
from ..guards import check_output

FORMATS = ("pose", "mp_data", "openpose")
SPLITS = ("train", "val", "test")


@dataclass
class Clip:
    path: str
    label: str
    format: str
    frames: Optional[np.ndarray] = field(default=None, repr=False)


def clip_format(path: Path) -> Optional[str]:
    """Which reader a clip path needs: a ``.pose`` file, or a folder of .npy / .json frames."""
    if path.suffix.lower() == ".pose":
        return "pose"
    if path.is_dir():
        if any(path.glob("*.npy")):
            return "mp_data"
        if any(path.glob("*.json")):
            return "openpose"
    return None


def _sequence_folders(root: Path) -> List[Path]:
    """Folders under ``root`` (itself included) that directly hold .npy or .json frames."""
    found = {p.parent for suffix in ("*.npy", "*.json") for p in root.rglob(suffix)
             if not any(part.startswith(".") for part in p.relative_to(root).parts)}
    return sorted(found, key=lambda p: [mp_data.natural_key(Path(part)) for part in p.relative_to(root).parts])


def collect_clips(inputs: Sequence, default_label: Optional[str] = None,
                  log: Callable[[str], None] = print) -> List[Clip]:
    """Inputs -> clips with labels and formats. Labels as in ``slr extract``: the first folder
    below a given folder, the list file's label, ``default_label``, or the clip's own folder."""
    clips: List[Clip] = []
    for entry in inputs:
        path = Path(entry)
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            items = read_list_file(path, default_label)
        elif path.is_dir() and any(path.rglob("*.pose")):
            items = collect_videos([path], default_label, log=log, suffixes=(".pose",))
        elif path.is_dir():
            items = []
            for folder in _sequence_folders(path):
                parts = folder.relative_to(path).parts
                label = parts[0] if parts else (default_label or path.resolve().name)
                items.append(VideoItem(str(folder), label))
            if not items:
                raise ValueError(f"{path}: empty folder: no .pose files, MP_Data .npy frames or "
                                 f"OpenPose .json frames under it")
        else:
            items = [VideoItem(str(path), default_label or path.resolve().parent.name)]
        for item in items:
            kind = clip_format(Path(item.path))
            if kind is None:
                raise ValueError(f"{item.path}: not a .pose file or a folder of .npy/.json frames")
            clips.append(Clip(item.path, item.label, kind))
    if not clips:
        raise ValueError("nothing to convert: the inputs name no clips")
    return clips


def read_clip(clip: Clip, layout: Optional[int] = None,
              image_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    if clip.format == "pose":
        return pose_file.read_pose_file(clip.path)
    if clip.format == "mp_data":
        return mp_data.read_sequence(clip.path, layout)
    return openpose_json.read_sequence(clip.path, image_size)


# ----------------------------------------------------------------------------------------------
# Splits that keep each group (source video, signer) on one side


def group_key(path: str, pattern: Optional[str]) -> str:
    """The clip's group: the first group (or the whole match) of ``pattern`` in its path; the
    path itself when there is no pattern or it does not match (a clip is its own video)."""
    if pattern:
        match = re.search(pattern, path)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return path


def split_by_group(labels: Sequence[str], groups: Sequence[str], fractions: Sequence[float],
                   seed: int = 0) -> List[str]:
    """Assign each clip to train/val/test, whole groups at a time, about ``fractions`` of every
    class on each side. Each class's first group goes to train, so no class is absent from it."""
    rng = np.random.default_rng(seed)
    members: Dict[str, List[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    order = list(members)
    rng.shuffle(order)
    order.sort(key=lambda g: -len(members[g]))              # big groups first, ties shuffled
    totals = Counter(labels)
    have = {split: Counter() for split in SPLITS}
    assignment = [""] * len(labels)
    for group in order:
        counts = Counter(labels[i] for i in members[group])
        main = counts.most_common(1)[0][0]
        if have["train"][main] == 0:
            split = "train"
        else:
            split = min((s for s, f in zip(SPLITS, fractions) if f > 0),
                        key=lambda s: (have[s][main] + counts[main])
                        / (fractions[SPLITS.index(s)] * totals[main]))
        have[split].update(counts)
        for i in members[group]:
            assignment[i] = split
    return assignment


def parse_fractions(text: str) -> Tuple[float, float, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"--split {text!r}: expected train,val,test fractions summing to 1, "
                         f"e.g. 0.7,0.15,0.15")
    return tuple(values)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------


@dataclass
class ConvertReport:
    clips: List[Clip]
    outputs: Dict[str, Path]
    classes_path: Path
    class_names: List[str]
    failed: List[str]
    seconds: float = 0.0

    def summary(self) -> str:
        counts = Counter(clip.label for clip in self.clips if clip.frames is not None)
        lines = [f"{sum(counts.values())} clips of {len(counts)} classes converted in "
                 f"{self.seconds:.1f} s; wrote " + ", ".join(map(str, self.outputs.values()))
                 + f" and {self.classes_path}"]
        if self.failed:
            lines.append(f"skipped {len(self.failed)} clip(s):")
            lines += [f"  {message}" for message in self.failed]
        return "\n".join(lines)


def split_outputs(output: Path, split: bool) -> Dict[str, Path]:
    if not split:
        return {"all": output}
    stem = output.stem
    return {name: output.with_name(f"{stem}_{name}{output.suffix or '.csv'}") for name in SPLITS}


def convert_dataset(inputs: Sequence, output, default_label: Optional[str] = None,
                    classes=None, split: Optional[str] = None, group_by: Optional[str] = None,
                    seed: int = 0, layout: Optional[int] = None,
                    image_size: Optional[Tuple[int, int]] = None, overwrite: bool = False,
                    skip_bad: bool = False, progress: Optional[bool] = None,
                    log: Callable[[str], None] = print) -> ConvertReport:
    """Convert clips into ``output`` (or ``<name>_train/_val/_test.csv`` with ``split``), plus
    ``<name>_classes.txt`` and ``<csv>.sources.txt`` (the clip of each row). Nothing is written
    when a clip fails, unless ``skip_bad``."""
    start = time.perf_counter()
    output = Path(output)
    fractions = parse_fractions(split) if split else None
    outputs = split_outputs(output, fractions is not None)
    for path in outputs.values():
        check_output(path, inputs, overwrite)
    clips = collect_clips(inputs, default_label, log)
    classes_path = classes_file_for(next(iter(outputs.values())))
    names = starting_class_names([c.label for c in clips], classes_path, classes, what="clips")

    from tqdm.auto import tqdm
    failed = []
    for clip in tqdm(clips, unit="clip", desc="converting",
                     disable=None if progress is None else not progress):
        try:
            clip.frames = read_clip(clip, layout, image_size)
        except ValueError as error:
            failed.append(str(error))
    if failed and not skip_bad:
        more = f" (and {len(failed) - 1} more; --skip_bad converts the rest)" if len(failed) > 1 else ""
        raise ValueError(failed[0] + more)
    good = [clip for clip in clips if clip.frames is not None]
    if not good:
        raise ValueError("no clip could be converted, so nothing was written")
    names = names + sorted({c.label for c in good} - set(names))
    index = {name: i for i, name in enumerate(names)}
    if fractions is None:
        sides = ["all"] * len(good)
    else:
        sides = split_by_group([c.label for c in good], [group_key(c.path, group_by) for c in good],
                               fractions, seed)
    for side, path in outputs.items():
        chosen = [c for c, s in zip(good, sides) if s == side]
        if not chosen:
            log(f"Warning: {path}: no clips fell on this side of the split (too few groups)")
        write_pose_csv(path, [c.frames for c in chosen], [index[c.label] for c in chosen])
        write_text_atomic(path.with_name(path.name + ".sources.txt"),
                          "path,label\n" + "".join(f"{Path(c.path).resolve()},{c.label}\n" for c in chosen))
    write_text_atomic(classes_path, "".join(f"{name}\n" for name in names))
    return ConvertReport(clips, outputs, classes_path, names, failed, time.perf_counter() - start)
