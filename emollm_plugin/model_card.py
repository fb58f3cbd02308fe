"""A checkpoint's ``README.md``: a Hugging Face model card rendered from its ``config.json``.

    render_model_card(config, scores=None, training=None) -> str

``config`` is the checkpoint's ``config.json`` as a dict (what training wrote: the projector, the
``mvp_*`` and ``mm_audio_*`` flags, the conversation template, the frames per clip). ``training``
adds what the config does not hold (``base_model``, ``data_path``, ``strategy``, ``steps``,
``epochs``, ``final_loss``, ``learning_rate``, ``lora_r``, ``lora_alpha``, ``seed``, ``license``;
every key optional); it is also written into the header (``emollm_training``), where
``training_from_card`` reads it back to render the card again with scores. ``scores`` is
``emollm eval score``'s JSON (``tasks`` -> ``accuracy``; ``macro``, ``micro``, ``paper_style``;
``n``); without it the card says that no evaluation was recorded.

The card opens with the Hub's metadata header (``license``, ``base_model``, ``library_name``,
``tags``, ``pipeline_tag``), so the folder uploads as it is. Pure: no file is read, nothing is
imported beyond ``constants``. Foundation layer.
"""
from __future__ import annotations

import json
from typing import Optional

from .constants import CONV_MODE_CONFIG_KEY, __version__

PIPELINE_TAG = "image-text-to-text"
TAGS = ("emollm", "llava", "emotion-recognition", "multimodal", "video", "audio")
LICENSE = "other"  # the weights derive from the base model and carry its licence; training["license"] names it
TRAINING_KEY = "emollm_training"
TASK_COLUMNS = (("emotion_closed", "Emo-C"), ("emotion_open", "Emo-O"), ("intention", "Intention"),
                ("hate", "Hate"), ("humor", "Humor"), ("sarcasm", "Sarcasm"))
OVERALL_NAMES = {"macro": "Overall (macro mean of tasks)", "micro": "Overall (micro, sample-weighted)",
                 "paper_style": "Overall (paper-style)"}  # the scores' keys, named as eval/report.py names them


def _yaml_scalar(value) -> str:
    """A YAML scalar: JSON's quoting is valid YAML for strings, numbers and booleans."""
    return json.dumps(value)


def _header(base_model: Optional[str], peft: bool, training: dict) -> str:
    lines = ["---", f"license: {training.get('license') or LICENSE}"]
    if base_model:
        lines.append(f"base_model: {_yaml_scalar(base_model)}")
    lines.append(f"library_name: {'peft' if peft else 'transformers'}")
    lines.append("tags:")
    lines += [f"- {tag}" for tag in TAGS]
    lines.append(f"pipeline_tag: {PIPELINE_TAG}")
    if training:  # one line of JSON (valid YAML), read back by training_from_card
        lines.append(f"{TRAINING_KEY}: {json.dumps(training, sort_keys=True)}")
    lines.append("---")
    return "\n".join(lines)


def training_from_card(text: str) -> dict:
    """The ``training`` dict a card rendered here carries in its header ({} for any other card),
    so a card can be rendered again with scores without losing what training recorded."""
    if not text.startswith("---\n"):
        return {}
    header = text[4:text.find("\n---", 4)]
    for line in header.splitlines():
        if line.startswith(TRAINING_KEY + ": "):
            try:
                found = json.loads(line[len(TRAINING_KEY) + 2:])
            except ValueError:
                return {}
            return found if isinstance(found, dict) else {}
    return {}


def _flags(config: dict, prefixes: tuple[str, ...], names: tuple[str, ...] = ()) -> list[str]:
    keys = sorted(k for k in config if k.startswith(prefixes) or k in names)
    return [f"| `{k}` | `{json.dumps(config[k])}` |" for k in keys]


def _scores_section(scores: Optional[dict]) -> list[str]:
    if not scores:
        return ["No evaluation is recorded for this checkpoint. `emollm eval score --answers ANSWERS "
                "--questions TEST --model-card CKPT` scores an answers file and writes the table here."]
    tasks = scores.get("tasks", {})
    columns = [(key, name) for key, name in TASK_COLUMNS if key in tasks]
    overall = [(key, name) for key, name in OVERALL_NAMES.items() if key in scores]
    head = [name for _, name in columns] + [name for _, name in overall]
    cells = [f"{tasks[key]['accuracy']:.2f}" for key, _ in columns] + [f"{scores[key]:.2f}" for key, _ in overall]
    source = scores.get("input", {}).get("questions_file")
    lines = [f"Accuracy (%) on {scores.get('n', 'the')} test question(s)"
             + (f" of `{source}`" if source else "")
             + ", from `emollm eval score` (fixed parse rules, no GPT judge; unanswered questions count "
               "as wrong):", "",
             "| " + " | ".join(head) + " |", "|" + " ---: |" * len(head), "| " + " | ".join(cells) + " |"]
    return lines


