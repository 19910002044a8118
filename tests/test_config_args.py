"""Flags generated from the configuration model (slr/config_args.py); `slr train` parsing as a
whole is tested in tests/test_cli.py and tests/test_config.py."""

import argparse

import pytest

from slr_fused.config import TrainConfig
from slr_fused.config_args import add_config_arguments, config_from_args, explicitly_given, str2bool
from slr_fused.recipes import DEFAULT_RECIPE, recipe_config


def _parser():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser


@pytest.mark.parametrize("text, value", [("True", True), ("yes", True), (" 1 ", True), ("on", True),
                                         ("False", False), ("n", False), ("0", False), (False, False)])
def test_str2bool_spellings(text, value):
    assert str2bool(text) is value


def test_str2bool_refuses_anything_else():
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a boolean \(True/False\), got 'maybe'"):
        str2bool("maybe")


def test_every_setting_is_a_flag_with_its_default():
    args = _parser().parse_args([])
    assert set(TrainConfig.setting_names()) <= set(vars(args)) and args.config is None
    # slr train's defaults are the default recipe's (the seeds' values with --recipe seed)
    assert config_from_args(args) == recipe_config(DEFAULT_RECIPE)
    assert config_from_args(_parser().parse_args(["--recipe", "seed"])) == TrainConfig()


def test_explicitly_given_names_only_the_settings_written():
    argv = ["--epochs", "3", "--use_cmcl", "--lr", "0.001", "--not_a_setting", "x"]
    assert explicitly_given(argv) == {"epochs", "use_cmcl", "lr"}
    assert explicitly_given([]) == set()


def test_bad_values_are_argparse_errors(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["--epochs", "three"])
    assert "--epochs: invalid int value: 'three'" in capsys.readouterr().err
