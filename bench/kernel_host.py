"""Host-side cost of the fused block, measured on the CPU with the kernel launches stubbed.

On a GPU every aten op below autograd that computes something is (about) one CUDA kernel, views
and allocations launch none, and ``_local_scalar_dense`` (``.item()``, ``bool(t)``) is a
device-to-host sync. A ``TorchDispatchMode`` sees exactly those ops on the CPU, and the
launch recorder of :mod:`slr_fused.bench.kernel_capture` counts the Triton launches, so the
dispatch count of a GPU run can be read here. Python time is a cached no-grad call with every
launch replaced by a no-op: the overhead the GPU cannot hide.

Run with ``TRITON_INTERPRET=1`` set before Triton is imported (the kernel entry refuses CPU
tensors otherwise); the kernels themselves never run.
"""

import statistics
import time
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from slr_fused.bench.kernel_capture import capture_launches, make_block, make_inputs, recording

_ALLOCATIONS = {"empty", "empty_strided", "new_empty", "new_empty_strided", "empty_like"}
_NO_KERNEL = _ALLOCATIONS | {"detach", "lift_fresh", "alias", "set_", "resize_", "_reshape_alias",
                             "sym_size", "sym_stride", "sym_numel", "is_same_size",
                             "_has_compatible_shallow_copy_type", "is_nonzero"}
_SYNCS = {"_local_scalar_dense", "item"}
_REDUCTIONS = {"sum"}


