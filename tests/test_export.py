"""``emollm export``: the exported folder answers like the LLaVA path, without the plugin or LLaVA.

The end-to-end tests train tiny LoRA checkpoints (default MVP variant and ``--mvp_variant paper``),
export them, and ask an image, a clip, a clip with its sound and the sound alone through both
paths; the exported side runs in a subprocess whose imports of llava, emollm_plugin,
torch_geometric and whisper fail (export_worker.py).
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export_helpers import cases, exported_answers, llava_answers

REMOTE = Path(__file__).parents[1] / "emollm_plugin" / "export" / "remote"
FRAMES = 8


# ----- the remote code on its own --------------------------------------------------------------
ALLOWED_IMPORTS = {"torch", "transformers", "numpy", "PIL", "jinja2", "av", "__future__", "argparse", "importlib",
                   "json", "math", "os", "re", "shutil", "pathlib", "typing"}


@pytest.mark.parametrize("name", ["configuration_emollm.py", "modeling_emollm.py", "processing_emollm.py"])
def test_remote_code_imports_torch_and_transformers_only(name):
    tree = ast.parse((REMOTE / name).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


def _remote():
    from emollm_plugin.export.remote import modeling_emollm
    return modeling_emollm


@pytest.mark.parametrize("variant,overrides", [("chatunivi", {}), ("paper", {}),
                                               ("paper", {"graph_norm": "off_diagonal", "knn_self": "include"}),
                                               ("chatunivi", {"contiguous_events": False, "content_proj": "mlp2x_gelu"})])
def test_remote_mvp_equals_the_plugins(variant, overrides):
    """Image and clip paths of the copied MVP against the plugin's MVPProjector (same weights)."""
    from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector

    config = MVPConfig(num_clusters=(12, 6, 3), knn=(4, 3, 2), frames_per_event=3, variant=variant, **overrides)
    torch.manual_seed(0)
    plugin = MVPProjector(16, 24, config)
    settings = {k[len("mvp_"):]: v for k, v in config.to_dict().items()}
    copied = _remote().MVPProjector(16, 24, settings)
    copied.load_state_dict(plugin.state_dict())
    images = torch.randn(3, 30, 16) * torch.rand(3, 30, 1)
    clip = torch.randn(7, 30, 16) * torch.rand(7, 30, 1)
    with torch.no_grad():
        torch.testing.assert_close(copied(images), plugin(images), rtol=0, atol=0)
        torch.testing.assert_close(copied.forward_video(clip), plugin.forward_video(clip), rtol=0, atol=0)
    assert copied.num_tokens_video(7) == plugin.num_tokens_video(7) == 3 * 21


def test_whisper_feature_extractor_equals_the_plugins_padded_window():
    """WhisperFeatureExtractor's 30 s features are the plugin's padded-window input: the covered
    log-mel frames, then the silence value the tower writes (audio/tower.py)."""
    from transformers import WhisperFeatureExtractor

    from emollm_plugin.audio.mel import covered_mel_frames, log_mel_trimmed
    from emollm_plugin.audio.tower import SILENCE_FLOOR

    from emollm_plugin.export.remote import processing_emollm as processing
    rng = np.random.default_rng(0)
    for n in (3200, 40000, 123457, 480000):
        x = (rng.standard_normal(n) * 0.1).astype(np.float32)
        features = WhisperFeatureExtractor(feature_size=80)(x, sampling_rate=16000, return_tensors="pt").input_features[0]
        mel = log_mel_trimmed(x, covered=True)
        padded = torch.full((80, 3000), max(float(mel.max()) - 2.0, SILENCE_FLOOR))
        padded[:, :mel.shape[1]] = mel
        torch.testing.assert_close(features, padded, rtol=0, atol=1e-5)
        assert processing.covered_mel_frames(n) == covered_mel_frames(n) == mel.shape[1]


