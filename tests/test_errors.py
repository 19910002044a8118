"""One-line descriptions of exceptions (slr/errors.py)."""

from slr_fused.errors import describe_error, first_line


def test_first_line_and_description():
    long = RuntimeError("ptxas fatal: bad tile\n" + "log line\n" * 50)
    assert first_line(long) == "ptxas fatal: bad tile"
    assert describe_error(long) == "RuntimeError: ptxas fatal: bad tile"
    assert first_line(ValueError("x" * 500), 300) == "x" * 300
    assert first_line(KeyError()) == "KeyError"             # no message: the type name
    assert describe_error(OSError("")) == "OSError: "
