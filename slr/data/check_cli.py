"""``slr data check``: argument parsing and printing; the work is in :mod:`.check`."""

import argparse


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="inspect pose CSVs (slr data check)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser(
        "check", help="counts, missing joints, handedness and leaks of a dataset's CSVs",
        description="Check the CSVs of one dataset (name_train.csv name_val.csv name_test.csv): "
                    "per split and class counts, lengths, missing joints and hands, all-zero "
                    "samples, samples in two splits, class balance, swapped hands, flipped clips "
                    "and clips signed with the other hand. Exit code 1 when a problem would "
                    "silently hurt training (a class absent from train, an all-zero sample, a "
                    "sample in two splits).")
    check.add_argument("csvs", nargs="+", metavar="CSV", help="the dataset's CSV files")
    check.add_argument("-o", "--output", default=None,
                       help="folder for report.md and its plots (default: <name>_check in the "
                            "current folder)")
    check.add_argument("--render", type=int, default=0, metavar="N",
                       help="also draw N skeleton clips per class into the report (default: 0)")
    check.add_argument("--overwrite", action="store_true",
                       help="replace an earlier report.md in --output")
    return parser


def run_data(args: argparse.Namespace) -> int:
    from pathlib import Path
    from .check import check_datasets
    first = Path(args.csvs[0])
    output = args.output or f"{first.stem.rsplit('_', 1)[0]}_check"
    from ..config_checks import NON_NEGATIVE, check_value
    from ..guards import OutputError, check_output
    check_value("--render", args.render, NON_NEGATIVE)
    if Path(output).is_file():
        raise OutputError(f"--output {output}: is a file; the report goes to a folder")
    check_output(Path(output) / "report.md", args.csvs, args.overwrite)
    report = check_datasets(args.csvs, output, render=args.render)
    print(report.summary())
    print(f"report: {Path(output) / 'report.md'}")
    return 1 if report.errors else 0
