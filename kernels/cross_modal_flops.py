"""Analytic FLOP count of the cross-modal attention block (the reference's matrix products)."""



def cross_modal_attention_flops(module, batch: int, length: int) -> int:
    """Analytic FLOPs of the block's forward, one multiply-add = one flop (fvcore's convention).

    Counts every matrix product of the reference: per direction i <- j the projection
    (T d_j d_i), the q/k/v in-projections (3 T d_i^2), scores and probabilities @ values
    (2 T^2 d_i over all heads), the out-projection (T d_i^2); per target the gate
    (T (1 + |S_i|) d_i^2). Softmax, sigmoid, LayerNorm and the elementwise ops are not counted,
    as fvcore's defaults skip them; use it as the handle for this op (fvcore cannot see inside
    it) or to check an fvcore count of the reference, whose SDPA call fvcore also skips.
    """
    dims, T = module.dims, int(length)
    total = 0
    for t, s in module.directions:
        d = dims[t]
        total += T * dims[s] * d + 3 * T * d * d + 2 * T * T * d + T * d * d
    if module.use_gating:
        for m, srcs in module.sources.items():
            if srcs:
                total += T * (1 + len(srcs)) * dims[m] * dims[m]
    return int(batch) * total
