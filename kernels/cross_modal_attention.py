"""Fused Triton kernels for the cross-modal attention block (BMHCMA).

The specification is ``CrossModalAttention.forward_reference`` in
``slr_fused.models.cross_modal``; this file only makes it fast. For every enabled direction
``e = (target i <- source j)`` and head ``h``:

    q = (H_i Wq_h^T + bq_h) / sqrt(head_dim)     k = H_j (Wk_h Wp)^T + (Wk_h bp + bk_h)  (v alike)
    o_h = softmax(q k^T, key padding) v                      f_e = sum_h o_h Wo_h^T + bo
    out_i = LayerNorm(H_i + sigmoid([H_i | f_e ...] Wg^T + bg) * sum_e f_e)    (gating off: no gate)

Parameters are read from the module and *packed* (defined by :func:`pack_parameters`; eager
calls run it as one Triton launch, ``cross_modal_pack``): the projection is composed into the
key/value weights (``Wk Wp``, ``Wk bp + bk``), the softmax scale is folded into ``Wq``/``bq``,
every head and feature dimension is zero-padded to ``max(16, next_power_of_2(d))`` so each
``tl.dot`` has a legal GPU shape, and the gate weight is split into its per-input blocks. The
unpack kernel turns the packed tensors' gradients back into the module's own parameters'
(through one ``cat``), so the state_dict and parameter names never change.

Tile widths: the packing pads every modality to one stride DP (the widest, 64), but the kernels'
feature tiles are only as wide as each modality's own padding (``_tile_widths``: hands 42 -> 64,
body 24 -> 32), reading the first columns of the packed rows: the body's products no longer
multiply 32 columns of zeros. Each kernel holds one copy of its program per distinct width
(constexprs WIDE/NARROW, a run-time branch on the slot's NW flag).

Launch plan (tiles held in fp32; softmax, LayerNorm statistics and every accumulation in fp32;
the dots' operands in the launch's precision ``PREC``, see :func:`dot_precision`: bf16/fp16
inputs multiply 16-bit operands on the tensor cores, fp32 inputs follow
``torch.get_float32_matmul_precision()``, exact fp32 under "highest", TF32 under "high"):

Forward, 2 launches (+1 when attention maps are requested):
  1. ``_cross_modal_attention_projection_kernel``, grid (row tiles, B, directions): Q (softmax
     scale folded in), K and V of every direction and head, once per frame, into one
     (E, 3, B, H, T, DHP) buffer in the dots' operand dtype. Nothing downstream recomputes them.
  2. ``_cross_modal_attention_forward_kernel``, grid (query tiles, B, targets): for one query
     tile of one target modality it streams the source's K/V tiles with an online softmax
     (P is never written), applies the output projection, the gate, the residual and the
     LayerNorm, and writes the output. Saves O (per direction and head, fp32) and the
     log-sum-exp of each softmax row. A row whose keys are all padding gets O = 0 (no host
     check, hence no device-to-host sync).
  3. ``_cross_modal_attention_maps_kernel`` (only with ``return_extras``), grid (query tiles, B,
     maps): the probabilities from Q, K and the saved log-sum-exp, written as the head-averaged
     maps of ``lh_from_rh`` and ``rh_from_lh``. The maps are differentiable: their gradient
     enters dP and Delta in the backward.
Backward, 3 launches:
  1. ``_cross_modal_attention_backward_query_kernel``, grid (query tiles, B, targets):
     recomputes the epilogue from H_i and the saved O (messages, gate, LayerNorm statistics),
     back-propagates LayerNorm, gate and output projection, writes dO and
     Delta = rowsum(dO * O) (plus the map-gradient term) and the epilogue's part of dH_i.
     Weight gradients of LayerNorm, gate and Wo go to fp32 partial buffers.
  2. ``_cross_modal_attention_backward_key_kernel``, grid (key tiles, B, modalities): for each
     direction where this modality is the source, one pass over the saved queries computes P
     (from the saved log-sum-exp) and dP once and from them dK, dV and this key tile's share of
     dQ (fp32 atomics into a zero-filled dq buffer; a separate dQ pass would recompute
     Q K^T and dO V^T, 2 of the backward's 5 attention products); dH_j = dK Wk + dV Wv, plus
     the epilogue's part from launch 1 when the modality is also a target, into dxq.
  3. ``_cross_modal_attention_backward_input_kernel``, grid (query tiles, B, modalities): dQ
     through Wq (the Wq/bq gradients and dQ Wq) added to dxq, written as the input gradients.
  The partial buffers (rows shared by programs, fp32 atomics) are summed by the unpack kernel
  (eager calls, ``cross_modal_pack``) or by ``torch.sum`` (the registered op).
  Launch options (``num_warps``, ``maxnreg``) per architecture: :data:`LAUNCH_OPTIONS`.

Around the launches: the parameter packing (``cat`` + one pack launch forward, one unpack
launch backward that also sums the weight-gradient partial buffers; cached across no-grad calls
while the parameters are unchanged) and the fill of the partial buffers; the padding mask is
viewed as int8 (no copy). A training forward+backward dispatches 8 kernels, a cached no-grad call
2, with no device-to-host sync. Alignment features of
``return_extras`` are computed with plain torch by ``module.alignment_features``, exactly as the
reference computes them (the projections are not written by the kernels).

Code size: every kernel selects its slot's pointers and sizes at run time (``_pick``) instead
of inlining one copy of the program per modality, which keeps the ptxas time of a
configuration at about half a minute instead of several minutes.

Attention dropout (module training with ``dropout > 0``, ``DROPOUT`` constexpr): one seed per
call from torch's CPU generator (:func:`dropout_arguments`, no device sync), saved for the
backward. Each probability's keep decision is ``tl.rand(seed, offset) >= p`` with the offset its
position in the (E, B, H, T, T) probability tensor (``_dropout_scale``), so the forward, the maps
and both backward passes regenerate the same mask without storing it (flash-attention's scheme;
the int32 offset wraps beyond 2^31 probabilities, which only correlates masks). Kept
probabilities are scaled by 1/(1-p); the log-sum-exp stays over the undropped scores. The maps
are the dropped probabilities, as ``nn.MultiheadAttention`` returns them. In the backward the
mask multiplies dP (and P in dV). :func:`dropout_keep_mask` returns the mask for tests.

Saved for backward: the inputs, the packed parameters, O (E, B, T, H, DHP) and the log-sum-exp
(E, B, H, T), both fp32, and Q/K/V (E, 3, B, H, T, DHP) in the dots' operand dtype.
Recomputed: the probabilities, the messages f_e, the gate and the LayerNorm statistics.

Entry points: :func:`cross_modal_attention_triton` (what ``CrossModalAttention.forward`` calls
with ``backend="triton"``; eager calls use :class:`CrossModalAttentionFunction`), and the
registered ``torch.ops.slr_fused.cross_modal_attention`` op (with a fake implementation and
``register_autograd``), which the same entry point uses under ``torch.compile`` so the compiled
graph holds one op. :func:`cross_modal_attention_flops` gives the analytic FLOP count.

Layout (read top-down like a Liger-Kernel op): this file holds the Triton kernels (projection,
forward, maps, backward), their launchers and the autograd Function with the entry point. Beside
it in ``kernels/``: ``cross_modal_jit.py`` (the small ``@triton.jit`` helpers and the ``PREC_*``
codes), ``cross_modal_plan.py`` (:class:`CrossModalPlan`, the packing's definition and its cache),
``cross_modal_pack.py`` (the pack and unpack kernels),
``cross_modal_launch.py`` (dot precision, tile sizes, launch options per architecture),
``cross_modal_op.py`` (the ``torch.library`` registration, imported at the end of this file) and
``cross_modal_flops.py`` (the FLOP count). Every public name (and the private ones tests and the
kernel lab use) is re-exported here, so ``slr_fused.kernels.cross_modal_attention`` stays the one
import. Patch ``_interpreting`` in ``cross_modal_launch`` (where ``dot_precision`` and
``_block_sizes`` look it up) and in this module (the launchers and ``_validate``).
"""

import math
from typing import Optional

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from .cross_modal_flops import cross_modal_attention_flops  # noqa: F401 (re-export)
from .cross_modal_jit import (MASK_VALUE, PREC_BF16, PREC_FP16, PREC_IEEE,  # noqa: F401
                              PREC_TF32, PRECISION_NAMES, _acc, _acc_rows, _head_b, _head_w,
                              _key_valid, _dropout_keep_kernel, _dropout_scale, _kv, _load_proj,  # noqa: F401
                              _load_rows, _mm, _out_proj_chunked, _pick, _pick3, _pick6,
                              _scores_chunked, _square_w, _store_proj,
                              _store_rows)
from .cross_modal_launch import (LAUNCH_OPTIONS, PROJECTION_DTYPES, _CAPABILITY,  # noqa: F401
                                 _DEFAULT_OPTIONS, _block_sizes, _capability_major,
                                 _interpreting, _tile_widths, dot_precision, head_chunk,
                                 launch_options, projection_rows)
from .cross_modal_pack import flat_parameters, pack_backward, pack_forward
from .cross_modal_plan import (MAP_DIRECTIONS, MODALITY_CODES, SUPPORTED_DTYPES,  # noqa: F401
                               CrossModalPlan, _check_dot_dim, _check_tiles,
                               _module_state, _pad_dim, make_plan, pack_parameters,
                               packed_parameters, plan_from_config, plan_to_config)


# ----------------------------------------------------------------------------------------------
# Projections
# ----------------------------------------------------------------------------------------------


@triton.jit
def _project_q(qkv_ptr, wq_ptr, bq_ptr, x_ptr, e, b, rows, T, B, D,
               H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
               PREC: tl.constexpr):
    """Q of every head of direction e from its target's (rows, W) tile."""
    x = _load_rows(x_ptr, b, rows, T, D, W)
    for h in range(H):
        q = (_mm(x, tl.trans(_head_w(wq_ptr, e, h, H, DHP, DP, W)), PREC)
             + _head_b(bq_ptr, e, h, H, DHP)[None, :])
        _store_proj(qkv_ptr, q, 0, e, b, h, rows, T, B, H, DHP)


@triton.jit
def _project_kv(qkv_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, s_ptr, e, b, rows, T, B, D,
                H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
                PREC: tl.constexpr):
    """K and V of every head of direction e from its source's (rows, W) tile (each stored
    before the next is computed: fewer live tiles)."""
    hs = _load_rows(s_ptr, b, rows, T, D, W)
    for h in range(H):
        k = (_mm(hs, tl.trans(_head_w(wk_ptr, e, h, H, DHP, DP, W)), PREC)
             + _head_b(bk_ptr, e, h, H, DHP)[None, :])
        _store_proj(qkv_ptr, k, 1, e, b, h, rows, T, B, H, DHP)
        v = (_mm(hs, tl.trans(_head_w(wv_ptr, e, h, H, DHP, DP, W)), PREC)
             + _head_b(bv_ptr, e, h, H, DHP)[None, :])
        _store_proj(qkv_ptr, v, 2, e, b, h, rows, T, B, H, DHP)


