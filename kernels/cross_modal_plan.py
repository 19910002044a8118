"""The parameter plan and packing of the cross-modal attention kernels.

:class:`CrossModalPlan` is everything the kernels specialise on, derived once from a module's
configuration. :func:`pack_parameters` defines the kernels' padded parameter layout with
differentiable torch ops (what ``torch.compile`` traces; eager calls pack with one Triton launch,
``cross_modal_pack``), and :func:`packed_parameters` caches the packing across no-grad calls.
"""

import math
import weakref
from dataclasses import dataclass, field
from typing import List, Tuple

import torch
import torch.nn.functional as F
import triton

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
MODALITY_CODES = {"lh": 0, "rh": 1, "body": 2}
MAP_DIRECTIONS = ("lh_from_rh", "rh_from_lh")


def _pad_dim(d: int) -> int:
    """The padded size of a ``tl.dot`` dimension: GPUs need >= 16 and Triton a power of two."""
    return max(16, triton.next_power_of_2(int(d)))


def _check_dot_dim(name: str, padded: int, actual: int) -> None:
    # Raised explicitly (not ``assert``) so that CPU CI under ``python -O`` still catches a
    # tile the interpreter would accept and a GPU would refuse to compile.
    if padded < 16 or padded & (padded - 1) or padded < actual:
        raise AssertionError(f"tl.dot dimension {name} = {padded} must be a power of two >= "
                             f"max(16, {actual})")


@dataclass(frozen=True)
class CrossModalPlan:
    """Everything the kernels specialise on, derived once from the module's configuration.

    targets: per target slot k, (modality, [(direction index, source modality)...]).
    sources: per modality slot j (every modality that is a source or a target),
        (modality, is_target, [(direction index, target modality)...]).
    maps: per map slot, (direction name, direction index).
    """

    dims: Tuple[Tuple[str, int], ...]
    directions: Tuple[Tuple[str, str], ...]
    heads: int
    gating: bool
    targets: Tuple[Tuple[str, Tuple[Tuple[int, str], ...]], ...]
    sources: Tuple[Tuple[str, bool, Tuple[Tuple[int, str], ...]], ...]
    maps: Tuple[Tuple[str, int], ...]
    eps: Tuple[Tuple[str, float], ...]
    dp: int
    dhp: int

    # What the launchers derive from the plan alone (launch constants, checked tile sizes),
    # computed once per key; no part of equality or hashing. (A field, not a cached_property:
    # Dynamo traces plans and cannot enter cached_property's lock.)
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def dim(self, m: str) -> int:
        return dict(self.dims)[m]

    def eps_of(self, m: str) -> float:
        return dict(self.eps)[m]

    def map_slot(self, e: int) -> int:
        return next((j for j, (_, idx) in enumerate(self.maps) if idx == e), -1)


def make_plan(module) -> CrossModalPlan:
    """The plan of a ``CrossModalAttention`` module (cached on its configuration)."""
    directions = tuple(tuple(p) for p in module.directions)
    eps = tuple((m, float(module.norms[m].eps)) for m in MODALITY_CODES if m in module.norms)
    return _make_plan(tuple((m, int(module.dims[m])) for m in MODALITY_CODES), directions,
                      int(module.num_heads), bool(module.use_gating), eps)


_PLANS = {}


def _make_plan(dims, directions, heads, gating, eps) -> CrossModalPlan:
    key = (dims, directions, heads, gating, eps)
    if torch.compiler.is_compiling():  # Dynamo must not see the cache's mutation
        return _build_plan(*key)
    if key not in _PLANS:
        _PLANS[key] = _build_plan(*key)
    return _PLANS[key]


