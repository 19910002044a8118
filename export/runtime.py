"""Run an exported model with the PyTorch model's call interface.

``runner(lh, rh, body, padding_mask=None) -> logits`` works like ``SiFormer.forward``: hands
(B, T, 42) or (B, T, 21, 2), body (B, T, 24) or (B, T, 12, 2), an optional bool (B, T) mask,
True on padded frames; logits come back as a torch tensor. :class:`PoseRunner` holds the input
checks shared by the ONNX Runtime runner here and the TensorRT runner in
:mod:`slr_fused.export.tensorrt`, so the checks tested here on the CPU are the ones the engine
runner uses.
"""

import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data.joints import FEATURE_DIMS
from ..errors import first_line
from .interface import (INPUT_NAMES, MASK_NAME, MODALITY_OF_INPUT, OUTPUT_NAME,  # noqa: F401
                        ExportError, ModelMismatchError, check_interface)


class RunnerInputError(ValueError):
    """Inputs the exported model cannot take (shape, mask, length or batch out of range)."""


class BatchTooLargeError(RunnerInputError):
    """A batch above the maximum of the engine's optimisation profile (or the runner's limit)."""


def _static(dim) -> Optional[int]:
    return int(dim) if isinstance(dim, (int, np.integer)) and int(dim) > 0 else None


class PoseRunner:
    """Input checks and the call interface; subclasses implement :meth:`_run`.

    Attributes set by subclasses: ``with_mask``, ``batch_range`` and ``length_range``
    ((min, max), max None when unbounded), ``class_names``, ``source`` (for messages).
    """

    with_mask: bool = False
    batch_range: Tuple[int, Optional[int]] = (1, None)
    length_range: Tuple[int, Optional[int]] = (1, None)
    class_names: Optional[List[str]] = None
    source: str = "model"

    def __call__(self, lh, rh, body, padding_mask=None) -> torch.Tensor:
        """Logits (B, num_classes) as a float32 torch tensor."""
        feeds, device = self.prepare(lh, rh, body, padding_mask)
        return self._run(feeds, device)

    def _run(self, feeds: Dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, lh, rh, body, padding_mask=None):
        """Validated feeds (name -> contiguous tensor, float32 features, bool mask) and the device."""
        tensors = {}
        for name, value in zip(INPUT_NAMES, (lh, rh, body)):
            x = torch.as_tensor(value)
            width = FEATURE_DIMS[MODALITY_OF_INPUT[name]]
            if x.dim() == 4:
                x = x.flatten(2)
            if x.dim() != 3 or x.shape[-1] != width:
                raise RunnerInputError(f"{name} must be (B, T, {width}) or (B, T, {width // 2}, 2), "
                                       f"got {tuple(torch.as_tensor(value).shape)}")
            if not x.is_floating_point():
                raise RunnerInputError(f"{name} must be floating point, got {x.dtype}")
            tensors[name] = x.float().contiguous()
        shapes = {name: tuple(x.shape[:2]) for name, x in tensors.items()}
        if len(set(shapes.values())) != 1:
            raise RunnerInputError(f"left_hand, right_hand and body must share batch and length, "
                                   f"got {shapes}")
        batch, length = shapes["left_hand"]
        device = tensors["left_hand"].device
        low, high = self.batch_range
        if high is not None and batch > high:
            raise BatchTooLargeError(f"batch {batch} is above the maximum {high} of {self.source}; "
                                     f"split the batch or rebuild with a larger --max-batch")
        if batch < low:
            raise RunnerInputError(f"batch {batch} is below the minimum {low} of {self.source}")
        low, high = self.length_range
        if (high is not None and length > high) or length < low:
            fixed = low == high
            raise RunnerInputError(
                f"{length} frames: {self.source} takes "
                + (f"exactly {low} frames (resample, e.g. PoseDataset(num_frames={low}), or pad "
                   f"and mask)" if fixed else f"{low}-{high} frames"))
        if padding_mask is not None:
            mask = torch.as_tensor(padding_mask)
            if mask.dtype != torch.bool or tuple(mask.shape) != (batch, length):
                raise RunnerInputError(f"padding_mask must be bool (B, T) = {(batch, length)}, got "
                                       f"{mask.dtype} {tuple(mask.shape)}")
            if bool(mask.all(dim=1).any()):
                raise RunnerInputError("a sample is entirely padding (no valid frame)")
            if not self.with_mask:
                if bool(mask.any()):
                    raise RunnerInputError(
                        f"{self.source} was exported without --with-mask, so it would attend to "
                        f"padded frames; re-export with --with-mask or run equal-length samples")
                padding_mask = None
        if self.with_mask:
            if padding_mask is None:
                padding_mask = torch.zeros(batch, length, dtype=torch.bool)
            tensors[MASK_NAME] = torch.as_tensor(padding_mask).to(device).contiguous()
        return tensors, device


