"""AOTInductor packages: a trained model compiled ahead of time into one ``.pt2`` file.

``torch.compile`` compiles again in every new process (tens of seconds, and again per shape
unless told otherwise); an AOTInductor package is compiled once, on the kind of device that will
run it, and loads in about a second. This is the PyTorch-native deployment path beside ONNX and
TensorRT, and the only one that keeps the fused Triton block: the ONNX graph always carries the
reference math.

With ``kernel="triton"`` Inductor compiles everything around the block and calls the block's
registered op (``torch.ops.slr_fused.cross_modal_attention``, a Python custom op) through
PyTorch's proxy executor. Loading such a package therefore needs Python with slr_fused imported,
which :class:`AotiRunner` does. A ``kernel="reference"`` package is self-contained generated code
that C++ can load too (``torch::inductor::AOTIModelPackageLoader``).

Batch (1 to ``max_batch``) and length (1 to the model's ``max_frames``) are dynamic. The package
metadata records the class names, input layout, normalisation, kernel and device; the compiled
package is checked against the eager model on random inputs before it replaces ``output``.
"""

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

from .. import __version__
from ..checkpoint import load_model
from ..data.joints import FEATURE_DIMS, MODALITIES
from ..devices import resolve_device
from ..errors import first_line
from ..models.cross_modal import resolve_backend
from .interface import (INPUT_NAMES, MASK_NAME, NORMALIZATION, ExportError, ModelMismatchError,
                        input_layout, sha256_file)
from .runtime import PoseRunner

PRODUCER = "slr-fused"
KERNELS = ("auto", "reference", "triton")
# Eager and compiled fp32 sum in different orders: agreement to ~1e-6 is normal, 1e-4 is a bug.
VERIFY_ATOL = 1e-4


def _example_inputs(batch: int, length: int, device, with_mask: bool, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(batch, length, FEATURE_DIMS[m], generator=generator).mul_(0.3).to(device)
              for m in MODALITIES]
    if with_mask:
        mask = torch.zeros(batch, length, dtype=torch.bool)
        if batch > 1 and length > 1:
            mask[-1, (length + 1) // 2:] = True    # a shorter last sample
        inputs.append(mask.to(device))
    return inputs


def export_aoti(checkpoint, output, kernel: str = "auto", device: str = "auto",
                with_mask: bool = False, max_batch: int = 1024, verify: bool = True,
                log: Callable[[str], None] = print) -> Dict[str, object]:
    """Compile a checkpoint into an AOTInductor package (``.pt2``) and check it.

    Args:
        checkpoint: a model file written by ``slr train``.
        output: the ``.pt2`` path to write.
        kernel: the cross-modal block inside the package: ``reference``, ``triton`` (the fused
            kernels; CUDA), or ``auto`` (triton on CUDA when Triton imports).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; the package runs on that device type.
        with_mask: take ``padding_mask`` (bool, True = padded frame) as a fourth input.
        max_batch: largest batch the package accepts.
        verify: compare the package with the eager model at two shapes (atol 1e-4).

    Returns:
        A summary: path, metadata, compile seconds and ``max_abs_diff`` when verified.
    """
    if kernel not in KERNELS:
        raise ExportError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if int(max_batch) < 1:
        raise ExportError(f"max_batch must be at least 1, got {max_batch}")
    target = resolve_device(device, ExportError, "; an AOTInductor package is compiled for the "
                                                 "device that will run it")
    model, info = load_model(checkpoint, device=target, kernel=kernel)
    config = info["config"]
    if config.max_frames < 2:
        raise ExportError("a dynamic-length package needs max_frames >= 2")
    backend = "reference"
    if model.cross_modal is not None:
        if (model.cross_modal.backend == "triton" and target.type != "cuda"
                and os.environ.get("TRITON_INTERPRET") != "1"):
            raise ExportError("--kernel triton compiles the fused kernels for CUDA: use --device "
                              "cuda (or --kernel reference for a CPU package)")
        # Resolve "auto" here, eagerly (with its self-check), so the traced graph holds exactly
        # the backend the metadata names.
        backend = resolve_backend(model.cross_modal.backend,
                                  torch.empty(1, 1, 42, device=target), model.cross_modal)
        model.cross_modal.backend = backend
    from torch.export import Dim
    batch_dim = Dim("batch", min=1, max=int(max_batch))
    length_dim = Dim("length", min=1, max=config.max_frames)
    axes = {0: batch_dim, 1: length_dim}
    # Example sizes of at least 2: torch.export specialises sizes 0 and 1.
    example = _example_inputs(2, min(16, config.max_frames), target, with_mask)
    dynamic_shapes = tuple(dict(axes) for _ in example)
    metadata = {
        "producer": PRODUCER,
        "slr_fused_version": __version__,
        "class_names": json.dumps(info["class_names"]),
        "num_classes": str(config.num_classes),
        "input_layout": json.dumps(input_layout(with_mask, None)),
        "normalization": NORMALIZATION,
        "model_config": json.dumps(config.to_dict()),
        "with_mask": json.dumps(bool(with_mask)),
        "max_batch": str(int(max_batch)),
        "max_frames": str(config.max_frames),
        "kernel": backend,
        "device_type": target.type,
        "device_name": (torch.cuda.get_device_name(target) if target.type == "cuda" else "cpu"),
        "torch_version": torch.__version__,
        "checkpoint_sha256": sha256_file(checkpoint),
    }
    train_config = (info.get("metadata") or {}).get("train_config") or {}
    if train_config.get("num_frames"):   # predict resamples inputs to the training length
        metadata["num_frames"] = str(int(train_config["num_frames"]))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    log(f"Compiling {checkpoint} into an AOTInductor package for {target.type} (cross-modal "
        f"block: {backend}); this takes a minute or two")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".slr-aoti-") as scratch:
        staged = Path(scratch) / output.name
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                program = torch.export.export(model, tuple(example), dynamic_shapes=dynamic_shapes)
                torch._inductor.aoti_compile_and_package(
                    program, package_path=str(staged),
                    inductor_configs={"aot_inductor.metadata": metadata})
        except (ValueError, RuntimeError, TypeError) as error:
            raise ExportError(f"AOTInductor could not compile {checkpoint}: "
                              f"{first_line(error, 300)}") from None
        seconds = time.perf_counter() - start
        summary = {"path": str(output), "metadata": metadata, "compile_seconds": seconds}
        if verify:
            summary["max_abs_diff"] = verify_package(model, staged, with_mask, max_batch, target)
        staged.replace(output)   # same folder, so an atomic rename: a checked package or nothing
    from ..trust import record_trusted
    record_trusted(output)
    return summary


