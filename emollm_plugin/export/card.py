"""The exported folder's model card (README.md): Hub metadata in YAML front matter, then usage.

``render_model_card(config, scores=None, training=None)`` has the signature of the plugin-wide
card renderer; export calls it through ``export.folder.CARD_RENDERER`` so one assignment switches
to another renderer. ``config`` is the exported ``config.json`` as a dict.
"""
from __future__ import annotations

import json
from typing import Optional

PAPER = "arXiv 2406.16442 (EmoLLM: Multimodal Emotional Understanding Meets Large Language Models)"


def _front_matter(config: dict) -> str:
    tags = ["emollm", "emotion-recognition", "multimodal", "video", "audio", "custom_code"]
    lines = ["---", "library_name: transformers", "pipeline_tag: image-text-to-text", "license: other",
             "license_name: inherits-base-model", "tags:"] + [f"- {t}" for t in tags]
    base = config.get("emollm_export", {}).get("base_model")
    if base and "/" in base and not base.startswith(("/", ".")):
        lines += ["base_model:", f"- {base}"]
    return "\n".join(lines + ["---", ""])


def render_model_card(config: dict, *, scores: Optional[dict] = None, training: Optional[dict] = None) -> str:
    projector = config.get("projector", {})
    audio = config.get("audio_projector")
    text = config.get("text_config", {})
    parts = [_front_matter(config), "# EmoLLM", "",
             f"An EmoLLM model ({PAPER}) exported by `emollm export`: a Llama language model "
             f"({text.get('num_hidden_layers')} layers, width {text.get('hidden_size')}), a CLIP vision tower with "
             f"the `{projector.get('type')}` projector"
             + (", and a Whisper encoder with a pooled audio projector" if audio else "") + ".",
             "It loads with transformers alone (`trust_remote_code=True`); the code is in this folder.", "",
             "## Use", "", "```python",
             "import torch",
             "from transformers import AutoModelForImageTextToText, AutoProcessor  # 4.x: AutoModelForVision2Seq",
             "model = AutoModelForImageTextToText.from_pretrained(PATH, trust_remote_code=True)",
             "processor = AutoProcessor.from_pretrained(PATH, trust_remote_code=True)",
             "messages = [{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"path\": \"clip.mp4\"},"
             + (" {\"type\": \"audio\", \"path\": \"clip.mp4\"}," if audio else "")
             + " {\"type\": \"text\", \"text\": \"Which emotion does the speaker show?\"}]}]",
             "inputs = processor.apply_chat_template(messages, tokenize=True, return_dict=True)",
             "out = model.generate(**inputs, max_new_tokens=32, do_sample=False)",
             "print(processor.decode(out[0, inputs['input_ids'].shape[1]:], skip_special_tokens=True))",
             "```", "",
             "## What was exported", "",
             f"- projector: `{json.dumps(projector, sort_keys=True)}`",
             f"- audio projector: `{json.dumps(audio, sort_keys=True)}`" if audio else "- no audio tower",
             f"- conversation template: `{config.get('emollm_conv_mode')}` (the processor's chat template)",
             f"- frames per clip: {config.get('num_video_frames')}; image aspect ratio: "
             f"`{config.get('image_aspect_ratio')}`", ""]
    if training:
        parts += ["## Training", ""] + [f"- {k}: {v}" for k, v in sorted(training.items())] + [""]
    if scores:
        parts += ["## Scores", "", "| task | score |", "|---|---|"] + [
            f"| {k} | {v} |" for k, v in sorted(scores.items())] + [""]
    parts += ["## Limitations", "",
              "The license is the base language model's and the vision and audio towers' "
              "(see their cards). Answers are the model's reading of expressions, voices and scenes, "
              "not a measurement of anyone's feelings.", ""]
    return "\n".join(parts)
