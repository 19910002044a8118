"""``slr data check``: is this pose data right? Counts, missing joints, handedness, leaks.

Reads the CSVs of a dataset (``<name>_train.csv``, ``<name>_val.csv``, ...: the split is the part
of the file name after the last underscore) and reports, per split and class, what would silently
hurt training: a class absent from train, samples with no landmark at all, the same sample in two
splits (test scores that measure memory), hands stored in each other's columns, clips flipped
horizontally without swapping sides, and clips signed with the other hand than the rest of their
class (left-handed signers or mirrored videos). Errors make the command exit 1; warnings do not.
The Markdown report has an overview plot and, with ``render``, skeleton strips of a few clips per
class; the renderer is a parameter so another one can be plugged in.
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..atomic import write_text_atomic
from .csv_format import PoseSequences, read_class_names, read_pose_csv
from .handedness import hand_activity
from .joints import BODY_INDEX, BODY_JOINTS, HAND_JOINTS, NUM_BODY, NUM_HAND
from .normalization import joint_present

JOINT_NAMES = list(BODY_JOINTS) + [f"{j}_left" for j in HAND_JOINTS] + [f"{j}_right" for j in HAND_JOINTS]
LEFT_HAND = slice(NUM_BODY, NUM_BODY + NUM_HAND)
RIGHT_HAND = slice(NUM_BODY + NUM_HAND, None)
SWAP_MARGIN = 0.25        # in shoulder widths: how much closer to the other wrist counts as swapped
MIN_DECISIVE_FRAMES = 5
SWAPPED_SHARE = 0.8       # share of those frames that must agree (crossed hands mix the votes)
DOMINANCE_RATIO = 3.0     # one hand this many times more active than the other: clearly dominant
IMBALANCE_RATIO = 5.0     # largest / smallest class in train above this: a warning


@dataclass
class Finding:
    severity: str          # "error" (exit 1) or "warning"
    kind: str
    message: str


@dataclass
class CheckReport:
    splits: Dict[str, PoseSequences]
    class_names: List[str]
    findings: List[Finding] = field(default_factory=list)
    tables: List[str] = field(default_factory=list)
    files: List[Path] = field(default_factory=list)

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def kinds(self) -> set:
        return {f.kind for f in self.findings}

    def summary(self) -> str:
        head = (f"{sum(len(s) for s in self.splits.values())} samples in {len(self.splits)} split(s), "
                f"{len(self.class_names)} classes: {len(self.errors)} error(s), "
                f"{len(self.warnings)} warning(s)")
        return "\n".join([head] + [f"{f.severity}: {f.message}" for f in self.findings])


def split_name(path) -> str:
    stem = Path(path).stem
    return stem.rsplit("_", 1)[1] if "_" in stem else stem


def sample_hash(frames: np.ndarray) -> str:
    """Identity of a sample up to the CSV's 5-decimal rounding."""
    return hashlib.sha1(np.round(frames.astype(np.float64), 4).tobytes()).hexdigest()


def swapped_hands(frames: np.ndarray) -> bool:
    """Whether the hand columns hold each other's hand: in most frames where it can be told, the
    ``_left_`` hand's wrist sits at the body's right wrist (and the ``_right_`` one at the left)."""
    body = frames[:, :NUM_BODY]
    present = joint_present(frames)
    lw, rw = BODY_INDEX["leftWrist"], BODY_INDEX["rightWrist"]
    ls, rs = BODY_INDEX["leftShoulder"], BODY_INDEX["rightShoulder"]
    width = np.linalg.norm(body[:, ls] - body[:, rs], axis=-1)
    votes = []
    for hand, same, other in ((LEFT_HAND, lw, rw), (RIGHT_HAND, rw, lw)):
        wrist = frames[:, hand][:, 0]
        ok = present[:, hand][:, 0] & present[:, same] & present[:, other] & present[:, ls] & present[:, rs]
        d_same = np.linalg.norm(wrist - body[:, same], axis=-1)
        d_other = np.linalg.norm(wrist - body[:, other], axis=-1)
        decisive = ok & (np.abs(d_same - d_other) > SWAP_MARGIN * width)
        votes.append((d_other < d_same)[decisive])
    votes = np.concatenate(votes)
    return len(votes) >= MIN_DECISIVE_FRAMES and votes.mean() > SWAPPED_SHARE


def flipped_sides(frames: np.ndarray) -> Optional[bool]:
    """Whether the signer's left shoulder is on the image's left (x flipped, sides not swapped);
    None when the shoulders are never both seen."""
    ls, rs = frames[:, BODY_INDEX["leftShoulder"]], frames[:, BODY_INDEX["rightShoulder"]]
    ok = (ls != 0).any(-1) & (rs != 0).any(-1)
    if not ok.any():
        return None
    return bool(np.median(ls[ok, 0] - rs[ok, 0]) < 0)


