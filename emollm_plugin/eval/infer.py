"""Batch inference on EmoBench records through LLaVA's own loader: answers for ``emollm eval score``.

    python -m emollm_plugin.eval.infer --model-path CKPT [--model-base BASE] \\
        --question-file test.json --answers-file answers.jsonl [--media-root DIR] [--resume]

The command line has the shape of ``llava.eval.model_vqa_loader`` and writes its answers format,
one line per record: ``{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}``.
It differs where EmoBench needs it to:

- Records with an image, a video clip and/or audio (``questions.py`` builds the prompt training saw).
- Batches, left-padded with an attention mask (``model.config.tokenizer_padding_side = "left"``).
- The conversation template is the one training used, read from the checkpoint config
  (``emollm_conv_mode``, written at training time); ``--conv-mode`` given explicitly wins.
- Greedy by default (``--temperature 0``), and ``answer_id`` derives from the model and record
  ids, so the same run always writes the same bytes.
- Lines are flushed after every batch. ``--resume`` keeps the answered ids, cuts a truncated last
  line left by a crash, and answers the rest. Batches are fixed slices of the record list, and a
  batch with any unanswered record is generated whole (answered members are not written again),
  so the model sees the batches, and the padding, of an uninterrupted run: the files are equal.
- A record the model cannot take (audio without an audio tower, media that cannot be read, a
  prompt longer than the model's context) is not answered: it is counted by reason, listed in
  ``ANSWERS.skipped.jsonl`` and summarised on stderr; the scorer counts it as unanswered.

LLaVA's ``load_pretrained_model`` chooses how to load from the model *name* ('llava' and 'lora'
in it select the LoRA path), so ``routing_name`` derives a name from what the folder holds.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..configs import ConfigError
from ..constants import CONV_MODE_CONFIG_KEY, NUM_VIDEO_FRAMES
from ..errors import EmoLLMError
from ..records import AppendOnlyJsonl
from .questions import QuestionError, build_prompt, load_questions, question_without_placeholders

FALLBACK_CONV_MODE = "vicuna_v1"  # for checkpoints that record no template (trained before it was recorded)

DTYPES = ("auto", "float32", "bfloat16", "float16")


class InferInputError(EmoLLMError, ValueError):
    """A command-line value or input file that cannot be used; the message says what to change."""


class CheckpointError(InferInputError):
    """The model folder cannot be routed through LLaVA's loader; the message says what to pass."""


class AnswersFileError(InferInputError):
    """An existing answers file cannot be resumed."""