def _build_plan(dims, directions, heads, gating, eps) -> CrossModalPlan:
    modalities = tuple(MODALITY_CODES)
    dim = dict(dims)
    targets = tuple(
        (m, tuple((e, s) for e, (t, s) in enumerate(directions) if t == m))
        for m in modalities if any(t == m for t, _ in directions))
    sources = tuple(
        (m, any(t == m for t, _ in directions),
         tuple((e, t) for e, (t, s) in enumerate(directions) if s == m))
        for m in modalities if any(m in p for p in directions))
    names = [f"{t}_from_{s}" for t, s in directions]
    maps = tuple((n, names.index(n)) for n in MAP_DIRECTIONS if n in names)
    if any(len(srcs) > 2 for _, srcs in targets):
        raise ValueError("cross-modal attention kernels support at most two sources per target")
    dp = _pad_dim(max(dim.values()))
    dhp = _pad_dim(max(dim[t] // heads for t, _ in directions))
    return CrossModalPlan(dims, directions, heads, gating, targets, sources, maps, eps, dp, dhp)


def plan_to_config(plan: CrossModalPlan) -> str:
    """The plan as a string, the form a ``torch.library`` op can take as an argument.

    Plain string formatting (no json) so that Dynamo can trace it under ``fullgraph=True``.
    """
    return "|".join([
        ",".join(f"{m}:{d}" for m, d in plan.dims),
        ",".join(f"{t}>{s}" for t, s in plan.directions),
        str(plan.heads), "1" if plan.gating else "0",
        ",".join(f"{m}:{e!r}" for m, e in plan.eps)])


def plan_from_config(config: str) -> CrossModalPlan:
    dims, directions, heads, gating, eps = config.split("|")
    pairs = [item.split(":") for item in dims.split(",")]
    eps_pairs = [item.split(":") for item in eps.split(",") if item]
    return _make_plan(tuple((m, int(d)) for m, d in pairs),
                      tuple(tuple(p.split(">")) for p in directions.split(",")), int(heads),
                      gating == "1", tuple((m, float(e)) for m, e in eps_pairs))


def _module_tensors(module, plan: CrossModalPlan) -> List[torch.Tensor]:
    """The parameters the packing reads, in the order :func:`_pack_tensors` expects."""
    tensors = []
    for t, s in plan.directions:
        name = f"{t}_from_{s}"
        proj, att = module.projections[name], module.attentions[name]
        tensors += [att.in_proj_weight, att.in_proj_bias, proj.weight, proj.bias,
                    att.out_proj.weight, att.out_proj.bias]
    for m, _ in plan.targets:
        if plan.gating:
            tensors += [module.gates[m].weight, module.gates[m].bias]
        tensors += [module.norms[m].weight, module.norms[m].bias]
    return tensors


def _pack_tensors(plan: CrossModalPlan, *tensors: torch.Tensor) -> List[torch.Tensor]:
    H, DP, DHP = plan.heads, plan.dp, plan.dhp
    packed = {n: [] for n in ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")}
    it = iter(tensors)

    def head_rows(w, dh):  # (H*dh, n) -> (H, DHP, DP)
        return F.pad(w.reshape(H, dh, w.shape[1]), (0, DP - w.shape[1], 0, DHP - dh))

    def head_bias(v, dh):
        return F.pad(v.reshape(H, dh), (0, DHP - dh))

    for t, _ in plan.directions:
        w_in, b_in, w_p, b_p, w_o, b_o = (next(it).float() for _ in range(6))
        d, dh = plan.dim(t), plan.dim(t) // H
        w_q, w_k, w_v = w_in.split(d)
        b_q, b_k, b_v = b_in.split(d)
        scale = 1.0 / math.sqrt(dh)
        packed["wq"].append(head_rows(w_q * scale, dh))
        packed["bq"].append(head_bias(b_q * scale, dh))
        packed["wk"].append(head_rows(w_k @ w_p, dh))
        packed["bk"].append(head_bias(w_k @ b_p + b_k, dh))
        packed["wv"].append(head_rows(w_v @ w_p, dh))
        packed["bv"].append(head_bias(w_v @ b_p + b_v, dh))
        packed["wo"].append(head_rows(w_o.t(), dh))
        packed["bo"].append(F.pad(b_o, (0, DP - d)))
    out = [torch.stack(packed[n]) for n in ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")]

    wg, bg, lnw, lnb = [], [], [], []
    for m, srcs in plan.targets:
        d, n_in = plan.dim(m), 1 + len(srcs)
        if plan.gating:
            w_g, b_g = next(it).float(), next(it).float()
            blocks = w_g.reshape(d, n_in, d).permute(1, 0, 2)
            wg.append(F.pad(blocks, (0, DP - d, 0, DP - d, 0, 3 - n_in)))
            bg.append(F.pad(b_g, (0, DP - d)))
        lnw.append(F.pad(next(it).float(), (0, DP - d)))
        lnb.append(F.pad(next(it).float(), (0, DP - d)))
    K = len(plan.targets)
    if plan.gating:
        out += [torch.stack(wg), torch.stack(bg)]
    else:  # never read by the kernels; a constant so no gradient is asked for
        out += [out[0].new_zeros(K, 3, DP, DP), out[0].new_zeros(K, DP)]
    out += [torch.stack(lnw), torch.stack(lnb)]
    return out


def pack_parameters(module, plan: CrossModalPlan) -> List[torch.Tensor]:
    """The module's parameters in the kernels' padded layout, built with differentiable ops.

    The definition of the layout, and what ``torch.compile`` traces (the registered op): Dynamo
    fuses it into a few kernels. Eager calls pack with one Triton launch instead
    (``cross_modal_pack``), checked against this function in the tests.

    Args:
        module: the ``CrossModalAttention`` whose parameters are read (never copied out of
            autograd: gradients of the packed tensors reach the original parameters).
        plan: from :func:`make_plan`.

    Returns:
        [wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, lnw, lnb], fp32:
        wq/wk/wv/wo (E, H, DHP, DP), bq/bk/bv (E, H, DHP), bo (E, DP), wg (K, 3, DP, DP),
        bg/lnw/lnb (K, DP). wq/bq carry the softmax scale, wk/bk and wv/bv the projection
        (``Wk Wp``, ``Wk bp + bk``), wo is stored transposed per head (``Wo[:, head]^T``).
    """
    return _pack_tensors(plan, *_module_tensors(module, plan))


class _ModuleState:
    """What a module's calls reuse: its plan, the tensors the packing reads, the last packing.

    Found again through a cheap configuration key, so a cached call never walks
    ``module.parameters()`` (a recursive generator over the ModuleDicts, tens of microseconds).
    ``device`` is the one device every parameter was on when last checked (:meth:`check_device`,
    run whenever the packing is rebuilt); the input checks compare against it.
    """

    __slots__ = ("config", "plan", "tensors", "versions", "packed", "device")

    def __init__(self, config, plan, tensors):
        self.config, self.plan, self.tensors = config, plan, tensors
        self.versions, self.packed, self.device = None, None, None

    def check_device(self) -> torch.device:
        """The parameters' one device (one clear error when they are spread over several)."""
        devices = {t.device for t in self.tensors}
        if len(devices) != 1:
            raise ValueError("cross_modal_attention_triton: the module's parameters must be on "
                             f"one device, got {sorted(str(d) for d in devices)}")
        self.device = devices.pop()
        return self.device


_MODULE_STATE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _module_state(module) -> _ModuleState:
    # Swapping a submodule of a module that already ran (rather than changing its parameters)
    # is not noticed; the configuration below is.
    # Tracing (torch.compile, torch.export) sees fake parameters: a state built then must not be
    # kept (later eager calls would read fakes), and a kept state must not hand real tensors in.
    tracing = torch.compiler.is_compiling()
    state = None if tracing else _MODULE_STATE.get(module)
    if state is not None and state.config[0] is module.num_heads \
            and state.config[1] is module.use_gating and state.config[2] is module.directions:
        return state
    config = (module.num_heads, module.use_gating, module.directions)
    if state is None or state.config[:2] != config[:2] \
            or tuple(map(tuple, state.config[2])) != tuple(map(tuple, config[2])):
        for name, att in module.attentions.items():
            if not att._qkv_same_embed_dim or att.in_proj_bias is None or att.bias_k is not None \
                    or att.add_zero_attn:
                raise ValueError(f"cross_modal_attention_triton: attention {name} must be a plain "
                                 "nn.MultiheadAttention with bias (as CrossModalAttention builds "
                                 "it)")
        plan = make_plan(module)
        state = _ModuleState(config, plan, _module_tensors(module, plan))
        state.check_device()
        if not tracing:
            _MODULE_STATE[module] = state
    else:  # same configuration, other objects (e.g. directions reassigned): keep the state
        state.config = config
    return state


def packed_parameters(module, plan: CrossModalPlan, state=None) -> List[torch.Tensor]:
    """The packed parameters for a call that needs no parameter gradient, cached.

    Inference reuses the packing while the parameters are unchanged: same storage and same
    version counter (an optimizer step, ``load_state_dict`` or any in-place update bumps the
    version; ``module.to``/``.half()`` change the storage). A cache hit launches nothing; a
    miss packs with two launches (``cat`` and the pack kernel).
    """
    state = state or _module_state(module)
    tensors = state.tensors
    # Every version counter (in-place updates), and the storage of the first and last tensor
    # (``module.to``/``.half()`` replace them all at once): a tuple of ints, no per-tensor calls.
    versions = (*[t._version for t in tensors], tensors[0].data_ptr(), tensors[-1].data_ptr())
    if state.packed is not None and state.versions == versions:
        return state.packed
    from .cross_modal_pack import flat_parameters, pack_forward
    state.check_device()
    with torch.no_grad():
        packed = pack_forward(plan, flat_parameters(tensors))
    state.versions, state.packed = versions, packed
    return packed


def _check_tiles(plan: CrossModalPlan, block_m: int, block_n: int) -> None:
    key = ("tiles checked", block_m, block_n)
    if key in plan.memo:
        return
    dims = dict(plan.dims)
    _check_dot_dim("DP (feature)", plan.dp, max(dims.values()))
    _check_dot_dim("DHP (head)", plan.dhp, max(dims[t] // plan.heads for t, _ in plan.directions))
    _check_dot_dim("BLOCK_M", block_m, 16)
    _check_dot_dim("BLOCK_N", block_n, 16)
    if not torch.compiler.is_compiling():
        plan.memo[key] = True
