"""Extraction with MediaPipe Holistic on real pixels: a photograph of a person, and bad videos."""

import argparse
import shutil

import numpy as np
import pytest

from extract_helpers import ASTRONAUT_FRAMES, ASTRONAUT_SHIFT, ASTRONAUT_SIZE, astronaut_frames, write_video
from slr_fused.data.csv_format import read_class_names, read_pose_csv
from slr_fused.data.joints import BODY_INDEX
from slr_fused.extract import ExtractionError, ExtractOptions, extract_dataset, extract_video
from slr_fused.extract.cli import add_extract_parser, run_extract


def extract_cli():
    parser = argparse.ArgumentParser(prog="slr")
    add_extract_parser(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture(scope="module")
def astronaut_result(mediapipe, astronaut_video):
    return extract_video(astronaut_video, ExtractOptions(), label="astronaut")


def test_astronaut_body_is_found_where_the_person_is(astronaut_result):
    r = astronaut_result
    assert r.usable, r.message
    assert r.frames.shape == (ASTRONAUT_FRAMES, 54, 2)
    assert r.frames_with_person == ASTRONAUT_FRAMES
    body = r.frames[:, :12]
    nose, neck = body[0, BODY_INDEX["nose"]], body[0, BODY_INDEX["neck"]]
    left, right = body[0, BODY_INDEX["leftShoulder"]], body[0, BODY_INDEX["rightShoulder"]]
    print(f"first frame: nose {nose}, neck {neck}, left shoulder {left}, right shoulder {right}")
    # In the photo the face is in the upper middle (about x 0.33-0.53, y 0.1-0.4 of the frame)
    # and the shoulders span most of the width at mid-height.
    assert 0.33 < nose[0] < 0.53 and 0.12 < nose[1] < 0.38
    assert 0.35 < left[1] < 0.65 and 0.35 < right[1] < 0.65
    # She faces the camera: her left shoulder is on the image's right.
    assert left[0] - right[0] > 0.25
    np.testing.assert_allclose(neck, (left + right) / 2, atol=1e-6)
    assert nose[1] < neck[1] - 0.1
    for eye in ("leftEye", "rightEye"):
        assert abs(body[0, BODY_INDEX[eye], 1] - nose[1]) < 0.1
    assert body[0, BODY_INDEX["leftEye"], 0] > body[0, BODY_INDEX["rightEye"], 0]


def test_astronaut_landmarks_move_with_the_image(astronaut_result):
    body = astronaut_result.frames[:, :12]
    expected = ASTRONAUT_SHIFT * (ASTRONAUT_FRAMES - 1) / ASTRONAUT_SIZE     # 0.129
    for joint in ("nose", "neck", "leftShoulder", "rightShoulder"):
        track = body[:, BODY_INDEX[joint]]
        dx, dy = track[-1] - track[0]
        print(f"{joint}: moved dx {dx:.3f} dy {dy:.3f} (image moved {expected:.3f})")
        # MediaPipe smooths landmarks over time, so they lag the image a little.
        assert expected - 0.05 < dx < expected + 0.03, joint
        assert abs(dy) < 0.05, joint   # the image does not move vertically: jitter only
    # The nose moves right frame after frame (allowing for jitter of a few thousandths).
    assert (np.diff(body[:, BODY_INDEX["nose"], 0]) > -0.005).all()


def test_frame_options_reach_the_extraction(mediapipe, astronaut_video):
    # 12 frames at 25 fps = 0.48 s; at 10 fps that is 5 frames (t = 0, 0.1, ..., 0.4 s).
    r = extract_video(astronaut_video, ExtractOptions(fps=10))
    assert r.frames.shape[0] == 5 and r.frames_with_person == 5
    r = extract_video(astronaut_video, ExtractOptions(start_frame=4, max_frames=3))
    assert r.frames.shape[0] == 3
    # From frame 4 the picture has moved 12 px: the nose starts further right than in frame 0.
    first = extract_video(astronaut_video, ExtractOptions(max_frames=1))
    assert r.frames[0, BODY_INDEX["nose"], 0] > first.frames[0, BODY_INDEX["nose"], 0] + 0.02


def test_a_pose_model_that_cannot_be_downloaded_is_one_clear_error(mediapipe, monkeypatch, tmp_path):
    """Complexities 0 and 2 are downloaded by MediaPipe on first use; offline that must not turn
    into one traceback per video."""
    import urllib.error
    holistic = mediapipe.solutions.holistic

    def offline(model_complexity):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(holistic, "_download_oss_pose_landmark_model", offline)
    with pytest.raises(ExtractionError, match="model complexity 2 needs MediaPipe's "
                                              "pose_landmark_heavy.tflite, which is not bundled"):
        extract_dataset([tmp_path / "any.avi"], tmp_path / "x.csv", ExtractOptions(model_complexity=2),
                        progress=False)


def test_batch_reports_each_bad_video_and_extracts_the_good_one(mediapipe, astronaut_video, bad_videos,
                                                                 tmp_path, capsys):
    output = tmp_path / "batch_train.csv"
    inputs = [str(p) for p in bad_videos] + [str(astronaut_video)]
    args = extract_cli().parse_args(["extract", *inputs, "-o", str(output), "--label", "hello",
                                     "--workers", "2", "--no_progress"])
    assert run_extract(args) == 1  # some videos skipped
    printed = capsys.readouterr().out
    print(printed)
    assert "1 of 5 videos extracted" in printed
    for path, message in bad_videos.items():
        lines = [line for line in printed.splitlines() if line.strip().startswith(str(path))]
        assert len(lines) == 1 and message in lines[0], (path, lines)
    data = read_pose_csv(output, use_cache=False)
    assert len(data) == 1 and data.lengths[0] == ASTRONAUT_FRAMES
    assert read_class_names(output) == ["hello"]
    # The work folder is kept when something failed, so a rerun retries only the failures.
    assert (tmp_path / ".batch_train.csv.work").is_dir()


def test_only_bad_videos_is_one_clear_error(mediapipe, bad_videos, tmp_path):
    with pytest.raises(ExtractionError, match="none of the 4 videos gave landmarks"):
        extract_dataset([str(p) for p in bad_videos], tmp_path / "none.csv", log=lambda _: None,
                        progress=False)
    assert not (tmp_path / "none.csv").exists()


def test_folder_labels_and_resume(mediapipe, cv2, astronaut_video, tmp_path):
    """Folder names become labels; a second run reuses finished videos instead of redoing them."""
    root = tmp_path / "signs"
    (root / "wave").mkdir(parents=True)
    (root / "bow").mkdir()
    shutil.copy(astronaut_video, root / "wave" / "a.avi")
    write_video(cv2, root / "bow" / "b.avi", astronaut_frames(cv2, count=4, shift=-3))
    options = ExtractOptions(max_frames=4)
    work = tmp_path / "work"
    first = extract_dataset([root / "wave"], tmp_path / "signs_train.csv", options, work_dir=work,
                            keep_work=True, progress=False)
    assert [r.cached for r in first.results] == [False]
    saved = {p.name: p.stat().st_mtime_ns for p in work.glob("*.npz")}
    assert len(saved) == 1

    second = extract_dataset([root], tmp_path / "signs_train.csv", options, work_dir=work,
                             keep_work=True, progress=False)
    by_label = {r.label: r for r in second.results}
    assert set(by_label) == {"wave", "bow"}
    assert by_label["wave"].cached and not by_label["bow"].cached
    # The finished video was not redone: its result file is untouched.
    assert {p.name: p.stat().st_mtime_ns for p in work.glob("*.npz") if p.name in saved} == saved
    # The class file written by the first run keeps its numbering; new labels are appended.
    assert second.class_names == ["wave", "bow"]
    assert read_class_names(tmp_path / "signs_train.csv") == ["wave", "bow"]
    data = read_pose_csv(tmp_path / "signs_train.csv", use_cache=False)
    labels = {second.class_names[label] for label in data.labels}
    assert labels == {"wave", "bow"}
    wave_row = [i for i, label in enumerate(data.labels) if second.class_names[label] == "wave"][0]
    np.testing.assert_allclose(data.sample(wave_row), first.results[0].frames, atol=1e-5)
    # A third run has nothing left to do; everything succeeded and keep_work is off, so the
    # work folder is cleaned up.
    third = extract_dataset([root], tmp_path / "signs_train.csv", options, work_dir=work, progress=False)
    assert all(r.cached for r in third.results)
    assert not work.exists()
    # The list of sources is itself an input for `slr extract`.
    sources = (tmp_path / "signs_train.csv.sources.txt").read_text().splitlines()
    assert sources[0] == "path,label" and len(sources) == 3


def test_list_file_input(mediapipe, astronaut_video, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"path,label\n# a comment\n{astronaut_video},thanks\nmissing.avi,thanks\n")
    report = extract_dataset([listing], tmp_path / "list.csv", ExtractOptions(max_frames=2), progress=False,
                             log=lambda _: None)
    assert [r.status for r in report.results] == ["no_hands", "error"] or \
        [r.status for r in report.results] == ["ok", "error"]
    # Relative paths in a list file are relative to the list file.
    assert report.results[1].message == f"{tmp_path / 'missing.avi'}: no such file"
    assert report.class_names == ["thanks"]


def test_a_pose_csv_is_not_taken_for_a_list_of_videos(tmp_path):
    from slr_fused.data.csv_format import write_pose_csv
    from slr_fused.extract import collect_videos
    write_pose_csv(tmp_path / "poses.csv", [np.zeros((2, 54, 2), np.float32)], [0])
    with pytest.raises(ExtractionError, match="is a pose CSV, not a list of videos"):
        collect_videos([tmp_path / "poses.csv"])


def test_a_damaged_work_file_is_extracted_again(mediapipe, astronaut_video, tmp_path):
    options = ExtractOptions(max_frames=2)
    work = tmp_path / "work"
    extract_dataset([astronaut_video], tmp_path / "d.csv", options, work_dir=work, keep_work=True,
                    progress=False)
    (saved,) = work.glob("*.npz")
    saved.write_bytes(b"not an npz")  # e.g. a disk that filled up
    again = extract_dataset([astronaut_video], tmp_path / "d.csv", options, work_dir=work,
                            keep_work=True, progress=False)
    assert not again.results[0].cached and again.results[0].usable
    assert again.results[0].frames.shape == (2, 54, 2)


def test_an_mp4_video_is_read_too(mediapipe, cv2, tmp_path):
    """An MP4 container with the mp4v codec, as well as the MJPG AVI used above."""
    path = write_video(cv2, tmp_path / "astronaut.mp4", astronaut_frames(cv2, count=4), fourcc="mp4v")
    result = extract_video(path)
    assert result.usable, result.message
    assert result.frames.shape == (4, 54, 2) and result.frames_with_person == 4
    assert result.fps == pytest.approx(25)
    assert 0.33 < result.frames[0, BODY_INDEX["nose"], 0] < 0.53
