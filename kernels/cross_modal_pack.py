"""Parameter packing of the cross-modal attention kernels in one Triton launch each way.

The attention kernels read the module's parameters in a padded, composed layout
(:func:`~slr_fused.kernels.cross_modal_plan.pack_parameters` is its plain-torch definition):
per direction the softmax scale folded into ``Wq``/``bq``, the projection composed into the
key/value weights (``Wk Wp``, ``Wk bp + bk``), ``Wo`` transposed per head, every head and feature
dimension zero-padded; per target the gate weight split into its input blocks. Built from torch
ops that is ~120 tiny kernels forward and as many backward, more launches than the whole eager
reference. Here it is:

- forward: the module's parameters gathered with one ``torch.cat`` of flattened views (its
  backward is free views), then :func:`pack_forward`: one launch of
  ``_cross_modal_attention_pack_kernel`` writes all twelve packed tensors (casting 16-bit
  parameters to fp32 on the way in);
- backward: :func:`pack_backward`: one launch of ``_cross_modal_attention_unpack_kernel`` sums
  the attention backward's per-program weight-gradient partials (see
  ``weight_gradient_shapes``), back-propagates the composition and the scale, and writes the
  gradient of the flat parameter vector in the parameters' dtype.

Which parameter sits where in the flat vector is a small int32 descriptor table (one row per
program: a direction or a target), built once per plan and device (:func:`pack_descriptor`).
Both kernels run one program per direction and one per target: the packed tensors are ~1 MB,
so the launch, not the arithmetic, is what counts. Composition dots are exact fp32
(``input_precision="ieee"``), as the torch definition computes them.
"""

from typing import Dict, List, Sequence

import torch
import triton
import triton.language as tl

from .cross_modal_launch import launch_options
from .cross_modal_plan import CrossModalPlan

# Descriptor columns. Direction rows: offsets (elements, in the flat parameter vector) of
# in_proj_weight (3d, d), in_proj_bias (3d), projection weight (d, ds) and bias (d), out_proj
# weight (d, d) and bias (d), then d and ds. Target rows: gate weight (d, n_in d) and bias (d),
# LayerNorm weight and bias (d), then d and n_in (the gate's input blocks).
DESC_COLUMNS = 8
# Rows of a head handled at once (a power of two <= every DHP, which is >= 16).
PACK_ROWS = 16
PACK_NAMES = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "wg", "bg", "lnw", "lnb")

# Tests set this to NaN (as the attention launchers' ``_POISON``): both kernels must write every
# element of what they return, so a forgotten one surfaces as NaN instead of stale memory.
_POISON = None


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------


@triton.jit
def _load_tile(ptr, rows, cols, row_stride, n_rows, n_cols):
    """fp32 (len(rows), len(cols)) tile of a row-major matrix, zero outside (n_rows, n_cols)."""
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    x = tl.load(ptr + rows[:, None] * row_stride + cols[None, :], mask=mask, other=0.0)
    return x.to(tl.float32)


@triton.jit
def _direction_row(flat_ptr, desc, H: tl.constexpr, DP: tl.constexpr):
    """What both kernels read first for a direction: its descriptor row (offsets, d, ds), its
    head dim dh and softmax scale, and its source projection Wp (DP, DP; Wp[i, c]) and bp (DP,)
    in fp32, zero-padded."""
    src_win, src_bin = tl.load(desc + 0), tl.load(desc + 1)
    src_wp, src_bp = tl.load(desc + 2), tl.load(desc + 3)
    src_wo, src_bo = tl.load(desc + 4), tl.load(desc + 5)
    d, ds = tl.load(desc + 6), tl.load(desc + 7)
    dh = d // H
    scale = 1.0 / tl.sqrt_rn(dh.to(tl.float32))
    inner = tl.arange(0, DP)
    wp = _load_tile(flat_ptr + src_wp, inner, inner, ds, d, ds)
    bp = tl.load(flat_ptr + src_bp + inner, mask=inner < d, other=0.0).to(tl.float32)
    return src_win, src_bin, src_wp, src_bp, src_wo, src_bo, d, ds, dh, scale, wp, bp


