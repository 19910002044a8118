"""The no-GPU kernel lab's report: budgets, padding, markdown and the CLI (host side only; the
full compile sweep takes minutes and runs as ``slr bench kernel-stats``). The lab's parts have
their own test modules: test_kernel_sass, test_kernel_arch, test_kernel_host,
test_kernel_capture."""

import json
import os

import pytest

from slr_fused.bench import kernel_stats


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
