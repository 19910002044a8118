"""Export a trained SiFormer to ONNX, and check that the graph is one TensorRT can build.

The exported graph takes flat, already normalised features (the layout of
:func:`slr_fused.export.interface.input_layout`, where the names, metadata helpers and errors
shared with the runners live) and returns ``logits``; batch is always dynamic, length
optionally. It is produced by the dynamo exporter (``torch.onnx.export(dynamo=True)``, the maintained path since
torch 2.9), which emits opset 18 and converts down to the requested opset (17 by default:
LayerNormalization needs 17, and TensorRT 8.6, still common on Jetsons, parses up to 17; TensorRT
10.0 parses up to 20).

Masking is exported as an additive float mask of :data:`MASK_FILL` (-1e4) rather than PyTorch's
``-inf``: -inf (or -1e9, which becomes -inf) in an fp16 engine turns a row of masked scores into
NaN, while -1e4 is finite in fp16 and ``exp(-1e4)`` is exactly 0 in fp16 and fp32, so results
equal PyTorch's. A sample whose frames are all padding is unmasked inside the graph (finite,
meaningless logits instead of NaN); the runners reject such samples like the PyTorch model does.
"""

import contextlib
import copy
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_write
from ..checkpoint import load_model
from ..data.joints import FEATURE_DIMS, MODALITIES
from ..models.siformer import SiFormer
from .interface import (INPUT_NAMES, MASK_FILL, MASK_NAME, MODALITY_OF_INPUT,  # noqa: F401 (re-exported)
                        NORMALIZATION, OUTPUT_NAME, ExportError, as_proto, input_layout,
                        read_metadata, sha256_file)
from .runtime import OnnxRuntimeRunner

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 17, 20   # LayerNormalization needs 17; TensorRT 10.0 parses up to 20
SIFORMER_LENGTH = 204           # upstream Siformer's fixed sequence length
OPS_FILE = Path(__file__).with_name("tensorrt_onnx_ops_10.0.txt")


class UnsupportedGraphError(ExportError):
    """An ONNX graph TensorRT's parser would reject (operator, opset or domain)."""


class ExportableSiFormer(nn.Module):
    """SiFormer's forward for export: flat inputs, the reference BMHCMA, a finite additive mask.

    It runs the same submodules as :meth:`SiFormer.forward` (the parity tests compare the two);
    it differs only where the exported graph must: no Python-side input checks (they would be
    traced as data-dependent guards; the runners check inputs instead), the Triton backend is
    never used (its autograd op does not export), and the mask is additive -1e4, not -inf.
    """

    def __init__(self, model: SiFormer, with_mask: bool):
        super().__init__()
        self.model = model
        self.with_mask = with_mask

    def forward(self, lh, rh, body, padding_mask=None):
        model = self.model
        additive = None
        if self.with_mask:
            padded = padding_mask.to(lh.dtype)
            # A sample with no valid frame would give every attention an all-masked row (NaN);
            # subtracting its all-padded flag unmasks it, so the engine stays finite.
            all_padded = padded.amin(dim=1, keepdim=True)
            additive = (padded - all_padded) * MASK_FILL
        length = lh.shape[1]
        encoded = {}
        for m, x in zip(MODALITIES, (lh, rh, body)):
            encoded[m] = model.encoders[m](x + model.positional[m][:length],
                                           src_key_padding_mask=additive)
        if model.cross_modal is not None:
            fused = model.cross_modal.forward_reference(encoded["lh"], encoded["rh"],
                                                        encoded["body"], additive)
            encoded = dict(zip(MODALITIES, fused))
        memory = torch.cat([encoded[m] for m in MODALITIES], dim=-1)
        query = model.class_query.expand(lh.shape[0], -1, -1)
        decoded = model.decoder(query, memory, memory_key_padding_mask=additive)
        return model.classifier(decoded[:, 0])


def exportable(model: SiFormer, with_mask: bool) -> ExportableSiFormer:
    """A CPU fp32 eval copy on the reference path; the caller's model is left untouched."""
    model = copy.deepcopy(model).float().cpu().eval().set_kernel("reference")
    return ExportableSiFormer(model, with_mask).eval()


def default_length(info: dict) -> int:
    """Fixed length for a static export: the training ``num_frames``, else Siformer's 204
    (capped at the model's ``max_frames`` by the caller)."""
    train_config = (info.get("metadata") or {}).get("train_config") or {}
    return int(train_config.get("num_frames") or SIFORMER_LENGTH)


