"""`slr data check` options and its refusals before any work (slr/data/check_cli.py); the
checks themselves run in tests/data/test_check.py."""

import argparse

import pytest

from slr_fused.data.check_cli import add_data_parser, run_data


def _parse(argv):
    parser = argparse.ArgumentParser(prog="slr")
    add_data_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["data", *argv])


def test_check_options():
    args = _parse(["check", "x_train.csv", "x_val.csv"])
    assert args.data_command == "check" and args.csvs == ["x_train.csv", "x_val.csv"]
    assert (args.output, args.render, args.overwrite) == (None, 0, False)


def test_an_action_is_required(capsys):
    with pytest.raises(SystemExit):
        _parse([])
    assert "ACTION" in capsys.readouterr().err


def test_negative_render_and_a_file_as_output_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--render"):
        run_data(_parse(["check", "x_train.csv", "--render", "-1"]))
    report = tmp_path / "report"
    report.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file; the report goes to a folder"):
        run_data(_parse(["check", "x_train.csv", "-o", str(report)]))
