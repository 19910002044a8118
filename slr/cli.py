"""The ``slr`` command: argument parsing and printing only; the work lives in importable modules."""

import argparse
import sys
import warnings
from typing import List, Optional, Sequence

from .config import TrainConfig
from .config_args import add_config_arguments, config_from_args, str2bool
from .config_args import explicitly_given as _explicitly_given

__all__ = ["build_parser", "main", "str2bool", "train_config_from_args", "explicitly_given"]


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``slr train`` settings, generated from TrainConfig (slr_fused.config), and --config."""
    add_config_arguments(parser)


def _bool_flag(parser, name, default, help_text):
    parser.add_argument(f"--{name}", type=str2bool, nargs="?", const=True, default=default,
                        metavar="BOOL", help=f"{help_text} (default: {default})")


def add_compatibility_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of upstream SPOTER/Siformer command lines, so their usage lines run unchanged."""
    compat = parser.add_argument_group("compatibility with SPOTER/Siformer command lines")
    compat.add_argument("--hidden_dim", type=int, default=108,
                        help="SPOTER's model width; SiFormer's is fixed at 108 (42+42+24)")
    compat.add_argument("--gaussian_mean", type=float, default=0.0,
                        help="SPOTER's noise mean; only 0 is supported (default: %(default)s)")
    compat.add_argument("--scheduler_factor", type=float, default=None,
                        help="SPOTER's lr factor: used as the MultiStepLR factor when given")
    compat.add_argument("--scheduler_patience", type=int, default=None,
                        help="SPOTER's ReduceLROnPlateau patience: ignored (MultiStepLR is used)")
    _bool_flag(compat, "plot_stats", True, "SPOTER's plot switch; plots are always written to the run folder")
    _bool_flag(compat, "plot_lr", True, "SPOTER's lr-plot switch; see --plot_stats")
    compat.add_argument("--attn_type", default="softmax",
                        help="Siformer's attention type; only standard softmax attention is implemented")
    for name in ("FITR", "PBEE_encoder", "PBEE_decoder"):
        _bool_flag(compat, name, False, "Siformer's early exit; not supported")
    compat.add_argument("--patience", type=int, default=None, help="Siformer's early-exit patience: ignored")


UPSTREAM_FLAGS = ("--hidden_dim", "--gaussian_mean", "--scheduler_factor", "--scheduler_patience",
                  "--plot_stats", "--plot_lr", "--attn_type", "--FITR", "--PBEE_encoder",
                  "--PBEE_decoder", "--patience")


def compatibility_notes(args: argparse.Namespace, argv: Sequence[str] = ()) -> list:
    """Check upstream-only flags; returns warnings, raises ValueError for unsupported requests.

    ``argv``: the command line, to tell a SPOTER/Siformer usage line without ``--recipe`` that
    slr train's default recipe is not the seeds' settings.
    """
    notes = []
    written = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    if written & set(UPSTREAM_FLAGS) and not written & {"--recipe", "--config"}:
        notes.append("Note: a SPOTER/Siformer command line trains with slr train's default recipe "
                     "(wlasl: mirroring, EMA, cosine at lr 3e-4, ... for flags not given); add "
                     "--recipe seed for the seeds' training settings")
    if getattr(args, "hidden_dim", 108) != 108:
        raise ValueError(f"--hidden_dim {args.hidden_dim}: SiFormer's width is 42 + 42 + 24 = 108")
    if getattr(args, "gaussian_mean", 0.0) != 0.0:
        raise ValueError("--gaussian_mean: only zero-mean noise is supported")
    if any(getattr(args, name, False) for name in ("FITR", "PBEE_encoder", "PBEE_decoder")):
        raise ValueError("Siformer's early exit (--FITR/--PBEE_*) is not part of slr-fused")
    if getattr(args, "attn_type", "softmax") not in ("softmax", "full"):
        notes.append(f"Warning: --attn_type {args.attn_type}: slr-fused uses standard softmax attention")
    if getattr(args, "scheduler_patience", None) is not None or getattr(args, "patience", None) is not None:
        notes.append("Warning: --scheduler_patience/--patience are ignored (MultiStepLR, no early exit)")
    return notes


def explicitly_given(argv: List[str]) -> set:
    """The train settings written on the command line (even with their default value)."""
    return _explicitly_given(argv, add_compatibility_arguments)