def verify_package(model, package_path, with_mask: bool, max_batch: int,
                   device: torch.device) -> float:
    """Max |logit difference| between the package and the eager model at two shapes."""
    runner = AotiRunner(package_path, device=device, trust=True)   # compiled just now, here
    worst = 0.0
    for batch, length in ((min(3, int(max_batch)), min(21, model.config.max_frames)), (1, 1)):
        inputs = _example_inputs(batch, length, device, with_mask, seed=batch * 100 + length)
        with torch.no_grad():
            expected = model(*inputs).float()
        got = runner(*inputs)
        if not torch.isfinite(got).all():
            raise ExportError(f"{package_path}: the package returns non-finite logits at "
                              f"(batch, length) = ({batch}, {length})")
        worst = max(worst, float((got.to(expected.device) - expected).abs().max()))
    if worst > VERIFY_ATOL:
        raise ExportError(f"the AOTInductor package disagrees with the eager model (max |logit "
                          f"difference| {worst:.2e} > {VERIFY_ATOL:g}); not written")
    return worst


def _register_fused_op() -> None:
    """Packages built with the fused block call our op: it must be registered before they run."""
    try:
        import slr_fused.kernels.cross_modal_attention  # noqa: F401
    except ImportError:
        pass   # only a triton package needs it; that one is refused below with the reason


class AotiRunner(PoseRunner):
    """An AOTInductor package from :func:`export_aoti`, called like the PyTorch model.

    Args:
        path: the ``.pt2`` file.
        device: where to run (default: the device type it was compiled for, GPU 0 for cuda).
        trust: load a package that was not exported on this machine (its library runs code).
    """

    def __init__(self, path, device: Optional[torch.device] = None, trust: bool = False):
        path = Path(path)
        if not path.is_file():
            raise ExportError(f"{path}: no such AOTInductor package")
        from ..trust import check_trusted
        check_trusted(path, trust)   # before its shared library is loaded (it runs code)
        self.source = str(path)
        _register_fused_op()
        index = -1 if device is None or torch.device(device).index is None \
            else torch.device(device).index
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.package = torch._inductor.aoti_load_package(str(path), device_index=index)
            metadata = dict(self.package.get_metadata())
        except Exception as error:   # torch raises RuntimeError, zip errors, ... for a bad file
            raise ModelMismatchError(f"{path}: not a loadable AOTInductor package "
                                     f"({first_line(error)})") from None
        if metadata.get("producer") != PRODUCER:
            raise ModelMismatchError(f"{path}: an AOTInductor package, but not one written by "
                                     f"`slr export aoti` (no slr-fused metadata)")
        self.metadata = metadata
        compiled_for = metadata["device_type"]
        if compiled_for == "cuda" and not torch.cuda.is_available():
            raise ModelMismatchError(f"{path} was compiled for CUDA ({metadata['device_name']}); "
                                     f"this machine has no GPU: export again with --device cpu")
        self.device = torch.device(device) if device is not None else torch.device(compiled_for)
        if self.device.type != compiled_for:
            raise ModelMismatchError(f"{path} was compiled for {compiled_for}, asked to run on "
                                     f"{self.device.type}: export again with --device "
                                     f"{self.device.type}")
        if metadata.get("kernel") == "triton" and not hasattr(torch.ops.slr_fused,
                                                               "cross_modal_attention"):
            raise ModelMismatchError(f"{path} calls the fused Triton block, which cannot be "
                                     f"imported here: install the kernels extra (triton)")
        self.with_mask = json.loads(metadata["with_mask"])
        self.class_names = json.loads(metadata["class_names"])
        self.batch_range = (1, int(metadata["max_batch"]))
        self.length_range = (1, int(metadata["max_frames"]))

    def _run(self, feeds, device):
        names = list(INPUT_NAMES) + ([MASK_NAME] if self.with_mask else [])
        args = [feeds[name].to(self.device) for name in names]
        with torch.no_grad():
            logits = self.package(*args)
        return logits.float().to(device)
