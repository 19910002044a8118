"""Capture the fused block's real kernel launches on a CPU, without running them on a GPU.

The kernel lab must see exactly what a GPU run would launch, whatever the kernel file looks
like today: every Triton launch is recorded, and the block runs through its public entry
(``CrossModalAttention(backend="triton")``, forward and ``backward()``), so new kernels, new
arguments, new constexprs (such as a dot-precision switch) and per-arch launch options are
picked up without naming them here. Launch options (``num_warps``, ``maxnreg``...) are the
keyword arguments that are not kernel parameters.

Launches are intercepted where every ``kernel[grid](...)`` ends up (``run`` of Triton's jit
classes), so the jit helpers and the module namespaces are never touched. Two ways to use it:

- ``capture_launches(..., execute=False)`` (kernels decorated without ``TRITON_INTERPRET``):
  launches are only recorded; what the compiler needs (signature, constexprs, options, grid).
- ``capture_launches(..., execute=True)`` (``TRITON_INTERPRET=1`` set before import): each
  launch also runs on the interpreter at the *GPU* tile sizes while every ``tl.dot`` is
  counted, which gives the executed multiply-adds per kernel including padding and recompute.
"""

import contextlib
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

# Keyword arguments of a launch that are compiler options, not kernel parameters.
LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion",
                  "launch_cooperative_grid", "launch_pdl", "debug")
TENSOR_TYPES = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.float16: "*fp16",
                torch.int8: "*i8", torch.int32: "*i32", torch.int64: "*i64", torch.uint8: "*u8",
                torch.bool: "*i1", torch.float64: "*fp64"}
FP32_PRECISIONS = ("highest", "high")


@dataclass
class Launch:
    """One recorded kernel launch."""

    name: str
    fn: object  # the JITFunction (compile mode) or InterpretedFunction (execute mode)
    phase: str  # "forward" or "backward"
    grid: tuple
    args: tuple
    constexprs: Dict[str, object]
    options: Dict[str, object]
    macs: int = 0  # executed multiply-adds of every tl.dot (execute mode)
    useful_macs: int = 0  # the same over operand rows/columns/depth that are not all zero
    dots: int = 0

    @property
    def programs(self) -> int:
        n = 1
        for g in self.grid:
            n *= int(g)
        return n

    def signature(self) -> Dict[str, str]:
        """Triton types of every parameter, as ``ASTSource`` wants them."""
        sig = {}
        arg_names = list(self.fn.arg_names)
        for name, a in zip(arg_names, self.args):
            if isinstance(a, torch.Tensor):
                sig[name] = TENSOR_TYPES[a.dtype]
            elif isinstance(a, bool):
                sig[name] = "i1"
            elif isinstance(a, float):
                sig[name] = "fp32"
            elif a is None:
                sig[name] = "constexpr"
            else:
                sig[name] = "i64" if abs(int(a)) >= 2 ** 31 else "i32"
        for name in self.constexprs:
            sig[name] = "constexpr"
        return {n: sig[n] for n in arg_names if n in sig}

    def all_constexprs(self) -> Dict[str, object]:
        out = dict(self.constexprs)
        for name, a in zip(self.fn.arg_names, self.args):
            if a is None:
                out[name] = None
        return out


@dataclass
class _State:
    launches: List[Launch] = field(default_factory=list)
    phase: str = "forward"
    current: Optional[Launch] = None


def _launch_classes():
    """The Triton classes whose ``run`` every ``kernel[grid](...)`` launch goes through."""
    from triton.runtime.jit import JITFunction
    classes = [JITFunction]
    try:
        from triton.runtime.interpreter import InterpretedFunction
        classes.append(InterpretedFunction)
    except ImportError:  # pragma: no cover
        pass
    return classes


def _record(kernel, state: _State, grid, args, kwargs) -> Launch:
    arg_names = list(kernel.arg_names)
    constexprs = {k: v for k, v in kwargs.items() if k in arg_names}
    options = {k: v for k, v in kwargs.items() if k not in arg_names}
    if callable(grid):
        grid = grid({**dict(zip(arg_names, args)), **constexprs})
    grid = tuple(int(x) for x in (grid if isinstance(grid, (tuple, list)) else (grid,)))
    name = getattr(kernel, "__name__", None) or kernel.fn.__name__
    launch = Launch(name, kernel, state.phase, grid, tuple(args), constexprs, options)
    state.launches.append(launch)
    return launch


@contextlib.contextmanager
def _count_dots(state: _State):
    """Count the multiply-adds of every ``tl.dot`` the interpreter executes."""
    import numpy as np
    from triton.runtime import interpreter
    builder_cls = interpreter.InterpreterBuilder
    original = builder_cls.create_dot

    def create_dot(self, a, b, d, *rest, **kw):
        rec = state.current
        if rec is not None:
            A, Bm = np.asarray(a.data), np.asarray(b.data)
            m, k = A.shape[-2], A.shape[-1]
            n = Bm.shape[-1]
            batch = int(np.prod(A.shape[:-2])) if A.ndim > 2 else 1
            rec.macs += batch * m * n * k
            rec.dots += 1
            a_nz = A != 0
            b_nz = Bm != 0
            rows = int(a_nz.any(axis=-1).reshape(-1, m).any(axis=0).sum())
            cols = int(b_nz.any(axis=-2).reshape(-1, n).any(axis=0).sum())
            depth = int((a_nz.any(axis=-2).reshape(-1, k).any(axis=0)
                         & b_nz.any(axis=-1).reshape(-1, k).any(axis=0)).sum())
            rec.useful_macs += batch * rows * cols * depth
        return original(self, a, b, d, *rest, **kw)

    builder_cls.create_dot = create_dot
    try:
        yield
    finally:
        builder_cls.create_dot = original


