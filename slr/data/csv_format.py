"""Read and write the SPOTER/Siformer pose CSV format, fast, with a parse cache.

One row per sample: an integer ``labels`` column and one column per joint coordinate
(``nose_X``, ``indexTip_left_Y``, ...), each cell a list of per-frame values
(``"[0.51, 0.52, ...]"``; 0.0 = joint not detected). Columns are found by name, in any order;
extra columns are ignored. Parsing every cell with ``ast.literal_eval`` takes minutes on
WLASL-sized files, so each row is parsed with one numpy call and the result cached as ``.npz``
beside the CSV (or in the user cache when that folder is read-only), keyed by the CSV's size and
modification time.
"""

import csv
import hashlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from ..atomic import atomic_write
from .joints import BODY_JOINTS, HAND_JOINTS, HAND_SUFFIXES, LABEL_COLUMN, all_columns

CACHE_VERSION = 1
NUM_JOINTS = len(BODY_JOINTS) + 2 * len(HAND_JOINTS)  # 54: body, left hand, right hand


class PoseDataError(ValueError):
    """A pose file that cannot be read; the message names the file (and row) at fault."""


@dataclass
class PoseSequences:
    """All samples of one CSV, frames concatenated: sample k is frames[offsets[k]:offsets[k+1]].

    frames: (total_frames, 54, 2) float32, joints ordered body (12), left hand (21), right hand (21).
    """

    frames: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, index: int) -> np.ndarray:
        return self.frames[self.offsets[index]:self.offsets[index + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, indices) -> "PoseSequences":
        """A new PoseSequences holding only the given samples, in the given order."""
        indices = np.asarray(indices, dtype=np.int64)
        pieces = [self.sample(i) for i in indices]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64)
        frames = np.concatenate(pieces) if pieces else self.frames[:0]
        return PoseSequences(frames, offsets, self.labels[indices], self.source)


def _column_plan(header: Sequence[str], path: str) -> List[int]:
    """Indices of the X and Y columns of all 54 joints, in canonical joint order."""
    position = {name.strip(): i for i, name in enumerate(header)}
    names = [f"{j}_{{axis}}" for j in BODY_JOINTS]
    for side in ("left", "right"):
        suffix = next((s for s in HAND_SUFFIXES[side]
                       if f"{HAND_JOINTS[0]}_{s}_X" in position), HAND_SUFFIXES[side][0])
        names += [f"{j}_{suffix}_{{axis}}" for j in HAND_JOINTS]
    plan, missing = [], []
    for name in names:
        for axis in ("X", "Y"):
            column = name.format(axis=axis)
            if column not in position:
                missing.append(column)
            else:
                plan.append(position[column])
    if LABEL_COLUMN not in position:
        missing.insert(0, LABEL_COLUMN)
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise PoseDataError(f"{path}: missing column(s) {shown}; expected the SPOTER/Siformer "
                            f"pose format (see slr_fused.data.joints)")
    return plan


def _parse_row(cells: Sequence[str], path: str, row_number: int) -> np.ndarray:
    """One sample's cells (108 list strings) -> (T, 54, 2) float32."""
    lengths = set()
    bodies = []
    for cell in cells:
        text = cell.strip()
        if len(text) < 2 or text[0] != "[" or text[-1] != "]":
            raise PoseDataError(f"{path}, row {row_number}: a coordinate cell is not a list "
                                f"like [0.5, 0.51]: {text[:40]!r}")
        body = text[1:-1]
        lengths.add(body.count(",") + 1 if body.strip() else 0)
        bodies.append(body)
    if len(lengths) != 1:
        raise PoseDataError(f"{path}, row {row_number}: ragged lists (frame counts "
                            f"{sorted(lengths)} differ between joints)")
    length = lengths.pop()
    if length == 0:
        raise PoseDataError(f"{path}, row {row_number}: the sample has no frames")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(",".join(bodies), dtype=np.float64, sep=",")
    if values.size != length * len(cells):
        raise PoseDataError(f"{path}, row {row_number}: a coordinate cell contains something "
                            f"that is not a number")
    if not np.isfinite(values).all():
        raise PoseDataError(f"{path}, row {row_number}: NaN or infinite coordinates (write 0.0 "
                            f"for joints that were not detected)")
    # cells are ordered (joint, axis); values within a cell are frames.
    return values.reshape(NUM_JOINTS, 2, length).transpose(2, 0, 1).astype(np.float32)


