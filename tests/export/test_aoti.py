"""AOTInductor packages (``export/aoti.py``, ``slr export aoti``, ``.pt2`` in ``slr predict``).

Two packages per session, each about half a minute of compilation on two cores: the reference
block without a mask (through the CLI) and the fused Triton block with a mask (on the
interpreter when there is no GPU; the package calls our registered op).
"""

import importlib.util
import shutil
import zipfile

import pytest
import torch

from slr_fused.checkpoint import load_model
from slr_fused.export.aoti import AotiRunner, export_aoti
from slr_fused.export.cli import add_export_parser, run_export
from slr_fused.export.onnx import ExportError
from slr_fused.export.runtime import BatchTooLargeError, ModelMismatchError, RunnerInputError

TOLERANCE = 1e-4


def export_parser():
    import argparse
    parser = argparse.ArgumentParser(prog="slr")
    add_export_parser(parser.add_subparsers(dest="command"))
    return parser


def _inputs(batch, length, seed, padded=False):
    generator = torch.Generator().manual_seed(seed)
    feats = [torch.randn(batch, length, d, generator=generator) for d in (42, 42, 24)]
    mask = torch.zeros(batch, length, dtype=torch.bool)
    if padded and length > 2:
        mask[0, length // 2:] = True
    return feats, mask


@pytest.fixture(scope="module")
def reference_package(checkpoint, tmp_path_factory):
    """``slr export aoti CHECKPOINT -o model.pt2 --kernel reference --device cpu --max-batch 8``."""
    path = tmp_path_factory.mktemp("aoti") / "model.pt2"
    lines = []
    args = export_parser().parse_args(["export", "aoti", str(checkpoint), "--output", str(path),
                                       "--kernel", "reference", "--device", "cpu",
                                       "--max-batch", "8"])
    assert run_export(args, log=lines.append) == 0
    return path, lines


@pytest.fixture(scope="module")
def triton_package(checkpoint, tmp_path_factory):
    if importlib.util.find_spec("triton") is None:
        print("SKIP: Triton is not installed (pip install -e '.[kernels]')")
        pytest.skip("Triton is not installed")
    if not torch.cuda.is_available():
        # conftest.py sets TRITON_INTERPRET=1 before anything imports Triton.
        import os
        assert os.environ.get("TRITON_INTERPRET") == "1"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    path = tmp_path_factory.mktemp("aoti-triton") / "model.pt2"
    summary = export_aoti(checkpoint, path, kernel="triton", device=device, with_mask=True,
                          max_batch=16, log=lambda _: None)
    return path, summary, device


def test_cli_writes_a_verified_package(reference_package):
    path, lines = reference_package
    assert path.is_file() and zipfile.is_zipfile(path)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".slr-aoti-")]
    text = "\n".join(lines)
    assert "cross-modal block: reference" in text and "batch 1-8" in text
    assert "max |logit difference|" in text


@pytest.mark.parametrize("batch,length", [(1, 1), (1, 30), (5, 13), (8, 64)])
def test_reference_package_matches_pytorch_at_any_batch_and_length(reference_package, checkpoint,
                                                                   batch, length):
    runner = AotiRunner(reference_package[0])
    model = load_model(checkpoint)[0]
    (lh, rh, body), _ = _inputs(batch, length, seed=batch * 1000 + length)
    with torch.no_grad():
        expected = model(lh, rh, body)
    got = runner(lh, rh, body)
    assert got.shape == expected.shape and torch.isfinite(got).all()
    assert float((got - expected).abs().max()) <= TOLERANCE


def test_package_metadata_and_runner_limits(reference_package, checkpoint):
    runner = AotiRunner(reference_package[0])
    info = load_model(checkpoint)[1]
    assert runner.class_names == info["class_names"]
    assert runner.metadata["kernel"] == "reference" and runner.metadata["device_type"] == "cpu"
    assert runner.batch_range == (1, 8) and runner.length_range == (1, info["config"].max_frames)
    (lh, rh, body), mask = _inputs(9, 4, seed=1)
    with pytest.raises(BatchTooLargeError, match="above the maximum 8"):
        runner(lh, rh, body)
    (lh, rh, body), mask = _inputs(2, 6, seed=2, padded=True)
    with pytest.raises(RunnerInputError, match="without --with-mask"):
        runner(lh, rh, body, mask)


