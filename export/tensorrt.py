"""Build a TensorRT engine from an exported ONNX file, and run it like the PyTorch model.

Written against TensorRT 10's Python API (explicit batch is the only mode, so
``create_network(0)``; ``execute_async_v3`` with tensor addresses). TensorRT needs an NVIDIA GPU
to build or run anything, and an engine runs only on the GPU model and TensorRT version that
built it: build on the deployment device (e.g. the Jetson), from an ONNX file exported anywhere.
Everything that can be checked without TensorRT (the ONNX interface, the operator list, the
profile) is checked first, so those errors are the same on every machine.

fp16 engines keep LayerNorm and softmax in fp32 (per-layer precision, obeyed): fp16 LayerNorm
after attention overflows in TensorRT (TensorRT issues 2781, 3692).
"""

import datetime
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch

from .. import __version__
from ..atomic import atomic_write
from .interface import (INPUT_NAMES, MASK_NAME, MODALITY_OF_INPUT, OUTPUT_NAME, ExportError,
                        as_proto, check_interface, read_metadata, sha256_file)
from .onnx import check_tensorrt_compatible
from .runtime import PoseRunner
from ..data.joints import FEATURE_DIMS

PRECISIONS = ("fp32", "fp16")
DEFAULT_OPT_LENGTH = 128


class TensorRTUnavailableError(RuntimeError):
    """TensorRT (or the CUDA GPU it needs) is missing on this machine."""


class EngineBuildError(RuntimeError):
    """TensorRT could not parse the ONNX file or build an engine from it."""


class EngineMismatchError(RuntimeError):
    """An engine built for another GPU or TensorRT version, or without its build record."""


def import_tensorrt():
    """The ``tensorrt`` module and a CUDA device, or one error saying how to get them."""
    try:
        import tensorrt
    except ImportError:
        raise TensorRTUnavailableError(
            "TensorRT is not installed: `pip install tensorrt` on a machine with an NVIDIA GPU "
            "(on a Jetson it comes with JetPack); build engines on the device that runs them") from None
    if not torch.cuda.is_available():
        raise TensorRTUnavailableError("TensorRT needs a CUDA GPU and this machine has none (or "
                                       "torch was installed without CUDA)")
    return tensorrt


def current_gpu(device: int = 0) -> Dict[str, str]:
    major, minor = torch.cuda.get_device_capability(device)
    return {"name": torch.cuda.get_device_name(device), "compute_capability": f"{major}.{minor}"}


