import re
import subprocess
import sys

import pytest

from slr_fused.cli import build_parser, main, str2bool, train_config_from_args
from slr_fused.config import TrainConfig
from slr_fused.models.variants import parameter_table

TINY = ["--d_ff", "32", "--num_enc_layers", "1", "--num_dec_layers", "1", "--batch_size", "32"]


def test_seed_boolean_spellings():
    parser = build_parser()
    for flags, expected in [(["--use_cmcl", "True"], True), (["--use_cmcl", "False"], False),
                            (["--use_cmcl"], True), (["--use_cmcl", "0"], False), ([], False)]:
        args = parser.parse_args(["train", *flags])
        assert args.use_cmcl is expected
    with pytest.raises(Exception):
        str2bool("maybe")


def test_cmcl_is_off_by_default_as_in_the_seed():
    """The CMCL seed's flag table: `--use_cmcl | bool | False`."""
    assert TrainConfig().use_cmcl is False
    assert train_config_from_args(build_parser().parse_args(["train"])).use_cmcl is False
    assert train_config_from_args(build_parser().parse_args(["train", "--use_cmcl", "True"])).use_cmcl


def test_cross_attn_dropout_flag_reaches_the_model_config():
    from slr_fused.config import build_model_config
    config = train_config_from_args(build_parser().parse_args(["train"]))
    assert config.cross_attn_dropout == 0.1   # the BMHCMA seed's attention dropout
    args = build_parser().parse_args(["train", "--cross_attn_dropout", "0.3"])
    assert build_model_config(train_config_from_args(args), 5).cross_attn_dropout == 0.3


@pytest.mark.parametrize("flags, message", [
    (["--kernel", "triton"], r"^error: --kernel triton: the fused cross-attention kernels have no "
                             r"attention dropout yet \(--cross_attn_dropout 0.1\); pass "
                             r"--cross_attn_dropout 0"),
    (["--cross_attn_dropout", "1.5"], r"^error: --cross_attn_dropout must be in \[0, 1\), got 1.5$"),
], ids=["triton", "range"])
def test_dropout_settings_the_kernels_cannot_run_are_one_line(flags, message, tmp_path, capsys,
                                                             monkeypatch):
    # The kernels implement dropout today; the refusal is what the switch turned off would give.
    import slr_fused.config_validation
    monkeypatch.setattr(slr_fused.config_validation, "fused_kernels_have_dropout", lambda: False)
    assert main(["train", "--runs_dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(message, err[0]), err
    assert not any(tmp_path.iterdir())   # refused before any work


def test_train_flags_reach_the_config():
    args = build_parser().parse_args(["train", "--cross_attn_heads", "6", "--lr", "0.001",
                                      "--scheduler_milestones", "3", "4", "--use_adaptive_cmcl", "True"])
    config = train_config_from_args(args)
    assert config.cross_attn_heads == 6 and config.lr == 0.001
    assert config.scheduler_milestones == (3, 4) and config.use_adaptive_cmcl


def test_info_model_reports_the_real_counts(capsys):
    assert main(["info", "--model", "--num_classes", "100"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "Backends:" in out
    rows = {name: (total, block) for name, total, block, *_ in parameter_table(100)}
    total, block = rows["bidirectional h=3"]
    assert f"{total:,}" in out and f"{block:,}" in out and block == 54108
    assert rows["baseline (no cross-modal block)"][1] == 0
    # unidirectional = lh <- body and rh <- body (before: body <- hands, 8,664)
    assert rows["unidirectional h=3"][1] == 23856 and "23,856" in out


def test_train_on_the_demo_data_saves_a_model_and_reports(tmp_path, capsys):
    with pytest.warns(UserWarning, match="Adjusted cross-attention heads from 4 to 3"):
        code = main(["train", "--epochs", "1", "--runs_dir", str(tmp_path), "--experiment_name", "demo",
                     "--cross_attn_heads", "4", *TINY])
    assert code == 0
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert out[:4] == [  # the BMHCMA seed's expected console output, with the heads it asked for
        "Feature isolated transformer",
        "Initializing Bi-directional Cross-Modal Attention with 4 heads (requested)",
        "Using Bi-directional Cross-Modal Attention with 3 heads (actual)",
        "num_enc_layers 1, num_dec_layers 1, patient 1, cross_attn True"]
    assert "attention dropout: 0.1" in out[4]
    assert any(re.match(r"\[1\] loss \d+\.\d+ .* val top-1 \d\.\d+ top-5 \d\.\d+", line) for line in out)
    assert re.fullmatch(r"Test top-1: \d\.\d{4}, top-5: \d\.\d{4}", out[-1])
    assert (tmp_path / "demo" / "model.pt").is_file()


def test_train_on_real_csvs(shared_data, tmp_path, capsys):
    d = shared_data / "isl13"
    code = main(["train", "--epochs", "1", "--runs_dir", str(tmp_path),
                 "--training_set_path", str(d / "isl13_val.csv"),
                 "--testing_set_path", str(d / "isl13_test.csv"), "--use_cmcl", "False", *TINY])
    assert code == 0
    out = capsys.readouterr().out
    assert "13 classes" in out and out.strip().splitlines()[-1].startswith("Test top-1:")


def test_bad_input_is_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("labels,nose_X\n1,[0.5]\n")
    result = subprocess.run([sys.executable, "-m", "slr_fused.cli", "train", "--training_set_path",
                             str(bad), "--epochs", "1"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:") and "missing column" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_upstream_usage_lines_parse(tmp_path, capsys):
    """SPOTER's and Siformer's README/usage flags are accepted as they are."""
    spoter = ["train", "--experiment_name", "lsa", "--training_set_path", "x.csv", "--validation_set",
              "from-file", "--validation_set_path", "v.csv", "--epochs", "130", "--lr", "0.0001",
              "--hidden_dim", "108", "--num_classes", "100", "--gaussian_mean", "0", "--gaussian_std",
              "0.001", "--plot_stats", "True", "--plot_lr", "True", "--save_checkpoints", "True",
              "--scheduler_factor", "0.1", "--scheduler_patience", "5", "--log_freq", "1"]
    siformer = ["train", "--experiment_name", "wlasl", "--epochs", "100", "--lr", "0.0001",
                "--attn_type", "prob", "--num_enc_layers", "3", "--num_dec_layers", "2", "--FITR", "False",
                "--PBEE_encoder", "False", "--PBEE_decoder", "False", "--patience", "1",
                "--training_set_path", "t.csv", "--validation_set_path", "v.csv", "--testing_set_path", "e.csv"]
    from slr_fused.cli import compatibility_notes
    parser = build_parser()
    a = parser.parse_args(spoter)
    assert train_config_from_args(a).scheduler_gamma == 0.1 and train_config_from_args(a).epochs == 130
    assert any("ignored" in n for n in compatibility_notes(a))
    b = parser.parse_args(siformer)
    assert any("softmax" in n for n in compatibility_notes(b))
    # without --recipe they train with slr train's default recipe, and are told how to get the seeds'
    assert any("--recipe seed" in n for n in compatibility_notes(b, siformer[1:]))
    assert not any("--recipe" in n for n in compatibility_notes(b, siformer[1:] + ["--recipe", "seed"]))
    assert not any("--recipe" in n for n in compatibility_notes(b, ["--epochs", "3"]))
    with pytest.raises(ValueError, match="early exit"):
        compatibility_notes(parser.parse_args(["train", "--FITR", "True"]))
    with pytest.raises(ValueError, match="108"):
        compatibility_notes(parser.parse_args(["train", "--hidden_dim", "64"]))
