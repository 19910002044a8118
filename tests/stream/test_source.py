"""Frame sources (slr/stream/source.py): which source a SOURCE argument opens, replay errors.
Replaying a real CSV runs in tests/stream/test_cli.py; cameras and videos in test_capture.py."""

import pytest

from slr_fused.stream.source import ReplaySource, StreamError, is_camera, is_url, open_source


def test_camera_and_url_spellings():
    assert is_camera("0") and is_camera(" 12 ") and not is_camera("cam0")
    assert is_url("rtsp://host/stream") and not is_url("clips/a.mp4")


def test_missing_source_is_one_stream_error(tmp_path):
    with pytest.raises(StreamError, match=f"^{tmp_path / 'absent.csv'}: no such file or folder$"):
        open_source(str(tmp_path / "absent.csv"))


def test_a_folder_without_csvs_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(StreamError, match="no .csv files in the folder"):
        ReplaySource(tmp_path)


def test_a_broken_csv_is_a_stream_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,pose,file\n1,2,3,4\n")
    with pytest.raises(StreamError):
        ReplaySource(bad)
    assert issubclass(StreamError, ValueError)
