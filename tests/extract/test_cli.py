"""The argument side of ``slr extract`` / ``slr predict`` (no MediaPipe needed)."""

import argparse
import sys

import pytest

from slr_fused.extract import ExtractionError, ExtractOptions, VideoError, extract_dataset
from slr_fused.extract.cli import add_extract_parser, add_predict_parser
from slr_fused.extract.predict import PredictionError


def parser():
    top = argparse.ArgumentParser(prog="slr")
    sub = top.add_subparsers(dest="command")
    add_extract_parser(sub)
    add_predict_parser(sub)
    return top


def test_defaults_and_options_parse():
    args = parser().parse_args(["extract", "a.mp4", "videos/", "-o", "out.csv", "--fps", "25",
                                "--max_frames", "64", "--workers", "3", "--model_complexity", "2"])
    assert args.inputs == ["a.mp4", "videos/"] and args.output == "out.csv"
    assert (args.fps, args.max_frames, args.workers, args.model_complexity) == (25.0, 64, 3, 2)
    assert args.progress is None and args.keep_work is False and args.start_frame == 0
    args = parser().parse_args(["predict", "a.mp4", "-m", "model.pt", "--no_progress"])
    assert (args.top_k, args.json, args.device, args.progress) == (5, False, "cpu", False)


@pytest.mark.parametrize("argv", [
    ["extract", "a.mp4"],                                   # no -o
    ["extract", "a.mp4", "-o", "x.csv", "--fps", "0"],
    ["extract", "a.mp4", "-o", "x.csv", "--workers", "0"],
    ["extract", "a.mp4", "-o", "x.csv", "--model_complexity", "3"],
    ["predict", "a.mp4"],                                   # no -m
    ["predict", "a.mp4", "-m", "m.pt", "-k", "0"],
])
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        parser().parse_args(argv)
    assert raised.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_inconsistent_frame_range_is_a_value_error():
    with pytest.raises(ValueError, match="end frame \\(3\\) must be after the start frame \\(5\\)"):
        ExtractOptions(start_frame=5, end_frame=3)


def test_errors_are_value_errors_so_the_cli_prints_them():
    # slr_fused.cli prints "error: <message>" and exits 2 for ValueError subclasses.
    for error in (ExtractionError, VideoError, PredictionError):
        assert issubclass(error, ValueError)


def test_missing_mediapipe_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    with pytest.raises(ExtractionError, match="needs MediaPipe 0.10.21, which cannot be imported"):
        extract_dataset([tmp_path / "a.mp4"], tmp_path / "out.csv", progress=False)


def test_a_missing_class_file_is_one_clear_error(tmp_path):
    with pytest.raises(ExtractionError, match="no such class file"):
        extract_dataset([tmp_path / "a.mp4"], tmp_path / "out.csv", classes=tmp_path / "nope.txt",
                        progress=False)


def test_labels_outside_a_given_class_file_are_refused(tmp_path):
    (tmp_path / "classes.txt").write_text("hello\nthanks\n")
    with pytest.raises(ExtractionError, match=r"labels \['goodbye'\] of the videos are not in the class file"):
        extract_dataset([tmp_path / "a.mp4"], tmp_path / "out.csv", default_label="goodbye",
                        classes=tmp_path / "classes.txt", progress=False)