class DispatchCounter(TorchDispatchMode):
    """Counts aten ops that would launch a kernel, device syncs, and scratch allocations."""

    def __init__(self):
        super().__init__()
        self.kernels = 0
        self.syncs = 0
        self.ops = {}
        self.allocated = {}  # data_ptr -> bytes, allocations since the last reset
        self.reduced_scratch = 0  # bytes of freshly allocated buffers fed to a reduction

    def reset(self):
        self.kernels = self.syncs = self.reduced_scratch = 0
        self.ops, self.allocated = {}, {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name in _SYNCS:
            self.syncs += 1
        elif not func.is_view and name not in _NO_KERNEL:
            self.kernels += 1
            self.ops[name] = self.ops.get(name, 0) + 1
        if name in _ALLOCATIONS and isinstance(out, torch.Tensor):
            self.allocated[out.data_ptr()] = out.untyped_storage().nbytes()
        if name in _REDUCTIONS and args and isinstance(args[0], torch.Tensor):
            self.reduced_scratch += self.allocated.pop(args[0].data_ptr(), 0)
        return out


@contextmanager
def _stubbed(arch=90, gpu_tiles=False):
    """Launches recorded, never run. ``gpu_tiles`` picks the GPU tile sizes (grid shapes); it
    needs the kernel entry's CPU check switched off, which the host timing must keep."""
    with recording(arch, execute=False, validate=not gpu_tiles, gpu_tiles=gpu_tiles) as state:
        yield state


@contextmanager
def _launches_skipped(names=None):
    """Every Triton launch returns at once, its kernel's name appended to ``names`` if given.

    Unlike the launch recorder this keeps no arguments: the recorder's bookkeeping would be
    timed, and the tensors it holds would make autograd copy gradients it could otherwise
    hand over (three ``copy_`` per backward no GPU run makes)."""
    from slr_fused.bench.kernel_capture import _launch_classes
    saved = [(cls, cls.__dict__.get("run")) for cls in _launch_classes()]

    def run(self, *args, **kwargs):
        if names is not None:
            names.append(getattr(self, "__name__", None) or self.fn.__name__)
    for cls, _ in saved:
        cls.run = run
    try:
        yield
    finally:
        for cls, own in saved:
            if own is None:
                del cls.run
            else:
                cls.run = own


def dispatch_counts(heads=3, B=32, T=204, dtype=torch.float32, masked=True, grads="loss",
                    module=None) -> dict:
    """Kernels and syncs of one training forward, its backward, and a cached no-grad call.

    ``grads``: "loss" back-propagates the sum of every output, as a training step's loss does
    (its sum and expanded gradients count too); "upstream" hands random gradients of the
    block's own outputs (not the inputs it passes through) to ``backward`` directly, so only
    the block's work is counted. ``module``: the block (default: ``make_block(heads, dtype)``).
    """
    if grads not in ("loss", "upstream"):
        raise ValueError(f"grads must be 'loss' or 'upstream', not {grads!r}")
    module = (module if module is not None else make_block(heads, dtype)).train()
    feats, mask = make_inputs(module, B, T, dtype, masked, requires_grad=True)
    counter = DispatchCounter()
    out = {}
    launches = []
    with _launches_skipped(launches):
        with counter:
            outs = module(*feats, mask)
        fwd_triton = len(launches)
        out["forward_aten"], out["forward_syncs"] = counter.kernels, counter.syncs
        out["forward_triton"] = fwd_triton
        out["forward_top_ops"] = sorted(counter.ops.items(), key=lambda kv: -kv[1])[:8]
        if grads == "upstream":
            outs = [o for o in outs if o.requires_grad and not any(o is f for f in feats)]
            ups = [torch.randn_like(o) for o in outs]
            backward = lambda: torch.autograd.backward(outs, ups)  # noqa: E731
        else:
            backward = sum(o.float().sum() for o in outs if o.requires_grad).backward
        counter.reset()
        with counter:
            backward()
        out["backward_aten"], out["backward_syncs"] = counter.kernels, counter.syncs
        out["backward_triton"] = len(launches) - fwd_triton
        out["backward_top_ops"] = sorted(counter.ops.items(), key=lambda kv: -kv[1])[:8]

        module.eval()
        feats = [f.detach() for f in feats]
        with torch.no_grad():
            module(*feats, mask)  # fills the packing cache
            counter.reset()
            n0 = len(launches)
            with counter:
                module(*feats, mask)
            out["cached_nograd_aten"], out["cached_nograd_syncs"] = counter.kernels, counter.syncs
            out["cached_nograd_triton"] = len(launches) - n0
    out["forward_kernels"] = out["forward_aten"] + out["forward_triton"]
    out["backward_kernels"] = out["backward_aten"] + out["backward_triton"]
    out["train_kernels"] = out["forward_kernels"] + out["backward_kernels"]
    out["train_syncs"] = out["forward_syncs"] + out["backward_syncs"]
    out["cached_nograd_kernels"] = out["cached_nograd_aten"] + out["cached_nograd_triton"]
    return out


def python_time_us(heads=3, B=32, T=204, dtype=torch.float32, masked=True, calls=300) -> dict:
    """Median wall time of a cached no-grad call with the launches stubbed (microseconds)."""
    module = make_block(heads, dtype).eval()
    feats, mask = make_inputs(module, B, T, dtype, masked)
    times = []
    with _launches_skipped(), torch.no_grad():
        for _ in range(100):
            module(*feats, mask)
        for _ in range(calls):
            t0 = time.perf_counter()
            module(*feats, mask)
            times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_us": round(statistics.median(times) * 1e6, 1),
            "p10_us": round(times[len(times) // 10] * 1e6, 1), "calls": calls}


def scratch_bytes(heads=3, B=128, T=256, dtype=torch.float32, arch=90) -> dict:
    """Memory the backward allocates (GPU tile sizes, so one row per GPU program).

    ``weight_grad_scratch``: buffers allocated in the backward and then reduced (the per-program
    partial sums of the weight gradients); ``backward_allocated``: everything the backward
    allocates that is not freed before a reduction, an upper bound on its temporaries.
    """
    module = make_block(heads, dtype).train()
    feats, mask = make_inputs(module, B, T, dtype, True, requires_grad=True)
    counter = DispatchCounter()
    with _stubbed(arch, gpu_tiles=True) as state:
        outs = module(*feats, mask)
        loss = sum(o.float().sum() for o in outs if o.requires_grad)
        n0 = len(state.launches)
        with counter:
            loss.backward()
    # The partial buffers may also be reduced by a Triton kernel (the parameter unpacking sums
    # them): fresh buffers handed to an *unpack* launch as its partials (d*_ptr) count too.
    for launch in state.launches[n0:]:
        if "unpack" in launch.name:
            storages = {a.untyped_storage().data_ptr()
                        for name, a in zip(launch.fn.arg_names, launch.args)
                        if isinstance(a, torch.Tensor) and name.startswith("d")
                        and name != "desc_ptr"}
            counter.reduced_scratch += sum(counter.allocated.pop(p, 0) for p in storages)
    left = sum(counter.allocated.values())
    return {"B": B, "T": T, "weight_grad_scratch": counter.reduced_scratch,
            "backward_allocated": counter.reduced_scratch + left}


def triton_launches(heads=3, B=32, T=204, dtype=torch.float32, arch=90) -> dict:
    """Triton launches per phase at GPU tile sizes (a cross-check of :func:`dispatch_counts`)."""
    launches = capture_launches(heads, dtype, B, T, arch)
    return {"forward": sum(lc.phase == "forward" for lc in launches),
            "backward": sum(lc.phase == "backward" for lc in launches)}
