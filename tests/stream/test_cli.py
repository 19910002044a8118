"""``slr stream`` end to end on a replayed landmark CSV: calibration, events, summary, errors."""

import hashlib
import json

import pytest

from slr_fused.cli import main
from slr_fused.stream.calibration import sidecar_path

from stream_helpers import BSL16, GAP, IDLE_CLASS


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def calibrated(stream_model):
    before = _digest(stream_model)
    assert main(["stream", "--calibrate", str(BSL16 / "bsl16_val.csv"), "-m", str(stream_model),
                 "--no_sign", IDLE_CLASS]) == 0
    assert _digest(stream_model) == before, "calibration must never write the model"
    return stream_model


def test_calibration_is_stored_beside_the_model(calibrated):
    record = json.loads(sidecar_path(calibrated).read_text())
    assert 0.0 < record["threshold"] < 1.0
    assert record["samples"] == 225               # 240 validation samples less 15 idle ones
    assert record["windows"] == 225 * 4           # 15, 20, 25 and 30 frames of each
    assert record["correct_accepted"] >= 0.8
    assert record["no_sign_classes"] == [IDLE_CLASS]
    assert not list(calibrated.parent.glob("*.tmp"))


def _events(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("gaps", ["continuous_stream", "rest_stream"])
def test_stream_gives_one_event_per_sign_in_order(calibrated, gaps, request, capsys):
    path, signs = request.getfixturevalue(gaps)
    assert main(["stream", str(path), "-m", str(calibrated), "--no_wait", "--no_sign", IDLE_CLASS,
                 "--json_summary"]) == 0
    captured = capsys.readouterr()
    events = _events(captured.out)
    # Each event belongs to the sign its centre falls in; a centre in a gap is a false event.
    owner = {}
    for event in events:
        centre = (event["start_frame"] + event["end_frame"]) / 2
        inside = [k for k, (first, last, _) in enumerate(signs) if first <= centre <= last]
        assert inside, f"an event in a gap: {event}"
        owner.setdefault(inside[0], []).append(event)
    assert all(len(found) == 1 for found in owner.values()), "a sign gave two events"
    correct = sum(1 for k, (_, _, label) in enumerate(signs)
                  if k in owner and owner[k][0]["label_index"] == label)
    assert correct >= 0.9 * len(signs), f"{correct} of {len(signs)} signs recognised"
    starts = [e["start_frame"] for e in events]
    assert starts == sorted(starts)
    first = events[0]
    assert set(first) >= {"start_frame", "end_frame", "start_s", "end_s", "label", "confidence", "top"}
    assert first["start_s"] == pytest.approx(first["start_frame"] / 30.0, abs=1e-3)
    assert len(first["top"]) == 5 and first["top"][0]["class"] == first["label"]
    summary = json.loads(captured.err.strip().splitlines()[-1])
    assert summary["frames"] == len(signs) * (30 + (GAP if gaps == "continuous_stream" else 30))
    assert summary["dropped_frames"] == 0
    assert summary["stages"]["model"]["n"] > len(signs)
    for stage in ("capture", "landmarks", "model", "end-to-end"):
        row = summary["stages"][stage]
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]


def test_latency_table_is_printed(calibrated, continuous_stream, capsys):
    path, _ = continuous_stream
    assert main(["stream", str(path), "-m", str(calibrated), "--no_wait"]) == 0
    err = capsys.readouterr().err
    for stage in ("capture", "landmarks", "model", "end-to-end"):
        assert any(line.startswith(stage) for line in err.splitlines()), err
    assert "p50 ms" in err and "dropped: 0" in err


def test_missing_source_is_one_line(calibrated, tmp_path, capsys):
    assert main(["stream", str(tmp_path / "nothing.csv"), "-m", str(calibrated)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file" in err


def test_csv_of_another_joint_set_is_one_line(calibrated, tmp_path, capsys):
    other = tmp_path / "openpose25.csv"
    other.write_text("labels,Nose_X,Nose_Y\n0,\"[0.1, 0.2]\",\"[0.3, 0.4]\"\n")
    assert main(["stream", str(other), "-m", str(calibrated)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing column" in err


def test_unknown_no_sign_class_is_refused(calibrated, continuous_stream, capsys):
    path, _ = continuous_stream
    assert main(["stream", str(path), "-m", str(calibrated), "--no_sign", "not-a-class"]) == 2
    assert "no such class" in capsys.readouterr().err


def test_ctrl_c_ends_the_stream_cleanly(calibrated, continuous_stream, monkeypatch, capsys):
    """KeyboardInterrupt from the source mid-stream: the open sign is still reported, the source
    closed, the summary printed, and the command succeeds."""
    from slr_fused.stream import source as source_module
    path, signs = continuous_stream
    stop_at = signs[3][0] + 28          # inside the fourth sign
    closed = []

    class Interrupted(source_module.ReplaySource):
        def __iter__(self):
            for frame in super().__iter__():
                if frame.index == stop_at:
                    raise KeyboardInterrupt
                yield frame

        def close(self):
            closed.append(True)

    monkeypatch.setattr(source_module, "ReplaySource", Interrupted)
    assert main(["stream", str(path), "-m", str(calibrated), "--no_wait", "--json_summary"]) == 0
    captured = capsys.readouterr()
    events = _events(captured.out)
    assert closed == [True]
    assert 3 <= len(events) <= 4 and events[-1]["end_frame"] < stop_at
    summary = json.loads(captured.err.strip().splitlines()[-1])
    assert summary["interrupted"] is True and summary["frames"] == stop_at


def test_bf16_stream_gives_the_same_signs(calibrated, continuous_stream, capsys):
    from slr_fused.precision import cpu_supports_bf16, isa_report
    if not cpu_supports_bf16():
        reason = f"this CPU has no AVX512-BF16/AMX-BF16 (flags: {isa_report()['flags']})"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    path, _ = continuous_stream
    runs = {}
    for precision in ("fp32", "bf16"):
        assert main(["stream", str(path), "-m", str(calibrated), "--no_wait", "--no_sign", IDLE_CLASS,
                     "--precision", precision]) == 0
        runs[precision] = [e["label"] for e in _events(capsys.readouterr().out)]
    agree = sum(a == b for a, b in zip(runs["fp32"], runs["bf16"]))
    assert abs(len(runs["fp32"]) - len(runs["bf16"])) <= 1 and agree >= 0.9 * len(runs["fp32"])


def test_bf16_on_an_export_is_refused(calibrated, continuous_stream, tmp_path, capsys):
    from slr_fused.precision import cpu_supports_bf16
    if not cpu_supports_bf16():
        pytest.skip("this CPU has no bf16; the refusal is tested by tests/test_precision.py")
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not onnx")
    path, _ = continuous_stream
    assert main(["stream", str(path), "-m", str(fake), "--precision", "bf16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "runs .pt checkpoints" in err