def _name(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else f"class {label}"


def _rows(items: Sequence, limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_classes(report: CheckReport) -> None:
    names = report.class_names
    counts = {split: Counter(seqs.labels.tolist()) for split, seqs in report.splits.items()}
    labels = sorted(set().union(*counts.values()))
    if "train" in counts:
        for label in labels:
            if counts["train"][label] == 0:
                where = [s for s in counts if counts[s][label]]
                report.findings.append(Finding(
                    "error", "class_missing_from_train",
                    f"class {_name(names, label)!r} (label {label}) is in {', '.join(where)} but not "
                    f"in train: the model can never predict it"))
        train = [counts["train"][label] for label in labels if counts["train"][label]]
        if train and max(train) > IMBALANCE_RATIO * min(train):
            report.findings.append(Finding(
                "warning", "class_imbalance",
                f"train is unbalanced: {max(train)} samples in the largest class, {min(train)} in "
                f"the smallest (consider class weights or resampling)"))
    if report.class_names and labels and labels[-1] >= len(names):
        report.findings.append(Finding(
            "error", "label_without_name",
            f"label {labels[-1]} has no name in the class file ({len(names)} names)"))
    # Per class, over all splits: frames, and the share of frames with each hand seen.
    frames, hands = Counter(), defaultdict(lambda: np.zeros(2))
    for seqs in report.splits.values():
        frame_labels = np.repeat(seqs.labels, seqs.lengths)
        seen = np.stack([joint_present(seqs.frames[:, LEFT_HAND]).any(-1),
                         joint_present(seqs.frames[:, RIGHT_HAND]).any(-1)], -1)
        for label in np.unique(frame_labels):
            rows = frame_labels == label
            frames[int(label)] += int(rows.sum())
            hands[int(label)] += seen[rows].sum(0)
    header = "| class | " + " | ".join(report.splits) + " | mean frames | left hand seen | right hand seen |"
    lines = [header, "|" + "---|" * (len(report.splits) + 4)]
    for label in labels:
        samples = sum(counts[s][label] for s in report.splits)
        share = hands[label] / max(frames[label], 1)
        lines.append(f"| {_name(names, label)} | "
                     + " | ".join(str(counts[s][label]) for s in report.splits)
                     + f" | {frames[label] / max(samples, 1):.1f} | {share[0]:.0%} | {share[1]:.0%} |")
    report.tables.append("## Samples per class\n\n" + "\n".join(lines))


def _check_samples(report: CheckReport) -> None:
    names = report.class_names
    seen: Dict[str, List[str]] = defaultdict(list)
    dominance: Dict[int, List[float]] = defaultdict(list)
    per_sample = []
    lines = ["| split | samples | frames min / median / max | left hand seen | right hand seen | "
             "all-zero samples |", "|---|---|---|---|---|---|"]
    for split, seqs in report.splits.items():
        present = joint_present(seqs.frames)
        lengths = seqs.lengths
        zero, swapped, flipped = [], [], []
        for k in range(len(seqs)):
            frames = seqs.sample(k)
            row = k + 2  # CSV line: the header is line 1
            if not frames.any():
                zero.append(row)
                continue
            seen[sample_hash(frames)].append(f"{split} row {row}")
            if swapped_hands(frames):
                swapped.append(row)
            if flipped_sides(frames):
                flipped.append(row)
            left, right = hand_activity(frames)
            if left + right > 0:
                balance = float(np.log((left + 1e-6) / (right + 1e-6)))  # > 0: the left hand leads
                dominance[int(seqs.labels[k])].append(balance)
                per_sample.append((split, row, int(seqs.labels[k]), balance))
        lh = present[:, LEFT_HAND].any(-1).mean()
        rh = present[:, RIGHT_HAND].any(-1).mean()
        lines.append(f"| {split} | {len(seqs)} | {lengths.min()} / {int(np.median(lengths))} / "
                     f"{lengths.max()} | {lh:.0%} of frames | {rh:.0%} of frames | {len(zero)} |")
        if zero:
            report.findings.append(Finding("error", "all_zero_sample",
                                            f"{split}: {len(zero)} sample(s) with no landmark at all "
                                            f"(CSV lines {_rows(zero)})"))
        if swapped:
            report.findings.append(Finding("warning", "swapped_hands",
                                           f"{split}: {len(swapped)} sample(s) whose left/right hand "
                                           f"columns hold each other's hand (CSV lines {_rows(swapped)})"))
        if flipped:
            report.findings.append(Finding("warning", "flipped_x",
                                           f"{split}: {len(flipped)} sample(s) flipped horizontally "
                                           f"without swapping left and right joints (the left "
                                           f"shoulder is on the image's left; CSV lines {_rows(flipped)})"))
    report.tables.insert(0, "## Splits\n\n" + "\n".join(lines))
    duplicates = [places for places in seen.values()
                  if len({p.split(" ")[0] for p in places}) > 1]
    if duplicates:
        report.findings.append(Finding("error", "duplicate_across_splits",
                                       f"{len(duplicates)} sample(s) appear in more than one split "
                                       f"({_rows([' = '.join(p) for p in duplicates], 4)}): "
                                       f"evaluation measures memory"))
    # A class is one-handed when its median sample clearly leads with one hand; its samples that
    # clearly lead with the other are left-handed signers or mirrored videos.
    clear = np.log(DOMINANCE_RATIO)
    majority = {label: float(np.median(v)) for label, v in dominance.items() if len(v) >= 3}
    against = [(split, row, label, "left" if b > 0 else "right")
               for split, row, label, b in per_sample
               if abs(majority.get(label, 0.0)) > clear and abs(b) > clear
               and np.sign(b) != np.sign(majority[label])]
    if against:
        report.findings.append(Finding(
            "warning", "other_hand",
            f"{len(against)} sample(s) signed with the other hand than most of their class "
            f"(likely left-handed signers or mirrored videos; --canonical_hand in training evens "
            f"this out): " + _rows([f"{s} line {r} ({_name(names, l)}, {h})" for s, r, l, h in against], 6)))
    lines = ["| class | leading hand | samples against it |", "|---|---|---|"]
    for label, median in sorted(majority.items()):
        lead = "both" if abs(median) <= clear else ("left" if median > 0 else "right")
        lines.append(f"| {_name(names, label)} | {lead} | {sum(a[2] == label for a in against)} |")
    report.tables.append("## Handedness\n\nThe hand that moves most, per class (at least "
                         f"{DOMINANCE_RATIO:g} times more than the other to count).\n\n" + "\n".join(lines))


def _missing_table(report: CheckReport) -> None:
    lines = ["| split | body | left hand | right hand | most often missing body joints |",
             "|---|---|---|---|---|"]
    for split, seqs in report.splits.items():
        missing = 1 - joint_present(seqs.frames).mean(0)
        worst = np.argsort(-missing[:NUM_BODY])[:4]
        lines.append(f"| {split} | {missing[:NUM_BODY].mean():.0%} | {missing[LEFT_HAND].mean():.0%} | "
                     f"{missing[RIGHT_HAND].mean():.0%} | "
                     + ", ".join(f"{JOINT_NAMES[j]} {missing[j]:.0%}" for j in worst) + " |")
    report.tables.append("## Missing joints (share of frames)\n\n" + "\n".join(lines))


def plot_overview(report: CheckReport, path: Path) -> Path:
    """One PNG: samples per class and split, sequence lengths, missing rate per joint."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ..atomic import atomic_write

    figure, axes = plt.subplots(3, 1, figsize=(11, 10))
    labels = sorted(set().union(*(set(s.labels.tolist()) for s in report.splits.values())))
    width = 0.8 / max(len(report.splits), 1)
    for i, (split, seqs) in enumerate(report.splits.items()):
        counts = Counter(seqs.labels.tolist())
        axes[0].bar(np.arange(len(labels)) + i * width, [counts[l] for l in labels], width, label=split)
        axes[1].hist(seqs.lengths, bins=30, alpha=0.6, label=split)
        axes[2].plot(1 - joint_present(seqs.frames).mean(0), marker=".", label=split)
    axes[0].set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
    axes[0].set_xticklabels([_name(report.class_names, l) for l in labels], rotation=45, ha="right")
    axes[0].set_ylabel("samples")
    axes[0].set_title("samples per class")
    axes[1].set_xlabel("frames per sample")
    axes[1].set_title("sequence lengths")
    axes[2].set_xticks(range(len(JOINT_NAMES)))
    axes[2].set_xticklabels(JOINT_NAMES, rotation=90, fontsize=6)
    axes[2].set_ylabel("share of frames missing")
    axes[2].set_title("missing rate per joint (body | left hand | right hand)")
    for x in (NUM_BODY - 0.5, NUM_BODY + NUM_HAND - 0.5):
        axes[2].axvline(x, color="grey", linewidth=0.5)
    for axis in axes:
        axis.legend(fontsize=8)
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=80))
    plt.close(figure)
    return path


# Skeleton edges for the simple renderer: body, then one hand (offsets added per hand).
BODY_EDGES = [("nose", "neck"), ("neck", "rightShoulder"), ("neck", "leftShoulder"),
              ("rightShoulder", "rightElbow"), ("rightElbow", "rightWrist"),
              ("leftShoulder", "leftElbow"), ("leftElbow", "leftWrist"), ("nose", "rightEye"),
              ("nose", "leftEye"), ("rightEye", "rightEar"), ("leftEye", "leftEar")]
HAND_EDGES = [(0, 4), (4, 3), (3, 2), (2, 1), (0, 8), (8, 7), (7, 6), (6, 5), (0, 12), (12, 11),
              (11, 10), (10, 9), (0, 16), (16, 15), (15, 14), (14, 13), (0, 20), (20, 19), (19, 18),
              (18, 17)]


def render_strip(frames: np.ndarray, path: Path, title: str = "", panels: int = 6) -> Path:
    """A few evenly spaced frames of one (T, 54, 2) clip as a skeleton strip PNG (image
    coordinates, y down; left hand red, right hand blue). The default ``renderer`` of the check."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ..atomic import atomic_write

    edges = [(BODY_INDEX[a], BODY_INDEX[b], "k") for a, b in BODY_EDGES]
    for start, colour in ((NUM_BODY, "tab:red"), (NUM_BODY + NUM_HAND, "tab:blue")):
        edges += [(start + a, start + b, colour) for a, b in HAND_EDGES]
    present = joint_present(frames)
    seen = frames[present] if present.any() else np.zeros((1, 2))
    low, high = seen.min(0) - 0.05, seen.max(0) + 0.05
    picks = np.unique(np.linspace(0, len(frames) - 1, min(panels, len(frames))).round().astype(int))
    figure, axes = plt.subplots(1, len(picks), figsize=(2 * len(picks), 2.4), squeeze=False)
    for axis, t in zip(axes[0], picks):
        for a, b, colour in edges:
            if present[t, a] and present[t, b]:
                axis.plot(frames[t, [a, b], 0], frames[t, [a, b], 1], color=colour, linewidth=1)
        axis.set_xlim(low[0], high[0])
        axis.set_ylim(high[1], low[1])
        axis.set_aspect("equal")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(f"frame {t}", fontsize=7)
    figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=70))
    plt.close(figure)
    return path


