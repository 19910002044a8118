"""``slr render``: argument parsing and printing; the work is in :mod:`.render`."""

import argparse


def add_render_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "render", help="draw pose landmarks (CSV row or file, extraction result, video) as MP4/GIF",
        description="Draw the skeleton (body and both hands, joints and bones of the SPOTER "
                    "layout) of a pose CSV (one --row or every row), an extraction result (.npz) "
                    "or a video (landmarks extracted with MediaPipe and drawn over it) into an "
                    "MP4 or GIF.")
    parser.add_argument("input", help="pose CSV, extraction result (.npz) or video file")
    parser.add_argument("-o", "--output", required=True, help="file to write, .mp4 or .gif")
    parser.add_argument("--row", type=int, default=None,
                        help="CSV row to draw, 1-based as in slr predict (default: every row)")
    parser.add_argument("--video", default=None,
                        help="draw a CSV's or result's landmarks over this video (default: a canvas)")
    parser.add_argument("--side_by_side", action="store_true",
                        help="add the normalised pose the model sees beside the raw one")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of the output (default: the video's, else 30)")
    parser.add_argument("--size", type=int, default=480,
                        help="canvas height in pixels without a video (default: %(default)s)")
    parser.add_argument("--model_complexity", type=int, choices=(0, 1, 2), default=1,
                        help="MediaPipe Holistic pose model for video inputs (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file (never an input)")
    return parser


def run_render(args: argparse.Namespace) -> int:
    from ..guards import check_output
    from .render import render_input
    check_output(args.output, [args.input, args.video], args.overwrite)
    path, frames = render_input(args.input, args.output, row=args.row, video=args.video,
                                fps=args.fps, side_by_side=args.side_by_side, size=args.size,
                                model_complexity=args.model_complexity)
    print(f"wrote {path} ({frames} frames)")
    return 0