def engine_record_path(engine_path) -> Path:
    """The build record written beside an engine: ``model.engine`` -> ``model.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


@dataclass
class Profile:
    """One optimisation profile: the batch and length ranges the engine accepts (inclusive)."""

    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 32
    min_length: Optional[int] = None   # None: from the ONNX file (its fixed length, or 1)
    opt_length: Optional[int] = None   # None: fixed length, or min(128, max_length)
    max_length: Optional[int] = None   # None: fixed length, or the model's max_frames

    def resolved(self, static_length: Optional[int], max_frames: Optional[int]) -> "Profile":
        """Fill the lengths from the ONNX file and check min <= opt <= max."""
        p = Profile(**asdict(self))
        if static_length is not None:
            given = {v for v in (p.min_length, p.opt_length, p.max_length) if v is not None}
            if given - {static_length}:
                raise ExportError(f"the ONNX file has a fixed length of {static_length} frames; "
                                  f"re-export with --dynamic-length for a length range")
            p.min_length = p.opt_length = p.max_length = static_length
        else:
            p.min_length = 1 if p.min_length is None else p.min_length
            if p.max_length is None:
                if max_frames is None:
                    raise ExportError("the ONNX file does not record max_frames: give --max-length")
                p.max_length = max_frames
            if max_frames is not None and p.max_length > max_frames:
                raise ExportError(f"--max-length {p.max_length} exceeds the model's max_frames "
                                  f"{max_frames} (its positional table)")
            if p.opt_length is None:
                p.opt_length = max(p.min_length, min(DEFAULT_OPT_LENGTH, p.max_length))
        for axis in ("batch", "length"):
            low, opt, high = (getattr(p, f"{k}_{axis}") for k in ("min", "opt", "max"))
            if not 1 <= low <= opt <= high:
                raise ExportError(f"{axis} profile must satisfy 1 <= min <= opt <= max, got "
                                  f"min {low}, opt {opt}, max {high}")
        return p

    def shapes(self, with_mask: bool) -> Dict[str, Tuple[Tuple[int, ...], ...]]:
        """Input name -> (min, opt, max) shapes, as ``IOptimizationProfile.set_shape`` takes them."""
        out = {}
        for name in INPUT_NAMES:
            width = FEATURE_DIMS[MODALITY_OF_INPUT[name]]
            out[name] = tuple((getattr(self, f"{k}_batch"), getattr(self, f"{k}_length"), width)
                              for k in ("min", "opt", "max"))
        if with_mask:
            out[MASK_NAME] = tuple((getattr(self, f"{k}_batch"), getattr(self, f"{k}_length"))
                                   for k in ("min", "opt", "max"))
        return out


def inspect_onnx(onnx_path) -> Dict[str, object]:
    """The facts a build needs from an ONNX export, after checking it is one of ours."""
    proto = as_proto(onnx_path, load_weights=False)
    initializers = {i.name for i in proto.graph.initializer}
    inputs = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        inputs[value.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param
                              for d in value.type.tensor_type.shape.dim]
    with_mask = check_interface(inputs, [o.name for o in proto.graph.output], onnx_path)
    check_tensorrt_compatible(proto)
    metadata = read_metadata(proto)
    length = inputs["left_hand"][1]
    batch = inputs["left_hand"][0]
    return {"with_mask": with_mask, "metadata": metadata,
            "static_length": length if isinstance(length, int) and length > 0 else None,
            "static_batch": batch if isinstance(batch, int) and batch > 0 else None,
            "max_frames": int(metadata["max_frames"]) if "max_frames" in metadata else None}


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def build_engine(onnx_path, output, precision: str = "fp16", profile: Optional[Profile] = None,
                 timing_cache=None, int8_calib=None, workspace_gib: Optional[float] = None,
                 log: Callable[[str], None] = print) -> Dict[str, object]:
    """Build a serialized engine from an slr-fused ONNX export and write its JSON record beside it.

    Args:
        onnx_path: the file written by :func:`slr_fused.export.onnx.export_onnx`.
        output: the engine path; the record goes to ``<output>.json``.
        precision: ``fp32`` or ``fp16`` (LayerNorm, softmax and reductions pinned to fp32).
        profile: batch and length ranges; lengths default from the ONNX file.
        timing_cache: a file to read (if present) and update with layer timings; speeds up
            rebuilds on the same GPU and TensorRT version.
        int8_calib: a pose CSV; enables INT8 with entropy calibration on its samples (implicit
            quantisation, deprecated by TensorRT 10.1 in favour of explicit Q/DQ graphs).
        workspace_gib: builder workspace limit.
        log: where progress lines go.

    Returns:
        The record written to ``<output>.json``.
    """
    if precision not in PRECISIONS:
        raise ExportError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    onnx_path, output = Path(onnx_path), Path(output)
    facts = inspect_onnx(onnx_path)
    profile = (profile or Profile()).resolved(facts["static_length"], facts["max_frames"])
    if facts["static_batch"] is not None:
        raise ExportError(f"{onnx_path} has a fixed batch of {facts['static_batch']}; export with "
                          f"`slr export onnx` (dynamic batch)")
    if int8_calib is not None and not Path(int8_calib).is_file():
        raise ExportError(f"{int8_calib}: no such calibration CSV")
    shapes = profile.shapes(facts["with_mask"])
    trt = import_tensorrt()

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)   # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT's ONNX parser rejected {onnx_path}: "
                               + " | ".join(errors[:5]))
    config = builder.create_builder_config()
    if workspace_gib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))

    if precision == "fp32":
        # TensorRT allows TF32 matmuls by default (10-bit mantissa); fp32 here means fp32.
        config.clear_flag(trt.BuilderFlag.TF32)
    pinned = 0
    if precision == "fp16" or int8_calib is not None:
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        # Without OBEY, TensorRT treats layer precisions as hints and may still pick fp16.
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        sensitive = {trt.LayerType.NORMALIZATION, trt.LayerType.SOFTMAX, trt.LayerType.REDUCE}
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            if layer.type in sensitive:
                layer.precision = trt.float32
                for out in range(layer.num_outputs):
                    # Integer outputs (index or shape arithmetic) keep their type.
                    if layer.get_output(out).dtype in (trt.float32, trt.float16):
                        layer.set_output_type(out, trt.float32)
                pinned += 1
        if not any(network.get_layer(i).type == trt.LayerType.NORMALIZATION
                   for i in range(network.num_layers)):
            log("Warning: no LayerNorm layer found to keep in fp32 (was LayerNormalization "
                "decomposed by the exporter?); check fp16 accuracy against ONNX Runtime")

    optimization_profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        optimization_profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(optimization_profile)

    calibrator = None
    if int8_calib is not None:
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = _make_calibrator(trt, int8_calib, profile, facts["with_mask"],
                                      output.with_name(output.name + ".calib"))
        config.int8_calibrator = calibrator
        config.set_calibration_profile(optimization_profile)

    cache = None
    if timing_cache is not None:
        timing_cache = Path(timing_cache)
        data = timing_cache.read_bytes() if timing_cache.is_file() else b""
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, False)   # False: a mismatching cache is an error, not ignored

    log(f"Building {precision}{' + int8' if int8_calib else ''} engine from {onnx_path} "
        f"(batch {profile.min_batch}/{profile.opt_batch}/{profile.max_batch}, length "
        f"{profile.min_length}/{profile.opt_length}/{profile.max_length}); this takes minutes")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"TensorRT failed to build an engine from {onnx_path} (see its "
                               f"log above)")
    _atomic_write(output, bytes(serialized))
    from ..trust import record_trusted
    record_trusted(output)
    if cache is not None:
        _atomic_write(timing_cache, bytes(cache.serialize()))

    metadata = facts["metadata"]
    record = {
        "engine": output.name,
        "tensorrt_version": trt.__version__,
        "gpu": current_gpu(),
        "precision": precision,
        "int8_calibration": str(int8_calib) if int8_calib else None,
        "fp32_pinned_layers": pinned,
        "profile": asdict(profile),
        "profile_shapes": {k: [list(s) for s in v] for k, v in shapes.items()},
        "input_layout": json.loads(metadata.get("input_layout", "null")),
        "class_names": json.loads(metadata.get("class_names", "null")),
        "onnx_file": onnx_path.name,
        "onnx_sha256": sha256_file(onnx_path),
        "slr_fused_version": __version__,
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    _atomic_write(engine_record_path(output), (json.dumps(record, indent=2) + "\n").encode())
    log(f"Saved engine to {output} and its record to {engine_record_path(output)}")
    return record


def fp32_node_names(onnx_path) -> list:
    """ONNX nodes an fp16 engine keeps in fp32 (LayerNorm, softmax, reductions): TensorRT names
    the layer it creates for a node after the node, which is what trtexec's --layerPrecisions takes."""
    proto = as_proto(onnx_path, load_weights=False)
    kinds = {"LayerNormalization", "Softmax"}
    return [n.name for n in proto.graph.node
            if n.name and (n.op_type in kinds or n.op_type.startswith("Reduce"))]


