"""``slr convert``: argument parsing and printing; the work is in :mod:`.clips`."""

import argparse
import sys

from .mp_data import LAYOUTS


def _image_size(text: str):
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        if width > 0 and height > 0:
            return width, height
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1280x720, got {text!r}")


def add_convert_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert", help=".pose files, MP_Data folders or OpenPose JSON -> a SPOTER/Siformer pose CSV",
        description="Convert pose files to a pose CSV (plus <name>_classes.txt): pose-format .pose "
                    "files (MediaPipe Holistic or OpenPose), MP_Data/<class>/<sequence>/<frame>.npy "
                    "folders (1662, 258, 126 or 170 values per frame) and OpenPose JSON folders "
                    "(one folder per clip). Inputs are files, folders whose sub-folder names are "
                    "the labels, and list files (.txt/.csv/.lst) of 'path,label' lines.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help=".pose file, folder of label folders, or list file of path,label lines")
    parser.add_argument("-o", "--output", required=True,
                        help="CSV to write, e.g. mydata.csv (with --split: mydata_train.csv, ...)")
    parser.add_argument("--label", default=None,
                        help="label of clips named directly (default: the name of their folder)")
    parser.add_argument("--classes", default=None,
                        help="class file fixing the label numbering (default: the existing "
                             "<name>_classes.txt beside the output, extended with new labels)")
    parser.add_argument("--split", nargs="?", const="0.7,0.15,0.15", default=None, metavar="FRACTIONS",
                        help="write <name>_train/_val/_test.csv with these train,val,test fractions "
                             "per class (default when given: 0.7,0.15,0.15)")
    parser.add_argument("--group-by", "--group_by", dest="group_by", default=None, metavar="REGEX",
                        help="clips whose paths give the same match (its first group if it has "
                             "one) stay on one side of --split, e.g. 'signer(\\d+)' or "
                             "'(.*)_clip\\d+' for clips of one video (default: each clip is its "
                             "own video)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --split (default: %(default)s)")
    parser.add_argument("--layout", type=int, choices=sorted(LAYOUTS), default=None,
                        help="MP_Data values per frame (default: detected from the width)")
    parser.add_argument("--image_size", type=_image_size, default=None, metavar="WIDTHxHEIGHT",
                        help="video size for OpenPose JSON in pixels (.pose files carry theirs)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output CSVs")
    parser.add_argument("--skip_bad", action="store_true",
                        help="convert the other clips when some cannot be read (default: stop, "
                             "writing nothing)")
    parser.add_argument("--no_progress", dest="progress", action="store_const", const=False,
                        default=None, help="no progress bar (default: shown on a terminal)")
    return parser


def run_convert(args: argparse.Namespace) -> int:
    from .clips import convert_dataset
    report = convert_dataset(args.inputs, args.output, default_label=args.label,
                             classes=args.classes, split=args.split, group_by=args.group_by,
                             seed=args.seed, layout=args.layout, image_size=args.image_size,
                             overwrite=args.overwrite, skip_bad=args.skip_bad,
                             progress=args.progress, log=lambda line: print(line, file=sys.stderr))
    print(report.summary())
    return 1 if report.failed else 0
