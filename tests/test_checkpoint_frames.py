"""The checkpoint remembers the frames per clip it was trained on, and every answering command
samples that many unless told otherwise (a checkpoint without the record: NUM_VIDEO_FRAMES)."""
from __future__ import annotations

import argparse
import json
import shutil

import pytest

from emollm_plugin.configs.recorded import checkpoint_value, num_video_frames
from emollm_plugin.constants import NUM_VIDEO_FRAMES, VIDEO_FRAMES_CONFIG_KEY


def test_explicit_then_recorded_then_the_constant():
    assert num_video_frames(4, 8) == 4
    assert num_video_frames(None, 8) == 8
    assert num_video_frames(None, None) == NUM_VIDEO_FRAMES
    for bad in (0, -2, "8", 2.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            num_video_frames(None, bad)


def test_checkpoint_value_reads_config_json(tmp_path):
    assert checkpoint_value(tmp_path, VIDEO_FRAMES_CONFIG_KEY) is None  # no config.json
    (tmp_path / "config.json").write_text(json.dumps({VIDEO_FRAMES_CONFIG_KEY: 8}))
    assert checkpoint_value(tmp_path, VIDEO_FRAMES_CONFIG_KEY) == 8
    (tmp_path / "config.json").write_text("{not json")
    assert checkpoint_value(tmp_path, VIDEO_FRAMES_CONFIG_KEY) is None


def _help(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_help().split())


def test_every_answering_command_says_the_default_is_the_checkpoints():
    from emollm_plugin.apps import demo_ui, predict, serve
    from emollm_plugin.commands import infer
    parsers = {"eval infer": infer.build_parser(), "predict": predict.build_parser(), "serve": serve.build_parser(),
               "demo-ui": demo_ui.build_parser()}
    for name, parser in parsers.items():
        assert parser.parse_args(_required(name)).num_video_frames is None, name
        assert "--num-video-frames" in _help(parser) and "default: the checkpoint's" in _help(parser), name


def _required(name: str) -> list[str]:
    return {"eval infer": ["--model-path", "m", "--question-file", "q", "--answers-file", "a"],
            "predict": ["--model-path", "m", "x.png", "--out", "o"]}.get(name, ["--model-path", "m"])


def test_mvp_show_help_says_the_default_is_the_checkpoints(capsys):
    from emollm_plugin.apps.mvp_show import main
    with pytest.raises(SystemExit):
        main(["show", "--help"])
    assert "default: the checkpoint's" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow  # the tiny checkpoint trained on 8 frames (test_eval_infer's, made once per session)
def test_a_checkpoint_trained_on_8_frames_is_answered_with_8(tiny_models, tmp_path_factory, tmp_path):
    from test_eval_infer import eval_setup
    from emollm_plugin.commands.infer import build_parser
    from emollm_plugin.runtime.answerer import Answerer

    setup = eval_setup(tiny_models, tmp_path_factory)
    assert json.loads((setup.ckpt / "config.json").read_text())[VIDEO_FRAMES_CONFIG_KEY] == 8

    def frames(ckpt, *extra: str) -> int:
        import emollm_plugin
        args = build_parser().parse_args(["--model-path", str(ckpt), "--model-base", str(setup.base),
                                          "--question-file", str(setup.questions), "--answers-file", "a", *extra])
        with emollm_plugin.register():  # as the commands do before loading a model
            return Answerer(args).media.reader.num_video_frames

    assert frames(setup.ckpt) == 8
    assert frames(setup.ckpt, "--num-video-frames", "4") == 4
    old = tmp_path / setup.ckpt.name  # a checkpoint written before the record existed
    shutil.copytree(setup.ckpt, old)
    config = json.loads((old / "config.json").read_text())
    del config[VIDEO_FRAMES_CONFIG_KEY]
    (old / "config.json").write_text(json.dumps(config))
    assert frames(old) == NUM_VIDEO_FRAMES
