"""The no-GPU kernel lab: SASS parsing, a real compile with a planted spill, dispatch counting,
launch capture and work counting on the interpreter, budgets, and the CLI (host side only;
the full compile sweep takes minutes and runs as ``slr bench kernel-stats``)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from slr_fused.bench import kernel_stats
from slr_fused.bench.kernel_arch import modelled_time_us, occupancy, unit_for
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


def test_occupancy_and_model_follow_the_documented_limits():
    # 255 registers x 4 warps on H100: 8 warps of registers -> 2 CTAs, 12.5% (the number).
    occ = occupancy(90, 255, 4, 47104)
    assert occ["ctas_per_sm"] == 2 and occ["occupancy"] == 0.125
    assert occ["limited_by"] == "registers"
    assert occupancy(87, 64, 4, 200 * 1024)["ctas_per_sm"] == 0  # over the 163 KB per block
    assert unit_for("bf16", {"HMMA": 0, "WGMMA": 0}) == "ffma"
    assert unit_for("bf16", {"HMMA": 3, "WGMMA": 0}) == "bf16"
    slow = modelled_time_us(87, 10 ** 9, 0, "ffma")["model_us"]
    fast = modelled_time_us(90, 10 ** 9, 0, "bf16")["model_us"]
    assert slow > 100 * fast > 0


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


def test_dispatch_counter_counts_a_known_op_sequence():
    from slr_fused.bench.kernel_host import DispatchCounter
    x = torch.randn(4, 4)
    counter = DispatchCounter()
    with counter:
        y = x + 1             # 1 kernel
        z = y.t()             # view: none
        w = z @ x             # 1 kernel
        torch.empty(3)        # allocation: none
        scratch = torch.empty(8, 4)
        scratch.sum(0)        # 1 kernel, a reduction of a fresh buffer
        w.sum().item()        # 1 kernel + 1 sync
    assert counter.kernels == 4
    assert counter.syncs == 1
    assert counter.reduced_scratch == 8 * 4 * 4


interpreter_only = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                      reason="the host-side and counting helpers run the block "
                                             "on the Triton interpreter (TRITON_INTERPRET=1)")


@interpreter_only
def test_host_side_of_the_real_block():
    from slr_fused.bench.kernel_host import dispatch_counts, python_time_us, scratch_bytes
    d = dispatch_counts(heads=3, B=2, T=20)
    assert d["forward_triton"] >= 1 and d["backward_triton"] >= 1
    assert d["cached_nograd_triton"] >= 1
    assert d["train_kernels"] >= d["forward_triton"] + d["backward_triton"]
    assert d["cached_nograd_syncs"] >= 0 and d["cached_nograd_kernels"] >= 1
    assert python_time_us(heads=3, B=2, T=20, calls=5)["median_us"] > 0
    s = scratch_bytes(heads=3, B=2, T=20)
    assert 0 <= s["weight_grad_scratch"] <= s["backward_allocated"]


@interpreter_only
def test_capture_and_executed_work_of_the_real_block():
    from slr_fused.bench.kernel_capture import capture_launches
    from slr_fused.kernels.cross_modal_attention import cross_modal_attention_flops
    from slr_fused.models.cross_modal import CrossModalAttention
    recorded = capture_launches(3, torch.float32, 2, 20, 90)
    assert {lc.phase for lc in recorded} == {"forward", "backward"}
    for lc in recorded:
        sig = lc.signature()
        assert set(sig) <= set(lc.fn.arg_names) and "*fp32" in sig.values()
        assert lc.programs >= 1
    counted = capture_launches(3, torch.float32, 1, 20, 90, masked=False, execute=True)
    assert [lc.name for lc in counted] == [lc.name for lc in recorded]
    ref = cross_modal_attention_flops(CrossModalAttention(num_heads=3), 1, 20)
    forward = sum(lc.macs for lc in counted if lc.phase == "forward")
    # The kernels compute at least every product of the reference (plus padding, recompute).
    assert forward >= ref
    assert all(0 < lc.useful_macs <= lc.macs for lc in counted)


def test_budgets_fail_on_planted_values_and_pass_on_good_ones():
    kernel = {"phase": "backward", "spill_store_bytes": 4096, "reg": 32,
              "mix": {"HMMA": 0, "WGMMA": 0}}
    row = {"heads": 3, "precision": "bf16", "kernels": [kernel], "work_ratio_forward": 3.6,
           "work_ratio_train": 4.2}
    budgets = {b["budget"]: b for b in kernel_stats.judge({"rows": [row], "host": None})}
    for name in ("work_ratio_forward", "work_ratio_train", "tensor_core_kernels_missing",
                 "backward_spill_store_bytes", "kernels_at_32_registers_spilling"):
        assert budgets[name]["pass"] is False, name
    assert budgets["train_dispatches"]["pass"] is None  # not measured
    good = dict(kernel, spill_store_bytes=512, reg=128, mix={"HMMA": 8, "WGMMA": 0})
    # the exact-fp32 parameter packing needs no tensor cores
    unpack = dict(good, name="_cross_modal_attention_unpack_kernel", mix={"HMMA": 0, "WGMMA": 0})
    row = dict(row, kernels=[good, unpack], work_ratio_forward=1.5, work_ratio_train=1.9)
    budgets = {b["budget"]: b for b in kernel_stats.judge({"rows": [row], "host": None})}
    assert all(budgets[n]["pass"] for n in ("work_ratio_forward", "work_ratio_train",
                                             "tensor_core_kernels_missing",
                                             "backward_spill_store_bytes",
                                             "kernels_at_32_registers_spilling"))


def test_dropout_kernels_count_in_the_spill_budgets_and_are_marked():
    good = {"name": "_cross_modal_attention_forward_kernel", "phase": "forward",
            "spill_store_bytes": 0, "spill_load_bytes": 0, "reg": 128, "num_warps": 8,
            "programs": 1, "ctas_per_sm": 1, "occupancy": 0.125,
            "mix": {f: 1 for f in ("FFMA", "HMMA", "WGMMA", "MUFU", "LDG", "STG", "LDL", "STL")}}
    spilling = dict(good, spill_store_bytes=64)
    row = {"heads": 3, "precision": "bf16", "arch": 90, "T": 204, "kernels": [good],
           "dropout_kernels": [spilling], "reference_macs": 1}
    report = {"rows": [row], "host": None}
    budgets = {b["budget"]: b for b in kernel_stats.judge(report)}
    assert budgets["forward_spill_store_bytes"]["value"] == 64
    assert budgets["forward_spill_store_bytes"]["pass"] is False
    report.update(date="d", tools={}, python="3", torch="2", host_cpu="x", command="c",
                  sweep={"heads": [3], "precisions": ["bf16"], "archs": [90], "lengths": [204]},
                  batch=32, budgets=kernel_stats.judge(report))
    md = kernel_stats.markdown(report)
    assert "| forward +dropout | forward |" in md and "| forward | forward |" in md


def test_padding_is_reported_per_modality():
    pad = kernel_stats.padding(3, 204)
    body, lh = pad["modalities"]["body"], pad["modalities"]["lh"]
    assert (body["features"], body["tile_width"], body["packed_width"]) == (24, 32, 64)
    assert (lh["features"], lh["tile_width"]) == (42, 64)
    assert body["feature_padding_share"] == 0.25 and lh["feature_padding_share"] == 0.344
    assert pad["query_rows"] >= 204 and pad["key_rows"] >= 204
    assert 0 < pad["attention_row_padding_share"] < 0.15


def test_cli_host_only_writes_the_report_and_exits_on_budgets(tmp_path):
    from slr_fused.cli import main
    rc = main(["bench", "kernel-stats", "--host-only", "--calls", "5", "--output", str(tmp_path)])
    report = json.loads((tmp_path / "kernel-stats.json").read_text())
    budgets = {b["budget"]: b for b in report["budgets"]}
    assert "errors" not in budgets, budgets.get("errors")
    assert budgets["train_dispatches"]["value"] > 0
    assert budgets["cached_nograd_kernels"]["value"] >= 1
    assert budgets["weight_grad_scratch_mb"]["value"] > 0
    failed = any(b["pass"] is False for b in report["budgets"])
    assert rc == (1 if failed else 0)
    md = (tmp_path / "kernel-stats.md").read_text()
    assert "| budget | value | limit | pass |" in md and "launches stubbed" in md


def test_cli_refuses_bad_lengths_with_one_line(capsys):
    rc = kernel_stats.main(["--lengths", "0", "--output", "unused"])
    assert rc == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


@pytest.mark.skipif(os.environ.get("SLR_FUSED_COMPILE_CHECK") != "1",
                    reason="opt-in (SLR_FUSED_COMPILE_CHECK=1): compiles the real kernels for "
                           "sm_90, about a minute")
def test_one_real_configuration_end_to_end(tmp_path):
    rc = kernel_stats.main(["--heads", "3", "--precisions", "fp32-highest", "--archs", "90",
                            "--lengths", "30", "--no-host", "--report-only",
                            "--output", str(tmp_path)])
    assert rc == 0
    report = json.loads((tmp_path / "kernel-stats.json").read_text())
    (row,) = report["rows"]
    assert "error" not in row, row["error"]
    assert {k["phase"] for k in row["kernels"]} == {"forward", "backward"}
    # 3 heads is in the default dropout head counts: the DROPOUT=True variants are compiled too
    assert {k["name"] for k in row["dropout_kernels"]} >= {
        "_cross_modal_attention_forward_kernel", "_cross_modal_attention_backward_key_kernel"}
    for k in row["kernels"]:
        assert k["reg"] > 0 and k["programs"] > 0 and k["macs"] > 0
        assert k["mix"]["FFMA"] + k["mix"]["HMMA"] + k["mix"]["WGMMA"] > 0
        assert 0 < k["occupancy"] <= 1 and k["model"]["model_us"] > 0
    assert row["work_ratio_forward"] >= 1.0 and row["work_ratio_train"] > 0
    assert 0 <= row["zero_operand_share"] < 1
