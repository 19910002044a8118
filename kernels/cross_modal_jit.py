"""Small ``@triton.jit`` helpers of the cross-modal attention kernels.

Loads and stores of padded row tiles, per-head weight tiles, the launch-precision dot
(:func:`_mm`), the shared-row weight-gradient accumulation and the run-time slot pickers. The
kernels themselves (``kernels/cross_modal_attention.py``) are built from these.
"""

import triton
import triton.language as tl

# Finite, so that a key block that is entirely padding never computes inf - inf; a constexpr
# because compiled Triton refuses plain Python globals.
MASK_VALUE = tl.constexpr(-1.0e30)

# Dot precision of a launch (constexpr PREC), chosen by ``dot_precision`` (cross_modal_launch)
# from the input dtype as PyTorch chooses for its own matmuls: 16-bit inputs multiply 16-bit
# operands on the tensor cores, fp32 inputs follow ``torch.get_float32_matmul_precision()``.
# Accumulation, softmax and LayerNorm statistics stay fp32 in every case.
PREC_IEEE, PREC_TF32, PREC_BF16, PREC_FP16 = 0, 1, 2, 3
PRECISION_NAMES = {PREC_IEEE: "ieee", PREC_TF32: "tf32", PREC_BF16: "bf16", PREC_FP16: "fp16"}


@triton.jit
def _mm(a, b, PREC: tl.constexpr):
    """fp32-accumulated product of two fp32 tiles with the launch's operand precision."""
    if PREC == 2:
        return tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16), out_dtype=tl.float32)
    elif PREC == 3:
        return tl.dot(a.to(tl.float16), b.to(tl.float16), out_dtype=tl.float32)
    elif PREC == 1:
        return tl.dot(a, b, input_precision="tf32")
    else:
        # exact fp32 (FFMA): on a GPU a plain fp32 dot would default to TF32.
        return tl.dot(a, b, input_precision="ieee")


@triton.jit
def _load_rows(ptr, b, rows, T, D, DP: tl.constexpr):
    """(len(rows), DP) fp32 tile of a contiguous (B, T, D) tensor, zero outside (T, D)."""
    offs_d = tl.arange(0, DP)
    mask = (rows[:, None] < T) & (offs_d[None, :] < D)
    x = tl.load(ptr + (b * T + rows[:, None]) * D + offs_d[None, :], mask=mask, other=0.0)
    return x.to(tl.float32)


