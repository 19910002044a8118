"""No command writes over one of its inputs; an existing output is kept unless --overwrite."""

import os

import pytest

from slr_fused.checkpoint import save_model
from slr_fused.cli import main
from slr_fused.guards import OutputError, check_output
from slr_fused.models.siformer import SiFormer, SiFormerConfig


@pytest.fixture
def model_file(tmp_path):
    model = SiFormer(SiFormerConfig(num_classes=3, num_enc_layers=1, num_dec_layers=1, d_ff=16,
                                    max_frames=8))
    return save_model(tmp_path / "model.pt", model, ["a", "b", "c"])


def _refused(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def test_the_guard_sees_one_file_however_it_is_spelled(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("x")
    os.link(source, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(source)
    (tmp_path / "sub").mkdir()
    for spelling in (source, tmp_path / "sub" / ".." / "in.csv", tmp_path / "hard.csv",
                     tmp_path / "soft.csv"):
        with pytest.raises(OutputError, match="one of the inputs"):
            check_output(spelling, [source], overwrite=True)
    with pytest.raises(OutputError, match="--overwrite"):
        check_output(tmp_path / "hard.csv", [], overwrite=False)
    with pytest.raises(OutputError, match="folder"):
        check_output(tmp_path / "sub", [], overwrite=True)
    check_output(tmp_path / "new.csv", [source])  # a new name is fine


@pytest.mark.parametrize("fmt", ["onnx", "aoti"])
def test_export_never_replaces_the_model_it_reads(model_file, capsys, fmt):
    before = model_file.read_bytes()
    for output in (model_file, model_file.parent / "." / "model.pt"):
        assert main(["export", fmt, str(model_file), "-o", str(output), "--overwrite"]) == 2
        _refused(capsys, "one of the inputs")
    assert model_file.read_bytes() == before


def test_export_keeps_an_existing_output_unless_overwrite(model_file, tmp_path, capsys):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"an earlier export")
    assert main(["export", "onnx", str(model_file), "-o", str(target), "--no-verify"]) == 2
    _refused(capsys, "exists already", "--overwrite")
    assert target.read_bytes() == b"an earlier export"
    pytest.importorskip("onnx")
    assert main(["export", "onnx", str(model_file), "-o", str(target), "--no-verify", "--overwrite"]) == 0
    assert target.read_bytes() != b"an earlier export"


def test_tensorrt_build_never_replaces_its_onnx(tmp_path, capsys):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"graph")
    assert main(["export", "tensorrt", str(onnx), "-o", str(onnx)]) == 2
    _refused(capsys, "one of the inputs")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"old engine")
    assert main(["export", "tensorrt", str(onnx), "-o", str(engine)]) == 2
    _refused(capsys, "exists already")
    assert onnx.read_bytes() == b"graph" and engine.read_bytes() == b"old engine"


def test_extract_never_replaces_a_video_or_an_existing_csv(tmp_path, capsys):
    video = tmp_path / "wave" / "v.avi"
    video.parent.mkdir()
    video.write_bytes(b"not really a video")
    for args in (["extract", str(video), "-o", str(video)],
                 ["extract", str(tmp_path / "wave"), "-o", str(video), "--overwrite"]):
        assert main(args) == 2
        _refused(capsys, "one of the inputs")
    assert video.read_bytes() == b"not really a video"
    existing = tmp_path / "out.csv"
    existing.write_text("labels\n")
    assert main(["extract", str(video), "-o", str(existing)]) == 2
    _refused(capsys, "exists already", "--overwrite")
    assert existing.read_text() == "labels\n"


def test_evaluate_keeps_an_earlier_evaluation_and_never_writes_into_a_file(model_file, tmp_path, capsys):
    data = tmp_path / "data.csv"
    data.write_text("labels\n0\n")
    earlier = tmp_path / "ev" / "evaluation.json"
    earlier.parent.mkdir()
    earlier.write_text("{}")
    assert main(["evaluate", str(model_file), "--data", str(data), "--output", str(earlier.parent)]) == 2
    _refused(capsys, "exists already", "--overwrite")
    assert earlier.read_text() == "{}"
    assert main(["evaluate", str(model_file), "--data", str(data), "--output", str(model_file)]) == 2
    _refused(capsys, "is a file")


def test_data_check_keeps_an_earlier_report_and_never_writes_into_its_csv(tmp_path, capsys):
    csv = tmp_path / "d_train.csv"
    csv.write_text("labels\n0\n")
    report = tmp_path / "out" / "report.md"
    report.parent.mkdir()
    report.write_text("earlier")
    assert main(["data", "check", str(csv), "-o", str(report.parent)]) == 2
    _refused(capsys, "exists already", "--overwrite")
    assert report.read_text() == "earlier"
    assert main(["data", "check", str(csv), "-o", str(csv)]) == 2
    _refused(capsys, "is a file")
    assert csv.read_text() == "labels\n0\n"
    assert main(["data", "check", str(csv), "--render", "-1"]) == 2
    _refused(capsys, "--render")


def test_render_never_replaces_its_video_or_an_existing_file(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"video bytes")
    for args in (["render", str(video), "-o", str(video), "--overwrite"],
                 ["render", str(tmp_path / "d.csv"), "--video", str(video), "-o", str(video)]):
        assert main(args) == 2
        _refused(capsys, "one of the inputs")
    assert video.read_bytes() == b"video bytes"
    earlier = tmp_path / "earlier.gif"
    earlier.write_bytes(b"gif")
    assert main(["render", str(video), "-o", str(earlier)]) == 2
    _refused(capsys, "exists already", "--overwrite")
    assert earlier.read_bytes() == b"gif"