class Unanswerable(EmoLLMError):
    """A record this model cannot take; ``reason`` is the counted key."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


# ----- loading the model -----------------------------------------------------------------------
def routing_name(model_path: str | Path, model_base: Optional[str]) -> str:
    """A name that sends ``load_pretrained_model`` down the right path for this folder."""
    folder = Path(model_path)
    if not folder.is_dir():
        raise CheckpointError(f"--model-path {folder} is not a folder (checkpoints are read locally)")
    if (folder / "adapter_config.json").is_file():
        if model_base is None:
            raise CheckpointError(f"{folder} holds a LoRA adapter (adapter_config.json): pass --model-base, "
                                  "the LLM it was trained on (the training run's --model_name_or_path)")
        return "llava-lora"
    full = any(folder.glob("model*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
    if full:
        if model_base is not None:
            raise CheckpointError(f"{folder} holds full model weights; LLaVA's loader would read only a "
                                  "projector from it on top of --model-base. Drop --model-base.")
        if not (folder / "config.json").is_file():
            raise CheckpointError(f"{folder} has model weights but no config.json: not a complete checkpoint")
        model_type = json.loads((folder / "config.json").read_text()).get("model_type", "")
        return {"llava_mistral": "llava-mistral", "llava_mpt": "llava-mpt"}.get(model_type, "llava")
    if (folder / "mm_projector.bin").is_file():
        if model_base is None:
            raise CheckpointError(f"{folder} holds only a projector (mm_projector.bin): pass --model-base, "
                                  "the LLM it was pretrained with")
        return "llava-projector"
    raise CheckpointError(f"{folder} has no adapter_config.json (LoRA), model weights (model*.safetensors, "
                          "pytorch_model*.bin) or mm_projector.bin: point --model-path at a LLaVA checkpoint")


def resolve_device_dtype(device: str, dtype: str):
    """'auto' -> cuda + bfloat16 when CUDA is available, else cpu + float32."""
    import torch

    if dtype not in DTYPES:
        raise InferInputError(f"unknown --dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InferInputError(f"--device {device}: CUDA is not available here; use --device cpu (or auto)")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype)


def check_quantization(device: str, load_4bit: bool = False, load_8bit: bool = False) -> None:
    """4/8-bit loading goes through bitsandbytes, which needs CUDA: refuse it clearly elsewhere."""
    if load_4bit and load_8bit:
        raise InferInputError("--load-4bit and --load-8bit exclude each other; pick one")
    if (load_4bit or load_8bit) and not device.startswith("cuda"):
        raise InferInputError(f"--load-{'4' if load_4bit else '8'}bit quantizes through bitsandbytes, which needs "
                              f"CUDA; this run is on {device!r}. Drop the flag to run in full precision here.")


def load_model(model_path: str, model_base: Optional[str], device: str, dtype,
               load_4bit: bool = False, load_8bit: bool = False):
    """(tokenizer, model, image_processor) via LLaVA's own loader with the plugin registered."""
    from .. import register
    from ..llava_compat import choose_attn_implementation

    check_quantization(device, load_4bit, load_8bit)
    register()
    from llava.model.builder import load_pretrained_model

    name = routing_name(model_path, model_base)
    tokenizer, model, processor, _ = load_pretrained_model(
        model_path, model_base, name, load_8bit=load_8bit, load_4bit=load_4bit, device=device,
        use_flash_attn=choose_attn_implementation() == "flash_attention_2")
    if not (load_4bit or load_8bit):  # bitsandbytes models refuse .to(); LLaVA sets their compute dtype
        model.to(dtype=dtype)  # LLaVA loads float16 (float32 on CPU for plugin models)
    model.eval()
    model.config.tokenizer_padding_side = "left"  # generation continues from the right edge
    return tokenizer, model, processor


# ----- media -----------------------------------------------------------------------------------
@dataclass
class MediaLoader:
    """A record's media as the model takes them (``media.reader.MediaReader``, as in training),
    with what this model cannot take turned into ``Unanswerable``. Paths are relative to ``root``."""

    root: Path
    image_processor: object  # None: the model has no vision tower
    model_config: object
    num_video_frames: int = NUM_VIDEO_FRAMES  # (default: the training default)
    n_mels: Optional[int] = None  # None: the model has no audio tower
    audio_window: Optional[str] = None  # the audio tower's window (None: no audio tower)

    def __post_init__(self):
        from ..audio.mel import log_mel_for
        from ..media.reader import MediaReader
        self.aspect_ratio = getattr(self.model_config, "image_aspect_ratio", "square")
        self.reader = MediaReader(self.root, self.image_processor, self.aspect_ratio, self.num_video_frames,
                                  log_mel_for(self.n_mels, self.audio_window))

    def load(self, record: dict):
        from ..media.errors import MediaError
        from ..media.paths import MediaPathError

        visual = audio = None
        try:
            if "image" in record or "video" in record:
                if self.image_processor is None:
                    raise Unanswerable("no_vision_tower", "the record has an image or video but the model "
                                                          "has no vision tower")
                if "image" in record and self.aspect_ratio == "anyres":
                    raise InferInputError("image_aspect_ratio 'anyres' gives several crops per image; EmoLLM "
                                          "takes one (use 'square' or 'pad')")
                visual = self.reader.image(record["image"]) if "image" in record else self.reader.video(record["video"])
            if "audio" in record:
                if self.n_mels is None:
                    raise Unanswerable("no_audio_tower", f"the record asks for audio ({record['audio']}) but "
                                       "the model has no audio tower (train with --audio_tower PATH)")
                audio = self.reader.audio(record["audio"])
        except MediaError as err:
            raise Unanswerable(f"media_{err.cause}", str(err)) from err
        except MediaPathError as err:
            raise Unanswerable("media_path_refused", str(err)) from err
        return visual, audio