Renderer = Callable[[np.ndarray, Path, str], Path]


def render_clips(report: CheckReport, folder: Path, per_class: int,
                 renderer: Renderer = render_strip) -> List[Path]:
    """``per_class`` clips of every class (from the first split that has them), one file each."""
    written = []
    for label in sorted(set().union(*(set(s.labels.tolist()) for s in report.splits.values()))):
        left = per_class
        for split, seqs in report.splits.items():
            for k in np.flatnonzero(seqs.labels == label)[:left]:
                name = _name(report.class_names, label)
                safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
                written.append(renderer(seqs.sample(k), folder / f"{safe}_{split}_{k + 2}.png",
                                        f"{name}: {split}, CSV line {k + 2}"))
                left -= 1
            if left <= 0:
                break
    return written


def check_datasets(paths: Sequence, output: Optional[str] = None, render: int = 0,
                   renderer: Renderer = render_strip) -> CheckReport:
    """Check the CSVs; with ``output``, write ``report.md`` and its pictures into that folder."""
    if not paths:
        raise ValueError("no CSV to check")
    splits: Dict[str, PoseSequences] = {}
    for path in paths:
        name = split_name(path)
        if name in splits:
            name = Path(path).stem
        splits[name] = read_pose_csv(path)
    largest = max(int(s.labels.max()) for s in splits.values()) + 1
    names = read_class_names(paths[0]) or [str(i) for i in range(largest)]
    report = CheckReport(splits, names)
    _check_samples(report)
    _check_classes(report)
    _missing_table(report)
    if output is not None:
        folder = Path(output)
        overview = plot_overview(report, folder / "overview.png")
        report.files.append(overview)
        body = [f"# Data check: {', '.join(str(p) for p in paths)}", "",
                f"**{len(report.errors)} error(s), {len(report.warnings)} warning(s).**", ""]
        body += [f"- **{f.severity}** ({f.kind}): {f.message}" for f in report.findings] or ["No problems found."]
        body += ["", "![overview](overview.png)", ""] + [t + "\n" for t in report.tables]
        if render:
            clips = render_clips(report, folder / "clips", render, renderer)
            report.files += clips
            body += ["## Clips", ""] + [f"![{p.stem}](clips/{p.name})" for p in clips]
        report.files.append(write_text_atomic(folder / "report.md", "\n".join(body) + "\n"))
    return report
