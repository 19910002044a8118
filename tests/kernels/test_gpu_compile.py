"""Compile the kernels for GPU targets on a machine without a GPU (opt-in: minutes of ptxas).

The interpreter accepts code a GPU compiler rejects (tl.dot shapes, non-constexpr globals,
types). Triton's frontend and ptxas run without a device, so this catches those on CPU CI:

    SLR_FUSED_COMPILE_CHECK=1 python -m pytest tests/kernels/test_gpu_compile.py -q

Each case runs in a subprocess because TRITON_INTERPRET must be unset when the kernels are
decorated. Launch arguments are captured from the real launchers, so the signatures compiled
are exactly the ones a GPU run would use.
"""

import os
import re
import subprocess
import sys

import pytest
import torch

# (target, constructor kwargs as text, dtype, masked). sm_90: H100, every mode; sm_87: Jetson
# AGX/Orin, the edge GPU users deploy to (default block, fp32 and fp16).
CASES = [
    (90, "num_heads=3", "float32", True),
    (90, "num_heads=1", "bfloat16", True),
    (90, "num_heads=2, directions='hands'", "float16", False),
    (90, "num_heads=6, use_gating=False", "float32", True),
    (90, "num_heads=3", "float32-tf32", True),
    (90, "num_heads=3, mode='unidirectional'", "float32", False),
    (87, "num_heads=3", "float32", True),
    (87, "num_heads=3", "float16", False),
    (87, "num_heads=2", "bfloat16", True),
    # attention dropout while training: the DROPOUT=True variants
    (90, "num_heads=3, dropout=0.1", "bfloat16", True),
    (87, "num_heads=1, dropout=0.1", "float16", False),
    # 1 head (head dim 64): exact fp32 reduces it in 32-wide chunks; TF32 projects 32 rows on sm_87
    (90, "num_heads=1, dropout=0.1", "float32", True),
    (87, "num_heads=1", "float32", True),
    (87, "num_heads=1", "float32-tf32", False),
]


@pytest.mark.skipif(os.environ.get("SLR_FUSED_COMPILE_CHECK") != "1",
                    reason="opt-in (SLR_FUSED_COMPILE_CHECK=1): compiling for a GPU target takes "
                           "minutes")
@pytest.mark.parametrize("arch,kwargs,dtype,masked", CASES)
def test_kernels_compile_for_gpu_targets(arch, kwargs, dtype, masked):
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, __file__, kwargs, dtype, str(int(masked)), str(arch)],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for kernel in ("projection", "forward", "backward_query", "backward_key", "backward_input",
                   "pack", "unpack"):
        assert f"compiled _cross_modal_attention_{kernel}_kernel" in proc.stdout, proc.stdout
    # The parameter (un)packing composes fp32 weights exactly whatever the inputs' dtype.
    counts = [int(n) for name, n in re.findall(r"compiled (\w+):.*tensor-core ops (\d+)",
                                                proc.stdout) if "pack" not in name]
    if dtype == "float32":  # "highest": exact fp32, FFMA only
        assert counts and max(counts) == 0, proc.stdout
    else:  # 16-bit and TF32 dots must reach the tensor cores
        assert counts and min(counts) > 0, proc.stdout