@triton.jit
def _store_rows(ptr, val, b, rows, T, D, DP: tl.constexpr):
    offs_d = tl.arange(0, DP)
    mask = (rows[:, None] < T) & (offs_d[None, :] < D)
    tl.store(ptr + (b * T + rows[:, None]) * D + offs_d[None, :],
             val.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def _key_valid(mask_ptr, b, cols, T, HAS_MASK: tl.constexpr):
    ok = cols < T
    if HAS_MASK:
        pad = tl.load(mask_ptr + b * T + cols, mask=ok, other=1)
        ok = ok & (pad == 0)
    return ok


@triton.jit
def _head_w(ptr, e, h, H: tl.constexpr, DHP: tl.constexpr, DP: tl.constexpr, W: tl.constexpr):
    """(DHP, W) block of a packed (E, H, DHP, DP) weight: the first W <= DP columns, the padded
    width of the modality the weight reads or writes (the columns beyond are zero padding)."""
    r = tl.arange(0, DHP)
    c = tl.arange(0, W)
    return tl.load(ptr + ((e * H + h) * DHP + r[:, None]) * DP + c[None, :])


@triton.jit
def _head_b(ptr, e, h, H: tl.constexpr, DHP: tl.constexpr):
    return tl.load(ptr + (e * H + h) * DHP + tl.arange(0, DHP))


@triton.jit
def _square_w(ptr, idx, DP: tl.constexpr, W: tl.constexpr):
    """Top-left (W, W) of block number ``idx`` of a packed (..., DP, DP) weight."""
    r = tl.arange(0, W)
    return tl.load(ptr + (idx * DP + r[:, None]) * DP + r[None, :])


@triton.jit
def _kv(hs, wk_ptr, bk_ptr, wv_ptr, bv_ptr, e, h, H: tl.constexpr, DHP: tl.constexpr,
        DP: tl.constexpr, W: tl.constexpr, PREC: tl.constexpr):
    """K and V of head h from (rows, W) source rows ``hs``."""
    k = (_mm(hs, tl.trans(_head_w(wk_ptr, e, h, H, DHP, DP, W)), PREC)
         + _head_b(bk_ptr, e, h, H, DHP)[None, :])
    v = (_mm(hs, tl.trans(_head_w(wv_ptr, e, h, H, DHP, DP, W)), PREC)
         + _head_b(bv_ptr, e, h, H, DHP)[None, :])
    return k, v


@triton.jit
def _load_proj(qkv_ptr, c, e, b, h, rows, T, B, H: tl.constexpr, DHP: tl.constexpr):
    """(len(rows), DHP) fp32 tile of Q (c=0), K (1) or V (2) of direction e, head h, written
    by the projection kernel into its (E, 3, B, H, T, DHP) buffer; zero outside T."""
    return _load_proj_cols(qkv_ptr, c, e, b, h, rows, T, B, H, DHP, 0, DHP)


@triton.jit
def _load_proj_cols(qkv_ptr, c, e, b, h, rows, T, B, H: tl.constexpr, DHP: tl.constexpr,
                    C0: tl.constexpr, NC: tl.constexpr):
    """Columns [C0, C0 + NC) of the tile :func:`_load_proj` returns."""
    offs = C0 + tl.arange(0, NC)
    base = (((e * 3 + c) * B + b) * H + h) * T
    x = tl.load(qkv_ptr + (base + rows[:, None]) * DHP + offs[None, :],
                mask=(rows < T)[:, None], other=0.0)
    return x.to(tl.float32)


@triton.jit
def _scores_chunked(qkv_ptr, e, b, h, rows, cols, T, B, H: tl.constexpr, DHP: tl.constexpr,
                    DC: tl.constexpr, PREC: tl.constexpr):
    """Q K^T of head h on (rows, cols), the head dim reduced in DC-wide chunks (one dot each).

    For exact fp32 (FFMA) dots: Triton's FMA dot holds each thread's operand slices over the
    whole reduction in registers, which a 64-wide head dim (1 head) does not leave room for.
    """
    s = _mm(_load_proj_cols(qkv_ptr, 0, e, b, h, rows, T, B, H, DHP, 0, DC),
            tl.trans(_load_proj_cols(qkv_ptr, 1, e, b, h, cols, T, B, H, DHP, 0, DC)), PREC)
    for c0 in tl.static_range(DC, DHP, DC):
        s += _mm(_load_proj_cols(qkv_ptr, 0, e, b, h, rows, T, B, H, DHP, c0, DC),
                 tl.trans(_load_proj_cols(qkv_ptr, 1, e, b, h, cols, T, B, H, DHP, c0, DC)), PREC)
    return s


@triton.jit
def _out_proj_chunked(f, o_ptr, wo_ptr, e, b, h, rows, T, B, H: tl.constexpr, DHP: tl.constexpr,
                      DP: tl.constexpr, W: tl.constexpr, DC: tl.constexpr, PREC: tl.constexpr):
    """f + O_h Wo_h^T with O_h read back, DC columns at a time, from the (E, B, T, H, DHP) fp32
    buffer the program has just stored it to (as :func:`_scores_chunked`, for FFMA dots).

    A run-time loop, so that ptxas does not hoist every chunk's operands at once; the barrier
    makes the whole tile's stores visible to every thread of the program.
    """
    tl.debug_barrier()
    for c0 in range(0, DHP, DC):
        offs = c0 + tl.arange(0, DC)
        oc = tl.load(o_ptr + (((e * B + b) * T + rows[:, None]) * H + h) * DHP + offs[None, :],
                     mask=(rows < T)[:, None], other=0.0)
        wr = tl.load(wo_ptr + ((e * H + h) * DHP + offs[:, None]) * DP + tl.arange(0, W)[None, :])
        f += _mm(oc, wr, PREC)
    return f


@triton.jit
def _store_proj(qkv_ptr, val, c, e, b, h, rows, T, B, H: tl.constexpr, DHP: tl.constexpr):
    offs = tl.arange(0, DHP)
    base = (((e * 3 + c) * B + b) * H + h) * T
    tl.store(qkv_ptr + (base + rows[:, None]) * DHP + offs[None, :],
             val.to(qkv_ptr.dtype.element_ty), mask=(rows < T)[:, None])


@triton.jit
def _acc(ptr, val):
    """Add into an fp32 weight-gradient accumulator row shared by several programs."""
    tl.atomic_add(ptr, val, sem="relaxed")


@triton.jit
def _acc_rows(ptr, val, rows, T):
    """Add a (rows, n) tile into an fp32 buffer shared by several programs, rows < T only."""
    tl.atomic_add(ptr, val, mask=(rows < T)[:, None], sem="relaxed")


@triton.jit
def _pick6(k, a0, a1, a2, a3, a4, a5):
    return tl.where(k == 0, a0, tl.where(k == 1, a1, tl.where(k == 2, a2, tl.where(
        k == 3, a3, tl.where(k == 4, a4, a5)))))


@triton.jit
def _pick3(k, a, b, c):
    return tl.where(k == 0, a, tl.where(k == 1, b, c))


@triton.jit
def _pick(k, a, b, c):
    """Slot k's value among three (pointers included): one copy of the code serves every slot,
    where a constexpr slot index would inline the whole program three times (and triple the
    ptxas time)."""
    return tl.where(k == 0, a, tl.where(k == 1, b, c))


@triton.jit
def _dropout_scale(seed, p_drop, e, b, h, rows, cols, T, B, H: tl.constexpr):
    """Attention-dropout multiplier (0 or 1/(1-p)) of a (rows, cols) tile of direction e, head h.

    Counter-based (``tl.rand``): the offset of an element is its position in the (E, B, H, T, T)
    probability tensor, so the forward, the maps and both backward passes regenerate the same
    keep mask from the seed alone (flash-attention's scheme); nothing is stored.
    """
    offs = (((e * B + b) * H + h) * T + rows[:, None]) * T + cols[None, :]
    keep = tl.rand(seed, offs) >= p_drop
    return tl.where(keep, 1.0 / (1.0 - p_drop), 0.0)


@triton.jit
def _dropout_keep_kernel(out_ptr, seed, p_drop, T, B, H: tl.constexpr, BLOCK: tl.constexpr):
    """The keep mask (E, B, H, T, T) as the kernels draw it; for tests. Grid: (E, B, H)."""
    e = tl.program_id(0)
    b = tl.program_id(1)
    h = tl.program_id(2)
    rows = tl.arange(0, BLOCK)
    cols = tl.arange(0, BLOCK)
    scale = _dropout_scale(seed, p_drop, e, b, h, rows, cols, T, B, H)
    ok = (rows < T)[:, None] & (cols < T)[None, :]
    tl.store(out_ptr + (((e * B + b) * H + h) * T + rows[:, None]) * T + cols[None, :],
             (scale > 0).to(tl.int8), mask=ok)