class OnnxRuntimeRunner(PoseRunner):
    """An exported ``.onnx`` run by ONNX Runtime (CPU by default).

    Args:
        path: the ONNX file.
        providers: ONNX Runtime execution providers.
        max_batch: optional largest batch to accept (ONNX Runtime itself has no limit); the
            TensorRT runner takes it from the engine's optimisation profile.
        spinning: let ONNX Runtime's CPU worker threads spin-wait after a run (its default:
            lowest latency in a tight loop, but the cores stay busy for whatever runs next).
    """

    def __init__(self, path, providers: Sequence[str] = ("CPUExecutionProvider",),
                 max_batch: Optional[int] = None, spinning: bool = True):
        try:
            import onnxruntime
        except ImportError:
            raise ExportError("onnxruntime is not installed: pip install -c constraints.txt "
                              "-e '.[export]'") from None
        path = Path(path)
        if not path.is_file():
            raise ExportError(f"{path}: no such ONNX file")
        self.source = str(path)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=list(providers))
        except Exception as error:
            raise ModelMismatchError(f"{path}: ONNX Runtime cannot load it "
                                     f"({first_line(error)})") from None
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        self.with_mask = check_interface(inputs, [o.name for o in self.session.get_outputs()], path)
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(metadata)
        self.class_names = json.loads(metadata["class_names"]) if "class_names" in metadata else None
        shape = inputs["left_hand"]
        static_batch, static_length = _static(shape[0]), _static(shape[1])
        self.batch_range = ((static_batch, static_batch) if static_batch
                            else (1, int(max_batch) if max_batch else None))
        max_frames = int(metadata["max_frames"]) if "max_frames" in metadata else None
        self.length_range = (static_length, static_length) if static_length else (1, max_frames)

        # With the CUDA provider, inputs and logits stay in GPU memory (I/O binding) instead of a
        # round trip through numpy on every call.
        self.bind_device = (torch.device("cuda", self._cuda_device_id())
                            if self.session.get_providers()[0] == "CUDAExecutionProvider" else None)
        self.num_classes = int(metadata["num_classes"]) if "num_classes" in metadata else None

    def _cuda_device_id(self) -> int:
        options = self.session.get_provider_options().get("CUDAExecutionProvider", {})
        return int(options.get("device_id", 0))

    def _run(self, feeds, device):
        if self.bind_device is not None and self.num_classes is not None:
            return self._run_bound(feeds, self.bind_device).to(device)
        arrays = {name: t.detach().cpu().numpy() for name, t in feeds.items()}
        (logits,) = self.session.run([OUTPUT_NAME], arrays)
        return torch.from_numpy(logits).to(device)

    def _run_bound(self, feeds, target: torch.device) -> torch.Tensor:
        """One run with I/O binding: ONNX Runtime reads and writes torch tensors on ``target``."""
        binding = self.session.io_binding()
        index = target.index or 0
        kept = []   # the bound memory must outlive the run
        for name, tensor in feeds.items():
            tensor = tensor.detach().to(target).contiguous()
            kept.append(tensor)
            binding.bind_input(name, target.type, index, _NUMPY_DTYPES[tensor.dtype],
                               tuple(tensor.shape), tensor.data_ptr())
        logits = torch.empty((kept[0].shape[0], self.num_classes), dtype=torch.float32,
                             device=target)
        binding.bind_output(OUTPUT_NAME, target.type, index, np.float32, tuple(logits.shape),
                            logits.data_ptr())
        if target.type == "cuda":
            torch.cuda.current_stream(target).synchronize()   # inputs written by torch's stream
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return logits


_NUMPY_DTYPES = {torch.float32: np.float32, torch.bool: np.bool_}
