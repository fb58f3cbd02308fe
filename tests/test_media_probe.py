from __future__ import annotations

import json

from emollm_plugin.media.probe import media_problem
from emollm_plugin.testing.synth import tone, write_corrupt_video, write_video, write_wav


def test_probe_names_each_problem(tmp_path):
    write_video(tmp_path / "ok.mp4", num_frames=4, audio=tone(0.5))
    write_video(tmp_path / "mute.mp4", num_frames=4)
    write_corrupt_video(tmp_path / "bad.mp4")
    write_wav(tmp_path / "a.wav", tone(0.2))
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert media_problem(tmp_path / "ok.mp4", "video") is None
    assert media_problem(tmp_path / "ok.mp4", "audio") is None
    assert media_problem(tmp_path / "a.wav", "audio") is None
    assert media_problem(tmp_path / "mute.mp4", "audio") == "audio track missing"
    assert media_problem(tmp_path / "a.wav", "video") == "video has no video stream"
    assert media_problem(tmp_path / "bad.mp4", "video") == "video unreadable"
    assert media_problem(tmp_path / "empty.mp4", "video") == "video empty"
    assert media_problem(tmp_path / "nope.mp4", "video") == "video missing"


def test_bench_validate_decodes_clips_and_their_sound(tmp_path):
    from emollm_plugin.bench.validate import validate_file
    media = tmp_path / "media" / "urfunny"
    media.mkdir(parents=True)
    write_video(media / "ok.mp4", num_frames=4, audio=tone(0.5))
    write_video(media / "mute.mp4", num_frames=4)
    write_corrupt_video(media / "bad.mp4")
    base = {"task": "humor", "dataset": "urfunny", "split": "test", "label": "yes", "source_id": "s"}
    records = []
    for name in ("ok", "mute", "bad"):
        records.append({**base, "id": f"urfunny/test/{name}/humor", "video": f"urfunny/{name}.mp4",
                        "audio": f"urfunny/{name}.mp4",
                        "conversations": [{"from": "human", "value": "<video>\n<audio>\nIs it funny?"},
                                          {"from": "gpt", "value": "Yes"}]})
    (tmp_path / "test.json").write_text(json.dumps(records))
    report = validate_file(tmp_path / "test.json", progress=False, manifest=False)
    assert dict(report.media_problems) == {"audio track missing": 1, "video unreadable": 1, "audio unreadable": 1}
    assert not report.ok
