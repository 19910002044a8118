"""PNG plots of a run (loss, accuracy, learning rate) and of a confusion matrix.

matplotlib is imported lazily with the Agg backend, so training works on headless machines and
plots never open windows. Files are written atomically: a reader never sees half a PNG.
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .atomic import atomic_write


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(figure, path: Path) -> None:
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=110, bbox_inches="tight"))


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_history(records: List[Dict], folder) -> List[Path]:
    """loss.png, accuracy.png and lr.png from metrics.jsonl records; returns the paths written."""
    if not records:
        return []
    plt = _pyplot()
    folder = Path(folder)
    epochs = [r["epoch"] for r in records]
    written = []

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for key, label in (("loss", "total"), ("ce", "cross-entropy"), ("consistency", "consistency (KL)"),
                       ("alignment", "alignment (-cos)")):
        values = [r["train"].get(key) for r in records]
        if any(v not in (None, 0.0) for v in values):
            ax.plot(epochs, values, label=label, marker="." if len(epochs) < 30 else None)
    ax.set_xlabel("epoch"); ax.set_ylabel("training loss"); ax.grid(alpha=0.3); ax.legend()
    ax.set_title("Training losses")
    _integer_epochs(ax)
    _save(fig, folder / "loss.png"); written.append(folder / "loss.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for split, style in (("train", ":"), ("val", "-"), ("test", "--")):
        for k in ("top1", "top5"):
            values = [r.get(split, {}).get(k) for r in records]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, label=f"{split} {k.replace('top', 'top-')}",
                        alpha=1.0 if k == "top1" else 0.5)
    ax.set_xlabel("epoch"); ax.set_ylabel("accuracy"); ax.set_ylim(0, 1.02); ax.grid(alpha=0.3)
    ax.legend(loc="lower right"); ax.set_title("Accuracy")
    _integer_epochs(ax)
    _save(fig, folder / "accuracy.png"); written.append(folder / "accuracy.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3))
    ax.plot(epochs, [r["lr"] for r in records], label="learning rate")
    if any(r.get("w_consistency") for r in records):
        ax2 = ax.twinx()
        ax2.plot(epochs, [r.get("w_consistency", 0) for r in records], "g--", label="CMCL w_consistency")
        ax2.plot(epochs, [r.get("w_alignment", 0) for r in records], "r--", label="CMCL w_alignment")
        ax2.set_ylabel("CMCL weight"); ax2.legend(loc="upper right")
    ax.set_yscale("log"); ax.set_xlabel("epoch"); ax.set_ylabel("learning rate"); ax.grid(alpha=0.3)
    ax.set_title("Schedule")
    _integer_epochs(ax)
    _save(fig, folder / "lr.png"); written.append(folder / "lr.png")
    plt.close(fig)
    return written


def plot_confusion(matrix, class_names: Optional[Sequence[str]], path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class per row) as a heat map."""
    import numpy as np
    plt = _pyplot()
    matrix = np.asarray(matrix, dtype=float)
    n = len(matrix)
    rows = matrix.sum(1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = min(4 + 0.35 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    names = list(class_names) if class_names else [str(i) for i in range(n)]
    if n <= 60:
        ax.set_xticks(range(n)); ax.set_yticks(range(n))
        ax.set_xticklabels(names, rotation=90, fontsize=7); ax.set_yticklabels(names, fontsize=7)
        if n <= 25:
            for i in range(n):
                for j in range(n):
                    if matrix[i, j]:
                        ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted"); ax.set_ylabel("true"); ax.set_title(title or "Confusion matrix")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    _save(fig, Path(path))
    plt.close(fig)
    return Path(path)
