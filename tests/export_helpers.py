"""The same questions asked through LLaVA's path and through an exported folder (in a process
where ``llava`` and ``emollm_plugin`` cannot be imported: export_worker.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
QUESTION = "What emotion does this show? Answer with one word."
MAX_NEW_TOKENS = 8


def cases(media_root: Path) -> dict:
    """name -> (EmoBench-style record, transformers messages) for an image, a clip, a clip with its
    sound and the sound alone."""
    clip_audio = "demo/video_audio_anger_0.mp4"
    specs = {
        "image": ({"image": "demo/image_anger_0.png"}, "<image>\n", [("image", "demo/image_anger_0.png")]),
        "clip": ({"video": "demo/video_anger_0.mp4"}, "<video>\n", [("video", "demo/video_anger_0.mp4")]),
        "clip_audio": ({"video": clip_audio, "audio": clip_audio}, "<video>\n<audio>\n",
                       [("video", clip_audio), ("audio", clip_audio)]),
        "audio": ({"audio": clip_audio}, "<audio>\n", [("audio", clip_audio)]),
    }
    out = {}
    for name, (media, placeholders, parts) in specs.items():
        record = {"id": name, **media, "conversations": [{"from": "human", "value": placeholders + QUESTION}]}
        content = [{"type": kind, "path": str(media_root / rel)} for kind, rel in parts]
        out[name] = (record, [{"role": "user", "content": content + [{"type": "text", "text": QUESTION}]}])
    return out


def llava_answers(checkpoint, base, media_root: Path, num_frames: int) -> dict:
    """name -> {input_ids, logits (first step), tokens} through LLaVA's loader with the plugin."""
    import emollm_plugin
    from emollm_plugin.eval.questions import build_prompt
    from emollm_plugin.model.tokens import tokenizer_media_token
    from emollm_plugin.runtime.loading import checkpoint_conv_mode, load_model
    from emollm_plugin.runtime.media import MediaLoader

    emollm_plugin.register()
    tokenizer, model, processor = load_model(str(checkpoint), str(base) if base else None, "cpu",
                                                   torch.float32)
    tower = model.get_model().get_audio_tower()
    media = MediaLoader(media_root, processor, model.config, num_frames, getattr(tower, "n_mels", None),
                              getattr(tower, "window", None))
    conv_mode = checkpoint_conv_mode(checkpoint) or "vicuna_v1"
    results = {}
    for name, (record, _) in cases(media_root).items():
        visual, audio = media.load(record)
        ids = tokenizer_media_token(build_prompt(record, conv_mode), tokenizer, return_tensors="pt")[None]
        images = None if visual is None else [visual]
        audios = None if audio is None else [audio]
        with torch.no_grad():
            logits = model(input_ids=ids, images=images, audios=audios).logits[0, -1].float()
            tokens = model.generate(ids, images=images, audios=audios, attention_mask=torch.ones_like(ids),
                                    max_new_tokens=MAX_NEW_TOKENS, do_sample=False, use_cache=True,
                                    pad_token_id=tokenizer.unk_token_id)[0]
        results[name] = {"input_ids": ids[0], "logits": logits, "tokens": tokens}
    return results


def exported_answers(folder: Path, media_root: Path, work: Path, *flags: str):
    """(process, results) of export_worker.py on ``folder`` for ``cases``."""
    spec = {name: {"messages": messages, "max_new_tokens": MAX_NEW_TOKENS}
            for name, (_, messages) in cases(media_root).items()}
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "cases.json").write_text(json.dumps(spec))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, str(HERE / "export_worker.py"), str(Path(folder).resolve()),
                           str(work / "cases.json"),
                           str(work / "out.pt"), *flags], capture_output=True, text=True, env=env, cwd=str(work))
    return proc, (torch.load(work / "out.pt") if proc.returncode == 0 else None)