def test_converted_whisper_encoder_equals_the_plugins_tower(tmp_path):
    """transformers' WhisperEncoder with the converted openai-whisper weights gives the plugin
    tower's padded-window output on the clip's positions."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from emollm_plugin.audio.mel import log_mel_trimmed
    from emollm_plugin.testing.tiny_audio import make_tiny_whisper
    from emollm_plugin.audio.tower import WhisperAudioTower
    from emollm_plugin.export.weights import whisper_name

    tower = WhisperAudioTower(make_tiny_whisper(tmp_path / "w.pt"), window="padded")
    d = tower.dims
    encoder = WhisperEncoder(WhisperConfig(num_mel_bins=d.n_mels, d_model=d.n_audio_state,
                                           encoder_layers=d.n_audio_layer, encoder_attention_heads=d.n_audio_head,
                                           encoder_ffn_dim=4 * d.n_audio_state, max_source_positions=d.n_audio_ctx))
    encoder.load_state_dict({whisper_name(k): v for k, v in tower.encoder.state_dict().items()}, strict=True)
    encoder.eval()
    x = (np.random.default_rng(1).standard_normal(24000) * 0.1).astype(np.float32)
    mel = log_mel_trimmed(x, covered=True)
    padded = torch.full((80, 3000), max(float(mel.max()) - 2.0, -1.5))
    padded[:, :mel.shape[1]] = mel
    with torch.no_grad():
        want = tower([mel])[0]
        got = encoder(padded[None]).last_hidden_state[0, :mel.shape[1] // 2]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_weights_stream_into_shards_with_an_index(tmp_path):
    from safetensors.torch import load_file

    from emollm_plugin.export.weights import write_shards

    tensors = [(f"layer.{i}.weight", torch.randn(64, 32)) for i in range(5)] + [("ids", torch.arange(7))]
    files = write_shards(iter(tensors), tmp_path, torch.bfloat16, max_shard_bytes=64 * 32 * 2 * 2)
    assert [f.name for f in files] == [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)]
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    loaded = {}
    for f in files:
        loaded.update(load_file(f))
    assert set(index["weight_map"]) == set(loaded) == {name for name, _ in tensors}
    for name, tensor in tensors:
        want = tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
        assert loaded[name].dtype == want.dtype and torch.equal(loaded[name], want)


@pytest.mark.parametrize("mode", ["vicuna_v1", "emoprompt_v1"])
def test_chat_template_reproduces_llavas_prompt(registered, mode):
    import jinja2

    from emollm_plugin.emoprompt.bank import example_bank_path, load_bank
    from emollm_plugin.emoprompt.template import with_exemplar
    from emollm_plugin.eval.questions import conversation
    from emollm_plugin.export.chat_template import template_for

    conv = conversation(mode)
    if mode == "emoprompt_v1":
        conv = with_exemplar(conv, sorted(load_bank(example_bank_path()), key=lambda e: e.id)[0])
    conv.append_message(conv.roles[0], "<image>\n<audio>\nWhich emotion?")
    conv.append_message(conv.roles[1], "joy")
    conv.append_message(conv.roles[0], "Why?")
    conv.append_message(conv.roles[1], None)
    messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "video"}, {"type": "text", "text": "Which emotion?"}]},
                {"role": "assistant", "content": "joy"}, {"role": "user", "content": "Why?"}]
    rendered = jinja2.Environment().from_string(template_for(conversation(mode) if mode == "vicuna_v1" else conv)
                                                ).render(messages=messages, add_generation_prompt=True)
    assert rendered == conv.get_prompt().replace("<image>", "<video>", 1)
    system = [{"role": "system", "content": "Be brief."}]
    assert jinja2.Environment().from_string(template_for(conv)).render(
        messages=system + messages, add_generation_prompt=True).startswith("Be brief. USER: <video>\n<audio>\n")


# ----- end to end: trained tiny checkpoints ----------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny_models, tmp_path_factory):
    """variant -> (LoRA checkpoint, exported folder); one demo data set for both."""
    from e2e_helpers import tiny_train_args, train_in_process

    import emollm_plugin
    from emollm_plugin.export.folder import export
    from emollm_plugin.testing.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("export")
    data = make_demo_data(root / "data", per_label=2, kinds=("image", "video", "video+audio"), video_frames=FRAMES)
    out = {}
    for variant in ("chatunivi", "paper"):
        ckpt = root / f"emollm-llava-lora-{variant}"
        mp = pytest.MonkeyPatch()
        try:
            train_in_process(mp, tiny_train_args(
                tiny_models, data, ckpt, "--audio_tower", str(tiny_models.whisper), "--mm_audio_num_tokens", "8",
                "--num_video_frames", str(FRAMES), "--per_device_train_batch_size", "3", "--mvp_variant", variant,
                max_steps=2))
        finally:
            mp.undo()
        emollm_plugin.register()
        out[variant] = (ckpt, export(ckpt, root / f"exported-{variant}", model_base=str(tiny_models.llm)))
        # the frame count comes from the checkpoint, which training records
        assert json.loads((out[variant][1] / "config.json").read_text())["num_video_frames"] == FRAMES
    return data / "media", out


def _same_answers(want: dict, got: dict, folder: Path):
    config = json.loads((folder / "config.json").read_text())
    placeholder = {config["image_token_index"]: -200, config["video_token_index"]: -200,
                   config["audio_token_index"]: -300}
    for name in cases(Path(".")):
        ids = [placeholder.get(int(i), int(i)) for i in got[name]["input_ids"]]
        assert ids == want[name]["input_ids"].tolist(), name
        torch.testing.assert_close(got[name]["logits"], want[name]["logits"], rtol=0, atol=1e-4)
        assert got[name]["tokens"].tolist() == want[name]["tokens"].tolist(), name


@pytest.mark.slow
@pytest.mark.current_stack
@pytest.mark.parametrize("variant", ["chatunivi", "paper"])
def test_exported_folder_answers_like_llava_without_the_plugin(trained, tiny_models, variant, tmp_path):
    media, folders = trained
    ckpt, folder = folders[variant]
    want = llava_answers(ckpt, tiny_models.llm, media, FRAMES)
    proc, got = exported_answers(folder, media.resolve(), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import transformers
    auto = "AutoModelForImageTextToText" if hasattr(transformers, "AutoModelForImageTextToText") else "AutoModelForVision2Seq"
    assert got["_classes"] == [auto, "EmoLLMForConditionalGeneration", "EmoLLMProcessor"]
    assert json.loads((folder / "config.json").read_text())["projector"]["variant"] == variant
    _same_answers(want, got, folder)


@pytest.mark.slow
@pytest.mark.current_stack
def test_round_trip_bfloat16_and_device_map(trained, tmp_path):
    media, folders = trained
    _, folder = folders["chatunivi"]
    proc, first = exported_answers(folder, media.resolve(), tmp_path / "first")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc, again = exported_answers(folder, media.resolve(), tmp_path / "again", "--resave", str(tmp_path / "resaved"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in cases(Path(".")):
        assert again[name]["tokens"].tolist() == first[name]["tokens"].tolist()
        torch.testing.assert_close(again[name]["logits"], first[name]["logits"], rtol=0, atol=0)
    assert (tmp_path / "resaved" / "modeling_emollm.py").is_file()
    assert (tmp_path / "resaved" / "processing_emollm.py").is_file()
    proc, mapped = exported_answers(folder, media.resolve(), tmp_path / "mapped", "--device-map", "auto")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in cases(Path(".")):
        assert mapped[name]["tokens"].tolist() == first[name]["tokens"].tolist()
    proc, half = exported_answers(folder, media.resolve(), tmp_path / "bf16", "--dtype", "bfloat16")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert half["_dtype"] == "torch.bfloat16"
    for name in cases(Path(".")):
        assert torch.isfinite(half[name]["logits"]).all() and len(half[name]["tokens"]) > 0


@pytest.mark.slow
@pytest.mark.current_stack
def test_exported_folder_passes_hub_card_and_metadata_checks(trained):
    from huggingface_hub import ModelCard

    _, folders = trained
    _, folder = folders["paper"]
    card = ModelCard.load(folder / "README.md", ignore_metadata_errors=False)
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "image-text-to-text"
    assert "custom_code" in data["tags"] and data["license"] == "other"
    assert "from_pretrained" in card.text
    config = json.loads((folder / "config.json").read_text())
    for key in ("AutoConfig", "AutoModelForImageTextToText", "AutoModelForVision2Seq", "AutoProcessor"):
        module, _, cls = config["auto_map"][key].partition(".")
        assert f"class {cls}" in (folder / f"{module}.py").read_text()
    assert {p.name for p in folder.glob("*.safetensors")} == {"model.safetensors"}
    assert not list(folder.glob("*.bin"))


@pytest.mark.slow
@pytest.mark.current_stack
def test_predict_and_serve_take_an_exported_folder(trained, tiny_models, tmp_path, registered):
    """``emollm predict`` and the server's engine answer the same through the checkpoint and
    through its exported folder (the lmms-eval model shares their ``Answerer``)."""
    from emollm_plugin.apps import engine, predict, serve

    media, folders = trained
    ckpt, folder = folders["chatunivi"]
    clip = media / "demo" / "video_audio_anger_0.mp4"
    inputs = [str(media / "demo" / "image_anger_0.png"), str(clip)]
    answers, replies = [], []
    for model in (["--model", str(ckpt), "--model-base", str(tiny_models.llm)], ["--model", str(folder)]):
        out = tmp_path / f"answers{len(answers)}.jsonl"
        assert predict.main(model + inputs + ["--task", "emotion_open", "--num-video-frames", str(FRAMES),
                                              "--max-new-tokens", "6", "--device", "cpu", "--out", str(out)]) == 0
        answers.append([json.loads(line)["text"] for line in out.read_text().splitlines()])
        args = serve.build_parser().parse_args(model + ["--num-video-frames", str(FRAMES), "--max-new-tokens", "6",
                                                        "--device", "cpu"])
        server = engine.Engine(args)
        job = server.prepare("Which emotion does the speaker show?", {"video": clip, "audio": clip})
        replies.append(server.run_batch([job])[0].text)
    assert len(answers[0]) == 2 and answers[0] == answers[1]
    assert replies[0] == replies[1]
