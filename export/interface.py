"""The exported model's interface: what onnx, tensorrt, aoti and the runners agree on.

One place for the tensor names, the input layout, the metadata helpers and the errors, so the
exporters and the runners import the contract instead of each other (no import cycle).
"""

from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence

from ..data.joints import FEATURE_DIMS, MODALITIES
from ..hashing import sha256_file  # noqa: F401  (re-exported: the exporters import it from here)

INPUT_NAMES = ("left_hand", "right_hand", "body")   # in forward() order: lh, rh, body
MASK_NAME = "padding_mask"
OUTPUT_NAME = "logits"
MODALITY_OF_INPUT = dict(zip(INPUT_NAMES, MODALITIES))
MASK_FILL = -1e4

NORMALIZATION = (
    "Bohacek (SPOTER/Siformer) normalisation as slr_fused.data.normalization.normalize_sample: "
    "body in a signing-space box around the neck (6 shoulder widths), each hand in a square box "
    "1.2 times its extent, coordinates shifted to about [-0.5, 0.5]; joints not detected stay "
    "0.0. Per frame the features are (x0, y0, x1, y1, ...) in the joint order of "
    "slr_fused.data.joints (hands: HAND_JOINTS, body: BODY_JOINTS). "
    "slr_fused.data.dataset.PoseDataset produces exactly these inputs from a CSV.")


class ExportError(ValueError):
    """An export that cannot be done as asked (bad option, model that cannot be exported)."""


class ModelMismatchError(ExportError):
    """An ONNX file or engine that is not an slr-fused SiFormer export (wrong inputs/outputs)."""


def input_layout(with_mask: bool, length: Optional[int]) -> Dict[str, dict]:
    """Name -> shape (``"batch"``/``"length"`` for dynamic axes), dtype and meaning of each input."""
    t = "length" if length is None else int(length)
    layout = {
        "left_hand": {"shape": ["batch", t, FEATURE_DIMS["lh"]], "dtype": "float32",
                      "meaning": "21 left-hand joints x (x, y), normalised"},
        "right_hand": {"shape": ["batch", t, FEATURE_DIMS["rh"]], "dtype": "float32",
                       "meaning": "21 right-hand joints x (x, y), normalised"},
        "body": {"shape": ["batch", t, FEATURE_DIMS["body"]], "dtype": "float32",
                 "meaning": "12 body joints x (x, y), normalised"},
    }
    if with_mask:
        layout[MASK_NAME] = {"shape": ["batch", t], "dtype": "bool",
                             "meaning": "True on padded frames; every sample needs a valid frame"}
    return layout


def check_interface(inputs: Dict[str, Sequence], outputs: Iterable[str], source) -> bool:
    """Validate an exported model's tensors; returns whether it takes ``padding_mask``.

    Args:
        inputs: input name -> shape (ints for fixed axes, anything else for dynamic ones).
        outputs: output names.
        source: the file, for the message.
    """
    names = set(inputs)
    expected = set(INPUT_NAMES)
    if names not in (expected, expected | {MASK_NAME}) or OUTPUT_NAME not in set(outputs):
        raise ModelMismatchError(
            f"{source}: inputs {sorted(names)} / outputs {sorted(outputs)} are not those of an "
            f"slr-fused SiFormer export (inputs {', '.join(INPUT_NAMES)}[, {MASK_NAME}], output "
            f"{OUTPUT_NAME}); export the model with `slr export onnx`")
    for name in INPUT_NAMES:
        shape = list(inputs[name])
        width = FEATURE_DIMS[MODALITY_OF_INPUT[name]]
        if len(shape) != 3 or (isinstance(shape[2], int) and shape[2] not in (-1, width)):
            raise ModelMismatchError(f"{source}: input {name} has shape {shape}, expected "
                                     f"(batch, length, {width})")
    return MASK_NAME in names


def as_proto(model_or_path, load_weights: bool = True):
    """An ``onnx.ModelProto`` from a proto or a path; an unreadable file is an :class:`ExportError`."""
    import onnx   # optional dependency (the export extra)
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    path = Path(model_or_path)
    if not path.is_file():
        raise ExportError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path), load_external_data=load_weights)
    except Exception as error:
        raise ExportError(f"{path}: not a readable ONNX file ({type(error).__name__})") from None


def read_metadata(model_or_path) -> Dict[str, str]:
    """metadata_props as a dict (values are strings; JSON where the exporter wrote JSON)."""
    proto = as_proto(model_or_path, load_weights=False)
    return {p.key: p.value for p in proto.metadata_props}
