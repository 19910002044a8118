"""ONNX export, the ONNX Runtime runner, the TensorRT compatibility checks and the export CLI.

Tests ``export/onnx.py``, ``export/runtime.py`` and ``export/cli.py``. The one export of the
session (``exported`` in conftest.py) is dynamic in batch and length and takes a padding mask.
"""

import json

import numpy as np
import pytest
import torch

from optional import require  # tests/optional.py (tests/ is on sys.path via its conftest)

require("onnx", "onnxruntime", "onnxscript", install="pip install -c constraints.txt -e '.[export]'")

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from slr_fused.checkpoint import CheckpointError, load_model  # noqa: E402
from slr_fused.data.dataset import PoseDataset, collate_poses  # noqa: E402
from slr_fused.export.cli import run_export  # noqa: E402
from slr_fused.export.onnx import (MASK_FILL, ExportError, UnsupportedGraphError,  # noqa: E402
                                   check_tensorrt_compatible, exportable, fold_for_shapes,
                                   operator_counts, read_metadata, shape_computations,
                                   tensorrt_supported_operators, unsupported_operators)
from slr_fused.export.runtime import (BatchTooLargeError, ModelMismatchError,  # noqa: E402
                                      OnnxRuntimeRunner, PoseRunner, RunnerInputError)
from slr_fused.models.siformer import SiFormer, SiFormerConfig  # noqa: E402

FP32_TOLERANCE = 1e-4


def random_inputs(batch, length, seed=0, padded_from=None):
    generator = torch.Generator().manual_seed(seed)
    lh, rh = (torch.randn(batch, length, 42, generator=generator) for _ in range(2))
    body = torch.randn(batch, length, 24, generator=generator)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    if padded_from is not None:
        mask[0, padded_from:] = True
    return lh, rh, body, mask


def assert_close(actual, expected, tolerance, what):
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert torch.isfinite(actual).all(), f"{what}: non-finite values at {(~torch.isfinite(actual)).nonzero()[:5].tolist()}"
    difference = (actual - expected).abs()
    worst = int(difference.argmax())
    assert float(difference.max()) <= tolerance, (
        f"{what}: max |diff| {float(difference.max()):.3g} > {tolerance} at flat index {worst} "
        f"({float(actual.flatten()[worst])} vs {float(expected.flatten()[worst])})")


# --- the export wrapper (no ONNX involved: fast, and catches drift from SiFormer.forward) -------

@pytest.mark.parametrize("settings", [
    {}, {"use_cross_attention": False}, {"cross_attn_mode": "unidirectional"},
    {"use_gating": False, "cross_attn_directions": "hands"},
], ids=["bmhcma", "baseline", "unidirectional", "hands-no-gate"])
def test_export_wrapper_matches_the_model_forward(settings):
    torch.manual_seed(3)
    model = SiFormer(SiFormerConfig(num_classes=5, d_ff=32, num_enc_layers=1, num_dec_layers=1,
                                    **settings)).eval()
    lh, rh, body, mask = random_inputs(3, 11, padded_from=4)
    mask[2, 9:] = True
    with torch.no_grad():
        expected = model(lh, rh, body, mask)
        assert_close(exportable(model, with_mask=True)(lh, rh, body, mask), expected, 1e-5,
                     "with mask")
        assert_close(exportable(model, with_mask=False)(lh, rh, body), model(lh, rh, body), 1e-5,
                     "without mask")


def test_export_wrapper_keeps_a_fully_padded_sample_finite():
    torch.manual_seed(4)
    model = SiFormer(SiFormerConfig(num_classes=5, d_ff=32, num_enc_layers=1, num_dec_layers=1)).eval()
    lh, rh, body, mask = random_inputs(2, 6)
    mask[1] = True
    with torch.no_grad():
        logits = exportable(model, with_mask=True)(lh, rh, body, mask)
        unmasked = model(lh[1:], rh[1:], body[1:])
    # The all-padding sample is computed as if unmasked, instead of NaN from all-masked rows.
    assert_close(logits[1:], unmasked, 1e-5, "fully padded sample")


# --- the exported file ---------------------------------------------------------------------------

