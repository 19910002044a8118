"""argparse converters (slr/argtypes.py): accepted values and the one-line message for bad ones."""

import argparse

import pytest

from slr_fused.argtypes import positive_float, positive_int, probability


def test_good_values_convert():
    assert positive_int("3") == 3 and isinstance(positive_int("3"), int)
    assert positive_float("0.5") == 0.5
    assert probability("0") == 0.0 and probability("1") == 1.0 and probability("0.25") == 0.25


@pytest.mark.parametrize("convert, text, message", [
    (positive_int, "x", "expected an integer, got 'x'"),
    (positive_int, "1.5", "expected an integer, got '1.5'"),
    (positive_int, "0", "expected an integer of at least 1, got '0'"),
    (positive_float, "abc", "expected a number, got 'abc'"),
    (positive_float, "0", "expected a positive number, got '0'"),
    (positive_float, "nan", "expected a positive number, got 'nan'"),
    (probability, "-0.1", "expected a number between 0 and 1, got '-0.1'"),
    (probability, "1.01", "expected a number between 0 and 1, got '1.01'"),
    (probability, "half", "expected a number, got 'half'"),
])
def test_bad_values_are_one_argparse_message(convert, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as error:
        convert(text)
    assert str(error.value) == message


def test_argparse_prints_the_message_and_exits_2(capsys):
    parser = argparse.ArgumentParser(prog="slr")
    parser.add_argument("--epochs", type=positive_int)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--epochs", "-2"])
    assert exit_.value.code == 2
    assert "expected an integer of at least 1, got '-2'" in capsys.readouterr().err