def _training_section(config: dict, training: dict) -> list[str]:
    lora = training.get("lora_r")
    strategy = training.get("strategy") or ("LoRA" if lora else "fine-tuning")
    lines = [f"- Strategy: {strategy}" + (f" (r={lora}, alpha={training.get('lora_alpha')}) on the LLM; the "
                                          "projectors trained in full" if lora else "")]
    for key, label in (("data_path", "Data"), ("steps", "Optimizer steps"), ("epochs", "Epochs"),
                       ("learning_rate", "Learning rate"), ("per_device_train_batch_size", "Batch size per device"),
                       ("final_loss", "Last logged training loss"), ("seed", "Seed")):
        if training.get(key) is not None:
            lines.append(f"- {label}: `{training[key]}`")
    if config.get("tokenizer_model_max_length"):
        lines.append(f"- Context length (model_max_length): `{config['tokenizer_model_max_length']}`")
    return lines


def render_model_card(config: dict, *, scores: Optional[dict] = None, training: Optional[dict] = None) -> str:
    """The markdown of a model card for a checkpoint with this ``config.json``."""
    training = dict(training or {})
    base_model = training.get("base_model") or config.get("_name_or_path") or None
    peft = bool(training.get("lora_r")) or bool(training.get("peft"))
    projector = config.get("mm_projector_type", "linear")
    audio = config.get("mm_audio_tower") or config.get("audio_tower")
    conv_mode = config.get(CONV_MODE_CONFIG_KEY)
    frames = config.get("num_video_frames", training.get("num_video_frames"))
    version = training.get("plugin_version") or __version__

    parts = [_header(base_model, peft, training), "", "# EmoLLM checkpoint", "",
             "A multimodal emotion-understanding model in the shape of EmoLLM (Yang, Ye, Du, "
             "arXiv 2406.16442), trained with `emollm_plugin` "
             f"{version} on an unmodified LLaVA v1.5: the LLM answers questions about an image, a video "
             "clip and its sound, seen through the "
             + ("MVP projector (DPC-KNN merging and a relation GCN)" if projector == "mvp" else
                f"`{projector}` projector")
             + (" and a Whisper audio encoder" if audio else "") + ".", "",
             "## Model", "",
             f"- Base model: `{base_model or 'not recorded'}`"
             + (" (this folder holds a LoRA adapter and `non_lora_trainables.bin`: load it with "
                "`--model-base` set to the base model)" if peft else ""),
             f"- Vision tower: `{config.get('mm_vision_tower', 'none')}`, layer "
             f"`{config.get('mm_vision_select_layer', 'n/a')}`",
             f"- Projector: `{projector}`",
             f"- Audio tower: `{audio or 'none'}`",
             f"- Conversation template (`--conv-mode`): `{conv_mode or 'not recorded (vicuna_v1)'}`",
             f"- Frames per clip: `{frames if frames is not None else 'not recorded'}`",
             f"- Plugin: `emollm_plugin` {version}", ""]
    flags = _flags(config, ("mvp_", "mm_audio_", "emoprompt_"), ("mm_projector_type", "num_video_frames",
                                                                "audio_window", CONV_MODE_CONFIG_KEY))
    if flags:
        parts += ["The plugin's settings, as recorded in `config.json` (LLaVA's loader rebuilds the model "
                  "from them):", "", "| setting | value |", "|---|---|", *flags, ""]
    parts += ["## Training", "", *_training_section(config, training), "",
              "## Evaluation", "", *_scores_section(scores), "",
              "## Use", "",
              "```bash",
              "pip install emollm-plugin   # with llava-torch; see the plugin's scripts/install.sh",
              "emollm predict --model CKPT" + (" --model-base BASE" if peft else "")
              + " photo.jpg clip.mp4 --task emotion_closed --out answers.jsonl",
              "```", "",
              "Intended use: research on multimodal emotion, intention, humour, sarcasm and hate-speech "
              "understanding, and evaluation on EmoBench-format data.", "",
              "## Limits", "",
              "- Emotion labels are subjective and culture-dependent; the answers are a model's guess, "
              "not a measurement of anyone's feelings. Do not use them to make decisions about people.",
              "- The model answers in the label sets it was trained on; other labels are not recognised.",
              "- Clips are seen as the frames sampled above (and the sound, when there is an audio tower): "
              "use the same number of frames at inference (`--num-video-frames`).",
              "- The scores above hold for the test data named there, not for other media.",
              "- Licence: the weights derive from the base model and carry its licence; the plugin's code is "
              "Apache-2.0.", ""]
    return "\n".join(parts)
