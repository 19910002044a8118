"""``slr stream``: argument parsing and printing; the work is in :mod:`.pipeline`."""

import argparse
import json
import sys
from pathlib import Path

from ..argtypes import positive_int, probability
from .pipeline import StreamOptions

PRECISIONS = ("fp32", "bf16")


def add_stream_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "stream", help="continuous recognition from a camera, video, URL or landmark CSV",
        description="Recognise signs continuously: frames -> MediaPipe Holistic -> a sliding "
                    "window -> the model every --stride frames -> one JSON line per sign on "
                    "stdout; a latency table on stderr at the end (or on Ctrl-C). "
                    "With --calibrate VAL.csv, store the model's no-sign threshold instead.")
    parser.add_argument("source", nargs="?", default=None,
                        help="camera index (0), video file, URL, or a pose CSV / folder of CSVs "
                             "replayed at --fps")
    parser.add_argument("--trust-model", "--trust_model", dest="trust_model", action="store_true",
                        help="load a .pt2/.engine that was not exported on this machine (loading "
                             "one runs its native code; see the README's Trust model)")
    parser.add_argument("-m", "--model", required=True,
                        help="trained model (.pt) or its .onnx / .engine / .pt2 export, as in slr predict")
    parser.add_argument("--calibrate", metavar="VAL_CSV", default=None,
                        help="calibrate the no-sign threshold on this validation CSV and store it "
                             "in <model>.stream.json (no streaming)")
    parser.add_argument("--window", type=positive_int, default=None,
                        help="frames the model sees (default: the model's --num_frames, else 30)")
    parser.add_argument("--min_window", type=positive_int, default=None,
                        help="frames buffered before the model first runs after a pause "
                             "(default: half the window)")
    parser.add_argument("--stride", type=positive_int, default=5,
                        help="run the model every this many frames (default: %(default)s)")
    parser.add_argument("--pause", type=positive_int, default=None,
                        help="frames in a row with nobody in view that end a sign (default: the stride)")
    parser.add_argument("--threshold", type=probability, default=None,
                        help="top-1 probability below which a window is no sign (default: the "
                             "calibrated one, else 0.5)")
    parser.add_argument("--enter", type=positive_int, default=2,
                        help="agreeing windows that start a sign (default: %(default)s)")
    parser.add_argument("--release", type=positive_int, default=2,
                        help="disagreeing windows that end it (default: %(default)s)")
    parser.add_argument("--no_sign", action="append", default=[], metavar="CLASS",
                        help="a class meaning no sign (an idle/rest class), by name or number; repeatable")
    parser.add_argument("--min_hands", type=probability, default=0.0,
                        help="fraction of window frames that must show a hand (default: %(default)s)")
    parser.add_argument("-k", "--top_k", type=positive_int, default=5,
                        help="classes listed per event (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=None,
                        help="replay speed of a CSV source, frames per second (default: 30)")
    parser.add_argument("--no_wait", action="store_true",
                        help="replay a CSV as fast as possible instead of at --fps")
    parser.add_argument("--realtime", action="store_true",
                        help="read a video file at its frame rate, dropping frames when behind, "
                             "as from a camera (default: every frame of a file is used)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: CPU autocast for .pt models, on CPUs with AVX512-BF16/AMX "
                             "(default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="device of the model (default: %(default)s)")
    parser.add_argument("--annotate", metavar="OUT", default=None,
                        help="write the video with the skeleton and current sign drawn (.mp4/.gif)")
    parser.add_argument("--model_complexity", type=int, choices=(0, 1, 2), default=1,
                        help="MediaPipe Holistic pose model for camera/video sources (default: %(default)s)")
    parser.add_argument("--json_summary", action="store_true",
                        help="print the latency summary as one JSON line on stderr instead of a table")
    return parser


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_stream_command(args: argparse.Namespace) -> int:
    from ..extract.predict import load_predictor
    from .calibration import calibrate, load_calibration, sidecar_path
    from .source import StreamError, open_source
    from .latency import format_summary
    from .pipeline import run_stream
    from .window_model import check_precision
    check_precision(args.precision)
    if args.precision != "fp32" and Path(args.model).suffix.lower() != ".pt":
        raise ValueError(f"--precision {args.precision} runs .pt checkpoints (torch autocast); "
                         f"{args.model} is an export: quantize it instead (slr export onnx --quantize int8)")
    model = load_predictor(args.model, args.device, args.trust_model)
    window = args.window or model.num_frames or 30
    min_window = args.min_window or max(1, window // 2)
    if args.calibrate:
        record = calibrate(model, args.model, args.calibrate, no_sign=args.no_sign,
                           precision=args.precision, window=window, min_window=min_window,
                           stride=args.stride)
        print(json.dumps(record))
        _log(f"threshold {record['threshold']:.4f} stored in {sidecar_path(args.model)} "
             f"(accepts {record['correct_accepted']:.1%} of correct windows, rejects "
             f"{record['negatives_rejected'] if record['negatives_rejected'] is not None else 1.0:.1%} "
             f"of wrong or straddling ones)")
        return 0
    if args.source is None:
        raise StreamError("give a SOURCE to stream (or --calibrate VAL_CSV)")
    if args.annotate and Path(args.annotate).resolve() == Path(args.source).resolve():
        raise StreamError(f"{args.annotate}: the annotated video would replace the source")
    source = open_source(args.source, fps=args.fps, pace=not args.no_wait,
                         model_complexity=args.model_complexity, realtime=args.realtime)
    threshold = args.threshold
    if threshold is None:
        try:
            record = load_calibration(args.model)
        except ValueError:
            source.close()
            raise
        if record is None:
            threshold = 0.5
            _log(f"Warning: no calibration beside {args.model}; using threshold 0.5 "
                 f"(run slr stream --calibrate VAL.csv -m {args.model})")
        else:
            threshold = float(record["threshold"])
    options = StreamOptions(window=window, min_window=min_window, stride=args.stride,
                            pause=args.pause, threshold=threshold, top_k=args.top_k,
                            enter=args.enter, release=args.release, no_sign=tuple(args.no_sign),
                            min_hands=args.min_hands, precision=args.precision)
    on_frame, writer = None, None
    if args.annotate:
        from .annotate import Annotator
        try:
            writer = Annotator(args.annotate, source.fps)
        except BaseException:
            source.close()
            raise
        on_frame = writer.draw
    try:
        result = run_stream(source, model, options, emit=lambda event: print(json.dumps(event), flush=True),
                            on_frame=on_frame)
    finally:
        if writer is not None:
            written = writer.close()
            if written is not None:
                _log(f"wrote {written} ({writer.writer.frames} frames)")
    summary = result["latency"]
    if args.json_summary:
        _log(json.dumps({"interrupted": result["interrupted"], "events": result["events"], **summary}))
    else:
        _log(format_summary(summary))
        if result["interrupted"]:
            _log("interrupted: the stream was ended cleanly")
    return 0
