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
    return parser


def run_data(args: argparse.Namespace) -> int:
    from pathlib import Path
    from .check import check_datasets
    first = Path(args.csvs[0])
    output = args.output or f"{first.stem.rsplit('_', 1)[0]}_check"
    report = check_datasets(args.csvs, output, render=args.render)
    print(report.summary())
    print(f"report: {Path(output) / 'report.md'}")
    return 1 if report.errors else 0