@contextlib.contextmanager
def recording(arch: int = 90, execute: bool = False, validate: bool = False,
              gpu_tiles: bool = True):
    """Record every Triton launch (``run`` of the jit classes is wrapped, so kernels launched
    through ``wrap_triton``, new kernels and new modules are all seen); run them only with
    ``execute``. ``torch.cuda`` reports compute capability ``arch``.

    ``gpu_tiles``: the kernel modules' ``_interpreting()`` answers False, so launchers pick the
    GPU tile sizes. ``validate=False`` disables their ``_validate`` (which refuses CPU tensors
    when the interpreter is off); the module's own input checks still run.
    """
    import slr_fused.kernels.cross_modal_attention  # noqa: F401 (load the kernel modules)
    state = _State()
    saved_runs = []
    for cls in _launch_classes():
        own = cls.__dict__.get("run")
        original = cls.run
        saved_runs.append((cls, own))

        def run(self, *args, grid, warmup, _original=original, **kwargs):
            if warmup:
                return _original(self, *args, grid=grid, warmup=warmup, **kwargs)
            launch = _record(self, state, grid, args, kwargs)
            if not execute:
                return None
            state.current = launch
            try:
                return _original(self, *args, grid=launch.grid, warmup=False, **kwargs)
            finally:
                state.current = None
        cls.run = run
    saved = []
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith("slr_fused.kernels") and mod is not None:
            if gpu_tiles and hasattr(mod, "_interpreting"):
                saved.append((mod, "_interpreting", mod._interpreting))
                mod._interpreting = lambda: False
            if not validate and hasattr(mod, "_validate"):
                saved.append((mod, "_validate", mod._validate))
                mod._validate = lambda *a, **k: None
    saved_cap = torch.cuda.get_device_capability
    torch.cuda.get_device_capability = lambda *a, **k: (arch // 10, arch % 10)
    # The launchers' per-architecture choices (launch options, tiles) read the capability of
    # the (CPU) input's device from this cache, not from torch.cuda.
    from slr_fused.kernels import cross_modal_launch
    saved_majors = dict(cross_modal_launch._CAPABILITY)
    cross_modal_launch._CAPABILITY[("cpu", None)] = arch // 10
    dots = _count_dots(state) if execute else contextlib.nullcontext()
    try:
        with dots:
            yield state
    finally:
        torch.cuda.get_device_capability = saved_cap
        cross_modal_launch._CAPABILITY.clear()
        cross_modal_launch._CAPABILITY.update(saved_majors)
        for mod, attr, value in reversed(saved):
            setattr(mod, attr, value)
        for cls, own in saved_runs:
            if own is None:
                del cls.run
            else:
                cls.run = own


def make_block(heads: int, dtype: torch.dtype, seed: int = 0, dropout: float = 0.0):
    """The default cross-modal block (all directions, gating) with ``heads`` heads."""
    from slr_fused.models.cross_modal import CrossModalAttention
    torch.manual_seed(seed)
    module = CrossModalAttention(num_heads=heads, backend="triton", dropout=dropout).to(dtype)
    return module


def make_inputs(module, B: int, T: int, dtype: torch.dtype, masked: bool, seed: int = 0,
                requires_grad: bool = False):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(B, T, module.dims[m], generator=g).to(dtype).requires_grad_(requires_grad)
             for m in ("lh", "rh", "body")]
    mask = None
    if masked:
        lengths = torch.randint(max(1, T // 2), T + 1, (B,), generator=g)
        lengths[0] = T
        mask = torch.arange(T)[None, :] >= lengths[:, None]
    return feats, mask


def capture_launches(heads: int, dtype: torch.dtype, B: int, T: int, arch: int = 90,
                     fp32_precision: str = "highest", masked: bool = True,
                     execute: bool = False, dropout: float = 0.0) -> List[Launch]:
    """Every kernel launch of one training forward + backward of the block, in order.

    ``dropout > 0``: the block trains with attention dropout, so the launches are the kernels'
    ``DROPOUT=True`` variants (what ``slr train --cross_attn_dropout`` runs).
    """
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(fp32_precision)
    try:
        module = make_block(heads, dtype, dropout=dropout).train()
        feats, mask = make_inputs(module, B, T, dtype, masked, requires_grad=True)
        with recording(arch, execute=execute) as state:
            outs = module(*feats, mask)
            state.phase = "backward"
            g = torch.Generator().manual_seed(1)
            loss = sum((o.float() * torch.randn(o.shape, generator=g)).sum()
                       for o in outs if o.requires_grad)
            loss.backward()
        return state.launches
    finally:
        torch.set_float32_matmul_precision(previous)