def trtexec_command(onnx_path, output, precision: str = "fp16", profile: Optional[Profile] = None,
                    timing_cache=None, workspace_gib: Optional[float] = None) -> str:
    """The ``trtexec`` command line that builds the engine :func:`build_engine` builds.

    trtexec writes no build record, so :class:`TensorRTRunner` will not load its engine until a
    record is written beside it; it is for machines with TensorRT but without this package.
    """
    if precision not in PRECISIONS:
        raise ExportError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    facts = inspect_onnx(onnx_path)
    profile = (profile or Profile()).resolved(facts["static_length"], facts["max_frames"])
    shapes = profile.shapes(facts["with_mask"])

    def spec(which):
        return ",".join(f"{name}:{'x'.join(str(d) for d in dims[which])}"
                        for name, dims in shapes.items())

    parts = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={output}",
             f"--minShapes={spec(0)}", f"--optShapes={spec(1)}", f"--maxShapes={spec(2)}"]
    if precision == "fp16":
        pinned = fp32_node_names(onnx_path)
        parts += ["--fp16", "--precisionConstraints=obey",
                  "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in pinned),
                  "--layerOutputTypes=" + ",".join(f"{n}:fp32" for n in pinned)]
    else:
        parts.append("--noTF32")
    if timing_cache is not None:
        parts.append(f"--timingCacheFile={timing_cache}")
    if workspace_gib:
        parts.append(f"--memPoolSize=workspace:{int(workspace_gib * 1024)}")   # MiB
    return " \\\n    ".join(parts)