@triton.jit
def _pack_head_rows(flat_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, wo_ptr, wp, bp,
                    src_win, src_bin, src_wo, d, dh, scale, dst, h, rows, DHP: tl.constexpr,
                    DP: tl.constexpr):
    """Rows ``rows`` of head h of one direction: wq/bq (scaled), wk/bk and wv/bv (composed with
    the projection: W Wp and W bp + b), wo (transposed: wo[r, c] = Wo[c, h dh + r])."""
    cols = tl.arange(0, DP)
    ok = rows < dh
    head = h * dh + rows  # these rows of a (d, ...) weight
    tile = rows[:, None] * DP + cols[None, :]
    wq = _load_tile(flat_ptr + src_win + h * dh * d, rows, cols, d, dh, d)
    tl.store(wq_ptr + dst * DHP * DP + tile, wq * scale)
    bq = tl.load(flat_ptr + src_bin + head, mask=ok, other=0.0).to(tl.float32)
    tl.store(bq_ptr + dst * DHP + rows, bq * scale)
    wk = _load_tile(flat_ptr + src_win + (d + h * dh) * d, rows, cols, d, dh, d)
    tl.store(wk_ptr + dst * DHP * DP + tile, tl.dot(wk, wp, input_precision="ieee"))
    bk = tl.load(flat_ptr + src_bin + d + head, mask=ok, other=0.0).to(tl.float32)
    tl.store(bk_ptr + dst * DHP + rows, tl.sum(wk * bp[None, :], axis=1) + bk)
    wv = _load_tile(flat_ptr + src_win + (2 * d + h * dh) * d, rows, cols, d, dh, d)
    tl.store(wv_ptr + dst * DHP * DP + tile, tl.dot(wv, wp, input_precision="ieee"))
    bv = tl.load(flat_ptr + src_bin + 2 * d + head, mask=ok, other=0.0).to(tl.float32)
    tl.store(bv_ptr + dst * DHP + rows, tl.sum(wv * bp[None, :], axis=1) + bv)
    wo = tl.load(flat_ptr + src_wo + cols[None, :] * d + head[:, None],
                 mask=ok[:, None] & (cols[None, :] < d), other=0.0).to(tl.float32)
    tl.store(wo_ptr + dst * DHP * DP + tile, wo)


@triton.jit
def _cross_modal_attention_pack_kernel(
        flat_ptr,  # (N,) the module's parameters, flattened and concatenated (fp32/bf16/fp16)
        desc_ptr,  # (E + K, DESC_COLUMNS) int32, see pack_descriptor
        wq_ptr, bq_ptr,  # (E, H, DHP, DP), (E, H, DHP) fp32
        wk_ptr, bk_ptr,  # (E, H, DHP, DP), (E, H, DHP) fp32
        wv_ptr, bv_ptr,  # (E, H, DHP, DP), (E, H, DHP) fp32
        wo_ptr, bo_ptr,  # (E, H, DHP, DP), (E, DP) fp32
        wg_ptr, bg_ptr,  # (K, 3, DP, DP), (K, DP) fp32 (zeros when GATING is off)
        lnw_ptr, lnb_ptr,  # (K, DP), (K, DP) fp32
        E, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, GATING: tl.constexpr,
        ROWS: tl.constexpr):
    """Grid (E + K,): program p < E packs direction p, program E + k packs target k.

    Every element of the packed tensors is written, padding included (as zeros). A head's rows
    are handled ROWS at a time, so one head's tiles never exceed (ROWS, DP): with 1 head
    (DHP = 64) whole-head tiles spilled ~0.7 KB per thread on sm_90.
    """
    p = tl.program_id(0)
    desc = desc_ptr + p * 8  # DESC_COLUMNS
    chunk = tl.arange(0, ROWS)
    cols = tl.arange(0, DP)
    if p < E:
        e = p
        src_win, src_bin, src_wp, src_bp, src_wo, src_bo, d, ds, dh, scale, wp, bp = \
            _direction_row(flat_ptr, desc, H, DP)
        for h in range(H):
            for r0 in range(0, DHP, ROWS):
                rows = r0 + chunk
                _pack_head_rows(flat_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, wo_ptr,
                                wp, bp, src_win, src_bin, src_wo, d, dh, scale, e * H + h, h,
                                rows, DHP, DP)
        bo = tl.load(flat_ptr + src_bo + cols, mask=cols < d, other=0.0).to(tl.float32)
        tl.store(bo_ptr + e * DP + cols, bo)
    else:
        k = p - E
        src_wg, src_bg = tl.load(desc + 0), tl.load(desc + 1)
        src_lnw, src_lnb = tl.load(desc + 2), tl.load(desc + 3)
        d, n_in = tl.load(desc + 4), tl.load(desc + 5)
        feat = tl.arange(0, DP)
        square = feat[:, None] * DP + cols[None, :]
        for j in range(3):  # wg[k, j, r, c] = Wg[r, j d + c]: the block of input j
            blk = tl.zeros((DP, DP), dtype=tl.float32)
            if GATING:
                blk = _load_tile(flat_ptr + src_wg + j * d, feat, cols, n_in * d, d,
                                 tl.where(j < n_in, d, 0))
            tl.store(wg_ptr + (k * 3 + j) * DP * DP + square, blk)
        bg = tl.zeros((DP,), dtype=tl.float32)
        if GATING:
            bg = tl.load(flat_ptr + src_bg + cols, mask=cols < d, other=0.0).to(tl.float32)
        tl.store(bg_ptr + k * DP + cols, bg)
        lnw = tl.load(flat_ptr + src_lnw + cols, mask=cols < d, other=0.0).to(tl.float32)
        tl.store(lnw_ptr + k * DP + cols, lnw)
        lnb = tl.load(flat_ptr + src_lnb + cols, mask=cols < d, other=0.0).to(tl.float32)
        tl.store(lnb_ptr + k * DP + cols, lnb)


