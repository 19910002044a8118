"""kernel_sass: SASS and resource-usage parsing, and a real compile with a planted spill
(skipped where this Triton ships no ptxas/cuobjdump)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from slr_fused.bench.kernel_sass import parse_res_usage, parse_sass, tool_path

SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   FFMA R4, R5, R6, R4 ;
        /*0020*/                   STL.64 [R1], R4 ;
        /*0030*/                   HMMA.16816.F32.BF16 R8, R12, R14, R8 ;
        /*0040*/                   MUFU.EX2 R3, R3 ;
        /*0050*/              @P0  BRA 0x10 ;
        /*0060*/                   LDL.128 R4, [R1] ;
        /*0070*/                   STL [R1+0x8], R2 ;
        /*0080*/                   LDG.E R2, desc[UR4][R2.64] ;
        /*0090*/                   EXIT ;
"""


def test_parse_sass_reads_the_mix_the_loop_and_spill_bytes():
    stats = parse_sass(SASS)
    assert stats["instructions"] == 10
    assert stats["mix"]["FFMA"] == 1 and stats["mix"]["HMMA"] == 1 and stats["mix"]["MUFU"] == 1
    assert stats["mix"]["LDG"] == 1 and stats["mix"]["STL"] == 2 and stats["mix"]["LDL"] == 1
    assert stats["spill_store_bytes"] == 8 + 4   # STL.64 + STL
    assert stats["spill_load_bytes"] == 16       # LDL.128
    (loop,) = stats["loops"]
    assert (loop["start"], loop["end"]) == (0x10, 0x50) and loop["innermost"]
    assert loop["mix"]["FFMA"] == 1 and loop["mix"]["STL"] == 1


def test_parse_res_usage():
    text = "Function k: REG:255 STACK:1040 SHARED:0 LOCAL:0 CONSTANT[0]:904 TEXTURE:0"
    assert parse_res_usage(text) == {"reg": 255, "stack": 1040, "shared": 0, "local": 0}


PLANTED = textwrap.dedent("""
    import json, sys, torch, triton, triton.language as tl
    from slr_fused.bench.kernel_capture import Launch
    from slr_fused.bench.kernel_sass import compile_launch

    @triton.jit
    def planted_kernel(x_ptr, y_ptr, N: tl.constexpr):
        offs = tl.arange(0, N)
        x = tl.load(x_ptr + offs[:, None] * N + offs[None, :])
        y = tl.dot(x, x, input_precision="ieee")
        z = tl.dot(y, x, input_precision="ieee") + tl.exp(y)
        tl.store(y_ptr + offs[:, None] * N + offs[None, :], z + y)

    x = torch.zeros(32, 32)
    out = {}
    for label, options in (("free", {"num_warps": 1}), ("capped", {"num_warps": 1, "maxnreg": 32})):
        launch = Launch("planted_kernel", planted_kernel, "forward", (1,), (x, x), {"N": 32}, options)
        out[label] = compile_launch(launch, 90)
    print(json.dumps(out))
""")


def test_a_real_compile_reports_registers_and_detects_a_planted_spill(tmp_path):
    if not (tool_path("ptxas") and tool_path("cuobjdump")):
        pytest.skip("ptxas/cuobjdump not shipped with this Triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    script = tmp_path / "planted.py"  # @triton.jit needs its source in a file
    script.write_text(PLANTED)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    free, capped = stats["free"], stats["capped"]
    assert free["reg"] > 32 and free["spill_store_bytes"] == 0
    assert free["mix"]["FFMA"] > 0 and free["mix"]["MUFU"] > 0 and free["mix"]["LDG"] > 0
    assert free["mix"]["HMMA"] + free["mix"]["WGMMA"] == 0  # ieee dots never use tensor cores
    assert capped["reg"] <= 32 and capped["spill_store_bytes"] > 0
    assert capped["mix"]["STL"] > 0 and capped["mix"]["LDL"] > 0