def test_fused_package_with_mask_matches_pytorch(triton_package, checkpoint):
    path, summary, device = triton_package
    assert summary["metadata"]["kernel"] == "triton" and summary["max_abs_diff"] <= TOLERANCE
    runner = AotiRunner(path)
    model = load_model(checkpoint, device=device)[0]
    for batch, length, padded in ((3, 11, True), (1, 5, False)):
        (lh, rh, body), mask = _inputs(batch, length, seed=length, padded=padded)
        with torch.no_grad():
            expected = model(lh.to(device), rh.to(device), body.to(device), mask.to(device))
        got = runner(lh, rh, body, mask)
        assert float((got - expected.cpu()).abs().max()) <= TOLERANCE


def test_predict_reads_a_package_like_its_checkpoint(reference_package, checkpoint, tmp_path):
    from slr_fused.data.csv_format import write_pose_csv
    from slr_fused.data.synthetic import make_split
    from slr_fused.extract.predict import predict
    samples, labels = make_split(1, seed=4)
    write_pose_csv(tmp_path / "few.csv", samples[:3], labels[:3])
    packaged = predict([tmp_path / "few.csv"], reference_package[0], top_k=3)
    direct = predict([tmp_path / "few.csv"], checkpoint, top_k=3)
    assert packaged.model.class_names == direct.model.class_names
    for ours, theirs in zip(packaged.predictions, direct.predictions):
        assert [label for label, _, _ in ours.top] == [label for label, _, _ in theirs.top]
        for (_, _, p), (_, _, q) in zip(ours.top, theirs.top):
            assert p == pytest.approx(q, abs=1e-4)


def test_bad_files_and_options_are_one_clear_error(reference_package, checkpoint, tmp_path,
                                                   monkeypatch):
    with pytest.raises(ExportError, match="no such AOTInductor package"):
        AotiRunner(tmp_path / "missing.pt2")
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelMismatchError, match="not a loadable AOTInductor package"):
        AotiRunner(garbage, trust=True)
    with pytest.raises(ModelMismatchError, match="compiled for cpu"):
        AotiRunner(reference_package[0], device="meta")
    with pytest.raises(ExportError, match="kernel must be one of"):
        export_aoti(checkpoint, tmp_path / "x.pt2", kernel="fast")
    with pytest.raises(ExportError, match="max_batch"):
        export_aoti(checkpoint, tmp_path / "x.pt2", max_batch=0)
    if not torch.cuda.is_available():
        with pytest.raises(ExportError, match="CUDA is not available"):
            export_aoti(checkpoint, tmp_path / "x.pt2", device="cuda")
    if importlib.util.find_spec("triton") is not None:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        with pytest.raises(ExportError, match="use --device cuda"):
            export_aoti(checkpoint, tmp_path / "x.pt2", kernel="triton", device="cpu")
    not_ours = tmp_path / "not-ours.pt"
    not_ours.write_bytes(b"nothing")
    with pytest.raises(ValueError, match="not a readable slr-fused model file"):
        export_aoti(not_ours, tmp_path / "x.pt2")
    assert not (tmp_path / "x.pt2").exists()


def test_a_failed_export_keeps_the_previous_package(reference_package, checkpoint, tmp_path,
                                                    monkeypatch):
    target = tmp_path / "model.pt2"
    shutil.copy(reference_package[0], target)
    before = target.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("simulated compiler failure\nwith a long traceback")
    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", broken)
    with pytest.raises(ExportError, match="simulated compiler failure") as raised:
        export_aoti(checkpoint, target, kernel="reference", device="cpu", log=lambda _: None)
    assert "\n" not in str(raised.value)
    assert target.read_bytes() == before