@triton.jit
def _sum_rows(ptr, R, row_size, offs, mask):
    """fp32 sum over the R rows of a contiguous (R, row_size) partial buffer at ``offs``."""
    acc = tl.load(ptr + offs, mask=mask, other=0.0)
    for r in range(1, R):
        acc += tl.load(ptr + r * row_size + offs, mask=mask, other=0.0)
    return acc


@triton.jit
def _unpack_composed(flat_ptr, grad_ptr, dw_ptr, db_ptr, dwp, dbp, wp, bp, src_win, src_bin,
                     off, d, h, dh, src, rows, R, w_size, b_size, DHP: tl.constexpr,
                     DP: tl.constexpr):
    """Backward of rows ``rows`` of head h's composed key (``off`` = d) or value (2 d) weights.

    w = W_h Wp and b = W_h bp + b_h, so dW_h = G Wp^T + gb bp^T, db_h = gb, and the projection
    collects dWp += W_h^T G, dbp += W_h^T gb. Returns the updated (dwp, dbp).
    """
    cols = tl.arange(0, DP)
    ok = rows < dh
    head = off + h * dh + rows
    tile = rows[:, None] * DP + cols[None, :]
    g = _sum_rows(dw_ptr, R, w_size, src * DHP * DP + tile, tile < DHP * DP)
    gb = _sum_rows(db_ptr, R, b_size, src * DHP + rows, rows < DHP)
    w = _load_tile(flat_ptr + src_win + (off + h * dh) * d, rows, cols, d, dh, d)
    dw = tl.dot(g, tl.trans(wp), input_precision="ieee") + gb[:, None] * bp[None, :]
    out_ty = grad_ptr.dtype.element_ty
    tl.store(grad_ptr + src_win + head[:, None] * d + cols[None, :], dw.to(out_ty),
             mask=ok[:, None] & (cols[None, :] < d))
    tl.store(grad_ptr + src_bin + head, gb.to(out_ty), mask=ok)
    dwp += tl.dot(tl.trans(w), g, input_precision="ieee")
    dbp += tl.sum(w * gb[:, None], axis=0)
    return dwp, dbp


