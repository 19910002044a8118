"""``slr bench``: every benchmark module is a subcommand; the model cost is the default."""

import argparse

import pytest

from slr_fused.bench import cli


def parser():
    p = argparse.ArgumentParser()
    cli.add_bench_parser(p.add_subparsers(dest="command"))
    return p


def test_every_benchmark_is_reachable():
    assert set(cli.SUBCOMMANDS) == {"ablation", "deployment", "quantization", "kernels",
                                    "kernel-stats"}
    args = parser().parse_args(["bench", "--repeats", "5", "--providers", "eager"])
    assert args.command == "bench" and args.bench_command is None and args.repeats == 5
    args = parser().parse_args(["bench", "ablation", "--epochs", "3", "--seeds", "1", "2", "3"])
    assert args.bench_command == "ablation" and args.epochs == 3 and args.seeds == [1, 2, 3]
    assert args.data is None                               # the bundled demo data
    args = parser().parse_args(["bench", "kernels", "--no-sweep", "--dtypes", "fp32"])
    assert args.bench_command == "kernels" and args.no_sweep and args.dtypes == ["fp32"]
    for command in ("deployment", "quantization", "kernels", "kernel-stats"):
        extra = ["-m", "x.pt", "--calibration", "c.csv", "--held-out", "h.csv"] \
            if command == "quantization" else []
        args = parser().parse_args(["bench", command, *extra])
        assert args.output == "bench-results", command


def test_run_bench_dispatches_and_passes_the_exit_status(monkeypatch):
    seen = []

    class Fake:
        @staticmethod
        def run_from_args(args):
            seen.append(args.bench_command)
            return 1 if args.bench_command == "kernel-stats" else {"json": "x.json"}
    monkeypatch.setattr(cli, "_module", lambda name: Fake)
    assert cli.run_bench(argparse.Namespace(bench_command="kernel-stats")) == 1
    assert cli.run_bench(argparse.Namespace(bench_command=None)) == 0
    assert seen == ["kernel-stats", None]


def test_a_bad_subcommand_is_refused():
    with pytest.raises(SystemExit):
        parser().parse_args(["bench", "fastest"])
