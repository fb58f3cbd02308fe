"""Frame sampling from real video files written on the fly (PyAV), and every bad-video error."""
from __future__ import annotations

import math
import pickle
import warnings

import av
import numpy as np
import pytest

from emollm_plugin.media import MediaError, frame_indices, sample_frames
from emollm_plugin.testing import synth


def decode_all(path) -> list[np.ndarray]:
    """Reference: every frame of the first video stream, in order, as RGB arrays."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("total, num", [(16, 4), (16, 8), (17, 5), (300, 8), (8, 8), (1, 1)])
def test_frame_indices_are_segment_centres(total, num):
    expected = [math.floor((k + 0.5) * total / num) for k in range(num)]
    assert frame_indices(total, num) == expected
    assert len(set(expected)) == num  # total >= num: no repeats


def test_frame_indices_repeat_nearest_frames_for_short_clips():
    assert frame_indices(3, 8) == [0, 0, 0, 1, 1, 2, 2, 2]
    assert frame_indices(1, 4) == [0, 0, 0, 0]


def test_sample_frames_returns_the_centre_frames(tmp_path):
    path = synth.write_video(tmp_path / "clip.mp4", num_frames=16, size=(64, 48))
    reference = decode_all(path)
    assert len(reference) == 16
    # synthetic frames are distinct, so picking a neighbour instead would fail the test
    assert all(not np.array_equal(reference[i], reference[i + 1]) for i in range(15))
    frames = sample_frames(path, num_frames=4)
    assert [f.size for f in frames] == [(64, 48)] * 4 and all(f.mode == "RGB" for f in frames)
    for frame, index in zip(frames, [2, 6, 10, 14]):
        np.testing.assert_array_equal(np.asarray(frame), reference[index])


def test_short_clip_repeats_frames_instead_of_padding(tmp_path):
    path = synth.write_video(tmp_path / "short.mp4", num_frames=3)
    reference = decode_all(path)
    frames = sample_frames(path, num_frames=8)
    assert len(frames) == 8
    for frame, index in zip(frames, [0, 0, 0, 1, 1, 2, 2, 2]):
        np.testing.assert_array_equal(np.asarray(frame), reference[index])
    assert min(np.asarray(f).max() for f in frames) > 0  # no black filler frames


def test_container_without_frame_count_is_counted_by_packets(tmp_path):
    path = synth.write_video(tmp_path / "clip.mkv", num_frames=10)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # matroska keeps no count
    reference = decode_all(path)
    frames = sample_frames(path, num_frames=5)
    for frame, index in zip(frames, [1, 3, 5, 7, 9]):
        np.testing.assert_array_equal(np.asarray(frame), reference[index])


def test_video_with_audio_track_samples_frames(tmp_path):
    path = synth.write_video(tmp_path / "av.mp4", num_frames=8, audio=synth.tone(1.0))
    assert len(sample_frames(path, num_frames=8)) == 8


def test_num_frames_must_be_positive(tmp_path):
    path = synth.write_video(tmp_path / "clip.mp4", num_frames=4)
    with pytest.raises(ValueError, match="num_frames"):
        sample_frames(path, num_frames=0)


def _expect(cause, path, **kwargs) -> MediaError:
    with pytest.raises(MediaError) as info:
        sample_frames(path, **kwargs)
    err = info.value
    assert err.cause == cause
    assert str(path) in str(err) and err.path == str(path)
    assert ": " in str(err)  # cause, then the fix
    return err


def test_missing_file(tmp_path):
    err = _expect("missing", tmp_path / "nope.mp4")
    assert "check the record's path" in str(err)


def test_directory_is_not_a_video(tmp_path):
    _expect("missing", tmp_path)


def test_corrupt_truncated_video(tmp_path):
    path = synth.write_corrupt_video(tmp_path / "broken.mp4")
    err = _expect("corrupt", path)
    assert "re-encode" in str(err)
    assert isinstance(err.__cause__, av.error.FFmpegError)


def test_audio_file_has_no_video_stream(tmp_path):
    path = synth.write_wav(tmp_path / "voice.wav", synth.tone(0.5))
    err = _expect("no_video_stream", path)
    assert "'audio' field" in str(err)


def test_zero_decodable_frames(tmp_path):
    path = synth.write_undecodable_video(tmp_path / "zeros.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error itself must carry the story, not a warning
        err = _expect("no_frames", path)
    assert "failed to decode" in str(err)


def test_media_error_survives_pickling_for_dataloader_workers(tmp_path):
    err = MediaError(tmp_path / "a.mp4", "no_audio_track")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.cause, str(copy)) == (err.path, err.cause, str(err))
    assert isinstance(copy, ValueError)


def test_unknown_cause_is_rejected():
    with pytest.raises(ValueError, match="known: missing"):
        MediaError("a.mp4", "mystery")


def test_a_corrupt_image_is_told_to_be_exported_again_not_re_encoded_with_a_video_tool(tmp_path):
    from emollm_plugin.media.errors import CORRUPT, MediaError
    from emollm_plugin.media.reader import MediaReader
    (tmp_path / "face.jpg").write_bytes(b"\xff\xd8\xff not a whole jpeg")
    with pytest.raises(MediaError) as err:
        MediaReader(tmp_path, image_processor=None).image("face.jpg")
    assert err.value.cause == CORRUPT and "export it again as PNG or JPEG" in str(err.value)
    assert "ffmpeg" not in str(err.value).lower() and "mp4" not in str(err.value)
    assert "ffmpeg" not in str(MediaError(tmp_path / "clip.mp4", CORRUPT)).lower()
