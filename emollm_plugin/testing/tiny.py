"""Offline tiny-model factory: real classes, random weights, seconds to build.

`emollm make-tiny OUT` writes
    OUT/llm/      tiny LlamaForCausalLM + slow sentencepiece LlamaTokenizer (legacy=True)
    OUT/clip/     tiny CLIPVisionModel + CLIPImageProcessor (a folder LLaVA accepts as --vision_tower)
    OUT/whisper.pt  tiny openai-whisper checkpoint (when openai-whisper is installed)

The tokenizer is a BPE sentencepiece model trained here on a small built-in corpus, with the same
settings family as Llama/Vicuna (byte fallback, dummy prefix, <unk>/<s>/</s> = 0/1/2), so LLaVA's
`preprocess_v1` target masking sees the tokenizer behaviour it was written for. A fast tokenizer or
`legacy=False` shifts its round lengths by one and upstream masks every target ("tokenization
mismatch"), silently training on loss 0.0.
"""
from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

TINY_LLM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=4, max_position_embeddings=1024)
TINY_CLIP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                 image_size=64, patch_size=8, projection_dim=32)
TINY_VOCAB_SIZE = 800


def _corpus_lines() -> list[str]:
    """Text the tiny tokenizer is trained on: chat template words, task words, labels, letters."""
    from ..tasks.labels import CANONICAL_EMOTIONS, EMOTIC_CATEGORIES, MINTREC_INTENTS
    lines = [
        "A chat between a curious user and an artificial intelligence assistant. The assistant "
        "gives helpful, detailed, and polite answers to the user's questions.",
        "USER: ASSISTANT: What emotion does the person in the image show? Answer with one word.",
        "Choose one option from the list. Is this sarcastic? Is this humorous? Is this hateful?",
        "Yes No yes no The answer is because the face posture scene speech voice tone shows",
        "What is the intention of the speaker in this video clip? Listen to the audio.",
        "Describe the image. Describe the video. The person looks at the camera and smiles.",
        " ".join(CANONICAL_EMOTIONS), " ".join(EMOTIC_CATEGORIES), " ".join(MINTREC_INTENTS),
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]-_/",
    ]
    return lines * 20


def build_tokenizer(out_dir: Path, vocab_size: int = TINY_VOCAB_SIZE):
    """Train a Llama-style BPE sentencepiece model offline; write it with a slow-LlamaTokenizer config."""
    import sentencepiece as spm
    from transformers import LlamaTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus_lines()), model_writer=model, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2, num_threads=1)
    (out_dir / "tokenizer.model").write_bytes(model.getvalue())
    write_tokenizer_config(out_dir)
    return LlamaTokenizer.from_pretrained(str(out_dir))


# Written by hand, not by save_pretrained: transformers 5.x ignores LlamaTokenizer(vocab_file=...)
# (a 3-token vocabulary) and its save_pretrained drops `legacy` and `add_bos_token`, after which
# preprocess_v1's round lengths shift by one and every target is masked.
TOKENIZER_CONFIG = {
    "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": True,
    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
    "clean_up_tokenization_spaces": False,
}


def write_tokenizer_config(out_dir: Path) -> None:
    (out_dir / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=1))
    (out_dir / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=1))


def build_llm(out_dir: Path, seed: int = 0, vocab_size: int | None = None):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size or len(tokenizer), pad_token_id=None,
                         bos_token_id=1, eos_token_id=2, **TINY_LLM)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir


def build_clip(out_dir: Path, seed: int = 0):
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    size = TINY_CLIP["image_size"]
    CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP)).save_pretrained(str(out_dir))
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}
                       ).save_pretrained(str(out_dir))
    return out_dir


@dataclass
class TinyModels:
    llm: Path
    clip: Path
    whisper: Path | None


def make_tiny(out: str | Path, seed: int = 0, whisper: bool = True) -> TinyModels:
    """Build all tiny models under `out` (idempotent: an existing complete build is reused)."""
    out = Path(out)
    stamp = out / "tiny.json"
    want = {"seed": seed, "llm": TINY_LLM, "clip": TINY_CLIP, "vocab": TINY_VOCAB_SIZE,
            "whisper": whisper}
    whisper_path = out / "whisper.pt" if whisper else None
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return TinyModels(out / "llm", out / "clip", whisper_path)
    build_llm(out / "llm", seed=seed)
    build_clip(out / "clip", seed=seed)
    if whisper_path is not None:
        from .tiny_audio import make_tiny_whisper
        make_tiny_whisper(whisper_path, seed=seed)
    stamp.write_text(json.dumps(want, indent=1))
    return TinyModels(out / "llm", out / "clip", whisper_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emollm make-tiny", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default: 0)")
    parser.add_argument("--no-whisper", action="store_true", help="skip the tiny Whisper checkpoint")
    args = parser.parse_args(argv)
    models = make_tiny(args.out, seed=args.seed, whisper=not args.no_whisper)
    print(f"tiny LLM:     {models.llm}\ntiny CLIP:    {models.clip}\ntiny Whisper: {models.whisper}")
    return 0