def export_onnx(checkpoint, output, opset: int = DEFAULT_OPSET, dynamic_length: bool = False,
                with_mask: bool = False, length: Optional[int] = None,
                max_batch: int = 4096, verify: bool = True) -> Dict[str, object]:
    """Export a checkpoint to ONNX, check it, and record what a deployment needs in its metadata.

    Args:
        checkpoint: a model file written by ``slr train`` (``save_model``).
        output: the ``.onnx`` path to write.
        opset: ONNX opset, 17-20.
        dynamic_length: length is a dynamic axis (up to the model's ``max_frames``); otherwise
            fixed to ``length``.
        with_mask: add the ``padding_mask`` input (needed for batches of different lengths).
        length: the fixed length of a static export (default: the training ``num_frames``, else
            204); with ``dynamic_length``, only the example length used for tracing.
        max_batch: upper bound of the dynamic batch axis given to the exporter.
        verify: compare ONNX Runtime with PyTorch on random inputs (needs onnxruntime).

    Returns:
        A summary: path, opset, operators (sorted op -> count), inputs, metadata, and
        ``max_abs_diff`` (ONNX Runtime vs PyTorch) when verified.
    """
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise ExportError(f"opset {opset} is not supported: use {MIN_OPSET}-{MAX_OPSET} "
                          f"(LayerNormalization needs 17; TensorRT 10.0 parses up to 20)")
    model, info = load_model(checkpoint)
    config = info["config"]
    if length is None:
        length = min(default_length(info), config.max_frames)
    if not 1 <= int(length) <= config.max_frames:
        raise ExportError(f"length {length} is outside 1-{config.max_frames} (the model's "
                          f"positional table has {config.max_frames} frames)")
    length = int(length)
    wrapper = exportable(model, with_mask)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    import onnx
    # The exporter writes to a scratch folder; only a checked, annotated model reaches `output`.
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".slr-export-") as scratch:
        raw = Path(scratch) / "raw.onnx"
        _export_graph(wrapper, raw, int(opset), dynamic_length, with_mask, length, max_batch)
        proto = onnx.load(str(raw))
    got = default_opset(proto)
    if got != int(opset):
        raise ExportError(f"the exporter could not convert the graph to opset {opset} (got "
                          f"{got}); try --opset 18")
    metadata = {
        "producer": "slr-fused",
        "slr_fused_version": __version__,
        "class_names": json.dumps(info["class_names"]),
        "num_classes": str(config.num_classes),
        "input_layout": json.dumps(input_layout(with_mask, None if dynamic_length else length)),
        "normalization": NORMALIZATION,
        "model_config": json.dumps(config.to_dict()),
        "dynamic_length": json.dumps(bool(dynamic_length)),
        "max_frames": str(config.max_frames),
        "mask_fill": repr(MASK_FILL),
        "checkpoint_sha256": sha256_file(checkpoint),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = (f"SiFormer ({config.num_classes} classes) exported by slr-fused "
                        f"{__version__}; inputs: {', '.join(_graph_inputs(proto))}")
    onnx.checker.check_model(proto, full_check=True)
    atomic_write(output, lambda handle: handle.write(proto.SerializeToString()))
    summary = {"path": str(output), "opset": int(opset), "operators": operator_counts(proto),
               "inputs": _graph_inputs(proto), "metadata": metadata}
    if verify:
        try:
            summary["max_abs_diff"] = verify_onnx(wrapper.model, output, with_mask,
                                                  None if dynamic_length else length)
        except ExportError:
            output.unlink()   # a wrong export must not be left where a deployment would pick it up
            raise
    return summary


def default_opset(proto) -> Optional[int]:
    """The ai.onnx opset a model imports (None if it imports none)."""
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    return versions[0] if versions else None


def verify_onnx(model: SiFormer, onnx_path, with_mask: bool, length: Optional[int],
                tolerance: float = 1e-3) -> float:
    """ONNX Runtime vs the PyTorch model on random inputs; the max abs logit difference.

    A quick smoke check at export time (the tests measure parity on real data at 1e-4); beyond
    ``tolerance`` the export is wrong, not imprecise, and an error is raised.
    """
    runner = OnnxRuntimeRunner(onnx_path)
    batch = 3
    length = length or min(17, model.config.max_frames)
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.randn(batch, length, FEATURE_DIMS[m], generator=generator) for m in MODALITIES]
    mask = None
    if with_mask and length > 1:
        mask = torch.zeros(batch, length, dtype=torch.bool)
        mask[0, (length + 1) // 2:] = True
    with torch.no_grad():
        expected = model(*inputs, padding_mask=mask)
    difference = float((runner(*inputs, padding_mask=mask) - expected).abs().max())
    if not difference <= tolerance:
        raise ExportError(f"{onnx_path}: ONNX Runtime and PyTorch disagree by {difference:.3g} "
                          f"(> {tolerance}) on random inputs: the export is wrong")
    return difference


def _export_graph(wrapper, output: Path, opset: int, dynamic_length: bool, with_mask: bool,
                  length: int, max_batch: int) -> None:
    from torch.export import Dim
    max_frames = wrapper.model.config.max_frames
    # Example shapes of at least 2 on dynamic axes: torch.export specialises sizes 0 and 1.
    example_length = length if not dynamic_length else max(2, min(length, max_frames))
    if dynamic_length and max_frames < 2:
        raise ExportError("a dynamic-length export needs max_frames >= 2")
    batch = 2
    generator = torch.Generator().manual_seed(0)
    args = [torch.randn(batch, example_length, FEATURE_DIMS[m], generator=generator)
            for m in MODALITIES]
    names = list(INPUT_NAMES)
    batch_dim = Dim("batch", min=1, max=max_batch)
    axes = {0: batch_dim}
    if dynamic_length:
        axes[1] = Dim("length", min=1, max=max_frames)
    dynamic_shapes = [dict(axes) for _ in INPUT_NAMES]
    if with_mask:
        mask = torch.zeros(batch, example_length, dtype=torch.bool)
        mask[1, example_length // 2:] = True
        args.append(mask)
        names.append(MASK_NAME)
        dynamic_shapes.append(dict(axes))
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it; fail with the fix)
    except ImportError:
        raise ExportError("ONNX export needs onnx and onnxscript: pip install -c constraints.txt "
                          "-e '.[export]'") from None
    with warnings.catch_warnings(), _quiet_loggers("torch.onnx", "onnxscript", "onnx_ir"):
        # The exporter warns about the opset 18 -> 17 conversion, axis renaming and Split nodes
        # it does not fold; all expected, and the result is checked afterwards (opset asserted,
        # onnx.checker, ONNX Runtime parity).
        warnings.simplefilter("ignore")
        with torch.no_grad():
            program = torch.onnx.export(
                wrapper, tuple(args), dynamo=True, opset_version=opset, verbose=False,
                input_names=names, output_names=[OUTPUT_NAME],
                dynamic_shapes=tuple(dynamic_shapes), optimize=True)
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    program.save(str(output))


@contextlib.contextmanager
def _quiet_loggers(*names):
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _graph_inputs(proto) -> List[str]:
    initializers = {i.name for i in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initializers]


# --- TensorRT compatibility checks -------------------------------------------------------------

def tensorrt_supported_operators(path=OPS_FILE) -> Set[str]:
    """Operator names from the copied TensorRT support list (one per line, '#' comments)."""
    names = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


def operator_counts(model_or_path) -> Dict[str, int]:
    proto = as_proto(model_or_path, load_weights=False)
    counts: Dict[str, int] = {}
    for node in _all_nodes(proto.graph):
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _all_nodes(graph):
    """Nodes of a graph and of every subgraph (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.g is not None and attribute.g.node:
                yield from _all_nodes(attribute.g)
            for sub in attribute.graphs:
                yield from _all_nodes(sub)


# Inputs that TensorRT's parser requires to be initializers (or Constant outputs), per the
# "Restrictions" column of its support matrix; reductions took axes as an input from opset 18
# (ReduceSum from 13).
_CONSTANT_INPUTS = {
    "ReduceSum": 1, "ReduceMean": 1, "ReduceMax": 1, "ReduceMin": 1, "ReduceProd": 1,
    "ReduceL1": 1, "ReduceL2": 1, "ReduceLogSum": 1, "ReduceLogSumExp": 1, "ReduceSumSquare": 1,
    "Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "CumSum": 1, "Pad": 3,
}


def unsupported_operators(model_or_path, supported: Optional[Iterable[str]] = None) -> List[str]:
    """Every reason TensorRT 10.0's ONNX parser would reject the graph; empty when it is fine.

    Checks: opset within 9-20 for the default domain, no node of another domain (custom ops need
    plugins), every operator on the support list, and inputs the list requires to be constant
    (axes of reductions, Slice, (Un)Squeeze, ...) are initializers or Constant outputs.
    """
    proto = as_proto(model_or_path, load_weights=False)
    supported = set(supported) if supported is not None else tensorrt_supported_operators()
    problems = []
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx") and not 9 <= entry.version <= 20:
            problems.append(f"opset {entry.version} (TensorRT 10.0 parses opset 9-20)")
    constants = {i.name for i in proto.graph.initializer}
    constants |= {o for n in proto.graph.node if n.op_type == "Constant" for o in n.output}
    for node in _all_nodes(proto.graph):
        label = f"{node.op_type} (node {node.name or '?'})"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{node.domain}::{label}: custom domain, needs a TensorRT plugin")
        elif node.op_type not in supported:
            problems.append(f"{label}: not on TensorRT 10.0's supported-operator list")
        index = _CONSTANT_INPUTS.get(node.op_type)
        if index is not None and len(node.input) > index and node.input[index] \
                and node.input[index] not in constants:
            problems.append(f"{label}: input {index} ({node.input[index]}) must be an "
                            f"initializer for TensorRT")
    return problems


def check_tensorrt_compatible(model_or_path, supported: Optional[Iterable[str]] = None) -> None:
    """Raise :class:`UnsupportedGraphError` listing every problem :func:`unsupported_operators` finds."""
    problems = unsupported_operators(model_or_path, supported)
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise UnsupportedGraphError(f"the ONNX graph is not buildable by TensorRT 10.0: {shown}")


# --- Shape computations ------------------------------------------------------------------------

# Operand slots that take a shape (a 1-D int tensor) rather than data. A value computed from
# Shape that only ever flows into these slots is a TensorRT "shape tensor": the builder
# evaluates it from the input dimensions per optimisation profile, with no data dependence.
_SHAPE_SLOTS = {
    "Reshape": {1}, "Expand": {1}, "ConstantOfShape": {0}, "Tile": {1}, "Range": {0, 1, 2},
    "Slice": {1, 2, 3, 4}, "Resize": {2, 3}, "Pad": {1}, "Squeeze": {1}, "Unsqueeze": {1},
    "TopK": {1}, "OneHot": {1}, "Split": {1},
}
# Integer ops that may appear inside a shape computation.
_SHAPE_ARITHMETIC = {"Shape", "Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Add", "Sub",
                     "Mul", "Div", "Cast", "Max", "Min", "Equal", "Where", "Identity", "Abs",
                     "Neg", "Reshape", "ReduceProd", "Range", "Size", "Mod"}


def shape_computations(model_or_path) -> Dict[str, object]:
    """The graph's shape arithmetic: what it computes from ``Shape`` and where the results go.

    Walks the (topologically ordered) graph from every ``Shape`` node. Returns ``shape_ops``
    (number of Shape nodes), ``nodes`` (op -> count of integer-arithmetic nodes computing on
    shape values), ``consumers`` (``"Op[slot]"`` -> count of shape operands that receive them)
    and ``problems``: a shape value mixed with data (a tensor computed from the inputs' values)
    or fed to a data operand of a non-arithmetic op. TensorRT evaluates pure shape chains from
    the input dimensions of each optimisation profile; the problem cases are data-dependent
    shapes, where dynamic-shape builds fail. Empty ``problems``: every shape computation is a
    chain from input dimensions into shape operands.
    """
    proto = as_proto(model_or_path, load_weights=False)
    graph = proto.graph
    constants = {i.name for i in graph.initializer} | {""}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    shape_values: Set[str] = set()
    nodes: Dict[str, int] = {}
    sinks: Dict[str, int] = {}
    problems: List[str] = []
    shape_ops = 0
    for node in graph.node:
        if node.op_type == "Shape":
            shape_ops += 1
            shape_values.update(node.output)
            continue
        fed = [slot for slot, name in enumerate(node.input) if name in shape_values]
        if not fed:
            continue
        operands = _SHAPE_SLOTS.get(node.op_type, set())
        for slot in fed:
            if slot in operands:
                key = f"{node.op_type}[{slot}]"
                sinks[key] = sinks.get(key, 0) + 1
        rest = [slot for slot in range(len(node.input)) if slot not in operands]
        if not any(slot in fed for slot in rest):
            continue  # shape values only went into shape operands
        mixed = [node.input[s] for s in rest
                 if node.input[s] not in shape_values and node.input[s] not in constants]
        if node.op_type in _SHAPE_ARITHMETIC and not mixed:
            nodes[node.op_type] = nodes.get(node.op_type, 0) + 1
            shape_values.update(node.output)
        else:
            problems.append(f"{node.op_type} node {node.name or '?'} computes data from a shape "
                            f"value (inputs {list(node.input)})")
    for value in graph.output:
        if value.name in shape_values:
            problems.append(f"graph output {value.name} is a shape value")
    return {"shape_ops": shape_ops, "nodes": dict(sorted(nodes.items())),
            "consumers": dict(sorted(sinks.items())), "problems": problems}


def fold_for_shapes(model_or_path, batch: int, length: Optional[int] = None):
    """A copy with the dynamic input dims fixed and constants folded (onnxscript's optimizer).

    If no ``Shape`` node survives, every shape computation depended only on the input
    dimensions (never on data), which is what TensorRT resolves per optimisation profile.
    """
    import onnx
    import onnxscript.optimizer
    proto = copy.deepcopy(as_proto(model_or_path))
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        fixed = [batch, length]
        for axis, dim in enumerate(dims[:2]):
            if dim.dim_param or not dim.HasField("dim_value"):
                if fixed[axis] is None:
                    raise ExportError(f"input {value.name} axis {axis} is dynamic: give a value")
                dim.Clear()
                dim.dim_value = int(fixed[axis])
    # Drop stale intermediate shape annotations so inference recomputes them from fixed inputs.
    del proto.graph.value_info[:]
    proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    return onnxscript.optimizer.optimize(proto)
