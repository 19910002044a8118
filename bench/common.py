"""The benchmark harness: what every ``slr bench`` command shares, written once.

A benchmark module (model_cost, deployment, ablation, quantization, kernels, kernel_stats) holds
only its own question: which configurations, which runtimes, which table. The rest is here:

* **providers**: ``setup(model, ctx) -> run(inputs)`` builds the callable that is timed, from a
  model and a :class:`Context` (device, shapes to accept, scratch folder, saved checkpoint);
  a provider that cannot run here raises :class:`Unavailable` with the reason, which the
  result lists instead of silently dropping the provider. :func:`setup_eager` and
  :func:`setup_compile` are the two every benchmark has.
* **inputs** of the model's own widths (:func:`input_dims`, :func:`random_inputs`), never a
  hard-coded shape;
* **interleaved paired timing** (:func:`measure_cell`): warm-up calls, then per repeat one call
  of every runner in turn, so a slow moment of a shared machine lands on all of them alike;
  statistics are medians with 20th/80th percentiles (:func:`summarize`) and ratios are paired
  per repeat (:func:`paired_ratio`);
* **one training step** (:func:`training_step`: forward, CMCL loss, backward, optimizer step),
  timed by the model-cost benchmark and by ``tests/bench/test_hot_paths.py``;
* **the environment record** (:func:`environment`: device, versions, threads, commit, date);
* **results**: ``<output>/<name>-<device>.{json,md}`` written atomically (:func:`write_result`),
  where ``--output`` defaults to ``bench-results/`` in the current directory
  (:data:`DEFAULT_OUTPUT`), never inside the installed package. The committed reference results
  live in the repository's ``bench/results/`` (:data:`REFERENCE_RESULTS`); regenerate one with
  ``--output bench/results`` from the repository root;
* **the command pattern**: each module has ``add_arguments(parser)`` and
  ``run_from_args(args)``; ``slr bench <name>`` (:mod:`.cli`) and ``python -m
  slr_fused.bench.<module>`` (:func:`standalone_main`) both call them.
"""

import argparse
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from slr_fused.atomic import atomic_write
from slr_fused.bench.timing import (bench_device, check_kernel, device_tag,  # noqa: F401
                                    environment, standalone_main, summarize, time_call)
from slr_fused.data.joints import FEATURE_DIMS, MODALITIES
from slr_fused.models.variants import MODEL_VARIANTS
from slr_fused.models.siformer import SiFormer, SiFormerConfig

DEFAULT_OUTPUT = "bench-results"
REFERENCE_RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = MODEL_VARIANTS[0][0]      # every overhead ratio is against it, measured in the same run

Inputs = Tuple[torch.Tensor, ...]
Runner = Callable[[Inputs], torch.Tensor]


# ----------------------------------------------------------------------------------------------
# Models and inputs
# ----------------------------------------------------------------------------------------------


