"""Checks of parsed pose data that do not stop training but deserve a warning: problems that
would otherwise train silently into a worse or larger model."""

from typing import Dict, List

import numpy as np

HAND_SLICES = {"left": slice(12, 33), "right": slice(33, 54)}
MISSING_HAND_SHARE = 0.9   # warn when a hand is absent from at least this share of samples
# (one-handed signs make 50% normal: bsl16 has no left hand in 52% of its test samples)


def _share(count: int, total: int) -> str:
    return f"{count} of {total} samples ({100 * count / total:.0f}%)"


def zero_warnings(sequences, path) -> List[str]:
    """All-zero samples (nothing detected) and hands that are missing in most samples."""
    frames, offsets = sequences.frames, sequences.offsets
    total = len(sequences)
    if total == 0:
        return []
    starts = offsets[:-1]
    per_frame = np.abs(frames).reshape(len(frames), frames.shape[1], -1).max(-1)  # (F, 54)
    found = (per_frame > 0).astype(np.int64)

    def samples_without(columns) -> int:
        counts = np.add.reduceat(found[:, columns].max(-1), starts) if len(frames) else np.zeros(0)
        return int((counts == 0).sum())

    notes = []
    empty = samples_without(slice(0, frames.shape[1]))
    if empty:
        notes.append(f"{path}: {_share(empty, total)} are all zeros (no joint detected in any "
                     f"frame); they carry no information: check the extraction or drop them")
    for side, columns in HAND_SLICES.items():
        missing = samples_without(columns)
        if missing and missing >= MISSING_HAND_SHARE * total and missing != empty:
            notes.append(f"{path}: the {side} hand is all zeros in {_share(missing, total)}; "
                         f"check the extraction (or the column names of that hand)")
    return notes


def label_warnings(train_labels, eval_labels: Dict[str, np.ndarray], num_classes: int) -> List[str]:
    """Label ids that leave classes without training samples: sparse ids, eval-only classes."""
    notes = []
    train = set(int(x) for x in np.unique(train_labels))
    unused = [c for c in range(num_classes) if c not in train]
    evaluated_only = sorted({int(x) for labels in eval_labels.values() for x in np.unique(labels)} - train)
    if evaluated_only:
        splits = ", ".join(k for k, v in eval_labels.items() if set(np.unique(v).tolist()) - train)
        shown = ", ".join(map(str, evaluated_only[:8])) + (" ..." if len(evaluated_only) > 8 else "")
        notes.append(f"label(s) {shown} appear only in {splits}, never in the training set: the "
                     f"model cannot learn them; move samples of these classes into training or "
                     f"drop them from {splits}")
    unused_only = [c for c in unused if c not in evaluated_only]
    if unused_only:
        shown = ", ".join(map(str, unused_only[:8])) + (" ..." if len(unused_only) > 8 else "")
        notes.append(f"labels are sparse: {len(train)} distinct training labels but {num_classes} "
                     f"outputs (ids {shown} have no sample); renumber the labels 0..N-1 "
                     f"(e.g. with a <name>_classes.txt beside the CSV) for a smaller, cleaner model")
    return notes