def train_config_from_args(args: argparse.Namespace, given: Optional[set] = None) -> TrainConfig:
    """The TrainConfig of parsed flags: the defaults or --config file, the recipe's values, then
    the ``given`` flags over them (see slr_fused.config_args)."""
    config = config_from_args(args, given)
    if getattr(args, "scheduler_factor", None) is not None:
        config.scheduler_gamma = args.scheduler_factor
    return config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slr", description="Skeleton-based sign language recognition with SiFormer + BMHCMA + CMCL")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    info = sub.add_parser("info", help="versions, devices and usable backends")
    info.add_argument("--model", action="store_true",
                      help="also print parameter counts of the baseline and every BMHCMA configuration")
    info.add_argument("--num_classes", type=int, default=100,
                      help="classes assumed for --model counts (default: %(default)s, as WLASL100)")
    train = sub.add_parser("train", help="train SiFormer (bundled demo data when no CSV is given)")
    add_train_arguments(train)
    add_compatibility_arguments(train)
    from .export.cli import add_export_parser
    add_export_parser(sub)
    evaluate = sub.add_parser("evaluate", help="top-1/top-5, per-class accuracy and confusion matrix "
                                               "of a saved model on a CSV")
    evaluate.add_argument("checkpoint", help="model file (runs/<name>/model.pt or checkpoints/best.pt)")
    evaluate.add_argument("--data", required=True, help="CSV to evaluate on")
    evaluate.add_argument("--output", default=None,
                          help="folder for evaluation.json and confusion_matrix.png "
                               "(default: beside the checkpoint, in evaluation-<csv name>/)")
    evaluate.add_argument("--batch_size", type=int, default=64, help="batch size (default: %(default)s)")
    evaluate.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    evaluate.add_argument("--num_frames", type=int, default=None,
                          help="resample to this length, as in training (default: keep lengths)")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="replace an earlier evaluation.json/confusion_matrix.png in --output")
    from .extract.cli import add_extract_parser, add_predict_parser
    add_extract_parser(sub)
    add_predict_parser(sub)
    from .bench.cli import add_bench_parser
    add_bench_parser(sub)
    from .convert.cli import add_convert_parser
    add_convert_parser(sub)
    from .data.check_cli import add_data_parser
    add_data_parser(sub)
    from .stream.cli import add_stream_parser
    add_stream_parser(sub)
    from .render.cli import add_render_parser
    add_render_parser(sub)
    return parser


def _format_warning(message, category, filename, lineno, line=None):
    text = str(message)
    return (text if text.startswith("Warning:") else f"Warning: {text}") + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    warnings.formatwarning = _format_warning
    args = build_parser().parse_args(argv)
    from .checkpoint import CheckpointError
    from .data.csv_format import PoseDataError
    try:
        if args.command == "info":
            from .info import environment_report, model_report
            print(environment_report())
            if args.model:
                print()
                print(model_report(args.num_classes))
        elif args.command == "train":
            from .training import train
            argv = sys.argv[1:] if argv is None else argv
            for note in compatibility_notes(args, argv):
                print(note, file=sys.stderr)
            train(train_config_from_args(args, explicitly_given(argv)))
        elif args.command == "export":
            from .export.cli import run_export
            return run_export(args)
        elif args.command == "evaluate":
            import json
            from pathlib import Path
            from .evaluation import evaluate_checkpoint, format_report
            from .config_checks import AT_LEAST_ONE, check_value
            from .guards import OutputError, check_output
            check_value("--batch_size", args.batch_size, AT_LEAST_ONE)
            check_value("--num_frames", args.num_frames, AT_LEAST_ONE)
            output = args.output or str(Path(args.checkpoint).parent / f"evaluation-{Path(args.data).stem}")
            if Path(output).is_file():
                raise OutputError(f"--output {output}: is a file; the evaluation goes to a folder")
            for name in ("evaluation.json", "confusion_matrix.png"):
                check_output(Path(output) / name, [args.checkpoint, args.data], args.overwrite)
            result = evaluate_checkpoint(args.checkpoint, args.data, output, args.batch_size,
                                         args.device, args.num_frames)
            print(json.dumps(result, indent=2) if args.json else format_report(result))
        elif args.command == "extract":
            from .extract.cli import run_extract
            return run_extract(args)
        elif args.command == "predict":
            from .extract.cli import run_predict
            return run_predict(args)
        elif args.command == "bench":
            from .bench.cli import run_bench
            return run_bench(args)
        elif args.command == "convert":
            from .convert.cli import run_convert
            return run_convert(args)
        elif args.command == "data":
            from .data.check_cli import run_data
            return run_data(args)
        elif args.command == "stream":
            from .stream.cli import run_stream_command
            return run_stream_command(args)
        elif args.command == "render":
            from .render.cli import run_render
            return run_render(args)
    except (PoseDataError, CheckpointError, ValueError, RuntimeError, FloatingPointError,
            OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
