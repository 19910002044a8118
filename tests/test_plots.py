"""Run plots (slr/plots.py): which PNGs are written, and nothing for an empty history."""

import pytest

pytest.importorskip("matplotlib", reason="matplotlib draws the run plots")

from slr_fused.plots import plot_confusion, plot_history  # noqa: E402

PNG = b"\x89PNG"


def _record(epoch, lr):
    return {"epoch": epoch, "lr": lr, "train": {"loss": 1.0 / epoch, "ce": 1.0 / epoch},
            "val": {"top1": 0.1 * epoch, "top5": 0.2 * epoch}}


def test_history_writes_three_pngs(tmp_path):
    written = plot_history([_record(1, 1e-3), _record(2, 5e-4)], tmp_path / "plots")
    assert [p.name for p in written] == ["loss.png", "accuracy.png", "lr.png"]
    assert all(p.read_bytes()[:4] == PNG for p in written)
    assert plot_history([], tmp_path / "none") == [] and not (tmp_path / "none").exists()


def test_confusion_matrix_png_with_an_empty_row(tmp_path):
    path = plot_confusion([[3, 1], [0, 0]], ["a", "b"], tmp_path / "confusion.png", title="val")
    assert path == tmp_path / "confusion.png" and path.read_bytes()[:4] == PNG