def build_model(overrides: dict, num_classes: int, **model_settings) -> SiFormer:
    """A SiFormer of ``MODEL_VARIANTS``-style ``overrides`` (reference block unless asked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # head adjustment warnings: the configs are the seed's
        settings = {"kernel": "reference", **model_settings, **overrides}
        return SiFormer(SiFormerConfig(num_classes=num_classes, **settings))


def input_dims(model=None) -> Dict[str, int]:
    """Feature width per modality (lh, rh, body) that ``model`` takes.

    Read from the model itself (a SiFormer's positional tables, a cross-modal block's
    ``dims``); without a model, or for an exported one, the pose format's widths.
    """
    positional = getattr(model, "positional", None)
    if positional is not None:
        return {m: int(positional[m].shape[-1]) for m in MODALITIES}
    dims = getattr(model, "dims", None)
    if isinstance(dims, dict):
        return {m: int(dims[m]) for m in MODALITIES}
    return dict(FEATURE_DIMS)


def random_inputs(batch: int, length: int, seed: int = 0, device=None, scale: float = 0.3,
                  dims: Optional[Dict[str, int]] = None) -> Inputs:
    """(lh, rh, body) of shape (batch, length, width), N(0, scale^2), from a seeded generator.

    ``dims``: the widths (default: the pose format's; pass ``input_dims(model)``).
    """
    dims = dims or FEATURE_DIMS
    generator = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(batch, length, dims[m], generator=generator) * scale)
                 .to(device or "cpu") for m in MODALITIES)


# ----------------------------------------------------------------------------------------------
# Providers
# ----------------------------------------------------------------------------------------------


class Unavailable(RuntimeError):
    """A provider that cannot run on this machine; the message is the reason."""


@dataclasses.dataclass(frozen=True)
class Context:
    """What a provider's setup may need besides the model.

    ``length``/``max_batch``: the shapes an export must accept; ``scratch``: a folder for
    exported files; ``checkpoint``: the model saved there (for exporters that start from one).
    """

    device: torch.device = torch.device("cpu")
    length: Optional[int] = None
    max_batch: Optional[int] = None
    scratch: Optional[Path] = None
    checkpoint: Optional[Path] = None


def needs_cuda(ctx: Context, what: str, why: str = "") -> None:
    """Raise :class:`Unavailable` unless the benchmark runs on CUDA."""
    if ctx.device.type != "cuda":
        raise Unavailable(f"{what} runs on CUDA only{why}")


def no_grad_runner(fn: Callable) -> Runner:
    """``run(inputs) = fn(*inputs)`` without autograd (inference, as a deployment calls)."""
    def run(inputs):
        with torch.no_grad():
            return fn(*inputs)
    return run


def compile_static(fn: Callable, mode: Optional[str] = None) -> Callable:
    """``torch.compile`` with static shapes: each (batch, length) compiles during the warm-up
    calls, so compilation (tens of seconds per shape on a CPU) never enters the timed calls."""
    return torch.compile(fn, mode=mode, dynamic=False)


def setup_eager(model: torch.nn.Module, ctx: Context) -> Runner:
    """PyTorch eager, no_grad, on the context's device."""
    return no_grad_runner(model.to(ctx.device).eval())


def setup_compile(model: torch.nn.Module, ctx: Context) -> Runner:
    """``torch.compile`` (inductor; needs a C++ compiler on the CPU), static shapes, no_grad."""
    return no_grad_runner(compile_static(model.to(ctx.device).eval()))


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


def measure_cell(runners: Dict[object, Runner], inputs: Inputs, repeats: int,
                 warmup: int) -> Dict[object, List[float]]:
    """Interleaved timing of several runners on the same inputs: {key: [seconds]}.

    ``warmup`` calls of each first (compilation, caches), then ``repeats`` rounds in which every
    runner is called once, in turn.
    """
    for _ in range(warmup):
        for run in runners.values():
            run(inputs)
    samples = {key: [] for key in runners}
    for _ in range(repeats):
        for key, run in runners.items():
            samples[key].append(time_call(lambda: run(inputs)))
    return samples


def paired_ratio(values: Sequence[float], reference: Sequence[float]) -> Dict[str, float]:
    """Statistics of the per-repeat ratios ``values[i] / reference[i]`` (paired, same round)."""
    return summarize([v / r for v, r in zip(values, reference)])


def training_step(model, optimizer, criterion, inputs: Inputs, padding_mask, labels,
                  use_cmcl: bool):
    """One optimisation step: forward, CMCL loss (CE alone without ``use_cmcl``), backward,
    optimizer step. Returns the detached mean loss and the loss parts per sample."""
    output = model(*inputs, padding_mask, return_extras=use_cmcl)
    logits, extras = output if use_cmcl else (output, None)
    total, parts = criterion.per_sample(logits, labels, extras, padding_mask)
    loss = total.mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), parts


# ----------------------------------------------------------------------------------------------
# Results and the command pattern
# ----------------------------------------------------------------------------------------------


def add_output_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--output`` (folder, default bench-results/ here) and ``--name`` (file stem)."""
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"folder for the result files (default: {DEFAULT_OUTPUT}/ in the "
                             f"current directory; the repository's reference results: "
                             f"--output bench/results)")
    parser.add_argument("--name", default=name, help=f"file stem (default {name})")


def write_text(path, text: str) -> Path:
    """``text`` at ``path``, written atomically (a reader never sees half a file; parents
    created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda h: h.write(text.encode()))
    return path


def write_json(path, data, indent: int = 2) -> Path:
    """``data`` as indented JSON at ``path``, written atomically."""
    return write_text(path, json.dumps(data, indent=indent) + "\n")


def write_result(result: dict, output_dir, name: str,
                 markdown: Callable[[dict], str]) -> Dict[str, Path]:
    """``<output_dir>/<name>-<device>.json`` and ``.md`` (device from the environment record,
    e.g. ``cpu-2c``); returns the paths by suffix."""
    stem = Path(output_dir) / f"{name}-{result['environment']['device']}"
    paths = {"json": stem.with_suffix(".json"), "md": stem.with_suffix(".md")}
    write_json(paths["json"], result)
    write_text(paths["md"], markdown(result))
    return paths


def report(result: dict, paths: Dict[str, Path], markdown: Callable[[dict], str],
           log: Callable[[str], None] = print) -> Dict[str, Path]:
    """Print the table and where it went (the end of every ``run_from_args``)."""
    log(markdown(result))
    log("Wrote " + ", ".join(str(p) for p in paths.values()))
    return paths


def write_and_report(result: dict, args, markdown: Callable[[dict], str],
                     log: Callable[[str], None] = print) -> Dict[str, Path]:
    """:func:`write_result` to ``args.output``/``args.name``, then :func:`report`."""
    return report(result, write_result(result, args.output, args.name, markdown), markdown, log)


def command_main(module: str, doc: str, add_arguments, run_from_args) -> Callable[..., int]:
    """The ``main(argv=None)`` of ``python -m slr_fused.bench.<module>``: the same flags as
    ``slr bench``, exit 2 with one line on a ValueError."""
    def main(argv=None) -> int:
        return standalone_main(f"python -m slr_fused.bench.{module}", doc, add_arguments,
                               run_from_args, argv)
    return main
