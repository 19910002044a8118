"""Plain helpers of the export tests, importable by name (``from conftest import`` would pick
whichever test folder's conftest Python imported last)."""

import argparse
from pathlib import Path

from slr_fused.export.cli import add_export_parser

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def export_parser() -> argparse.ArgumentParser:
    """A parser shaped like ``slr``'s, holding only the export subcommand."""
    parser = argparse.ArgumentParser(prog="slr")
    subparsers = parser.add_subparsers(dest="command")
    add_export_parser(subparsers)
    return parser


def have_bsl16() -> bool:
    return (SHARED_DATA / "bsl16" / "bsl16_test.csv").is_file()