def check_length(record_id: str, ids, visual, audio, token_counts, max_length: Optional[int]) -> None:
    """Raise Unanswerable when prompt + media embeddings exceed the model's context (the splice
    would silently cut the question off)."""
    from ..model.tokens import media_extra_positions

    if token_counts is None or not max_length:
        return
    length = len(ids) + media_extra_positions(token_counts, visual, audio)
    if length > max_length:
        raise Unanswerable("prompt_too_long", f"record {record_id}: prompt + media take {length} positions, "
                           f"more than the model's {max_length} (tokenizer_model_max_length); "
                           "use fewer --num-video-frames or a shorter question")


# ----- generation ------------------------------------------------------------------------------
def generate(model, tokenizer, input_ids: list, visuals: list, audios: list, **generation) -> list[str]:
    """Left-pad B prompts (1-D id tensors) and decode greedily or as ``generation`` asks."""
    import torch

    pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id, 0)
                  if i is not None)
    width = max(len(ids) for ids in input_ids)
    batch = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for row, ids in enumerate(input_ids):
        batch[row, width - len(ids):] = ids
        mask[row, width - len(ids):] = 1
    device, dtype = model.device, model.dtype

    def moved(items, float_dtype):
        if all(x is None for x in items):
            return None
        return [None if x is None else x.to(device=device, dtype=float_dtype) for x in items]

    with torch.inference_mode():
        output = model.generate(batch.to(device), images=moved(visuals, dtype), audios=moved(audios, dtype),
                                attention_mask=mask.to(device), pad_token_id=pad_id, use_cache=True,
                                **generation)
    return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]


def generation_kwargs(args: argparse.Namespace) -> dict:
    kwargs = dict(do_sample=args.temperature > 0, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens)
    if args.temperature > 0:
        kwargs.update(temperature=args.temperature, top_p=args.top_p)
    return kwargs


# ----- answers file ----------------------------------------------------------------------------
def read_answered(path: Path, model_id: str) -> set[str]:
    """Ids already in an answers file written for ``model_id``. A last line without its newline is
    a write cut short by a crash: it is removed from the file (and answered again), with a note."""
    if not path.exists():
        return set()
    tail = AppendOnlyJsonl(path).repair_tail()  # a whole last line only gets its newline
    if tail is not None:
        print(f"emollm infer: {path} ended in a truncated line ({len(tail)} bytes: "
              f"{tail[:60]!r}...); removed it, that record is answered again", file=sys.stderr)
    data = path.read_bytes()
    answered = set()
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answered.add(str(row["question_id"]))
        except (ValueError, KeyError, TypeError):
            raise AnswersFileError(
                f"{path}:{number}: not an answers line ({line[:80]!r}); --resume needs one JSON object with "
                "'question_id' per line. Fix or delete that line, or run without --resume to start over."
            ) from None
        if row.get("model_id", model_id) != model_id:
            raise AnswersFileError(
                f"{path}:{number}: answered by model {row['model_id']!r}, but this run is {model_id!r}; "
                "resuming would mix two models' answers. Use another --answers-file, or run without --resume.")
    return answered


def answer_line(record: dict, text: str, model_id: str) -> str:
    question_id = record["id"]
    metadata = {key: record[key] for key in ("task", "dataset") if key in record}
    return json.dumps({"question_id": question_id, "prompt": question_without_placeholders(record), "text": text,
                       "answer_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{model_id}/{question_id}").hex,
                       "model_id": model_id, "metadata": metadata}) + "\n"


def skipped_path(answers_file: Path) -> Path:
    return answers_file.with_name(answers_file.name + ".skipped.jsonl")