def _compile_all(kwargs_text, dtype_name, masked, arch=90):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    import slr_fused.kernels.cross_modal_attention as cma
    from slr_fused.models.cross_modal import CrossModalAttention

    captured = []

    class Capture:
        def __init__(self, fn):
            self.fn = fn

        def __getitem__(self, grid):
            return lambda *args, **kwargs: captured.append((self.fn, args, kwargs))

    import slr_fused.kernels.cross_modal_pack as pack
    for name in ("_cross_modal_attention_projection_kernel",
                 "_cross_modal_attention_forward_kernel", "_cross_modal_attention_maps_kernel",
                 "_cross_modal_attention_backward_query_kernel",
                 "_cross_modal_attention_backward_key_kernel",
                 "_cross_modal_attention_backward_input_kernel"):
        setattr(cma, name, Capture(getattr(cma, name)))
    for name in ("_cross_modal_attention_pack_kernel", "_cross_modal_attention_unpack_kernel"):
        setattr(pack, name, Capture(getattr(pack, name)))
    import slr_fused.kernels.cross_modal_launch as cross_modal_launch
    cma._interpreting = cross_modal_launch._interpreting = lambda: False  # GPU tile sizes
    cma._CAPABILITY[("cpu", None)] = arch // 10  # the target's launch choices

    module = eval(f"CrossModalAttention({kwargs_text})")  # noqa: S307 (test-local literals)
    dtype_name, _, tf32 = dtype_name.partition("-")
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    dtype = getattr(torch, dtype_name)
    plan = cma.make_plan(module)
    params = [p.detach() for p in cma.pack_parameters(module, plan)]
    B, T = 2, 204
    feats = {m: torch.randn(B, T, d).to(dtype) for m, d in module.dims.items()}
    mask8 = torch.zeros(B, T, dtype=torch.int8) if masked else None
    p = module.dropout  # > 0: the kernels' DROPOUT=True variants, as training launches them
    outs, maps, o, lse, qkv = cma.cross_modal_attention_forward(plan, feats, mask8, params,
                                                                 True, p, 1)
    grad_maps = torch.randn(len(plan.maps), B, T, T) if plan.maps else None
    _, partials = cma.cross_modal_attention_backward(
        plan, feats, mask8, params, o, lse, qkv, [torch.randn_like(x) for x in outs], grad_maps,
        p, 1, reduce_weights=False)
    flat = pack.flat_parameters(cma._module_state(module).tensors).detach().to(dtype)
    pack.pack_forward(plan, flat)
    pack.pack_backward(plan, flat, partials)

    types = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.float16: "*fp16",
             torch.int8: "*i8", torch.int32: "*i32"}
    for fn, args, kwargs in captured:
        signature = {}
        for name, a in zip(fn.arg_names, args):
            if isinstance(a, torch.Tensor):
                signature[name] = types[a.dtype]
            else:
                signature[name] = "fp32" if isinstance(a, float) else "i32"
        options = {k: kwargs.pop(k) for k in ("num_warps", "num_stages", "maxnreg")
                   if k in kwargs}
        signature.update({name: "constexpr" for name in kwargs})
        signature = {n: signature[n] for n in fn.arg_names}
        assert options, f"{fn.__name__}: launched without num_warps/maxnreg"
        compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=dict(kwargs)),
                                  target=GPUTarget("cuda", arch, 32), options=options)
        sass, usage = _cuobjdump(compiled)
        registers = int(re.search(r"REG:(\d+)", usage).group(1))
        stack = int(re.search(r"STACK:(\d+)", usage).group(1))
        # ptxas's 32-register default spills tens of KB per thread: never left to it.
        assert registers > 32, f"{fn.__name__}: {registers} registers ({usage.strip()})"
        if dtype != torch.float32 or tf32:
            # Tensor-core paths: the spill budgets (exact fp32 dots still spill, see
            # the kernel module's LAUNCH_OPTIONS note). Stack bytes include spills.
            limit = 1024 if ("backward" in fn.__name__ or "unpack" in fn.__name__) else 64
            assert stack <= limit, f"{fn.__name__}: {stack} B of stack per thread ({usage})"
        tensor_ops = len(re.findall(r"\b(?:HMMA|HGMMA|WGMMA)\b", sass))
        if p > 0 and "DROPOUT" in kwargs:
            assert kwargs["DROPOUT"] is True, f"{fn.__name__}: dropout {p} launched DROPOUT=False"
        print(f"compiled {fn.__name__}: {options}, {registers} registers, stack {stack} B, "
              f"tensor-core ops {tensor_ops}", flush=True)


def _cuobjdump(compiled):
    """(SASS, resource usage) of a compiled kernel, from the cuobjdump Triton ships."""
    import tempfile

    import triton
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(compiled.asm["cubin"])
        return [subprocess.run([tool, flag, path], capture_output=True, text=True,
                               check=True).stdout for flag in ("-sass", "-res-usage")]


if __name__ == "__main__":
    assert os.environ.get("TRITON_INTERPRET", "0") != "1"
    _compile_all(sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))
