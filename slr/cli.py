"""The ``slr`` command: argument parsing and printing only; the work lives in importable modules."""

import argparse
import dataclasses
import sys
import warnings
from typing import List, Optional

from .models.cross_modal import fused_kernels_have_dropout
from .recipes import RECIPES, recipe_values
from .schedules import LR_SCHEDULES
from .training import TrainConfig


def str2bool(value) -> bool:
    """The seeds' boolean spelling (``--use_cmcl True``) as well as bare flags."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "on"):
        return True
    if text in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {value!r}")


def _bool_flag(parser, name, default, help_text):
    parser.add_argument(f"--{name}", type=str2bool, nargs="?", const=True, default=default,
                        metavar="BOOL", help=f"{help_text} (default: {default})")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--experiment_name", default=d.experiment_name,
                      help="name of the run; the model is saved to <runs_dir>/<name>/ (default: %(default)s)")
    data.add_argument("--training_set_path", default=None,
                      help="training CSV (SPOTER/Siformer format); omitted: the bundled synthetic demo data")
    data.add_argument("--validation_set_path", default=None, help="validation CSV (default: none, or the demo's)")
    data.add_argument("--testing_set_path", default=None, help="test CSV (default: none, or the demo's)")
    data.add_argument("--validation_set", choices=("auto", "from-file", "split-from-train", "none"),
                      default=d.validation_set,
                      help="where validation data comes from; auto = from-file when "
                           "--validation_set_path is given, else none (default: %(default)s)")
    data.add_argument("--validation_set_size", type=float, default=d.validation_set_size,
                      help="fraction of the training set held out by split-from-train (default: %(default)s)")
    data.add_argument("--experimental_train_split", type=float, default=None,
                      help="train on this stratified fraction of the training set (default: all)")
    data.add_argument("--num_classes", type=int, default=None,
                      help="number of classes (default: inferred from the labels)")
    data.add_argument("--num_frames", type=int, default=None,
                      help="resample every sample to this many frames, e.g. 204 as in Siformer "
                           "(default: keep lengths, pad per batch with a mask)")
    data.add_argument("--max_frames", type=int, default=d.max_frames,
                      help="positional table length; longer samples are resampled down (default: %(default)s)")
    _bool_flag(data, "augmentations", d.augmentations, "SPOTER augmentations on the training set")
    data.add_argument("--augmentations_prob", type=float, default=d.augmentations_prob,
                      help="probability of augmenting a sample (default: %(default)s)")
    data.add_argument("--gaussian_std", type=float, default=d.gaussian_std,
                      help="std of Gaussian noise on normalised coordinates (default: %(default)s)")
    data.add_argument("--mirror", type=float, nargs="?", const=0.5, default=d.mirror, metavar="P",
                      help="mirror training samples with probability P (flip x, swap hands and "
                           "left/right joints; default: off, P = 0.5 when given bare)")
    data.add_argument("--canonical_hand", choices=("left", "right"), default=d.canonical_hand,
                      help="mirror samples whose dominant hand is the other one, in every split "
                           "(default: off)")
    data.add_argument("--speed", type=float, default=d.speed,
                      help="play training samples at a random speed in [1 - S, 1 + S] "
                           "(default: %(default)s, off)")
    data.add_argument("--temporal_crop", type=float, default=d.temporal_crop,
                      help="crop up to this fraction of a training sample's frames, split at random "
                           "between its start and end (default: %(default)s, off)")
    data.add_argument("--num_workers", type=int, default=d.num_workers,
                      help="DataLoader worker processes (default: %(default)s)")

    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=d.epochs, help="epochs (default: %(default)s)")
    opt.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate (default: %(default)s)")
    opt.add_argument("--weight_decay", type=float, default=d.weight_decay,
                     help="AdamW weight decay (default: %(default)s)")
    opt.add_argument("--batch_size", type=int, default=d.batch_size, help="batch size (default: %(default)s)")
    opt.add_argument("--scheduler_milestones", type=int, nargs="+", default=None,
                     help="MultiStepLR epochs where the lr is multiplied by --scheduler_gamma "
                          "(default: 60%% and 80%% of --epochs, i.e. 60 80 for 100 epochs)")
    opt.add_argument("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    opt.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    opt.add_argument("--amp", choices=("bf16", "fp16"), default=None,
                     help="mixed precision on CUDA; bf16 also on CPUs with AVX512-BF16/AMX (default: off)")
    opt.add_argument("--scheduler_gamma", type=float, default=d.scheduler_gamma,
                     help="lr factor at each milestone (default: %(default)s)")
    opt.add_argument("--lr_schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                     help="multistep (the seeds', see --scheduler_milestones) or cosine (linear "
                          "warm-up, then half a cosine to 0) (default: %(default)s)")
    opt.add_argument("--warmup_epochs", type=int, default=d.warmup_epochs,
                     help="epochs of linear lr warm-up of --lr_schedule cosine (default: %(default)s)")
    opt.add_argument("--label_smoothing", type=float, default=d.label_smoothing,
                     help="label smoothing of the cross-entropy (default: %(default)s)")
    opt.add_argument("--ema_decay", type=float, default=d.ema_decay,
                     help="> 0: keep an exponential moving average of the weights with this decay "
                          "per step and evaluate/save it (default: %(default)s, off)")
    opt.add_argument("--recipe", choices=sorted(RECIPES), default=d.recipe,
                     help="seed: the defaults shown here (the seeds' settings); wlasl: settings for "
                          "many-signer data (" + ", ".join(f"--{k} {v}" for k, v in
                          RECIPES["wlasl"].items()) + "); flags given explicitly override the "
                          "recipe (default: %(default)s)")

    model = parser.add_argument_group("model")
    model.add_argument("--num_enc_layers", type=int, default=d.num_enc_layers,
                       help="encoder layers per modality (default: %(default)s)")
    model.add_argument("--num_dec_layers", type=int, default=d.num_dec_layers,
                       help="decoder layers (default: %(default)s)")
    model.add_argument("--d_ff", type=int, default=d.d_ff, help="feed-forward width (default: %(default)s)")
    model.add_argument("--dropout", type=float, default=d.dropout, help="dropout (default: %(default)s)")
    _bool_flag(model, "use_cross_attention", d.use_cross_attention, "BMHCMA after the encoders")
    model.add_argument("--cross_attn_heads", type=int, default=d.cross_attn_heads,
                       help="BMHCMA heads, 1, 2, 3 or 6; others are adjusted down (default: %(default)s)")
    model.add_argument("--cross_attn_dropout", type=float, default=d.cross_attn_dropout,
                       help="dropout on BMHCMA's attention probabilities while training, as the "
                            "seed's 0.1; 0 turns it off" + ("" if fused_kernels_have_dropout() else
                            " (the fused kernels have none yet: --kernel auto then trains the block "
                            "with the reference)") + " (default: %(default)s)")
    model.add_argument("--cross_attn_mode", choices=("bidirectional", "unidirectional"),
                       default=d.cross_attn_mode,
                       help="unidirectional: the hands attend to the body (lh <- body, rh <- body), the "
                            "body passes through (default: %(default)s)")
    _bool_flag(model, "use_gating", d.use_gating, "sigmoid gate in BMHCMA")
    model.add_argument("--cross_attn_directions", default=d.cross_attn_directions,
                       help="all, hands (lh<->rh), hands-body, or a comma list such as "
                            "lh_from_rh,body_from_lh (default: %(default)s)")
    model.add_argument("--kernel", choices=("auto", "reference", "triton"), default=d.kernel,
                       help="BMHCMA backend; auto = triton on CUDA when available (default: %(default)s)")

    loss = parser.add_argument_group("CMCL loss")
    _bool_flag(loss, "use_cmcl", d.use_cmcl, "cross-modal consistency loss")
    loss.add_argument("--lambda_consistency", type=float, default=d.lambda_consistency,
                      help="weight of the attention-consistency KL (default: %(default)s)")
    loss.add_argument("--lambda_alignment", type=float, default=d.lambda_alignment,
                      help="weight of the feature-alignment term (default: %(default)s)")
    loss.add_argument("--cmcl_temperature", type=float, default=d.cmcl_temperature,
                      help="softening temperature of the attention maps (default: %(default)s)")
    _bool_flag(loss, "use_adaptive_cmcl", d.use_adaptive_cmcl,
               "CMCL weights rise linearly over the warm-up, then decay exponentially")
    loss.add_argument("--cmcl_warmup_epochs", type=int, default=d.cmcl_warmup_epochs,
                      help="adaptive CMCL warm-up epochs (default: %(default)s)")
    loss.add_argument("--cmcl_decay_rate", type=float, default=d.cmcl_decay_rate,
                      help="adaptive CMCL exponential decay rate per epoch (default: %(default)s)")

    out = parser.add_argument_group("output")
    out.add_argument("--runs_dir", default=d.runs_dir, help="folder of runs (default: %(default)s)")
    _bool_flag(out, "save_checkpoints", d.save_checkpoints,
               "write checkpoints/last.pt every epoch and checkpoints/best.pt (best validation top-1)")
    out.add_argument("--log_freq", type=int, default=d.log_freq,
                     help="print the epoch summary every N epochs (default: %(default)s)")
    _bool_flag(out, "resume", d.resume, "continue the run from <runs_dir>/<experiment_name>/checkpoints/last.pt")
    _bool_flag(out, "overwrite", d.overwrite, "delete an existing run of this name and start again "
               "(without it, an existing run needs --resume)")
    _bool_flag(out, "progress", None, "progress bars (default: only on a terminal)")


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


def compatibility_notes(args: argparse.Namespace) -> list:
    """Check upstream-only flags; returns warnings, raises ValueError for unsupported requests."""
    notes = []
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
    parser = argparse.ArgumentParser(add_help=False)
    add_train_arguments(parser)
    add_compatibility_arguments(parser)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given, _ = parser.parse_known_args(argv)
    return set(vars(given))


def train_config_from_args(args: argparse.Namespace, given: Optional[set] = None) -> TrainConfig:
    """The TrainConfig of parsed flags: the recipe's values, then the ``given`` flags over them."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    for name, value in recipe_values(values.get("recipe", "seed")).items():
        if name not in (given or set()):
            values[name] = value
    if values["scheduler_milestones"] is not None:
        values["scheduler_milestones"] = tuple(values["scheduler_milestones"])
    values.setdefault("amp", None)
    if getattr(args, "scheduler_factor", None) is not None:
        values["scheduler_gamma"] = args.scheduler_factor
    return TrainConfig(**values)


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
            for note in compatibility_notes(args):
                print(note, file=sys.stderr)
            train(train_config_from_args(args, explicitly_given(
                sys.argv[1:] if argv is None else argv)))
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