def chunk(records: list, num_chunks: int, chunk_idx: int) -> list:
    """Contiguous chunk ``chunk_idx`` of ``num_chunks`` (as upstream's --num-chunks/--chunk-idx)."""
    if num_chunks < 1 or not 0 <= chunk_idx < num_chunks:
        raise InferInputError(f"--chunk-idx must be in [0, --num-chunks), got {chunk_idx} of {num_chunks}")
    size = -(-len(records) // num_chunks)
    return records[chunk_idx * size:(chunk_idx + 1) * size]


# ----- the run ---------------------------------------------------------------------------------
@dataclass
class Summary:
    records: int
    answered_before: int
    answered: int
    skipped: Counter
    answers_file: Path
    skipped_file: Path

    def lines(self) -> list[str]:
        out = [f"emollm infer: {self.records} record(s): {self.answered} answered now, "
               f"{self.answered_before} already in {self.answers_file}, {sum(self.skipped.values())} skipped"]
        if self.skipped:
            out.append(f"emollm infer: skipped by reason (listed in {self.skipped_file}): "
                       + ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())))
        return out


@dataclass
class Prepared:
    """One record ready for ``generate``: its prompt ids and media."""

    record: dict
    input_ids: object  # S (long), placeholders as negative ids
    visual: object  # None | 3 x H x W | T x 3 x H x W
    audio: object  # None | n_mels x T


class Answerer:
    """The loaded model with everything a batch needs: media loading, prompts, generation."""

    def __init__(self, args: argparse.Namespace, emoprompt=None):
        """emoprompt: an object with ``conversation_for(record, conv)`` choosing each record's
        exemplar (default: the checkpoint config's ``EmoPromptRuntime`` when ``--conv-mode`` is
        ``emoprompt_v1``)."""
        from ..model.tokens import token_counts_for

        device, dtype = resolve_device_dtype(args.device, args.dtype)
        self.tokenizer, self.model, processor = load_model(
            args.model_path, args.model_base, device, dtype,
            getattr(args, "load_4bit", False), getattr(args, "load_8bit", False))
        config = self.model.config
        tower = getattr(self.model.get_model(), "get_audio_tower", lambda: None)()
        self.media = MediaLoader(Path(args.media_root or Path(args.question_file).parent / "media"), processor,
                                 config, args.num_video_frames, getattr(tower, "n_mels", None),
                                 getattr(tower, "window", None))
        self.token_counts = token_counts_for(self.model)
        self.max_length = getattr(config, "tokenizer_model_max_length", None)
        self.use_start_end = bool(getattr(config, "mm_use_im_start_end", False))
        self.conv_mode = resolve_conv_mode(args.conv_mode, getattr(config, CONV_MODE_CONFIG_KEY, None),
                                           args.model_path)
        self.generation = generation_kwargs(args)
        from ..emoprompt.runtime import EmoPromptRuntime, is_emoprompt
        from .questions import conversation
        if not is_emoprompt(conversation(self.conv_mode)):
            self.emoprompt = None
        else:
            self.emoprompt = emoprompt or EmoPromptRuntime.from_config(config, phase="eval")

    def prepare(self, record: dict, media=None, exemplars=None) -> Prepared:
        """Raises Unanswerable for a record this model cannot take. media: an object with
        ``load(record) -> (visual, audio)`` in place of this run's ``MediaLoader``; exemplars: an
        EmoPrompt exemplar chooser (as ``emoprompt`` in ``__init__``) that asks this record with
        ``emoprompt_v1`` whatever this run's ``--conv-mode`` (the demo's per-question "explain")."""
        from ..emoprompt.template import EMOPROMPT_TEMPLATE_NAME
        from ..model.tokens import tokenizer_media_token

        visual, audio = (media or self.media).load(record)
        conv_mode, emoprompt = (EMOPROMPT_TEMPLATE_NAME, exemplars) if exemplars else (self.conv_mode, self.emoprompt)
        prompt = build_prompt(record, conv_mode, self.use_start_end, emoprompt)
        ids = tokenizer_media_token(prompt, self.tokenizer, return_tensors="pt")
        check_length(record["id"], ids, visual, audio, self.token_counts, self.max_length)
        return Prepared(record, ids, visual, audio)

    def answer(self, prepared: list[Prepared]) -> list[str]:
        return generate(self.model, self.tokenizer, [p.input_ids for p in prepared], [p.visual for p in prepared],
                        [p.audio for p in prepared], **self.generation)