@triton.jit
def _cross_modal_attention_projection_kernel(
    qkv_ptr,  # (E, 3, B, H, T, DHP) out: Q (softmax scale folded in), K, V; dot dtype
    wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr,  # (E, H, DHP, DP), (E, H, DHP)
    lh_ptr, rh_ptr, body_ptr,  # (B, T, d) features
    T, B,
    T0: tl.constexpr, T1: tl.constexpr, T2: tl.constexpr,  # target modality code per direction
    T3: tl.constexpr, T4: tl.constexpr, T5: tl.constexpr,
    S0: tl.constexpr, S1: tl.constexpr, S2: tl.constexpr,  # source modality code per direction
    S3: tl.constexpr, S4: tl.constexpr, S5: tl.constexpr,
    D_LH: tl.constexpr, D_RH: tl.constexpr, D_BODY: tl.constexpr,
    NW_LH: tl.constexpr, NW_RH: tl.constexpr, NW_BODY: tl.constexpr,  # 1: tile width NARROW
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    WIDE: tl.constexpr, NARROW: tl.constexpr, BLOCK_M: tl.constexpr,
    PREC: tl.constexpr,
):
    """Q, K and V of every direction and head, once per frame. Grid: (cdiv(T, BLOCK_M), B, E).

    The attention kernels read these instead of recomputing K and V for every query tile
    (and Q again in the backward): each projection is computed once per frame and call.
    Each modality's rows are read at its own padded width (NARROW or WIDE, see
    :func:`_tile_widths`), not at the packing's DP.
    """
    pid = tl.program_id(0)
    b = tl.program_id(1)
    e = tl.program_id(2)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    t = _pick6(e, T0, T1, T2, T3, T4, T5)
    s = _pick6(e, S0, S1, S2, S3, S4, S5)
    x_ptr = _pick3(t, lh_ptr, rh_ptr, body_ptr)
    dt = _pick3(t, D_LH, D_RH, D_BODY)
    s_ptr = _pick3(s, lh_ptr, rh_ptr, body_ptr)
    ds = _pick3(s, D_LH, D_RH, D_BODY)
    if NARROW < WIDE:
        if _pick3(t, NW_LH, NW_RH, NW_BODY) == 1:
            _project_q(qkv_ptr, wq_ptr, bq_ptr, x_ptr, e, b, rows, T, B, dt, H, DHP, DP, NARROW,
                       PREC)
        else:
            _project_q(qkv_ptr, wq_ptr, bq_ptr, x_ptr, e, b, rows, T, B, dt, H, DHP, DP, WIDE,
                       PREC)
        if _pick3(s, NW_LH, NW_RH, NW_BODY) == 1:
            _project_kv(qkv_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, s_ptr, e, b, rows, T, B, ds, H,
                        DHP, DP, NARROW, PREC)
        else:
            _project_kv(qkv_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, s_ptr, e, b, rows, T, B, ds, H,
                        DHP, DP, WIDE, PREC)
    else:
        _project_q(qkv_ptr, wq_ptr, bq_ptr, x_ptr, e, b, rows, T, B, dt, H, DHP, DP, WIDE, PREC)
        _project_kv(qkv_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, s_ptr, e, b, rows, T, B, ds, H, DHP,
                    DP, WIDE, PREC)


# ----------------------------------------------------------------------------------------------
# Forward
# ----------------------------------------------------------------------------------------------


