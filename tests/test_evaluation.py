"""The evaluation report text (slr/evaluation.py, format_report); evaluating a trained run is
tested in tests/test_training.py and tests/test_ema.py."""

from slr_fused.evaluation import format_report


def test_report_lists_accuracy_per_class_and_the_files():
    report = format_report({
        "data": "val.csv", "samples": 3, "top1": 2 / 3, "top5": 1.0,
        "per_class": {"hello": {"accuracy": 1.0, "support": 2}, "a": {"accuracy": 0.0, "support": 1}},
        "json": "out.json"})
    assert report.splitlines() == [
        "val.csv: 3 samples", "top-1 0.6667  top-5 1.0000", "", "per-class accuracy:",
        "  hello  1.000  (2 samples)", "  a      0.000  (1 samples)", "wrote out.json"]


def test_report_without_classes():
    report = format_report({"data": "x", "samples": 0, "top1": 0.0, "top5": 0.0, "per_class": {}})
    assert report.endswith("per-class accuracy:")