@triton.jit
def _unpack_head_rows(flat_ptr, grad_ptr, dwq_ptr, dbq_ptr, dwo_ptr, src_win, src_bin, src_wo,
                      d, dh, scale, src, h, rows, R1, w_size, b_size, DHP: tl.constexpr,
                      DP: tl.constexpr):
    """Rows ``rows`` of head h: the gradients of Wq/bq (through the scale) and of Wo."""
    cols = tl.arange(0, DP)
    out_ty = grad_ptr.dtype.element_ty
    ok = rows < dh
    head = h * dh + rows
    tile = rows[:, None] * DP + cols[None, :]
    row_mask = ok[:, None] & (cols[None, :] < d)
    gq = _sum_rows(dwq_ptr, R1, w_size, src * DHP * DP + tile, tile < DHP * DP)
    tl.store(grad_ptr + src_win + head[:, None] * d + cols[None, :], (gq * scale).to(out_ty),
             mask=row_mask)
    gbq = _sum_rows(dbq_ptr, R1, b_size, src * DHP + rows, rows < DHP)
    tl.store(grad_ptr + src_bin + head, (gbq * scale).to(out_ty), mask=ok)
    go = _sum_rows(dwo_ptr, R1, w_size, src * DHP * DP + tile, tile < DHP * DP)
    tl.store(grad_ptr + src_wo + cols[None, :] * d + head[:, None], go.to(out_ty), mask=row_mask)


@triton.jit
def _cross_modal_attention_unpack_kernel(
        flat_ptr,  # (N,) the module's parameters, as given to the pack kernel
        desc_ptr,  # (E + K, DESC_COLUMNS) int32
        grad_ptr,  # (N,) out: the gradient of flat, in flat's dtype
        dwq_ptr, dbq_ptr,  # (R1, E, H, DHP, DP), (R1, E, H, DHP) fp32 partial sums
        dwk_ptr, dbk_ptr,  # (R2, E, H, DHP, DP), (R2, E, H, DHP)
        dwv_ptr, dbv_ptr,  # (R2, E, H, DHP, DP), (R2, E, H, DHP)
        dwo_ptr, dbo_ptr,  # (R1, E, H, DHP, DP), (R1, E, DP)
        dwg_ptr, dbg_ptr,  # (R1, K, 3, DP, DP), (R1, K, DP); unused when GATING is off
        dlnw_ptr, dlnb_ptr,  # (R1, K, DP), (R1, K, DP)
        E, K, R1, R2, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
        GATING: tl.constexpr, ROWS: tl.constexpr):
    """Grid (E + K,), as the pack kernel: the packing's backward, partial rows summed here
    (ROWS rows of a head at a time, as the pack kernel).

    Every element of the gradient is written once.
    """
    p = tl.program_id(0)
    desc = desc_ptr + p * 8  # DESC_COLUMNS
    chunk = tl.arange(0, ROWS)
    cols = tl.arange(0, DP)
    inner = tl.arange(0, DP)
    out_ty = grad_ptr.dtype.element_ty
    if p < E:
        e = p
        src_win, src_bin, src_wp, src_bp, src_wo, src_bo, d, ds, dh, scale, wp, bp = \
            _direction_row(flat_ptr, desc, H, DP)
        dwp = tl.zeros((DP, DP), dtype=tl.float32)
        dbp = tl.zeros((DP,), dtype=tl.float32)
        w_size, b_size = E * H * DHP * DP, E * H * DHP
        for h in range(H):
            src = e * H + h
            for r0 in range(0, DHP, ROWS):
                rows = r0 + chunk
                _unpack_head_rows(flat_ptr, grad_ptr, dwq_ptr, dbq_ptr, dwo_ptr, src_win, src_bin,
                                  src_wo, d, dh, scale, src, h, rows, R1, w_size, b_size, DHP, DP)
                dwp, dbp = _unpack_composed(flat_ptr, grad_ptr, dwk_ptr, dbk_ptr, dwp, dbp, wp,
                                            bp, src_win, src_bin, d, d, h, dh, src, rows, R2,
                                            w_size, b_size, DHP, DP)
                dwp, dbp = _unpack_composed(flat_ptr, grad_ptr, dwv_ptr, dbv_ptr, dwp, dbp, wp,
                                            bp, src_win, src_bin, 2 * d, d, h, dh, src, rows, R2,
                                            w_size, b_size, DHP, DP)
        tl.store(grad_ptr + src_wp + inner[:, None] * ds + cols[None, :], dwp.to(out_ty),
                 mask=(inner[:, None] < d) & (cols[None, :] < ds))
        tl.store(grad_ptr + src_bp + inner, dbp.to(out_ty), mask=inner < d)
        gbo = _sum_rows(dbo_ptr, R1, E * DP, e * DP + cols, cols < DP)
        tl.store(grad_ptr + src_bo + cols, gbo.to(out_ty), mask=cols < d)
    else:
        k = p - E
        src_wg, src_bg = tl.load(desc + 0), tl.load(desc + 1)
        src_lnw, src_lnb = tl.load(desc + 2), tl.load(desc + 3)
        d, n_in = tl.load(desc + 4), tl.load(desc + 5)
        vec = k * DP + cols
        if GATING:
            feat = tl.arange(0, DP)
            square = feat[:, None] * DP + cols[None, :]
            for j in range(3):
                blk = _sum_rows(dwg_ptr, R1, K * 3 * DP * DP, (k * 3 + j) * DP * DP + square,
                                square < DP * DP)
                tl.store(grad_ptr + src_wg + feat[:, None] * (n_in * d) + j * d + cols[None, :],
                         blk.to(out_ty),
                         mask=(feat[:, None] < d) & (cols[None, :] < tl.where(j < n_in, d, 0)))
            gbg = _sum_rows(dbg_ptr, R1, K * DP, vec, cols < DP)
            tl.store(grad_ptr + src_bg + cols, gbg.to(out_ty), mask=cols < d)
        glnw = _sum_rows(dlnw_ptr, R1, K * DP, vec, cols < DP)
        tl.store(grad_ptr + src_lnw + cols, glnw.to(out_ty), mask=cols < d)
        glnb = _sum_rows(dlnb_ptr, R1, K * DP, vec, cols < DP)
        tl.store(grad_ptr + src_lnb + cols, glnb.to(out_ty), mask=cols < d)