@triton.jit
def _fwd_direction(
    x,  # (BLOCK_M, W) fp32 target rows
    src_ptr,  # (B, T, DS) source features
    mask_ptr,  # (B, T) int8, 1 = padding
    wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr,  # (E, H, DHP, DP), (E, H, DHP)
    wo_ptr,  # (E, H, DHP, DP): Wo_h^T
    bo_ptr,  # (E, DP)
    o_ptr,  # (E, B, T, H, DHP) fp32, saved for backward
    lse_ptr,  # (E, B, H, T) fp32, saved for backward
    qkv_ptr,  # (E, 3, B, H, T, DHP) from the projection kernel
    b, rows, T, B, e, DS, seed, p_drop,
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr, DC: tl.constexpr,
):
    """Message f_e (BLOCK_M, W) of one direction for one query tile, all heads (W: the
    target's padded width)."""
    offs_h = tl.arange(0, DHP)
    offs_d = tl.arange(0, W)
    row_ok = rows < T
    f = tl.zeros([BLOCK_M, W], dtype=tl.float32) + tl.load(bo_ptr + e * DP + offs_d)[None, :]
    for h in range(H):
        q = _load_proj(qkv_ptr, 0, e, b, h, rows, T, B, H, DHP)
        m_i = tl.zeros([BLOCK_M], dtype=tl.float32) + MASK_VALUE
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, DHP], dtype=tl.float32)
        for start in range(0, T, BLOCK_N):
            cols = start + tl.arange(0, BLOCK_N)
            if DC == DHP:
                k = _load_proj(qkv_ptr, 1, e, b, h, cols, T, B, H, DHP)
            v = _load_proj(qkv_ptr, 2, e, b, h, cols, T, B, H, DHP)
            if DC == DHP:
                s = _mm(q, tl.trans(k), PREC)
            else:
                s = _scores_chunked(qkv_ptr, e, b, h, rows, cols, T, B, H, DHP, DC, PREC)
            s = tl.where(_key_valid(mask_ptr, b, cols, T, HAS_MASK)[None, :], s, MASK_VALUE)
            m_new = tl.maximum(m_i, tl.max(s, 1))
            alpha = tl.exp(m_i - m_new)
            p = tl.exp(s - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, 1)  # the normaliser is over undropped scores
            if DROPOUT:
                p = p * _dropout_scale(seed, p_drop, e, b, h, rows, cols, T, B, H)
            acc = acc * alpha[:, None] + _mm(p, v, PREC)
            m_i = m_new
        # A sample whose keys are all padding attends to nothing: O = 0 (flash-attention's
        # convention; the reference would give NaN). Its log-sum-exp is set to 0 so that every
        # probability recomputed from it, exp(MASK_VALUE - 0), is 0 in the maps and backward.
        # Checked here rather than on the host: no device-to-host sync per call.
        has_key = m_i > MASK_VALUE
        o = tl.where(has_key[:, None], acc / l_i[:, None], 0.0)
        lse = tl.where(has_key, m_i + tl.log(l_i), 0.0)
        tl.store(o_ptr + (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs_h[None, :], o,
                 mask=row_ok[:, None])
        tl.store(lse_ptr + ((e * B + b) * H + h) * T + rows, lse, mask=row_ok)
        if DC == DHP:
            f += _mm(o, _head_w(wo_ptr, e, h, H, DHP, DP, W), PREC)
        else:
            f = _out_proj_chunked(f, o_ptr, wo_ptr, e, b, h, rows, T, B, H, DHP, DP, W, DC, PREC)
    return f


@triton.jit
def _fwd_target(
    x_ptr, s0_ptr, s1_ptr, out_ptr, mask_ptr,
    wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, wo_ptr, bo_ptr,
    wg_ptr,  # (K, 3, DP, DP): gate weight blocks for [H_i | f_0 | f_1]
    bg_ptr, lnw_ptr, lnb_ptr,  # (K, DP)
    o_ptr, lse_ptr, qkv_ptr, eps, pid_q, b, T, B,
    k, D, NSRC, E0, DS0, E1, DS1, seed, p_drop,
    GATING: tl.constexpr, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    W: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr, DC: tl.constexpr,
):
    """One target's query tile; its feature tiles are W wide (its own padded width)."""
    offs_d = tl.arange(0, W)
    dmask = offs_d < D
    rows = pid_q * BLOCK_M + tl.arange(0, BLOCK_M)
    x = _load_rows(x_ptr, b, rows, T, D, W)
    f0 = _fwd_direction(x, s0_ptr, mask_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr,
                        wo_ptr, bo_ptr, o_ptr, lse_ptr, qkv_ptr, b, rows, T, B, E0, DS0, seed, p_drop, H,
                        DHP, DP, W, BLOCK_M, BLOCK_N, HAS_MASK, PREC, DROPOUT, DC)
    # With one source f1 stays zero and the packed gate's third block is zero padding.
    f1 = tl.zeros([BLOCK_M, W], dtype=tl.float32)
    if NSRC == 2:
        f1 = _fwd_direction(x, s1_ptr, mask_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr,
                            wo_ptr, bo_ptr, o_ptr, lse_ptr, qkv_ptr, b, rows, T, B, E1, DS1, seed, p_drop, H,
                            DHP, DP, W, BLOCK_M, BLOCK_N, HAS_MASK, PREC, DROPOUT, DC)
    total = f0 + f1
    if GATING:
        z = (_mm(x, tl.trans(_square_w(wg_ptr, k * 3, DP, W)), PREC)
             + _mm(f0, tl.trans(_square_w(wg_ptr, k * 3 + 1, DP, W)), PREC)
             + _mm(f1, tl.trans(_square_w(wg_ptr, k * 3 + 2, DP, W)), PREC)
             + tl.load(bg_ptr + k * DP + offs_d)[None, :])
        total = total * tl.sigmoid(z)
    y = tl.where(dmask[None, :], x + total, 0.0)
    mean = tl.sum(y, 1) / D
    yc = tl.where(dmask[None, :], y - mean[:, None], 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(yc * yc, 1) / D + eps)
    out = (yc * rstd[:, None] * tl.load(lnw_ptr + k * DP + offs_d)[None, :]
           + tl.load(lnb_ptr + k * DP + offs_d)[None, :])
    _store_rows(out_ptr, out, b, rows, T, D, W)


@triton.jit
def _cross_modal_attention_forward_kernel(
    mask_ptr,  # (B, T) int8, 1 = padding (unused without HAS_MASK)
    wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr,  # (E, H, DHP, DP), (E, H, DHP)
    wo_ptr,  # (E, H, DHP, DP)
    bo_ptr,  # (E, DP)
    wg_ptr,  # (K, 3, DP, DP)
    bg_ptr, lnw_ptr, lnb_ptr,  # (K, DP)
    o_ptr,  # (E, B, T, H, DHP) fp32
    lse_ptr,  # (E, B, H, T) fp32
    qkv_ptr,  # (E, 3, B, H, T, DHP) from the projection kernel
    x0_ptr, a0_ptr, c0_ptr, out0_ptr, eps0,  # target slot 0: (B, T, D0), sources, output
    x1_ptr, a1_ptr, c1_ptr, out1_ptr, eps1,  # target slot 1
    x2_ptr, a2_ptr, c2_ptr, out2_ptr, eps2,  # target slot 2
    T, B,
    seed, p_drop,  # attention dropout: RNG seed and drop probability (used with DROPOUT)
    D0: tl.constexpr, N0: tl.constexpr, E00: tl.constexpr, DS00: tl.constexpr,
    E01: tl.constexpr, DS01: tl.constexpr,
    D1: tl.constexpr, N1: tl.constexpr, E10: tl.constexpr, DS10: tl.constexpr,
    E11: tl.constexpr, DS11: tl.constexpr,
    D2: tl.constexpr, N2: tl.constexpr, E20: tl.constexpr, DS20: tl.constexpr,
    E21: tl.constexpr, DS21: tl.constexpr,
    NW0: tl.constexpr, NW1: tl.constexpr, NW2: tl.constexpr,  # 1: slot's tiles NARROW wide
    GATING: tl.constexpr, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    WIDE: tl.constexpr, NARROW: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
    DC: tl.constexpr,  # head-dim chunk of the exact-fp32 score and output dots (head_chunk)
):
    """The whole block's forward. Grid: (cdiv(T, BLOCK_M), B, K) with K = number of targets.

    Each program owns one query tile of one target modality (slot k) and runs every direction
    into it, so the gate and the LayerNorm see all messages without a round trip to memory.
    Per slot k (unused slots get dummies): D{k} target width, N{k} number of sources (1 or 2),
    E{k}{s} the direction index of source s, DS{k}{s} the source's width, NW{k} whether the
    target's tiles are NARROW (else WIDE) wide: one copy of the program per distinct width.
    """
    pid_q = tl.program_id(0)
    b = tl.program_id(1)
    k = tl.program_id(2)
    x_ptr = _pick(k, x0_ptr, x1_ptr, x2_ptr)
    s0_ptr = _pick(k, a0_ptr, a1_ptr, a2_ptr)
    s1_ptr = _pick(k, c0_ptr, c1_ptr, c2_ptr)
    out_ptr = _pick(k, out0_ptr, out1_ptr, out2_ptr)
    eps = _pick(k, eps0, eps1, eps2)
    D = _pick(k, D0, D1, D2)
    NSRC = _pick(k, N0, N1, N2)
    E0 = _pick(k, E00, E10, E20)
    DS0 = _pick(k, DS00, DS10, DS20)
    E1 = _pick(k, E01, E11, E21)
    DS1 = _pick(k, DS01, DS11, DS21)
    narrow = _pick(k, NW0, NW1, NW2) == 1
    if NARROW < WIDE and narrow:
        _fwd_target(x_ptr, s0_ptr, s1_ptr, out_ptr, mask_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr,
                    wv_ptr, bv_ptr, wo_ptr, bo_ptr, wg_ptr, bg_ptr, lnw_ptr, lnb_ptr, o_ptr,
                    lse_ptr, qkv_ptr, eps, pid_q, b, T, B, k, D, NSRC, E0, DS0, E1, DS1, seed,
                    p_drop, GATING, H, DHP, DP, NARROW, BLOCK_M, BLOCK_N, HAS_MASK, PREC, DROPOUT,
                    DC)
    else:
        _fwd_target(x_ptr, s0_ptr, s1_ptr, out_ptr, mask_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr,
                    wv_ptr, bv_ptr, wo_ptr, bo_ptr, wg_ptr, bg_ptr, lnw_ptr, lnb_ptr, o_ptr,
                    lse_ptr, qkv_ptr, eps, pid_q, b, T, B, k, D, NSRC, E0, DS0, E1, DS1, seed,
                    p_drop, GATING, H, DHP, DP, WIDE, BLOCK_M, BLOCK_N, HAS_MASK, PREC, DROPOUT,
                    DC)


@triton.jit
def _maps_one(
    x_ptr, src_ptr, mask_ptr, map_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr, lse_ptr,
    qkv_ptr, pid_q, b, T, B, seed, p_drop,
    j: tl.constexpr, e: tl.constexpr, D: tl.constexpr, DS: tl.constexpr, H: tl.constexpr,
    DHP: tl.constexpr, DP: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_MASK: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    rows = pid_q * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < T
    for start in range(0, T, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        valid = row_ok[:, None] & _key_valid(mask_ptr, b, cols, T, HAS_MASK)[None, :]
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        for h in range(H):
            q = _load_proj(qkv_ptr, 0, e, b, h, rows, T, B, H, DHP)
            kk = _load_proj(qkv_ptr, 1, e, b, h, cols, T, B, H, DHP)
            lse = tl.load(lse_ptr + ((e * B + b) * H + h) * T + rows, mask=row_ok, other=0.0)
            s = tl.where(valid, _mm(q, tl.trans(kk), PREC) - lse[:, None], MASK_VALUE)
            if DROPOUT:  # nn.MultiheadAttention returns the dropped probabilities
                acc += tl.exp(s) * _dropout_scale(seed, p_drop, e, b, h, rows, cols, T, B, H)
            else:
                acc += tl.exp(s)
        tl.store(map_ptr + ((j * B + b) * T + rows[:, None]) * T + cols[None, :],
                 (acc / H).to(map_ptr.dtype.element_ty),
                 mask=row_ok[:, None] & (cols < T)[None, :])


@triton.jit
def _cross_modal_attention_maps_kernel(
    mask_ptr,  # (B, T) int8
    map_ptr,  # (NMAP, B, T, T) output, head-averaged probabilities
    wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr, bv_ptr,  # packed as in the forward kernel
    lse_ptr,  # (E, B, H, T) fp32 from the forward kernel
    qkv_ptr,  # (E, 3, B, H, T, DHP) from the projection kernel
    x0_ptr, s0_ptr,  # map 0: target and source features (B, T, D)
    x1_ptr, s1_ptr,  # map 1
    T, B, seed, p_drop,
    E0: tl.constexpr, D0: tl.constexpr, DS0: tl.constexpr,
    E1: tl.constexpr, D1: tl.constexpr, DS1: tl.constexpr,
    NMAP: tl.constexpr, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """Head-averaged attention maps. Grid: (cdiv(T, BLOCK_M), B, NMAP).

    A separate launch because it needs the final log-sum-exp of every head, which the forward
    kernel only knows after its online softmax has seen the last key.
    """
    pid_q = tl.program_id(0)
    b = tl.program_id(1)
    j = tl.program_id(2)
    if j == 0:
        _maps_one(x0_ptr, s0_ptr, mask_ptr, map_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr,
                  bv_ptr, lse_ptr, qkv_ptr, pid_q, b, T, B, seed, p_drop, 0, E0, D0, DS0, H, DHP, DP,
                  BLOCK_M, BLOCK_N, HAS_MASK, PREC, DROPOUT)
    if NMAP > 1:
        if j == 1:
            _maps_one(x1_ptr, s1_ptr, mask_ptr, map_ptr, wq_ptr, bq_ptr, wk_ptr, bk_ptr, wv_ptr,
                      bv_ptr, lse_ptr, qkv_ptr, pid_q, b, T, B, seed, p_drop, 1, E1, D1, DS1, H, DHP, DP,
                      BLOCK_M, BLOCK_N, HAS_MASK, PREC, DROPOUT)



# ----------------------------------------------------------------------------------------------
# Backward
# ----------------------------------------------------------------------------------------------


@triton.jit
def _recompute_message(o_ptr, wo_ptr, bo_ptr, b, rows, T, B, e, H: tl.constexpr,
                       DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
                       BLOCK_M: tl.constexpr, PREC: tl.constexpr):
    offs_h = tl.arange(0, DHP)
    offs_d = tl.arange(0, W)
    f = tl.zeros([BLOCK_M, W], dtype=tl.float32) + tl.load(bo_ptr + e * DP + offs_d)[None, :]
    for h in range(H):
        o = tl.load(o_ptr + (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs_h[None, :],
                    mask=(rows < T)[:, None], other=0.0)
        f += _mm(o, _head_w(wo_ptr, e, h, H, DHP, DP, W), PREC)
    return f


@triton.jit
def _bwd_direction_query(
    df,  # (BLOCK_M, W) fp32 gradient of the message f_e
    mask_ptr, wo_ptr,
    o_ptr, lse_ptr, qkv_ptr,  # saved by the forward
    do_ptr,  # (E, B, T, H, DHP) fp32 out: dO for the key pass
    delta_ptr,  # (E, B, H, T) fp32 out
    dmap_ptr,  # (NMAP, B, T, T) fp32 gradient of the maps (unused unless MAP >= 0)
    dwo_ptr,  # (R, E, H, DHP, DP) fp32 partials
    dbo_ptr,  # (R, E, DP)
    prow, NE, b, rows, T, B, e, MAP, seed, p_drop,
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_DMAP: tl.constexpr, PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """dO and Delta of one direction (the dQ pass runs in the key kernel, which has P and dP)."""
    offs_h = tl.arange(0, DHP)
    offs_d = tl.arange(0, W)
    row_ok = rows < T
    _acc(dbo_ptr + (prow * NE + e) * DP + offs_d, tl.sum(df, 0))
    for h in range(H):
        o = tl.load(o_ptr + (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs_h[None, :],
                    mask=row_ok[:, None], other=0.0)
        w_off = ((prow * NE + e) * H + h) * DHP
        _acc(dwo_ptr + (w_off + offs_h[:, None]) * DP + offs_d[None, :], _mm(tl.trans(o), df, PREC))
        do = _mm(df, tl.trans(_head_w(wo_ptr, e, h, H, DHP, DP, W)), PREC)
        tl.store(do_ptr + (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs_h[None, :], do,
                 mask=row_ok[:, None])
        delta = tl.sum(do * o, 1)
        if HAS_DMAP:
            if MAP >= 0:
                # The map is the head average, so each head's probabilities get dA / H on top of
                # dO V^T, and Delta = rowsum(P * dP) needs a pass over the keys for that term.
                q = _load_proj(qkv_ptr, 0, e, b, h, rows, T, B, H, DHP)
                lse = tl.load(lse_ptr + ((e * B + b) * H + h) * T + rows, mask=row_ok, other=0.0)
                extra = tl.zeros([BLOCK_M], dtype=tl.float32)
                for start in range(0, T, BLOCK_N):
                    cols = start + tl.arange(0, BLOCK_N)
                    valid = row_ok[:, None] & _key_valid(mask_ptr, b, cols, T, HAS_MASK)[None, :]
                    kk = _load_proj(qkv_ptr, 1, e, b, h, cols, T, B, H, DHP)
                    p = tl.exp(tl.where(valid, _mm(q, tl.trans(kk), PREC) - lse[:, None], MASK_VALUE))
                    da = tl.load(dmap_ptr + ((MAP * B + b) * T + rows[:, None]) * T + cols[None, :],
                                 mask=valid, other=0.0)
                    if DROPOUT:
                        da = da * _dropout_scale(seed, p_drop, e, b, h, rows, cols, T, B, H)
                    extra += tl.sum(p * da, 1)
                delta += extra / H
        tl.store(delta_ptr + ((e * B + b) * H + h) * T + rows, delta, mask=row_ok)


@triton.jit
def _bwd_query_target(
    x_ptr, dout_ptr, mask_ptr, wo_ptr, bo_ptr, wg_ptr, bg_ptr, lnw_ptr,
    o_ptr, lse_ptr, qkv_ptr, do_ptr, delta_ptr, dmap_ptr, dxq_ptr,
    dwo_ptr, dbo_ptr, dwg_ptr, dbg_ptr, dlnw_ptr, dlnb_ptr,
    eps, pid_q, b, T, B, NE, NQ, NR, K,
    k, M, D, NSRC, E0, MAP0, E1, MAP1, seed, p_drop,
    GATING: tl.constexpr, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    W: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_DMAP: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """One target's query tile; its feature tiles are W wide (its own padded width)."""
    offs_d = tl.arange(0, W)
    dmask = offs_d < D
    rows = pid_q * BLOCK_M + tl.arange(0, BLOCK_M)
    prow = (b * NQ + pid_q) % NR
    x = _load_rows(x_ptr, b, rows, T, D, W)
    f0 = _recompute_message(o_ptr, wo_ptr, bo_ptr, b, rows, T, B, E0, H, DHP, DP, W, BLOCK_M,
                            PREC)
    f1 = tl.zeros([BLOCK_M, W], dtype=tl.float32)  # zero with one source, as in the forward
    if NSRC == 2:
        f1 = _recompute_message(o_ptr, wo_ptr, bo_ptr, b, rows, T, B, E1, H, DHP, DP, W, BLOCK_M,
                                PREC)
    total = f0 + f1
    if GATING:
        wg0 = _square_w(wg_ptr, k * 3, DP, W)
        wg1 = _square_w(wg_ptr, k * 3 + 1, DP, W)
        wg2 = _square_w(wg_ptr, k * 3 + 2, DP, W)
        z = (_mm(x, tl.trans(wg0), PREC) + _mm(f0, tl.trans(wg1), PREC) + _mm(f1, tl.trans(wg2), PREC)
             + tl.load(bg_ptr + k * DP + offs_d)[None, :])
        g = tl.sigmoid(z)
        y = x + g * total
    else:
        y = x + total
    y = tl.where(dmask[None, :], y, 0.0)
    mean = tl.sum(y, 1) / D
    yc = tl.where(dmask[None, :], y - mean[:, None], 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(yc * yc, 1) / D + eps)
    yhat = yc * rstd[:, None]

    dout = _load_rows(dout_ptr, b, rows, T, D, W)  # zero on padded rows: nothing below leaks
    _acc(dlnw_ptr + (prow * K + k) * DP + offs_d, tl.sum(dout * yhat, 0))
    _acc(dlnb_ptr + (prow * K + k) * DP + offs_d, tl.sum(dout, 0))
    dyhat = dout * tl.load(lnw_ptr + k * DP + offs_d)[None, :]
    c1 = tl.sum(dyhat * yhat, 1) / D
    c2 = tl.sum(dyhat, 1) / D
    dy = tl.where(dmask[None, :], (dyhat - yhat * c1[:, None] - c2[:, None]) * rstd[:, None], 0.0)

    dx = dy
    if GATING:
        dz = dy * total * g * (1.0 - g)
        df = dy * g
        g_off = (prow * K + k) * 3
        r = tl.arange(0, W)
        # Block 2 is written even with one source (zero, as f1 is): no zero fill needed.
        _acc(dwg_ptr + (g_off * DP + r[:, None]) * DP + r[None, :], _mm(tl.trans(dz), x, PREC))
        _acc(dwg_ptr + ((g_off + 1) * DP + r[:, None]) * DP + r[None, :], _mm(tl.trans(dz), f0, PREC))
        _acc(dwg_ptr + ((g_off + 2) * DP + r[:, None]) * DP + r[None, :], _mm(tl.trans(dz), f1, PREC))
        _acc(dbg_ptr + (prow * K + k) * DP + offs_d, tl.sum(dz, 0))
        dx += _mm(dz, wg0, PREC)
        df0 = df + _mm(dz, wg1, PREC)
        df1 = df + _mm(dz, wg2, PREC)
    else:
        df0 = dy
        df1 = dy
    # The epilogue's share of dH_i first: the key kernel adds its own share to it and the input
    # kernel the dQ share (dQ needs every key tile's dS, which only the key kernel has).
    tl.store(dxq_ptr + ((M * B + b) * T + rows[:, None]) * DP + offs_d[None, :], dx,
             mask=(rows < T)[:, None])
    _bwd_direction_query(df0, mask_ptr, wo_ptr, o_ptr, lse_ptr, qkv_ptr, do_ptr, delta_ptr,
                         dmap_ptr, dwo_ptr, dbo_ptr, prow, NE, b, rows, T, B, E0, MAP0, seed,
                         p_drop, H, DHP, DP, W, BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP, PREC,
                         DROPOUT)
    if NSRC == 2:
        _bwd_direction_query(df1, mask_ptr, wo_ptr, o_ptr, lse_ptr, qkv_ptr, do_ptr, delta_ptr,
                             dmap_ptr, dwo_ptr, dbo_ptr, prow, NE, b, rows, T, B, E1, MAP1, seed,
                             p_drop, H, DHP, DP, W, BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP, PREC,
                             DROPOUT)


@triton.jit
def _cross_modal_attention_backward_query_kernel(
    mask_ptr,  # (B, T) int8
    wo_ptr, bo_ptr,  # packed, see forward
    wg_ptr,  # (K, 3, DP, DP)
    bg_ptr, lnw_ptr,  # (K, DP)
    o_ptr,  # (E, B, T, H, DHP) fp32 saved
    lse_ptr,  # (E, B, H, T) fp32 saved
    qkv_ptr,  # (E, 3, B, H, T, DHP) saved
    do_ptr,  # (E, B, T, H, DHP) fp32 out
    delta_ptr,  # (E, B, H, T) fp32 out
    dmap_ptr,  # (NMAP, B, T, T) fp32
    dxq_ptr,  # (3, B, T, DP) fp32 out: the epilogue's share of each target's input gradient
    dwo_ptr, dbo_ptr,  # (R, E, H, DHP, DP), (R, E, DP) fp32 accumulators
    dwg_ptr,  # (R, K, 3, DP, DP)
    dbg_ptr, dlnw_ptr, dlnb_ptr,  # (R, K, DP); R = min(B cdiv(T, BLOCK_M), SCRATCH_ROWS)
    x0_ptr, g0_ptr, eps0,  # target slot 0: input (B, T, D0), output gradient
    x1_ptr, g1_ptr, eps1,
    x2_ptr, g2_ptr, eps2,
    T, B, NE, NQ, NR, seed, p_drop,
    K: tl.constexpr,
    M0: tl.constexpr, D0: tl.constexpr, N0: tl.constexpr, E00: tl.constexpr,
    P00: tl.constexpr, E01: tl.constexpr, P01: tl.constexpr, NW0: tl.constexpr,
    M1: tl.constexpr, D1: tl.constexpr, N1: tl.constexpr, E10: tl.constexpr,
    P10: tl.constexpr, E11: tl.constexpr, P11: tl.constexpr, NW1: tl.constexpr,
    M2: tl.constexpr, D2: tl.constexpr, N2: tl.constexpr, E20: tl.constexpr,
    P20: tl.constexpr, E21: tl.constexpr, P21: tl.constexpr, NW2: tl.constexpr,
    GATING: tl.constexpr, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    WIDE: tl.constexpr, NARROW: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_DMAP: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """Epilogue backward, dO and Delta. Grid: (cdiv(T, BLOCK_M), B, K).

    Slot constexprs as in the forward kernel, plus M{k} the modality code (row of dxq) and
    P{k}{s} the map slot of a direction whose attention map has a gradient (-1 otherwise).
    """
    pid_q = tl.program_id(0)
    b = tl.program_id(1)
    k = tl.program_id(2)
    x_ptr = _pick(k, x0_ptr, x1_ptr, x2_ptr)
    dout_ptr = _pick(k, g0_ptr, g1_ptr, g2_ptr)
    eps = _pick(k, eps0, eps1, eps2)
    M = _pick(k, M0, M1, M2)
    D = _pick(k, D0, D1, D2)
    NSRC = _pick(k, N0, N1, N2)
    E0 = _pick(k, E00, E10, E20)
    MAP0 = _pick(k, P00, P10, P20)
    E1 = _pick(k, E01, E11, E21)
    MAP1 = _pick(k, P01, P11, P21)
    narrow = _pick(k, NW0, NW1, NW2) == 1
    if NARROW < WIDE and narrow:
        _bwd_query_target(
            x_ptr, dout_ptr, mask_ptr, wo_ptr, bo_ptr, wg_ptr, bg_ptr, lnw_ptr, o_ptr, lse_ptr,
            qkv_ptr, do_ptr, delta_ptr, dmap_ptr, dxq_ptr, dwo_ptr, dbo_ptr, dwg_ptr, dbg_ptr,
            dlnw_ptr, dlnb_ptr, eps, pid_q, b, T, B, NE, NQ, NR, K, k, M, D, NSRC, E0, MAP0, E1,
            MAP1, seed, p_drop, GATING, H, DHP, DP, NARROW, BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP,
            PREC, DROPOUT)
    else:
        _bwd_query_target(
            x_ptr, dout_ptr, mask_ptr, wo_ptr, bo_ptr, wg_ptr, bg_ptr, lnw_ptr, o_ptr, lse_ptr,
            qkv_ptr, do_ptr, delta_ptr, dmap_ptr, dxq_ptr, dwo_ptr, dbo_ptr, dwg_ptr, dbg_ptr,
            dlnw_ptr, dlnb_ptr, eps, pid_q, b, T, B, NE, NQ, NR, K, k, M, D, NSRC, E0, MAP0, E1,
            MAP1, seed, p_drop, GATING, H, DHP, DP, WIDE, BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP,
            PREC, DROPOUT)


@triton.jit
def _bwd_direction_key(
    hs,  # (BLOCK_N, W) fp32 source rows (the keys)
    mask_ptr, wk_ptr, wv_ptr,
    lse_ptr, qkv_ptr, do_ptr, delta_ptr, dmap_ptr,  # from the forward and the query pass
    dq_ptr,  # (E, B, T, H, DHP) fp32, zero-filled: dQ, summed over the key tiles
    dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr,  # (R, E, H, DHP, DP), (R, E, H, DHP) fp32 partials
    prow, NE, b, cols, T, B, e, MAP, seed, p_drop,
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_DMAP: tl.constexpr, PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """dK/dV pass of one direction for one key tile, plus this tile's share of dQ (added into
    the dq buffer: P and dP are computed once for dK, dV and dQ); returns dH_j's share
    (BLOCK_N, W)."""
    offs_h = tl.arange(0, DHP)
    offs_d = tl.arange(0, W)
    key_ok = _key_valid(mask_ptr, b, cols, T, HAS_MASK)
    dh = tl.zeros([BLOCK_N, W], dtype=tl.float32)
    for h in range(H):
        kk = _load_proj(qkv_ptr, 1, e, b, h, cols, T, B, H, DHP)
        vv = _load_proj(qkv_ptr, 2, e, b, h, cols, T, B, H, DHP)
        dk = tl.zeros([BLOCK_N, DHP], dtype=tl.float32)
        dv = tl.zeros([BLOCK_N, DHP], dtype=tl.float32)
        for start in range(0, T, BLOCK_M):
            rows = start + tl.arange(0, BLOCK_M)
            row_ok = rows < T
            valid = row_ok[:, None] & key_ok[None, :]
            q = _load_proj(qkv_ptr, 0, e, b, h, rows, T, B, H, DHP)
            lse = tl.load(lse_ptr + ((e * B + b) * H + h) * T + rows, mask=row_ok, other=0.0)
            delta = tl.load(delta_ptr + ((e * B + b) * H + h) * T + rows, mask=row_ok, other=0.0)
            do_offs = (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs_h[None, :]
            do = tl.load(do_ptr + do_offs, mask=row_ok[:, None], other=0.0)
            p = tl.exp(tl.where(valid, _mm(q, tl.trans(kk), PREC) - lse[:, None], MASK_VALUE))
            dp = _mm(do, tl.trans(vv), PREC)
            if HAS_DMAP:  # directions without a map read nothing (MAP = -1 masks the load)
                has_map = (tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.int32) + MAP) >= 0
                dp += tl.load(dmap_ptr + ((MAP * B + b) * T + rows[:, None]) * T + cols[None, :],
                              mask=valid & has_map, other=0.0) / H
            if DROPOUT:  # the same mask as the forward, from the same counters
                scale = _dropout_scale(seed, p_drop, e, b, h, rows, cols, T, B, H)
                dv += _mm(tl.trans(p * scale), do, PREC)
                dp = dp * scale
            else:
                dv += _mm(tl.trans(p), do, PREC)
            ds = p * (dp - delta[:, None])
            dk += _mm(tl.trans(ds), q, PREC)
            _acc_rows(dq_ptr + do_offs, _mm(ds, kk, PREC), rows, T)  # dq has do's layout
        w_off = ((prow * NE + e) * H + h) * DHP
        _acc(dwk_ptr + (w_off + offs_h[:, None]) * DP + offs_d[None, :], _mm(tl.trans(dk), hs, PREC))
        _acc(dbk_ptr + w_off + offs_h, tl.sum(dk, 0))
        _acc(dwv_ptr + (w_off + offs_h[:, None]) * DP + offs_d[None, :], _mm(tl.trans(dv), hs, PREC))
        _acc(dbv_ptr + w_off + offs_h, tl.sum(dv, 0))
        dh += (_mm(dk, _head_w(wk_ptr, e, h, H, DHP, DP, W), PREC)
               + _mm(dv, _head_w(wv_ptr, e, h, H, DHP, DP, W), PREC))
    return dh


@triton.jit
def _bwd_key_modality(
    hs_ptr, mask_ptr, wk_ptr, wv_ptr,
    lse_ptr, qkv_ptr, do_ptr, delta_ptr, dmap_ptr, dxq_ptr, dq_ptr,
    dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr,
    pid_k, b, T, B, NE, NK, NR,
    M, D, IS_TGT, NDIR, E0, MAP0, E1, MAP1, seed, p_drop,
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_DMAP: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """One modality's key tile; its feature tiles are W wide (its own padded width)."""
    cols = pid_k * BLOCK_N + tl.arange(0, BLOCK_N)
    prow = (b * NK + pid_k) % NR
    offs_w = tl.arange(0, W)
    hs = _load_rows(hs_ptr, b, cols, T, D, W)
    dh = tl.zeros([BLOCK_N, W], dtype=tl.float32)
    if NDIR >= 1:
        dh += _bwd_direction_key(hs, mask_ptr, wk_ptr, wv_ptr, lse_ptr, qkv_ptr, do_ptr,
                                 delta_ptr, dmap_ptr, dq_ptr, dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr,
                                 prow, NE, b, cols, T, B, E0, MAP0, seed, p_drop, H, DHP, DP, W,
                                 BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP, PREC, DROPOUT)
    if NDIR >= 2:
        dh += _bwd_direction_key(hs, mask_ptr, wk_ptr, wv_ptr, lse_ptr, qkv_ptr, do_ptr,
                                 delta_ptr, dmap_ptr, dq_ptr, dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr,
                                 prow, NE, b, cols, T, B, E1, MAP1, seed, p_drop, H, DHP, DP, W,
                                 BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP, PREC, DROPOUT)
    # The epilogue's share, when this modality is also a target (masked load otherwise); the
    # sum goes back into dxq (each row of it belongs to this program alone) for the input kernel.
    offs = ((M * B + b) * T + cols[:, None]) * DP + offs_w[None, :]
    is_tgt = (tl.zeros([BLOCK_N, W], dtype=tl.int32) + IS_TGT) != 0
    dh += tl.load(dxq_ptr + offs, mask=(cols < T)[:, None] & is_tgt, other=0.0)
    tl.store(dxq_ptr + offs, dh, mask=(cols < T)[:, None])


@triton.jit
def _cross_modal_attention_backward_key_kernel(
    mask_ptr,  # (B, T) int8
    wk_ptr, wv_ptr,  # (E, H, DHP, DP) packed, see forward
    lse_ptr, delta_ptr,  # (E, B, H, T) fp32
    qkv_ptr,  # (E, 3, B, H, T, DHP) saved
    do_ptr,  # (E, B, T, H, DHP) fp32
    dmap_ptr,  # (NMAP, B, T, T) fp32
    dxq_ptr,  # (3, B, T, DP) fp32 in: the epilogue's share; out: plus the key-side share
    dq_ptr,  # (E, B, T, H, DHP) fp32 zero-filled, out: dQ
    dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr,  # (R, E, H, DHP, DP), (R, E, H, DHP) fp32 accumulators
    h0_ptr, h1_ptr, h2_ptr,  # modality slots: features (B, T, D{j})
    T, B, NE, NK, NR, seed, p_drop,
    M0: tl.constexpr, D0: tl.constexpr, IT0: tl.constexpr, ND0: tl.constexpr,
    E00: tl.constexpr, P00: tl.constexpr, E01: tl.constexpr, P01: tl.constexpr,
    NW0: tl.constexpr,
    M1: tl.constexpr, D1: tl.constexpr, IT1: tl.constexpr, ND1: tl.constexpr,
    E10: tl.constexpr, P10: tl.constexpr, E11: tl.constexpr, P11: tl.constexpr,
    NW1: tl.constexpr,
    M2: tl.constexpr, D2: tl.constexpr, IT2: tl.constexpr, ND2: tl.constexpr,
    E20: tl.constexpr, P20: tl.constexpr, E21: tl.constexpr, P21: tl.constexpr,
    NW2: tl.constexpr,
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    WIDE: tl.constexpr, NARROW: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_DMAP: tl.constexpr,
    PREC: tl.constexpr, DROPOUT: tl.constexpr,
):
    """dK/dV/dQ pass. Grid: (cdiv(T, BLOCK_N), B, J).

    J enumerates the modalities that are a source or a target; each program sums every
    direction in which its modality is the source, then adds the epilogue's share. Per slot j:
    M{j} modality code, D{j} width, IT{j} whether it is also a target (0/1), ND{j} number of
    directions it feeds, E{j}{i} / P{j}{i} their index and map slot, NW{j} narrow tiles.
    """
    pid_k = tl.program_id(0)
    b = tl.program_id(1)
    j = tl.program_id(2)
    hs_ptr = _pick(j, h0_ptr, h1_ptr, h2_ptr)
    M = _pick(j, M0, M1, M2)
    D = _pick(j, D0, D1, D2)
    IS_TGT = _pick(j, IT0, IT1, IT2)
    NDIR = _pick(j, ND0, ND1, ND2)
    E0 = _pick(j, E00, E10, E20)
    MAP0 = _pick(j, P00, P10, P20)
    E1 = _pick(j, E01, E11, E21)
    MAP1 = _pick(j, P01, P11, P21)
    narrow = _pick(j, NW0, NW1, NW2) == 1
    if NARROW < WIDE and narrow:
        _bwd_key_modality(hs_ptr, mask_ptr, wk_ptr, wv_ptr, lse_ptr, qkv_ptr, do_ptr, delta_ptr,
                          dmap_ptr, dxq_ptr, dq_ptr, dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr, pid_k, b,
                          T, B, NE, NK, NR, M, D, IS_TGT, NDIR, E0, MAP0, E1, MAP1, seed, p_drop,
                          H, DHP, DP, NARROW, BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP, PREC, DROPOUT)
    else:
        _bwd_key_modality(hs_ptr, mask_ptr, wk_ptr, wv_ptr, lse_ptr, qkv_ptr, do_ptr, delta_ptr,
                          dmap_ptr, dxq_ptr, dq_ptr, dwk_ptr, dbk_ptr, dwv_ptr, dbv_ptr, pid_k, b,
                          T, B, NE, NK, NR, M, D, IS_TGT, NDIR, E0, MAP0, E1, MAP1, seed, p_drop,
                          H, DHP, DP, WIDE, BLOCK_M, BLOCK_N, HAS_MASK, HAS_DMAP, PREC, DROPOUT)


@triton.jit
def _bwd_input_direction(x, wq_ptr, dq_ptr, dwq_ptr, dbq_ptr, prow, NE, b, rows, T, B, e,
                         H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
                         BLOCK_M: tl.constexpr, PREC: tl.constexpr):
    """dQ of direction e through Wq: its weight gradients, and its share of dH_i."""
    offs_h = tl.arange(0, DHP)
    offs_d = tl.arange(0, W)
    dx = tl.zeros([BLOCK_M, W], dtype=tl.float32)
    for h in range(H):
        dq = tl.load(dq_ptr + (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs_h[None, :],
                     mask=(rows < T)[:, None], other=0.0)
        w_off = ((prow * NE + e) * H + h) * DHP
        _acc(dwq_ptr + (w_off + offs_h[:, None]) * DP + offs_d[None, :], _mm(tl.trans(dq), x, PREC))
        _acc(dbq_ptr + w_off + offs_h, tl.sum(dq, 0))
        dx += _mm(dq, _head_w(wq_ptr, e, h, H, DHP, DP, W), PREC)
    return dx


@triton.jit
def _bwd_input_modality(x_ptr, dx_ptr, wq_ptr, dq_ptr, dxq_ptr, dwq_ptr, dbq_ptr,
                        pid_q, b, T, B, NE, NQ, NR, M, D, NT, E0, E1,
                        H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr,
                        BLOCK_M: tl.constexpr, PREC: tl.constexpr):
    rows = pid_q * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_w = tl.arange(0, W)
    prow = (b * NQ + pid_q) % NR
    dx = tl.load(dxq_ptr + ((M * B + b) * T + rows[:, None]) * DP + offs_w[None, :],
                 mask=(rows < T)[:, None], other=0.0)
    if NT >= 1:
        x = _load_rows(x_ptr, b, rows, T, D, W)
        dx += _bwd_input_direction(x, wq_ptr, dq_ptr, dwq_ptr, dbq_ptr, prow, NE, b, rows, T, B,
                                   E0, H, DHP, DP, W, BLOCK_M, PREC)
        if NT >= 2:
            dx += _bwd_input_direction(x, wq_ptr, dq_ptr, dwq_ptr, dbq_ptr, prow, NE, b, rows, T,
                                       B, E1, H, DHP, DP, W, BLOCK_M, PREC)
    _store_rows(dx_ptr, dx, b, rows, T, D, W)


@triton.jit
def _cross_modal_attention_backward_input_kernel(
    wq_ptr,  # (E, H, DHP, DP) packed, see forward
    dq_ptr,  # (E, B, T, H, DHP) fp32 from the key kernel
    dxq_ptr,  # (3, B, T, DP) fp32 from the key kernel: every share of dH but dQ's
    dwq_ptr, dbq_ptr,  # (R, E, H, DHP, DP), (R, E, H, DHP) fp32 accumulators
    h0_ptr, dh0_ptr, h1_ptr, dh1_ptr, h2_ptr, dh2_ptr,  # modality slots: features, gradient
    T, B, NE, NQ, NR,
    M0: tl.constexpr, D0: tl.constexpr, NT0: tl.constexpr, ET00: tl.constexpr,
    ET01: tl.constexpr, NW0: tl.constexpr,
    M1: tl.constexpr, D1: tl.constexpr, NT1: tl.constexpr, ET10: tl.constexpr,
    ET11: tl.constexpr, NW1: tl.constexpr,
    M2: tl.constexpr, D2: tl.constexpr, NT2: tl.constexpr, ET20: tl.constexpr,
    ET21: tl.constexpr, NW2: tl.constexpr,
    H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr,
    WIDE: tl.constexpr, NARROW: tl.constexpr, BLOCK_M: tl.constexpr, PREC: tl.constexpr,
):
    """Input gradients: dxq plus dQ Wq of every direction the modality is the target of, and
    the Wq/bq gradients. Grid: (cdiv(T, BLOCK_M), B, J), slots as in the key kernel; NT{j}
    the number of directions with modality j as target, ET{j}{i} their indices.
    """
    pid_q = tl.program_id(0)
    b = tl.program_id(1)
    j = tl.program_id(2)
    x_ptr = _pick(j, h0_ptr, h1_ptr, h2_ptr)
    dx_ptr = _pick(j, dh0_ptr, dh1_ptr, dh2_ptr)
    M = _pick(j, M0, M1, M2)
    D = _pick(j, D0, D1, D2)
    NT = _pick(j, NT0, NT1, NT2)
    E0 = _pick(j, ET00, ET10, ET20)
    E1 = _pick(j, ET01, ET11, ET21)
    narrow = _pick(j, NW0, NW1, NW2) == 1
    if NARROW < WIDE and narrow:
        _bwd_input_modality(x_ptr, dx_ptr, wq_ptr, dq_ptr, dxq_ptr, dwq_ptr, dbq_ptr, pid_q, b,
                            T, B, NE, NQ, NR, M, D, NT, E0, E1, H, DHP, DP, NARROW, BLOCK_M, PREC)
    else:
        _bwd_input_modality(x_ptr, dx_ptr, wq_ptr, dq_ptr, dxq_ptr, dwq_ptr, dbq_ptr, pid_q, b,
                            T, B, NE, NQ, NR, M, D, NT, E0, E1, H, DHP, DP, WIDE, BLOCK_M, PREC)


# ----------------------------------------------------------------------------------------------
# Launchers
# ----------------------------------------------------------------------------------------------


# Rows of the fp32 weight-gradient accumulators (see cross_modal_attention_backward): at most
# ~35 MB at 1 head (the widest head padding), independent of B and T.
SCRATCH_ROWS = 64

# Tests set this to NaN: every buffer a kernel is meant to fill completely is created through
# _fresh, so an element a kernel forgets to write surfaces as NaN instead of stale memory.
_POISON: Optional[float] = None


def _cdiv(a: int, b: int) -> int:
    # triton.cdiv is a jit function: called on the host it costs microseconds per call
    return -(-a // b)


def _fresh(*shape, like: torch.Tensor, dtype=None) -> torch.Tensor:
    out = torch.empty(*shape, device=like.device, dtype=dtype or like.dtype)
    if _POISON is not None:
        out.fill_(_POISON)
    return out


def cross_modal_attention_forward(plan: CrossModalPlan, feats, mask8, params, want_maps: bool,
                                  dropout_p: float = 0.0, seed: int = 0):
    """Run the fused forward.

    Args:
        plan: from :func:`make_plan`.
        feats: dict modality -> contiguous (B, T, d) tensor (fp32, bf16 or fp16).
        mask8: contiguous (B, T) int8 (1 = padding) or None.
        params: the list from :func:`pack_parameters`.
        want_maps: also compute the head-averaged attention maps.
        dropout_p, seed: attention dropout probability (0 = none) and the seed of its
            counter-based RNG; the backward must get the same two.

    Returns:
        (outputs, maps, o, lse): outputs per target slot (B, T, d) in the input dtype; maps
        (NMAP, B, T, T) in the input dtype (empty unless ``want_maps``); o (E, B, T, H, DHP) and
        lse (E, B, H, T) fp32, saved for the backward.
    """
    wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, lnw, lnb = params
    lh = feats["lh"]
    B, T = lh.shape[:2]
    E, K, H = len(plan.directions), len(plan.targets), plan.heads
    prec = dot_precision(lh.dtype)
    block_m, block_n = _block_sizes(T, prec)
    _check_tiles(plan, block_m, block_n)
    nmap = len(plan.maps) if want_maps else 0
    const = _forward_constants(plan, nmap)
    o = _fresh(E, B, T, H, plan.dhp, like=lh, dtype=torch.float32)
    lse = _fresh(E, B, H, T, like=lh, dtype=torch.float32)
    outputs = [_fresh(*feats[m].shape, like=feats[m]) for m in const["targets"]]
    has_mask = mask8 is not None
    mask_arg = mask8 if has_mask else lh

    qkv = _fresh(E, 3, B, H, T, plan.dhp, like=lh, dtype=PROJECTION_DTYPES.get(prec, torch.float32))
    block_p = projection_rows(block_m, plan.dhp, prec, lh.device)
    _cross_modal_attention_projection_kernel[(_cdiv(T, block_p), B, E)](
        qkv, wq, bq, wk, bk, wv, bv, feats["lh"], feats["rh"], feats["body"], T, B,
        **const["projection"], BLOCK_M=block_p, PREC=prec,
        **launch_options("projection", lh.device))

    slot_args = []
    for k, slot in enumerate(const["slots"]):
        if slot is None:
            slot_args += [lh, lh, lh, lh, 1e-5]
        else:
            m, s0, s1, eps = slot
            slot_args += [feats[m], feats[s0], feats[s1], outputs[k], eps]
    grid = (_cdiv(T, block_m), B, K)
    _cross_modal_attention_forward_kernel[grid](
        mask_arg, wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, lnw, lnb, o, lse, qkv, *slot_args, T, B,
        seed, float(dropout_p), **const["forward"], DROPOUT=dropout_p > 0, BLOCK_M=block_m,
        BLOCK_N=block_n, HAS_MASK=has_mask, PREC=prec, DC=head_chunk(plan.dhp, prec),
        **launch_options("forward", lh.device))

    maps = _fresh(nmap, B, T, T, like=lh)
    if nmap:
        map_args = [feats[m] for m in const["map_feats"]]
        _cross_modal_attention_maps_kernel[(_cdiv(T, block_m), B, nmap)](
            mask_arg, maps, wq, bq, wk, bk, wv, bv, lse, qkv, *map_args, T, B, seed,
            float(dropout_p), **const["maps"], DROPOUT=dropout_p > 0, BLOCK_M=block_m,
            BLOCK_N=block_n, HAS_MASK=has_mask, PREC=prec, **launch_options("maps", lh.device))
    return outputs, maps, o, lse, qkv


def _forward_constants(plan: CrossModalPlan, nmap: int) -> dict:
    """The forward launches' constexprs and slot layout: a function of the plan alone, derived
    once per plan (a cached call then only gathers its tensors)."""
    key = ("forward", nmap)
    const = plan.memo.get(key)
    if const is not None:
        return const
    H, K = plan.heads, len(plan.targets)
    wide, narrow, nw = _tile_widths(plan)
    codes = [(MODALITY_CODES[t], MODALITY_CODES[s]) for t, s in plan.directions]
    codes += [(0, 0)] * (6 - len(codes))
    projection = {**{f"T{e}": t for e, (t, _) in enumerate(codes)},
                  **{f"S{e}": s for e, (_, s) in enumerate(codes)},
                  "D_LH": plan.dim("lh"), "D_RH": plan.dim("rh"), "D_BODY": plan.dim("body"),
                  "NW_LH": nw["lh"], "NW_RH": nw["rh"], "NW_BODY": nw["body"],
                  "H": H, "DHP": plan.dhp, "DP": plan.dp, "WIDE": wide, "NARROW": narrow}
    slots, forward = [], {}
    for k in range(3):
        if k < K:
            m, srcs = plan.targets[k]
            s0 = srcs[0]
            s1 = srcs[1] if len(srcs) > 1 else srcs[0]
            slots.append((m, s0[1], s1[1], plan.eps_of(m)))
            forward.update({f"D{k}": plan.dim(m), f"N{k}": len(srcs), f"E{k}0": s0[0],
                            f"DS{k}0": plan.dim(s0[1]), f"E{k}1": s1[0],
                            f"DS{k}1": plan.dim(s1[1]), f"NW{k}": nw[m]})
        else:
            slots.append(None)
            forward.update({f"D{k}": 1, f"N{k}": 1, f"E{k}0": 0, f"DS{k}0": 1, f"E{k}1": 0,
                            f"DS{k}1": 1, f"NW{k}": 0})
    forward.update(GATING=plan.gating, H=H, DHP=plan.dhp, DP=plan.dp, WIDE=wide, NARROW=narrow)
    map_feats, maps = [], {}
    for j in range(2 if nmap else 0):
        name, e = plan.maps[min(j, nmap - 1)]
        t, s = plan.directions[e]
        map_feats += [t, s]
        maps.update({f"E{j}": e, f"D{j}": plan.dim(t), f"DS{j}": plan.dim(s)})
    maps.update(NMAP=nmap, H=H, DHP=plan.dhp, DP=plan.dp)
    const = {"targets": [m for m, _ in plan.targets], "projection": projection,
             "slots": slots, "forward": forward, "map_feats": map_feats, "maps": maps}
    if not torch.compiler.is_compiling():
        plan.memo[key] = const
    return const


def weight_gradient_shapes(plan: CrossModalPlan, B: int, nq: int, nk: int) -> dict:
    """Shapes of the fp32 weight-gradient accumulators of a backward launch.

    Program p of the query (key) pass adds its partial products into row p % R with fp32
    atomics, R = min(programs, SCRATCH_ROWS): the scratch stays bounded whatever B and T (one
    row per program took 460-766 MB at B=128, T=256), and the rows are summed after.
    """
    E, K, H, DP, DHP = len(plan.directions), len(plan.targets), plan.heads, plan.dp, plan.dhp
    r1, r2 = min(B * nq, SCRATCH_ROWS), min(B * nk, SCRATCH_ROWS)
    return {"dwq": (r1, E, H, DHP, DP), "dwo": (r1, E, H, DHP, DP), "dbq": (r1, E, H, DHP),
            "dbo": (r1, E, DP), "dlnw": (r1, K, DP), "dlnb": (r1, K, DP),
            "dwg": (r1, K, 3, DP, DP) if plan.gating else (1,),
            "dbg": (r1, K, DP) if plan.gating else (1,),
            "dwk": (r2, E, H, DHP, DP), "dwv": (r2, E, H, DHP, DP), "dbk": (r2, E, H, DHP),
            "dbv": (r2, E, H, DHP)}


def cross_modal_attention_backward(plan: CrossModalPlan, feats, mask8, params, o, lse, qkv,
                                   grad_outputs, grad_maps, dropout_p: float = 0.0,
                                   seed: int = 0, reduce_weights: bool = True):
    """Run the fused backward.

    Args:
        plan, feats, mask8, params: as for :func:`cross_modal_attention_forward`.
        o, lse: saved by the forward.
        grad_outputs: per target slot, the (B, T, d) gradient of the output or None.
        grad_maps: (NMAP, B, T, T) gradient of the attention maps, or None.
        dropout_p, seed: as given to the forward (the mask is regenerated from them).
        reduce_weights: False returns the weight gradients as their fp32 per-program partial
            buffers (R, *param shape), unsummed, for the unpack kernel to reduce (one launch
            instead of a ``sum`` per buffer).

    Returns:
        (grad_feats, grad_params): dict modality -> (B, T, d) gradient in the input dtype for
        every modality that is a source or a target; list matching ``params`` (fp32, None for
        the unused gate placeholders when gating is off).
    """
    wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, lnw, lnb = params
    lh = feats["lh"]
    f32 = torch.float32
    B, T = lh.shape[:2]
    E, K, H, DP, DHP = len(plan.directions), len(plan.targets), plan.heads, plan.dp, plan.dhp
    prec = dot_precision(lh.dtype)
    block_m, block_n = _block_sizes(T, prec)
    _check_tiles(plan, block_m, block_n)
    nq, nk = _cdiv(T, block_m), _cdiv(T, block_n)
    has_mask = mask8 is not None
    mask_arg = mask8 if has_mask else lh
    has_dmap = grad_maps is not None
    dmap = grad_maps.to(f32).contiguous() if has_dmap else o

    do = _fresh(E, B, T, H, DHP, like=lh, dtype=f32)
    delta = _fresh(E, B, H, T, like=lh, dtype=f32)
    dxq = _fresh(3, B, T, DP, like=lh, dtype=f32)
    shapes = weight_gradient_shapes(plan, B, nq, nk)
    r1, r2 = shapes["dwq"][0], shapes["dwk"][0]
    sizes = [math.prod(shape) for shape in shapes.values()]
    # One allocation and one fill for all (empty + zero_, so that the kernel lab's allocation
    # tracking sees the storage that the sums below reduce).
    scratch = torch.empty(sum(sizes), device=lh.device, dtype=f32).zero_()
    acc = {name: part.view(shape) for (name, shape), part
           in zip(shapes.items(), scratch.split(sizes))}
    dwq, dwo, dbq, dbo, dlnw, dlnb, dwg, dbg, dwk, dwv, dbk, dbv = acc.values()

    wide, narrow, nw = _tile_widths(plan)
    slot_args, consts = [], {}
    for k in range(3):
        if k < K:
            m, srcs = plan.targets[k]
            s0 = srcs[0]
            s1 = srcs[1] if len(srcs) > 1 else srcs[0]
            g = grad_outputs[k]
            g = torch.zeros_like(feats[m]) if g is None else g.contiguous()
            slot_args += [feats[m], g, plan.eps_of(m)]
            consts.update({
                f"M{k}": MODALITY_CODES[m], f"D{k}": plan.dim(m), f"N{k}": len(srcs),
                f"E{k}0": s0[0], f"P{k}0": plan.map_slot(s0[0]) if has_dmap else -1,
                f"E{k}1": s1[0], f"P{k}1": plan.map_slot(s1[0]) if has_dmap else -1,
                f"NW{k}": nw[m]})
        else:
            slot_args += [lh, lh, 1e-5]
            consts.update({f"M{k}": 0, f"D{k}": 1, f"N{k}": 1, f"E{k}0": 0, f"P{k}0": -1,
                           f"E{k}1": 0, f"P{k}1": -1, f"NW{k}": 0})
    _cross_modal_attention_backward_query_kernel[(nq, B, K)](
        mask_arg, wo, bo, wg, bg, lnw, o, lse, qkv, do, delta, dmap, dxq,
        dwo, dbo, dwg, dbg, dlnw, dlnb, *slot_args, T, B, E, nq, r1, seed,
        float(dropout_p), K=K, **consts, DROPOUT=dropout_p > 0,
        GATING=plan.gating, H=H, DHP=DHP, DP=DP, WIDE=wide, NARROW=narrow, BLOCK_M=block_m,
        BLOCK_N=block_n, HAS_MASK=has_mask, HAS_DMAP=has_dmap, PREC=prec,
        **launch_options("backward_query", lh.device))

    J = len(plan.sources)
    targets = dict(plan.targets)
    grad_feats = {m: _fresh(*feats[m].shape, like=feats[m]) for m, _, _ in plan.sources}
    # dQ is summed over the key tiles by the key kernel (fp32 atomics, as the weight gradients).
    dq = torch.zeros(E, B, T, H, DHP, device=lh.device, dtype=f32)
    key_args, kconsts, in_args, iconsts = [], {}, [], {}
    for j in range(3):
        if j < J:
            m, is_tgt, dirs = plan.sources[j]
            d0 = dirs[0] if dirs else (0, m)
            d1 = dirs[1] if len(dirs) > 1 else d0
            key_args += [feats[m]]
            kconsts.update({
                f"M{j}": MODALITY_CODES[m], f"D{j}": plan.dim(m), f"IT{j}": int(is_tgt),
                f"ND{j}": len(dirs), f"E{j}0": d0[0],
                f"P{j}0": plan.map_slot(d0[0]) if has_dmap else -1,
                f"E{j}1": d1[0], f"P{j}1": plan.map_slot(d1[0]) if has_dmap else -1,
                f"NW{j}": nw[m]})
            as_target = targets.get(m, ())
            t0 = as_target[0][0] if as_target else 0
            t1 = as_target[1][0] if len(as_target) > 1 else t0
            in_args += [feats[m], grad_feats[m]]
            iconsts.update({f"M{j}": MODALITY_CODES[m], f"D{j}": plan.dim(m),
                            f"NT{j}": len(as_target), f"ET{j}0": t0, f"ET{j}1": t1,
                            f"NW{j}": nw[m]})
        else:
            key_args += [lh]
            kconsts.update({f"M{j}": 0, f"D{j}": 1, f"IT{j}": 0, f"ND{j}": 0, f"E{j}0": 0,
                            f"P{j}0": -1, f"E{j}1": 0, f"P{j}1": -1, f"NW{j}": 0})
            in_args += [lh, lh]
            iconsts.update({f"M{j}": 0, f"D{j}": 1, f"NT{j}": 0, f"ET{j}0": 0, f"ET{j}1": 0,
                            f"NW{j}": 0})
    _cross_modal_attention_backward_key_kernel[(nk, B, J)](
        mask_arg, wk, wv, lse, delta, qkv, do, dmap, dxq, dq, dwk, dbk, dwv, dbv,
        *key_args, T, B, E, nk, r2, seed, float(dropout_p), **kconsts, DROPOUT=dropout_p > 0,
        H=H, DHP=DHP, DP=DP, WIDE=wide, NARROW=narrow, BLOCK_M=block_m, BLOCK_N=block_n,
        HAS_MASK=has_mask, HAS_DMAP=has_dmap, PREC=prec,
        **launch_options("backward_key", lh.device))
    _cross_modal_attention_backward_input_kernel[(nq, B, J)](
        wq, dq, dxq, dwq, dbq, *in_args, T, B, E, nq, r1, **iconsts, H=H, DHP=DHP, DP=DP,
        WIDE=wide, NARROW=narrow, BLOCK_M=block_m, PREC=prec,
        **launch_options("backward_input", lh.device))

    if not reduce_weights:
        gates = [dwg, dbg] if plan.gating else [None, None]
        return grad_feats, [dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo, *gates, dlnw, dlnb]
    sums = [t.sum(0) for t in (dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo)]
    if plan.gating:
        sums += [dwg.sum(0), dbg.sum(0)]
    else:
        sums += [None, None]
    sums += [dlnw.sum(0), dlnb.sum(0)]
    return grad_feats, sums


# ----------------------------------------------------------------------------------------------
# Autograd
# ----------------------------------------------------------------------------------------------


class CrossModalAttentionFunction(torch.autograd.Function):
    """The fused block: packing and attention forward; attention backward and unpacking.

    Takes the module's parameters as one flat vector (``flat_parameters``, one ``cat``), packs
    them with one launch (unless ``packed`` is given: a cached packing when no parameter needs
    a gradient), and in the backward hands the weight-gradient partial buffers straight to the
    unpack kernel, which sums them and writes the flat vector's gradient (one launch).
    Outputs per target slot, then the maps.
    """

    @staticmethod
    def forward(ctx, plan, want_maps, dropout_p, seed, lh, rh, body, key_padding_mask, flat,
                packed=None):
        feats = {"lh": lh, "rh": rh, "body": body}
        mask8 = _mask_int8(key_padding_mask)
        if packed is None:
            packed = pack_forward(plan, flat)
        outputs, maps, o, lse, qkv = cross_modal_attention_forward(plan, feats, mask8, packed,
                                                                   want_maps, dropout_p, seed)
        ctx.dropout_p, ctx.seed = dropout_p, seed
        ctx.save_for_backward(lh, rh, body, flat, *packed)
        ctx.plan, ctx.mask8, ctx.o, ctx.lse, ctx.qkv = plan, mask8, o, lse, qkv
        ctx.set_materialize_grads(False)
        if not want_maps:
            ctx.mark_non_differentiable(maps)
        return (*outputs, maps)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        plan = ctx.plan
        lh, rh, body, flat, *packed = ctx.saved_tensors
        feats = {"lh": lh, "rh": rh, "body": body}
        K = len(plan.targets)
        grad_maps = grads[K] if plan.maps else None
        if grad_maps is not None and grad_maps.numel() == 0:
            grad_maps = None
        grad_feats, partials = cross_modal_attention_backward(
            plan, feats, ctx.mask8, packed, ctx.o, ctx.lse, ctx.qkv, list(grads[:K]), grad_maps,
            ctx.dropout_p, ctx.seed, reduce_weights=False)
        grad_flat = pack_backward(plan, flat, partials) if ctx.needs_input_grad[8] else None
        return (None, None, None, None, grad_feats.get("lh"), grad_feats.get("rh"),
                grad_feats.get("body"), None, grad_flat, None)


def _mask_int8(key_padding_mask):
    """The bool mask as the kernels' int8 (1 = padding): a view, no kernel, when contiguous."""
    if key_padding_mask is None:
        return None
    return key_padding_mask.contiguous().view(torch.int8)


def _validate(module, lh, rh, body, key_padding_mask, state=None) -> None:
    """What the launchers rely on (``check_inputs`` of the module runs before this).

    A cached call pays for a few attribute reads (:func:`_inputs_ok`); anything unusual takes
    the full checks, which name what is wrong.
    """
    if state is None:
        state = _module_state(module)
    if not torch.compiler.is_compiling() and _inputs_ok(module, lh, rh, body, key_padding_mask,
                                                        state.device):
        return
    _check_inputs(module, lh, rh, body, key_padding_mask, state)


def _inputs_ok(module, lh, rh, body, mask, device) -> bool:
    """True when the inputs certainly pass :func:`_check_inputs` (False: look closer)."""
    if type(lh) is not torch.Tensor or type(rh) is not torch.Tensor \
            or type(body) is not torch.Tensor:
        return False
    dtype, shape = lh.dtype, lh.shape
    if len(shape) != 3 or shape[0] == 0 or shape[1] == 0 or dtype not in SUPPORTED_DTYPES \
            or rh.dtype is not dtype or body.dtype is not dtype or lh.device != device \
            or rh.device != device or body.device != device:
        return False
    rs, bs, dims = rh.shape, body.shape, module.dims
    if len(rs) != 3 or len(bs) != 3 or rs[0] != shape[0] or bs[0] != shape[0] \
            or rs[1] != shape[1] or bs[1] != shape[1] or shape[2] != dims["lh"] \
            or rs[2] != dims["rh"] or bs[2] != dims["body"]:
        return False
    if mask is not None and (type(mask) is not torch.Tensor or mask.dtype is not torch.bool
                             or mask.shape != shape[:2] or mask.device != device):
        return False
    return device.type == "cuda" or _interpreting()


def _check_inputs(module, lh, rh, body, key_padding_mask, state) -> None:
    from slr_fused.models.cross_modal import leading_sizes
    named = {"lh": lh, "rh": rh, "body": body}
    for name, x in named.items():
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"cross_modal_attention_triton: {name} must be a tensor, "
                            f"got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != module.dims[name]:
            raise ValueError(f"cross_modal_attention_triton: {name} must have shape "
                             f"(B, T, {module.dims[name]}), got {tuple(x.shape)}")
        if x.dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"cross_modal_attention_triton: {name} has dtype {x.dtype}; the "
                            f"kernels take float32, bfloat16 or float16 (use backend='reference')")
    if any(leading_sizes(x) != leading_sizes(lh) for x in named.values()):
        raise ValueError("cross_modal_attention_triton: lh, rh and body must agree on batch and "
                         f"length, got {[tuple(x.shape[:2]) for x in named.values()]}")
    if len({x.dtype for x in named.values()}) != 1:
        raise TypeError("cross_modal_attention_triton: lh, rh and body must share one dtype, got "
                        f"{[x.dtype for x in named.values()]}")
    devices = {x.device for x in named.values()} | {t.device for t in state.tensors}
    if len(devices) != 1:
        raise ValueError("cross_modal_attention_triton: inputs and module parameters must be on "
                         f"one device, got {sorted(str(d) for d in devices)}")
    if not torch.compiler.is_compiling():
        state.check_device()
    if lh.shape[0] == 0 or lh.shape[1] == 0:
        raise ValueError(f"cross_modal_attention_triton: empty batch or sequence "
                         f"(B, T) = {tuple(lh.shape[:2])}")
    if not lh.is_cuda and not _interpreting():
        raise ValueError("cross_modal_attention_triton: inputs are on the CPU; the Triton "
                         "kernels need CUDA tensors (or TRITON_INTERPRET=1 for testing)")
    if key_padding_mask is not None:
        if (key_padding_mask.dtype != torch.bool
                or tuple(key_padding_mask.shape) != tuple(lh.shape[:2])):
            raise ValueError("cross_modal_attention_triton: key_padding_mask must be a bool "
                             f"(B, T) = {tuple(lh.shape[:2])} tensor, got "
                             f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}")
        if key_padding_mask.device != lh.device:
            raise ValueError("cross_modal_attention_triton: key_padding_mask is on "
                             f"{key_padding_mask.device}, inputs on {lh.device}")


def dropout_arguments(module) -> tuple:
    """(p, seed) of one call: p = 0 unless the module trains with attention dropout.

    The seed comes from torch's default CPU generator (``torch.manual_seed`` reproduces it),
    so drawing it costs no device-to-host sync; the kernels derive the keep mask from it.
    """
    if not (module.training and module.dropout > 0):
        return 0.0, 0
    return float(module.dropout), int(torch.randint(0, 2 ** 31 - 1, (1,)).item())


def dropout_keep_mask(seed: int, p: float, E: int, B: int, H: int, T: int,
                      device="cpu") -> torch.Tensor:
    """The (E, B, H, T, T) bool keep mask the kernels draw for ``seed`` and ``p`` (for tests
    and for a reference given the same mask); E directions, H heads, queries x keys."""
    out = torch.zeros(E, B, H, T, T, dtype=torch.int8, device=device)
    _dropout_keep_kernel[(E, B, H)](out, seed, float(p), T, B, H=H,
                                    BLOCK=max(16, triton.next_power_of_2(T)))
    return out.bool()


def cross_modal_attention_triton(module, lh, rh, body, key_padding_mask=None,
                                 return_extras=False):
    """Fused ``module.forward_reference``: same arguments, same returns.

    Args:
        module: a ``CrossModalAttention`` (its parameters are used, never redefined).
        lh, rh, body: (B, T, 42), (B, T, 42), (B, T, 24); fp32, bf16 or fp16; any strides.
        key_padding_mask: (B, T) bool, True = padding, or None.
        return_extras: also return ``CrossModalExtras`` (attention maps from the kernels,
            alignment features from ``module.alignment_features`` in plain torch).

    Returns:
        (lh_out, rh_out, body_out), plus the extras when requested. A modality that receives
        no direction is returned as the input tensor itself, as in the reference.
    """
    if torch.compiler.is_compiling():
        return cross_modal_attention_op(module, lh, rh, body, key_padding_mask, return_extras)
    state = _module_state(module)
    _validate(module, lh, rh, body, key_padding_mask, state)
    plan = state.plan
    want_maps = bool(return_extras) and bool(plan.maps)
    dropout_p, seed = dropout_arguments(module)
    hidden = {"lh": lh, "rh": rh, "body": body}
    lh, rh, body = lh.contiguous(), rh.contiguous(), body.contiguous()
    train_weights = torch.is_grad_enabled() and any(t.requires_grad for t in state.tensors)
    if train_weights:
        state.check_device()  # cat would name no parameter
        results = CrossModalAttentionFunction.apply(
            plan, want_maps, dropout_p, seed, lh, rh, body, key_padding_mask,
            flat_parameters(state.tensors))
    elif torch.is_grad_enabled() and (lh.requires_grad or rh.requires_grad or body.requires_grad):
        results = CrossModalAttentionFunction.apply(
            plan, want_maps, dropout_p, seed, lh, rh, body, key_padding_mask, None,
            packed_parameters(module, plan, state))
    else:  # nothing to differentiate: no autograd node, the cached packing
        feats = {"lh": lh, "rh": rh, "body": body}
        outputs, maps, _, _, _ = cross_modal_attention_forward(
            plan, feats, _mask_int8(key_padding_mask), packed_parameters(module, plan, state),
            want_maps, dropout_p, seed)
        results = (*outputs, maps)
    return _assemble(plan, results, hidden, module, return_extras)


def _assemble(plan, results, hidden, module, return_extras, extras_cls=None):
    by_target = {m: results[k] for k, (m, _) in enumerate(plan.targets)}
    outputs = tuple(by_target.get(m, hidden[m]) for m in MODALITY_CODES)
    if not return_extras:
        return outputs
    maps = results[len(plan.targets)]
    if extras_cls is None:
        from slr_fused.models.cross_modal import CrossModalExtras as extras_cls
    extras = extras_cls()
    for j, (name, _) in enumerate(plan.maps):
        extras.attention[name] = maps[j]
    extras.alignment = module.alignment_features(hidden)
    return outputs, extras


# The torch.library ops (registered on import) and their entry point.
from .cross_modal_op import cross_modal_attention_op, op_arguments  # noqa: E402,F401
