"""INT8 ONNX models for fast CPU inference: ONNX Runtime static quantization, calibrated on a
pose CSV the user passes, with its accuracy cost measured against the fp32 model.

The calibration samples go through the same preprocessing as prediction (PoseDataset with the
model's frame settings, the runner's input checks), so the activation ranges are those of real
inputs. Only MatMul/Gemm are quantized (QDQ, weights per channel, int8 x uint8 as x86 VNNI runs
it); LayerNorm, softmax and the attention's scaling stay in fp32, where int8 costs accuracy for
little speed.
"""

import tempfile
from pathlib import Path
from typing import Iterator, Optional


from ..atomic import atomic_write
from ..data.csv_format import read_pose_csv
from ..data.dataset import PoseDataset, collate_poses
from .interface import ExportError

QUANTIZED_OPERATORS = ("MatMul", "Gemm")


def calibration_feeds(model, csv, limit: Optional[int] = None) -> Iterator[dict]:
    """ONNX Runtime feeds (name -> numpy array) of the samples of ``csv``, one per sample.
    ``model``: :func:`slr_fused.extract.predict.load_predictor` of the fp32 ONNX file."""
    sequences = read_pose_csv(csv)
    dataset = PoseDataset(sequences, num_frames=model.num_frames,
                          max_frames=None if model.num_frames else model.max_frames,
                          canonical_hand=model.canonical_hand)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(count):
        batch = collate_poses([dataset[i]])
        feeds, _ = model.runner.prepare(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
        yield {name: tensor.numpy() for name, tensor in feeds.items()}


def quantize_int8(fp32_onnx, output, calibration_csv, limit: Optional[int] = None) -> Path:
    """Write the int8 model of ``fp32_onnx`` to ``output`` (atomically; never over the input)."""
    try:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                              QuantType, quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as error:
        raise ExportError(f"INT8 quantization needs onnxruntime ({error}): pip install "
                          f"-c constraints.txt -e '.[export]'") from None
    import onnx
    from ..extract.predict import load_predictor
    fp32_onnx, output = Path(fp32_onnx), Path(output)
    if output.resolve() == fp32_onnx.resolve():
        raise ExportError(f"{output}: the int8 model would replace its fp32 input")
    model = load_predictor(fp32_onnx)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = calibration_feeds(model, calibration_csv, limit)

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".slr-quantize-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quantized = Path(scratch) / "int8.onnx"
        quant_pre_process(str(fp32_onnx), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTIZED_OPERATORS), per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        proto = onnx.load(str(quantized))
        # Keep the fp32 model's metadata (class names, lengths): runners and `slr predict` read it.
        source = onnx.load(str(fp32_onnx), load_external_data=False)
        del proto.metadata_props[:]
        for entry in source.metadata_props:
            proto.metadata_props.add(key=entry.key, value=entry.value)
        proto.metadata_props.add(key="quantization", value="int8 static (QDQ, MatMul/Gemm, "
                                                           "per-channel weights)")
        proto.metadata_props.add(key="calibration_csv", value=str(calibration_csv))
        atomic_write(output, lambda handle: handle.write(proto.SerializeToString()))
    return output