def checkpoint_conv_mode(model_path: str | Path) -> str | None:
    """The template recorded in ``model_path/config.json`` at training time, or None."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text(encoding="utf-8")).get(CONV_MODE_CONFIG_KEY)
    except (OSError, ValueError, AttributeError):
        return None


def resolve_conv_mode(explicit: str | None, recorded: str | None, model_path: str | Path) -> str:
    """An explicit ``--conv-mode`` wins; then the checkpoint's recorded template; then vicuna_v1,
    with a note on stderr (the checkpoint predates the record)."""
    if explicit:
        return explicit
    if recorded:
        return recorded
    print(f"emollm infer: note: {model_path} records no conversation template "
          f"({CONV_MODE_CONFIG_KEY} in its config.json); using {FALLBACK_CONV_MODE}. Pass --conv-mode "
          "with the training run's --version to choose.", file=sys.stderr)
    return FALLBACK_CONV_MODE


def run(args: argparse.Namespace) -> Summary:
    from tqdm import tqdm

    from .. import register
    from .questions import conversation

    register()  # the plugin's conversation templates exist from here on
    if args.batch_size < 1:
        raise InferInputError(f"--batch-size must be >= 1, got {args.batch_size}")
    args.conv_mode = resolve_conv_mode(args.conv_mode, checkpoint_conv_mode(args.model_path), args.model_path)
    try:
        conversation(args.conv_mode)
    except ValueError as err:
        raise InferInputError(str(err)) from None
    records = chunk(load_questions(args.question_file), args.num_chunks, args.chunk_idx)
    answers_file = Path(args.answers_file)
    model_id = args.model_id or model_id_for(args.model_path)
    answered = read_answered(answers_file, model_id) if args.resume else set()
    before = sum(str(r["id"]) in answered for r in records)
    if len(answered) > before:
        print(f"emollm infer: note: {len(answered) - before} answer(s) in {answers_file} name no record of "
              f"{args.question_file} (chunk {args.chunk_idx}); kept as they are", file=sys.stderr)
    answerer = Answerer(args) if before < len(records) else None  # nothing left: no model to load
    if args.temperature > 0:
        import torch
        torch.manual_seed(args.seed)

    answers_file.parent.mkdir(parents=True, exist_ok=True)
    with AppendOnlyJsonl(answers_file).open(truncate=not args.resume) as out, \
            open(skipped_path(answers_file), "w", encoding="utf-8") as skip_out, \
            tqdm(total=len(records) - before, desc="answering", unit="record", disable=None) as bar:
        written, skipped = answer_batches(answerer, records, args.batch_size, answered, out, skip_out, bar,
                                          lambda record, text, _timing: answer_line(record, text, model_id),
                                          args.limit)
    return Summary(len(records), before, written, skipped, answers_file, skipped_path(answers_file))


def answer_batches(answerer: "Answerer", records: list[dict], batch_size: int, answered: set[str], out, skip_out,
                   bar, line_for, limit: Optional[int] = None) -> tuple[int, Counter]:
    """Answer ``records`` not in ``answered`` in fixed batches; (answers written, skips by reason).

    ``line_for(record, text, timing)`` makes the answer line; ``timing`` holds ``prepare_s`` (this
    record's media decoding and tokenising), ``generate_s`` (its batch's generate call) and
    ``batch`` (records in that call). Skipped records go to ``skip_out`` with their reason."""
    import time

    skipped, written = Counter(), 0
    for start in range(0, len(records), batch_size):
        batch = records[start:start + batch_size]
        pending = {str(r["id"]) for r in batch} - answered
        if not pending:
            continue
        if limit is not None and written >= limit:
            break
        prepared, prepare_s = [], {}
        for record in batch:  # answered members too: the batch (and its padding) stays the same
            began = time.perf_counter()
            try:
                prepared.append(answerer.prepare(record))
            except Unanswerable as err:
                if str(record["id"]) in pending:
                    skip_out.write(json.dumps({"question_id": record["id"], "reason": err.reason,
                                               "message": str(err)}) + "\n")
                    skipped[err.reason] += 1
            prepare_s[str(record["id"])] = time.perf_counter() - began
        if any(str(p.record["id"]) in pending for p in prepared):
            began = time.perf_counter()
            texts = answerer.answer(prepared)
            generate_s = time.perf_counter() - began
            for item, text in zip(prepared, texts):
                if str(item.record["id"]) in pending and (limit is None or written < limit):
                    timing = {"prepare_s": round(prepare_s[str(item.record["id"])], 4),
                              "generate_s": round(generate_s, 4), "batch": len(prepared)}
                    out.write(line_for(item.record, text, timing))
                    written += 1
        out.flush()
        skip_out.flush()
        bar.update(len(pending))
    return written, skipped


def model_id_for(model_path: str) -> str:
    from llava.mm_utils import get_model_name_from_path
    return get_model_name_from_path(str(model_path))


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The checkpoint, generation and device options shared by eval.infer, predict and serve."""
    p.add_argument("--model-path", "--model", dest="model_path", required=True,
                   help="checkpoint folder (LoRA adapter, projector or full)")
    p.add_argument("--model-base", default=None, help="the LLM a LoRA/projector checkpoint was trained on")
    p.add_argument("--conv-mode", default=None,
                   help="LLaVA conversation template (default: the one training used, recorded in the checkpoint "
                        f"config; {FALLBACK_CONV_MODE} for checkpoints that record none)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default: 0)")
    p.add_argument("--top_p", "--top-p", dest="top_p", type=float, default=None, help="(default: None)")
    p.add_argument("--num-beams", "--num_beams", dest="num_beams", type=int, default=1, help="(default: 1)")
    p.add_argument("--max-new-tokens", "--max_new_tokens", dest="max_new_tokens", type=int, default=128,
                   help="(default: 128)")
    p.add_argument("--num-video-frames", type=int, default=NUM_VIDEO_FRAMES,
                   help=f"frames per clip, as in training (default: {NUM_VIDEO_FRAMES})")
    p.add_argument("--batch-size", type=int, default=8, help="records per generate call (default: 8)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--dtype", default="auto", choices=DTYPES,
                   help="auto = bfloat16 on CUDA, float32 on CPU (default: auto)")
    p.add_argument("--load-4bit", action="store_true", help="4-bit weights through LLaVA's loader (CUDA only)")
    p.add_argument("--load-8bit", action="store_true", help="8-bit weights through LLaVA's loader (CUDA only)")
    p.add_argument("--model-id", default=None, help="model_id written per answer (default: the folder name)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling when --temperature > 0 (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m emollm_plugin.eval.infer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--question-file", required=True, type=Path, help="EmoBench records: JSON list or JSONL")
    p.add_argument("--answers-file", required=True, type=Path, help="answers JSONL to write")
    p.add_argument("--media-root", "--image-folder", dest="media_root", type=Path, default=None,
                   help="folder the records' media paths are relative to (default: 'media' next to "
                        "--question-file, as `emollm bench build` writes it)")
    p.add_argument("--resume", action="store_true", help="keep the answers already in --answers-file")
    p.add_argument("--limit", type=int, default=None, help="stop after this many new answers (default: all)")
    p.add_argument("--num-chunks", type=int, default=1, help="split the records into chunks (default: 1)")
    p.add_argument("--chunk-idx", type=int, default=0, help="the chunk this process answers (default: 0)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = run(args)
    except (QuestionError, InferInputError, ConfigError) as err:
        print(f"emollm infer: {err}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
