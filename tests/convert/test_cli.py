"""`slr convert` options (slr/convert/cli.py); conversions run in tests/convert/test_clips.py,
test_mp_data.py, test_openpose_json.py and test_pose_file.py."""

import argparse

import pytest

from slr_fused.convert.cli import add_convert_parser


def _parse(argv):
    parser = argparse.ArgumentParser(prog="slr")
    add_convert_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["convert", *argv])


def test_defaults_and_split_shorthand():
    args = _parse(["a.pose", "-o", "out.csv"])
    assert args.inputs == ["a.pose"] and args.split is None and args.progress is None
    assert args.image_size is None and args.seed == 0
    args = _parse(["clips/", "-o", "out.csv", "--split", "--image_size", "1280X720", "--no_progress"])
    assert args.split == "0.7,0.15,0.15" and args.image_size == (1280, 720) and args.progress is False
    assert _parse(["c", "-o", "o.csv", "--group-by", "s(\\d+)"]).group_by == "s(\\d+)"


@pytest.mark.parametrize("size", ["1280", "0x720", "axb", "-5x5"])
def test_a_bad_image_size_is_one_usage_error(size, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(["c", "-o", "o.csv", f"--image_size={size}"])
    assert exit_.value.code == 2
    assert f"expected WIDTHxHEIGHT in pixels, e.g. 1280x720, got {size!r}" in capsys.readouterr().err
