"""`slr render` options (slr/render/cli.py); rendering runs in tests/render/test_render.py."""

import argparse

import pytest

from slr_fused.render.cli import add_render_parser


def _parser():
    parser = argparse.ArgumentParser(prog="slr")
    add_render_parser(parser.add_subparsers(dest="command"))
    return parser


def test_defaults():
    args = _parser().parse_args(["render", "x.csv", "-o", "x.mp4"])
    assert (args.row, args.video, args.fps, args.size, args.model_complexity) == (None, None, None, 480, 1)
    assert not args.side_by_side and not args.overwrite


@pytest.mark.parametrize("argv", [["render", "x.csv"],                                  # no -o
                                  ["render", "x.csv", "-o", "y.gif", "--model_complexity", "3"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(argv)
    assert exit_.value.code == 2 and "usage:" in capsys.readouterr().err