def test_cli_export_writes_a_checked_opset17_model(exported):
    path, lines = exported
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert [(o.domain, o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [("", 17)]
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in proto.graph.input}
    assert list(inputs) == ["left_hand", "right_hand", "body", "padding_mask"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    batch, length = inputs["left_hand"][:2]
    assert isinstance(batch, str) and isinstance(length, str) and batch != length  # both dynamic
    assert inputs["left_hand"][2] == 42 and inputs["body"][2] == 24
    assert proto.graph.input[3].type.tensor_type.elem_type == TensorProto.BOOL
    assert lines[0].startswith(f"Exported {path}: opset 17, inputs left_hand, right_hand, body, padding_mask")
    diff = float(lines[1].rsplit(" ", 1)[1])
    assert lines[1].startswith("ONNX Runtime vs PyTorch") and diff <= FP32_TOLERANCE
    assert lines[2] == "TensorRT 10.0 operator check: every operator is supported"


def test_metadata_records_what_a_deployment_needs(exported, checkpoint):
    path, _ = exported
    _, info = load_model(checkpoint)
    metadata = read_metadata(path)
    assert json.loads(metadata["class_names"]) == info["class_names"] and len(info["class_names"]) == 16
    assert json.loads(metadata["model_config"]) == json.loads(json.dumps(info["config"].to_dict()))
    layout = json.loads(metadata["input_layout"])
    assert layout["left_hand"]["shape"] == ["batch", "length", 42]
    assert layout["body"]["shape"] == ["batch", "length", 24]
    assert layout["padding_mask"]["dtype"] == "bool"
    assert "normalize_sample" in metadata["normalization"]
    import slr_fused
    assert metadata["slr_fused_version"] == slr_fused.__version__
    assert metadata["max_frames"] == str(info["config"].max_frames)
    assert json.loads(metadata["dynamic_length"]) is True


def test_every_operator_is_on_the_tensorrt_list(exported):
    path, _ = exported
    counts = operator_counts(path)
    print("exported operators:", counts)
    assert unsupported_operators(path) == []
    check_tensorrt_compatible(path)
    assert set(counts) <= tensorrt_supported_operators()
    # LayerNorm stays one node (TensorRT's normalization layer, pinned to fp32 in fp16 engines),
    # and attention keeps its softmax node, so per-layer precision can find both.
    assert counts["LayerNormalization"] >= 3 and counts["Softmax"] >= 3


def test_graph_holds_no_infinite_constant(exported):
    """-inf mask fills become NaN in fp16 engines; the export masks with a finite -1e4."""
    proto = onnx.load(str(exported[0]))
    tensors = [numpy_helper.to_array(t) for t in proto.graph.initializer]
    for node in proto.graph.node:
        tensors += [numpy_helper.to_array(a.t) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    floats = [t for t in tensors if np.issubdtype(t.dtype, np.floating)]
    assert floats and all(np.isfinite(t).all() for t in floats)
    assert any(np.any(t == np.float32(MASK_FILL)) for t in floats)   # the mask is really there
    assert np.float16(MASK_FILL) == MASK_FILL                         # and exact in fp16


def test_operator_check_rejects_unsupported_graphs():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    nodes = [helper.make_node("Unique", ["x"], ["u"], name="unique"),       # "N" in the matrix
             helper.make_node("Relu", ["u"], ["r"], name="relu"),
             helper.make_node("ReduceSum", ["r", "axes"], ["s"], name="sum"),  # axes not constant
             helper.make_node("Gelu", ["s"], ["y"], name="custom", domain="com.microsoft")]
    graph = helper.make_graph(nodes, "bad", [x, axes], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    problems = unsupported_operators(model)
    assert any(p.startswith("Unique") and "not on TensorRT" in p for p in problems)
    assert any("ReduceSum" in p and "initializer" in p for p in problems)
    assert any(p.startswith("com.microsoft::Gelu") for p in problems)
    assert not any(p.startswith("Relu") for p in problems)
    with pytest.raises(UnsupportedGraphError, match="Unique"):
        check_tensorrt_compatible(model)
    newer = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 21)])
    assert unsupported_operators(newer) == ["opset 21 (TensorRT 10.0 parses opset 9-20)"]


def test_shape_arithmetic_depends_only_on_input_dimensions(exported, tmp_path):
    path, _ = exported
    report = shape_computations(path)
    print("shape computations:", report)
    assert report["shape_ops"] > 0 and report["problems"] == []
    assert set(report["consumers"]) <= {"Reshape[1]", "Expand[1]", "Slice[1]", "Slice[2]",
                                        "Slice[4]", "ConstantOfShape[0]", "Range[1]"}
    # Fixing batch and length and folding removes every Shape: none of them depends on data.
    folded = fold_for_shapes(path, batch=3, length=20)
    assert shape_computations(folded)["shape_ops"] == 0
    assert unsupported_operators(folded) == []
    onnx.save(folded, str(tmp_path / "static.onnx"))
    lh, rh, body, mask = random_inputs(3, 20, padded_from=12)
    dynamic, static = OnnxRuntimeRunner(path), OnnxRuntimeRunner(tmp_path / "static.onnx")
    assert_close(static(lh, rh, body, mask), dynamic(lh, rh, body, mask), 1e-5, "folded graph")
    # The shape check flags data computed from a shape (a Shape value added to a float input).
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Cast", ["s"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "f"], ["y"], name="mix")]
    bad = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    assert shape_computations(bad)["problems"] and "mix" in shape_computations(bad)["problems"][0]


# --- parity ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch, length, padded_from", [(1, 1, None), (2, 17, 5), (7, 203, 100)])
def test_onnx_runtime_matches_pytorch_on_random_inputs(exported, checkpoint, batch, length, padded_from):
    model, _ = load_model(checkpoint, kernel="reference")
    runner = OnnxRuntimeRunner(exported[0])
    lh, rh, body, mask = random_inputs(batch, length, seed=batch, padded_from=padded_from)
    with torch.no_grad():
        expected = model(lh, rh, body, mask)
    assert_close(runner(lh, rh, body, mask), expected, FP32_TOLERANCE, f"B={batch} T={length}")
    # The 4-D layout the PyTorch model accepts works too.
    assert_close(runner(lh.view(batch, length, 21, 2), rh.view(batch, length, 21, 2),
                        body.view(batch, length, 12, 2), mask), expected, FP32_TOLERANCE, "4-D inputs")


def test_io_binding_path_matches_the_numpy_path(exported):
    """The CUDA provider runs through I/O binding (tensors stay on the GPU); the same code bound
    to CPU memory is tested here against the plain numpy path."""
    runner = OnnxRuntimeRunner(exported[0])
    assert runner.bind_device is None and runner.num_classes == 16   # CPU provider: numpy path
    lh, rh, body, mask = random_inputs(3, 12, seed=4, padded_from=7)
    plain = runner(lh, rh, body, mask)
    runner.bind_device = torch.device("cpu")
    bound = runner(lh, rh, body, mask)
    assert bound.dtype == torch.float32 and bound.shape == plain.shape
    assert_close(bound, plain, 0.0, "I/O binding vs numpy")


def test_padding_is_ignored_like_pytorch(exported):
    runner = OnnxRuntimeRunner(exported[0])
    lh, rh, body, _ = random_inputs(1, 10, seed=9)
    short = runner(lh, rh, body)
    pad = lambda x: torch.cat([x, torch.full((1, 6, x.shape[-1]), 3.0)], dim=1)  # noqa: E731
    mask = torch.zeros(1, 16, dtype=torch.bool)
    mask[0, 10:] = True
    assert_close(runner(pad(lh), pad(rh), pad(body), mask), short, 1e-5, "padded vs unpadded")
    unmasked = runner(pad(lh), pad(rh), pad(body))
    assert float((unmasked - short).abs().max()) > 1e-3   # the mask is what makes them agree


def test_parity_on_the_bsl16_test_split(exported, checkpoint, shared_data):
    model, info = load_model(checkpoint, kernel="reference")
    runner = OnnxRuntimeRunner(exported[0])
    dataset = PoseDataset(shared_data / "bsl16" / "bsl16_test.csv", max_frames=info["config"].max_frames)
    loader = torch.utils.data.DataLoader(dataset, batch_size=48, collate_fn=collate_poses)
    worst, same, total, correct = 0.0, 0, 0, 0
    for batch in loader:
        args = (batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
        with torch.no_grad():
            expected = model(*args)
        actual = runner(*args)
        worst = max(worst, float((actual - expected).abs().max()))
        same += int((actual.argmax(-1) == expected.argmax(-1)).sum())
        correct += int((actual.argmax(-1) == batch["label"]).sum())
        total += len(batch["label"])
    print(f"bsl16 test: {total} samples, max |logit diff| {worst:.3g}, top-1 agreement "
          f"{same}/{total}, ONNX top-1 accuracy {correct / total:.3f}")
    assert total == 240
    assert worst <= FP32_TOLERANCE
    assert same == total


# --- runner errors --------------------------------------------------------------------------------

def foreign_onnx(path):
    """A valid ONNX model of someone else's (input ``input``, output ``output``)."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["input"], ["output"])],
                                                "other", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_runner_rejects_an_onnx_file_of_another_model(tmp_path):
    path = foreign_onnx(tmp_path / "other.onnx")
    with pytest.raises(ModelMismatchError, match=r"not those of an slr-fused SiFormer export"):
        OnnxRuntimeRunner(path)
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelMismatchError, match="ONNX Runtime cannot load it"):
        OnnxRuntimeRunner(tmp_path / "junk.onnx")


def test_runner_input_errors(exported, tmp_path):
    path, _ = exported
    runner = OnnxRuntimeRunner(path, max_batch=4)
    lh, rh, body, mask = random_inputs(5, 8)
    with pytest.raises(BatchTooLargeError, match="batch 5 is above the maximum 4"):
        runner(lh, rh, body, mask)
    assert runner(lh[:4], rh[:4], body[:4]).shape == (4, 16)
    with pytest.raises(RunnerInputError, match="entirely padding"):
        runner(lh[:2], rh[:2], body[:2], torch.ones(2, 8, dtype=torch.bool))
    with pytest.raises(RunnerInputError, match=r"left_hand must be \(B, T, 42\)"):
        runner(lh[:2, :, :40], rh[:2], body[:2])
    with pytest.raises(RunnerInputError, match="share batch and length"):
        runner(lh[:2], rh[:2, :7], body[:2])
    with pytest.raises(RunnerInputError, match="padding_mask must be bool"):
        runner(lh[:2], rh[:2], body[:2], mask[:2].float())
    with pytest.raises(RunnerInputError, match="1-256 frames"):
        runner(*random_inputs(1, 257)[:3])
    # A fixed-size graph takes exactly its batch and length.
    onnx.save(fold_for_shapes(path, batch=2, length=12), str(tmp_path / "fixed.onnx"))
    fixed = OnnxRuntimeRunner(tmp_path / "fixed.onnx")
    with pytest.raises(RunnerInputError, match="exactly 12 frames"):
        fixed(*random_inputs(2, 11)[:3])
    with pytest.raises(BatchTooLargeError, match="batch 3 is above the maximum 2"):
        fixed(*random_inputs(3, 12)[:3])


def test_runner_without_mask_refuses_padded_batches():
    class Maskless(PoseRunner):
        with_mask = False
        source = "maskless.onnx"

        def _run(self, feeds, device):
            return feeds

    lh, rh, body, mask = random_inputs(2, 5)
    feeds = Maskless()(lh, rh, body, mask)          # an all-False mask is harmless: dropped
    assert set(feeds) == {"left_hand", "right_hand", "body"}
    mask[0, 3:] = True
    with pytest.raises(RunnerInputError, match="exported without --with-mask"):
        Maskless()(lh, rh, body, mask)


# --- CLI errors (one sentence each; slr prints "error: <message>" and exits 2) -------------------

def test_cli_rejects_a_checkpoint_that_is_not_ours(parser, tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    args = parser.parse_args(["export", "onnx", str(tmp_path / "foreign.pt"), "-o", str(tmp_path / "x.onnx")])
    with pytest.raises(CheckpointError, match="not an slr-fused model file"):
        run_export(args, log=lambda line: None)
    assert not (tmp_path / "x.onnx").exists()


def test_cli_onnx_option_errors(parser, checkpoint, tmp_path):
    for flags, message in [(["--opset", "21"], "opset 21 is not supported"),
                           (["--opset", "16"], "opset 16 is not supported"),
                           (["--length", "999"], "length 999 is outside 1-256")]:
        args = parser.parse_args(["export", "onnx", str(checkpoint), "-o", str(tmp_path / "x.onnx"), *flags])
        with pytest.raises(ExportError, match=message):
            run_export(args, log=lambda line: None)
    with pytest.raises(SystemExit):   # argparse: --output is required
        parser.parse_args(["export", "onnx", str(checkpoint)])


def test_cli_tensorrt_checks_the_onnx_file_before_needing_tensorrt(parser, exported, tmp_path):
    other = foreign_onnx(tmp_path / "other.onnx")
    engine = str(tmp_path / "model.engine")
    cases = [([str(other)], ModelMismatchError, "not those of an slr-fused SiFormer export"),
             ([str(tmp_path / "missing.onnx")], ExportError, "no such ONNX file"),
             ([str(exported[0]), "--min-batch", "4", "--opt-batch", "2"], ExportError,
              r"batch profile must satisfy 1 <= min <= opt <= max, got min 4, opt 2, max 32"),
             ([str(exported[0]), "--max-length", "300"], ExportError, "exceeds the model's max_frames 256"),
             ([str(exported[0]), "--int8-calib", str(tmp_path / "none.csv")], ExportError,
              "no such calibration CSV")]
    for flags, error, message in cases:
        args = parser.parse_args(["export", "tensorrt", *flags, "--output", engine])
        with pytest.raises(error, match=message):
            run_export(args, log=lambda line: None)
    assert not (tmp_path / "model.engine").exists()