def parse_pose_csv(path) -> PoseSequences:
    """Parse a pose CSV without the cache. Raises PoseDataError with the file and row."""
    path = str(path)
    csv.field_size_limit(sys.maxsize)
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as error:
        raise PoseDataError(f"{path}: cannot open ({error.strerror})") from None
    samples, labels = [], []
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise PoseDataError(f"{path}: the file is empty (no header row)")
        plan = _column_plan(header, path)
        label_index = [c.strip() for c in header].index(LABEL_COLUMN)
        for row_number, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise PoseDataError(f"{path}, row {row_number}: {len(row)} cells, header has "
                                    f"{len(header)}")
            try:
                labels.append(int(float(row[label_index])))
            except ValueError:
                raise PoseDataError(f"{path}, row {row_number}: label {row[label_index]!r} is not "
                                    f"an integer") from None
            samples.append(_parse_row([row[i] for i in plan], path, row_number))
    if not samples:
        raise PoseDataError(f"{path}: the file has a header but no samples")
    if min(labels) < 0:
        raise PoseDataError(f"{path}: labels must be non-negative integers")
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in samples])]).astype(np.int64)
    return PoseSequences(np.concatenate(samples), offsets, np.asarray(labels, np.int64), path)


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return f"v{CACHE_VERSION}:{stat.st_size}:{stat.st_mtime_ns}"


def cache_locations(path: Path) -> List[Path]:
    """Beside the CSV first; the user cache (keyed by the CSV's absolute path) when read-only."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    user_cache = Path(os.environ.get("SLR_CACHE_DIR", Path.home() / ".cache" / "slr-fused"))
    return [path.with_name(path.name + ".slrcache.npz"),
            user_cache / "parsed" / f"{path.stem}-{digest}.npz"]


def folder_writable(folder: Path) -> bool:
    """Whether we may write into ``folder``: its permission bits, not just os.access.

    Root passes every os.access check, so a folder marked read-only (like a shared dataset
    mount) is respected by looking at its write bits as well.
    """
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(folder, os.W_OK)


def _load_cache(location: Path, key: str) -> Optional[PoseSequences]:
    try:
        with np.load(location, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return PoseSequences(data["frames"], data["offsets"], data["labels"])
    except Exception:  # missing, stale or corrupt cache: parse again
        return None


def save_npz_atomic(location: Path, **arrays) -> None:
    atomic_write(location, lambda handle: np.savez(handle, **arrays))


def read_pose_csv(path, use_cache: bool = True) -> PoseSequences:
    """Read a pose CSV, through the parse cache when it is valid for the file as it is now."""
    path = Path(path)
    if not path.is_file():
        raise PoseDataError(f"{path}: no such file")
    if not use_cache:
        return parse_pose_csv(path)
    key = _cache_key(path)
    locations = cache_locations(path)
    for location in locations:
        cached = _load_cache(location, key)
        if cached is not None:
            cached.source = str(path)
            return cached
    data = parse_pose_csv(path)
    for location in locations:
        if location.parent.exists() and not folder_writable(location.parent):
            continue
        try:
            save_npz_atomic(location, key=np.array(key), frames=data.frames,
                            offsets=data.offsets, labels=data.labels)
            break
        except OSError:
            continue  # read-only folder: try the user cache
    return data


def format_cell(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.5f}" for v in values) + "]"


def write_pose_csv(path, samples: Sequence[np.ndarray], labels: Sequence[int]) -> None:
    """Write samples, each (T, 54, 2) in canonical joint order, as a pose CSV (atomically)."""
    def write(handle):
        writer = csv.writer(handle)
        writer.writerow(all_columns())
        for sample, label in zip(samples, labels):
            sample = np.asarray(sample)
            if sample.ndim != 3 or sample.shape[1:] != (NUM_JOINTS, 2):
                raise ValueError(f"each sample must be (T, {NUM_JOINTS}, 2), got {sample.shape}")
            cells = [format_cell(sample[:, j, a]) for j in range(NUM_JOINTS) for a in (0, 1)]
            writer.writerow([int(label), *cells])

    atomic_write(path, write, binary=False)


def read_class_names(csv_path, num_classes: Optional[int] = None) -> Optional[List[str]]:
    """Class names from ``<name>_classes.txt`` beside ``<name>_<split>.csv``, if present."""
    csv_path = Path(csv_path)
    stem = csv_path.stem.rsplit("_", 1)[0] if "_" in csv_path.stem else csv_path.stem
    candidate = csv_path.with_name(f"{stem}_classes.txt")
    if not candidate.is_file():
        return None
    names = [line.strip() for line in candidate.read_text(encoding="utf-8").splitlines() if line.strip()]
    if num_classes is not None and len(names) != num_classes:
        return None
    return names