def _make_calibrator(trt, csv_path, profile: Profile, with_mask: bool, cache_path: Path,
                     max_batches: int = 32):
    """An entropy calibrator over a pose CSV, at the profile's opt shape (what TensorRT calibrates at)."""
    from torch.utils.data import DataLoader
    from ..data.dataset import PoseDataset, collate_poses

    dataset = PoseDataset(csv_path, num_frames=profile.opt_length)
    loader = DataLoader(dataset, batch_size=profile.opt_batch, shuffle=False,
                        collate_fn=collate_poses, drop_last=True)
    if len(loader) == 0:
        raise ExportError(f"{csv_path}: fewer samples than one calibration batch ({profile.opt_batch})")

    class PoseCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.batches = iter(loader)
            self.left = max_batches
            self.keep = {}   # device buffers must outlive get_batch's return

        def get_batch_size(self):
            return profile.opt_batch

        def get_batch(self, names):
            if self.left == 0:
                return None
            batch = next(self.batches, None)
            if batch is None:
                return None
            self.left -= 1
            tensors = {"left_hand": batch["lh"].flatten(2), "right_hand": batch["rh"].flatten(2),
                       "body": batch["body"].flatten(2), MASK_NAME: batch["padding_mask"]}
            self.keep = {k: v.contiguous().cuda() for k, v in tensors.items()}
            return [int(self.keep[name].data_ptr()) for name in names]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache):
            _atomic_write(cache_path, bytes(cache))

    return PoseCalibrator()


_TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "BOOL": torch.bool,
                 "INT32": torch.int32, "INT64": torch.int64}


class TensorRTRunner(PoseRunner):
    """A serialized engine, called like the PyTorch model; logits come back on the input's device.

    Args:
        engine_path: the ``.engine`` file; its ``.engine.json`` record must be beside it.
        device: CUDA device index.
        check_gpu: refuse an engine whose record names another GPU or TensorRT version (an engine
            from another GPU fails to deserialize or, worse, runs with tactics timed elsewhere).
        trust: load an engine that was not built on this machine (deserializing runs native code).
    """

    def __init__(self, engine_path, device: int = 0, check_gpu: bool = True, trust: bool = False):
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            raise ExportError(f"{engine_path}: no such engine file")
        from ..trust import check_trusted
        check_trusted(engine_path, trust)   # before TensorRT's runtime deserializes it
        record_path = engine_record_path(engine_path)
        if not record_path.is_file():
            raise EngineMismatchError(f"{engine_path}: its build record {record_path.name} is "
                                      f"missing; rebuild with `slr export tensorrt`")
        self.record = json.loads(record_path.read_text(encoding="utf-8"))
        self.source = str(engine_path)
        trt = import_tensorrt()
        self.device = torch.device("cuda", device)
        if check_gpu:
            here = current_gpu(device)["name"]
            built = self.record.get("gpu", {}).get("name")
            if built != here or self.record.get("tensorrt_version") != trt.__version__:
                raise EngineMismatchError(
                    f"{engine_path} was built on {built} with TensorRT "
                    f"{self.record.get('tensorrt_version')}; this is {here} with TensorRT "
                    f"{trt.__version__}: rebuild the engine here from the ONNX file")
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self.device):
            self.engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise EngineMismatchError(f"{engine_path}: TensorRT {trt.__version__} cannot "
                                      f"deserialize it (corrupt, or built by another version)")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = {n: list(self.engine.get_tensor_shape(n)) for n in names
                  if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT}
        outputs = [n for n in names if n not in inputs]
        self.with_mask = check_interface(inputs, outputs, engine_path)
        low, _, high = self.engine.get_tensor_profile_shape("left_hand", 0)
        self.batch_range = (int(low[0]), int(high[0]))
        self.length_range = (int(low[1]), int(high[1]))
        self.class_names = self.record.get("class_names")
        self.dtypes = {n: _TORCH_DTYPES[self.engine.get_tensor_dtype(n).name] for n in names}
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(self.device)

    def _run(self, feeds, device):
        with torch.cuda.device(self.device):
            current = torch.cuda.current_stream(self.device)
            buffers = {}
            for name, tensor in feeds.items():
                tensor = tensor.to(self.device, self.dtypes[name]).contiguous()
                buffers[name] = tensor
                self.context.set_input_shape(name, tuple(tensor.shape))
                self.context.set_tensor_address(name, tensor.data_ptr())
            shape = tuple(self.context.get_tensor_shape(OUTPUT_NAME))
            logits = torch.empty(shape, dtype=self.dtypes[OUTPUT_NAME], device=self.device)
            self.context.set_tensor_address(OUTPUT_NAME, logits.data_ptr())
            # TensorRT synchronises extra on the default stream; run on our own, after the copies.
            self.stream.wait_stream(current)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f"{self.source}: TensorRT execution failed")
            self.stream.synchronize()   # the input buffers above must outlive the kernels
        return logits.float().to(device)
