"""``slr extract`` and ``slr predict``: argument parsing and printing; the work is in
:mod:`.extractor` and :mod:`.predict`, which take the same options."""

import argparse
import json
import sys

from ..argtypes import positive_float, positive_int
from .extractor import ExtractOptions


def _add_frame_options(parser: argparse.ArgumentParser, max_frames_help: str) -> None:
    group = parser.add_argument_group("frames and landmarks")
    group.add_argument("--fps", type=positive_float, default=None,
                       help="resample every video to this frame rate, e.g. 25 (nearest frame in time; "
                            "default: keep each video's own rate)")
    group.add_argument("--max_frames", type=positive_int, default=None, help=max_frames_help)
    group.add_argument("--start_frame", type=int, default=0,
                       help="first frame of each video to use, 0-based (default: %(default)s)")
    group.add_argument("--end_frame", type=positive_int, default=None,
                       help="frame at which to stop, exclusive (default: the end of the video)")
    group.add_argument("--model_complexity", type=int, choices=(0, 1, 2), default=1,
                       help="MediaPipe Holistic pose model: 0 lite, 1 full, 2 heavy (default: %(default)s)")
    group.add_argument("--no_progress", dest="progress", action="store_const", const=False, default=None,
                       help="no progress bar (default: shown on a terminal)")


def _options(args: argparse.Namespace) -> ExtractOptions:
    return ExtractOptions(fps=args.fps, max_frames=args.max_frames,
                          start_frame=args.start_frame, end_frame=args.end_frame,
                          model_complexity=args.model_complexity)


def add_extract_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "extract", help="videos -> MediaPipe landmarks -> a SPOTER/Siformer pose CSV",
        description="Extract MediaPipe Holistic landmarks from videos into a pose CSV (plus "
                    "<name>_classes.txt). Inputs are video files, folders whose sub-folder names "
                    "are the labels, and list files (.txt/.csv/.lst) of 'path,label' lines.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video file, folder of label folders, or list file of path,label lines")
    parser.add_argument("-o", "--output", required=True, help="CSV to write, e.g. mydata_train.csv")
    parser.add_argument("--label", default=None,
                        help="label of videos named directly (default: the name of their folder)")
    parser.add_argument("--classes", default=None,
                        help="class file fixing the label numbering (default: the existing "
                             "<name>_classes.txt beside the output, extended with new labels)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="videos extracted in parallel, one process each (default: %(default)s)")
    parser.add_argument("--work_dir", default=None,
                        help="folder of per-video results, for resuming an interrupted run "
                             "(default: .<output name>.work beside the output)")
    parser.add_argument("--keep_work", action="store_true",
                        help="keep the per-video results after the CSV is written")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output CSV (an input is never replaced)")
    _add_frame_options(parser, "longer videos are subsampled uniformly to this many frames "
                               "(default: no limit)")
    return parser


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict", help="top-k signs of videos or pose CSVs with a trained model",
        description="Predict the signs of videos (landmarks extracted with MediaPipe), pose CSVs "
                    "(every row) or folders of videos, with a trained model.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, pose CSV, or folder of videos")
    parser.add_argument("-m", "--model", required=True,
                        help="trained model (.pt), or its ONNX file / TensorRT engine / AOTInductor "
                             ".pt2 package from slr export")
    parser.add_argument("-k", "--top_k", type=positive_int, default=5,
                        help="classes shown per input (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--trust-model", "--trust_model", dest="trust_model", action="store_true",
                        help="load a .pt2/.engine that was not exported on this machine (loading "
                             "one runs its native code; see the README's Trust model)")
    parser.add_argument("--device", default="cpu",
                        help="device of the model: cpu, cuda, cuda:N or auto (default: %(default)s; "
                             "one sample at a time is fast on the CPU)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: CPU autocast of a .pt model, on CPUs with AVX512-BF16/AMX "
                             "(default: %(default)s)")
    _add_frame_options(parser, "longer videos are subsampled uniformly to this many frames "
                               "(default: the model's length)")
    return parser


def run_extract(args: argparse.Namespace) -> int:
    """0 when every video was extracted, 1 when some were skipped (each is reported)."""
    from .extractor import classes_file_for, collect_videos, extract_dataset
    from ..guards import check_output
    from pathlib import Path
    inputs = list(args.inputs) + [item.path for item in collect_videos(args.inputs, args.label,
                                                                       log=lambda _: None)]
    output = Path(args.output)
    check_output(output, inputs, args.overwrite)
    check_output(output.with_name(output.name + ".sources.txt"), inputs, overwrite=True, flag=None)
    check_output(classes_file_for(output), inputs, overwrite=True, flag=None)
    report = extract_dataset(args.inputs, args.output, _options(args), workers=args.workers,
                             work_dir=args.work_dir, keep_work=args.keep_work,
                             default_label=args.label, classes=args.classes,
                             progress=args.progress,
                             log=lambda line: print(line, file=sys.stderr))
    print(report.summary())
    return 1 if report.failed else 0


def run_predict(args: argparse.Namespace) -> int:
    """0 when every input got a prediction, 1 when some could not (each is reported)."""
    from ..precision import precision_scope
    from .predict import predict
    with precision_scope(args.precision, args.model, args.device):
        report = predict(args.inputs, args.model, top_k=args.top_k, options=_options(args),
                         device=args.device, progress=args.progress, trust_model=args.trust_model)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.table())
    return 1 if any(p.error for p in report.predictions) else 0
