"""Read and write the SPOTER/Siformer pose CSV format, fast, with a parse cache.

One row per sample: an integer ``labels`` column and one column per joint coordinate
(``nose_X``, ``indexTip_left_Y``, ...), each cell a list of per-frame values
(``"[0.51, 0.52, ...]"``; 0.0 = joint not detected). Columns are found by name, in any order;
extra columns are ignored. Parsing every cell with ``ast.literal_eval`` takes minutes on
WLASL-sized files, so each row is parsed with one numpy call and the result cached as ``.npz``
beside the CSV (or in the user cache when that folder is read-only), keyed by the CSV's size,
modification time and content hash, and readable by whoever may read the CSV (its permissions).

Checked on parsing: UTF-8 (a byte-order mark, as Excel's "CSV UTF-8" writes, is accepted), unique
column names, labels that are non-negative integers below MAX_LABEL written as integers,
coordinates finite in float32 (the dtype the model uses). All-zero samples and missing hands are
reported as warnings (slr_fused.data.checks).
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
from ..hashing import sha256_file
from .joints import BODY_JOINTS, HAND_JOINTS, HAND_SUFFIXES, LABEL_COLUMN, all_columns

CACHE_VERSION = 2
MAX_LABEL = 99_999   # a label id is a model output: 2e9 would mean a 864 GB classifier
FLOAT32_MAX = float(np.finfo(np.float32).max)
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
    names_seen = [name.strip() for name in header]
    duplicates = sorted({n for n in names_seen if n and names_seen.count(n) > 1})
    if duplicates:
        shown = ", ".join(duplicates[:6]) + (f" and {len(duplicates) - 6} more" if len(duplicates) > 6 else "")
        raise PoseDataError(f"{path}: duplicate column(s) {shown}; each column may appear once")
    position = {name: i for i, name in enumerate(names_seen)}
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
    if np.abs(values).max() > FLOAT32_MAX:
        raise PoseDataError(f"{path}, row {row_number}: coordinate {values[np.abs(values).argmax()]:g} "
                            f"is out of the float32 range the model uses (coordinates are "
                            f"normalised or pixel values, far below 1e38)")
    # cells are ordered (joint, axis); values within a cell are frames.
    return values.reshape(NUM_JOINTS, 2, length).transpose(2, 0, 1).astype(np.float32)


def _parse_label(text: str, path: str, row_number: int) -> int:
    """A label cell -> int; "3" and "3.0" are 3, anything else is one clear error."""
    text = text.strip()
    problem = None
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is None:
            problem = "is not an integer"
        elif not np.isfinite(number):
            problem = "is not a finite number"
        elif number != int(number):
            problem = "is not a whole number (labels are class ids 0, 1, 2, ...)"
        else:
            value = int(number)
    if problem is None and value < 0:
        problem = "is negative (labels are class ids 0, 1, 2, ...)"
    if problem is None and value > MAX_LABEL:
        problem = (f"is too large (at most {MAX_LABEL}; a label is a model output index, so "
                   f"renumber the classes 0..N-1)")
    if problem:
        raise PoseDataError(f"{path}, row {row_number}: label {text!r} {problem}")
    return value


def parse_pose_csv(path) -> PoseSequences:
    """Parse a pose CSV without the cache. Raises PoseDataError with the file and row."""
    path = str(path)
    csv.field_size_limit(sys.maxsize)
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # -sig: a leading BOM is dropped
    except OSError as error:
        raise PoseDataError(f"{path}: cannot open ({error.strerror})") from None
    samples, labels = [], []
    with handle:
        try:
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
                labels.append(_parse_label(row[label_index], path, row_number))
                samples.append(_parse_row([row[i] for i in plan], path, row_number))
        except UnicodeDecodeError as error:
            raise PoseDataError(f"{path}: not UTF-8 text (byte {error.start}: "
                                f"{error.object[error.start:error.start + 2]!r}; UTF-16 or a legacy "
                                f"encoding?): save it as UTF-8 (Excel: \"CSV UTF-8\")") from None
        except csv.Error as error:
            raise PoseDataError(f"{path}: not a readable CSV ({error})") from None
    if not samples:
        raise PoseDataError(f"{path}: the file has a header but no samples")
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in samples])]).astype(np.int64)
    return PoseSequences(np.concatenate(samples), offsets, np.asarray(labels, np.int64), path)


def _cache_key(path: Path) -> str:
    """Size, mtime and content hash: an edit that keeps the size and restores the mtime still
    invalidates the cache."""
    stat = path.stat()
    return f"v{CACHE_VERSION}:{stat.st_size}:{stat.st_mtime_ns}:{sha256_file(path)}"


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


def save_npz_atomic(location: Path, mode: Optional[int] = None, **arrays) -> None:
    atomic_write(location, lambda handle: np.savez(handle, **arrays), mode=mode)


def read_pose_csv(path, use_cache: bool = True) -> PoseSequences:
    """Read a pose CSV, through the parse cache when it is valid for the file as it is now."""
    path = Path(path)
    if not path.is_file():
        raise PoseDataError(f"{path}: no such file")
    if not use_cache:
        return _warn_about(parse_pose_csv(path), path)
    key = _cache_key(path)
    locations = cache_locations(path)
    for location in locations:
        cached = _load_cache(location, key)
        if cached is not None:
            cached.source = str(path)
            return _warn_about(cached, path)
    data = parse_pose_csv(path)
    mode = path.stat().st_mode & 0o666   # the parsed copy is as private as its source
    for location in locations:
        if location.parent.exists() and not folder_writable(location.parent):
            continue
        try:
            save_npz_atomic(location, mode=mode, key=np.array(key), frames=data.frames,
                            offsets=data.offsets, labels=data.labels)
            break
        except OSError:
            continue  # read-only folder: try the user cache
    return _warn_about(data, path)


def _warn_about(data: PoseSequences, path) -> PoseSequences:
    from .checks import zero_warnings
    for note in zero_warnings(data, path):
        warnings.warn(note, stacklevel=3)
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