# ----------------------------------------------------------------------------------------------
# Launchers
# ----------------------------------------------------------------------------------------------


def flat_parameters(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The parameters as one vector: one ``cat`` forward, views backward."""
    return torch.cat([t.reshape(-1) for t in tensors])


def descriptor_rows(plan: CrossModalPlan) -> List[List[int]]:
    """The descriptor table as Python ints (see ``DESC_COLUMNS``), from the plan alone."""
    rows, offset = [], 0
    for t, s in plan.directions:
        d, ds = plan.dim(t), plan.dim(s)
        sizes = [3 * d * d, 3 * d, d * ds, d, d * d, d]
        starts = [offset + sum(sizes[:i]) for i in range(len(sizes))]
        rows.append(starts + [d, ds])
        offset += sum(sizes)
    for m, srcs in plan.targets:
        d, n_in = plan.dim(m), 1 + len(srcs)
        sizes = ([n_in * d * d, d] if plan.gating else [0, 0]) + [d, d]
        starts = [offset + sum(sizes[:i]) for i in range(len(sizes))]
        rows.append(starts + [d, n_in, 0, 0])
        offset += sum(sizes)
    return rows


_DESCRIPTORS: Dict[tuple, torch.Tensor] = {}


def pack_descriptor(plan: CrossModalPlan, device: torch.device) -> torch.Tensor:
    """The (E + K, DESC_COLUMNS) int32 descriptor on ``device``, copied there once."""
    key = (plan, device.type, device.index)
    desc = _DESCRIPTORS.get(key)
    if desc is None:
        desc = torch.tensor(descriptor_rows(plan), dtype=torch.int32, device=device)
        if not torch.compiler.is_compiling():
            _DESCRIPTORS[key] = desc
    return desc


def packed_shapes(plan: CrossModalPlan) -> Dict[str, tuple]:
    """Shapes of the packed tensors (see ``pack_parameters``), in the kernels' order."""
    E, K, H, DP, DHP = len(plan.directions), len(plan.targets), plan.heads, plan.dp, plan.dhp
    w, b = (E, H, DHP, DP), (E, H, DHP)
    return {"wq": w, "bq": b, "wk": w, "bk": b, "wv": w, "bv": b, "wo": w, "bo": (E, DP),
            "wg": (K, 3, DP, DP), "bg": (K, DP), "lnw": (K, DP), "lnb": (K, DP)}


def pack_forward(plan: CrossModalPlan, flat: torch.Tensor) -> List[torch.Tensor]:
    """Pack the flat parameter vector into the kernels' layout: one launch.

    Args:
        plan: from ``make_plan``.
        flat: (N,) contiguous, the concatenation of ``_module_tensors`` (fp32, bf16, fp16).

    Returns:
        [wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, lnw, lnb]: fp32 views of one buffer, equal to
        ``pack_parameters`` (gate blocks zero when gating is off).
    """
    shapes = packed_shapes(plan)
    sizes = [_numel(s) for s in shapes.values()]
    buf = _empty(sum(sizes), like=flat, dtype=torch.float32)
    packed = [part.view(shape) for part, shape in zip(buf.split(sizes), shapes.values())]
    E, K = len(plan.directions), len(plan.targets)
    _cross_modal_attention_pack_kernel[(E + K,)](
        flat, pack_descriptor(plan, flat.device), *packed, E, H=plan.heads, DHP=plan.dhp,
        DP=plan.dp, GATING=plan.gating, ROWS=PACK_ROWS, **launch_options("pack", flat.device))
    return packed


def pack_backward(plan: CrossModalPlan, flat: torch.Tensor,
                  partials: Sequence[torch.Tensor]) -> torch.Tensor:
    """The gradient of ``flat`` from the attention backward's weight-gradient partials.

    Args:
        plan, flat: as given to :func:`pack_forward`.
        partials: [dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo, dwg, dbg, dlnw, dlnb], each a
            contiguous fp32 (R, *packed shape) buffer of per-program partial sums (R rows per
            buffer: R1 for the query pass's, R2 for dwk/dbk/dwv/dbv); dwg/dbg None without
            gating. A reduced gradient is the case R = 1.

    Returns:
        (N,) gradient in ``flat``'s dtype.
    """
    dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo, dwg, dbg, dlnw, dlnb = partials
    if dwg is None:
        dwg, dbg = dwq, dbq  # never read
    grad = _empty(flat.numel(), like=flat, dtype=flat.dtype)
    E, K = len(plan.directions), len(plan.targets)
    _cross_modal_attention_unpack_kernel[(E + K,)](
        flat, pack_descriptor(plan, flat.device), grad, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo,
        dwg, dbg, dlnw, dlnb, E, K, dwq.shape[0], dwk.shape[0], H=plan.heads, DHP=plan.dhp,
        DP=plan.dp, GATING=plan.gating, ROWS=PACK_ROWS, **launch_options("unpack", flat.device))
    return grad


def _empty(n: int, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    out = torch.empty(n, device=like.device, dtype=dtype)
    if _POISON is not None:
        out.fill_(_POISON)
    return out


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ----------------------------------------------------------------------------------------------
# Autograd
# ----------------------------------------------------------------------------------------------


class CrossModalPackFunction(torch.autograd.Function):
    """The packing alone (flat vector -> packed tensors) with its reduced-gradient backward.

    The eager block fuses the unpacking into its own backward (partials summed by the unpack
    kernel); this Function serves callers that hold reduced gradients of the packed tensors.
    """

    @staticmethod
    def forward(ctx, plan, flat):
        ctx.plan = plan
        ctx.save_for_backward(flat)
        return tuple(pack_forward(plan, flat))

    @staticmethod
    def backward(ctx, *grads):
        (flat,) = ctx.saved_tensors
        plan = ctx.plan
        shapes = packed_shapes(plan)
        partials = []
        for g, (name, shape) in zip(grads, shapes.items()):
            if name in ("wg", "bg") and not plan.gating:
                partials.append(None)
            elif g is None:
                partials.append(torch.zeros((1, *shape), device=flat.device))
            else:
                partials.append(g.float().contiguous().unsqueeze(0))
        return None, pack_backward(plan, flat, partials)
