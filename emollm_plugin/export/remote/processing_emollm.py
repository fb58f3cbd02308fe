"""EmoLLM's processor: prompt text, images, video clips and audio -> the model's inputs (remote
code of an exported folder; imports torch, transformers, numpy, PIL, jinja2 and, for media
paths, PyAV).

``processor(text=..., images=..., videos=..., audio=...)`` returns a ``BatchFeature`` with
  input_ids, attention_mask          B x S, left-padded; ``<image>`` / ``<video>`` / ``<audio>``
                                     in the text become the config's placeholder ids
  pixel_values                       I x 3 x H x W (one per ``<image>``, in text order)
  pixel_values_videos                V x T x 3 x H x W (T = ``num_frames`` for a path)
  input_features                     A x n_mels x 3000 (WhisperFeatureExtractor: the 30 s window)
  audio_feature_lengths              A: log-mel frames whose STFT window touches the clip,
                                     min(3000, 2 * ceil(n / 320) + 2) for n samples at 16 kHz

Text is tokenised as LLaVA tokenises a prompt with media: each text piece between placeholders
on its own, the BOS of every piece but the first dropped. Images (and every frame of a clip) are
padded to a square with the image processor's mean colour first when ``image_aspect_ratio`` is
``pad``. A clip given as a path is sampled at ``num_frames`` frames, frame k of N at
floor((2k + 1) N / (2 num_frames)); audio given as a path is decoded to 16 kHz mono with PyAV.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BatchFeature, CLIPImageProcessor, WhisperFeatureExtractor

PROCESSOR_FILE = "processor_config.json"
AUDIO_SUBFOLDER = "audio_feature_extractor"
TOKENIZER_FILES = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
                   "added_tokens.json")
SAMPLE_RATE = 16000
HOP_LENGTH = 160
MAX_FRAMES = 3000
PLACEHOLDERS = ("<image>", "<video>", "<audio>")
_SPLIT = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")


def covered_mel_frames(num_samples: int) -> int:
    """Log-mel frames of Whisper's 30 s window whose STFT window touches a clip of n samples."""
    n = min(num_samples, MAX_FRAMES * HOP_LENGTH)
    return min(MAX_FRAMES, 2 * math.ceil(n / (2 * HOP_LENGTH)) + 2)


def frame_indices(total: int, num_frames: int) -> list:
    return [(2 * k + 1) * total // (2 * num_frames) for k in range(num_frames)]


def sample_video(path, num_frames: int) -> list:
    """``num_frames`` RGB PIL frames sampled evenly over the clip at ``path`` (PyAV)."""
    import av

    def decode(wanted):
        keep, last, images, decoded = set(wanted), max(wanted), {}, 0
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if decoded in keep:
                        images[decoded] = frame.to_image()
                    decoded += 1
                    if decoded > last:
                        return images, decoded
        return images, decoded

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        total = stream.frames if stream.frames > 0 else sum(1 for p in container.demux(stream) if p.size > 0)
    if total < 1:
        raise ValueError(f"{path}: the video stream holds no frames")
    wanted = frame_indices(total, num_frames)
    images, decoded = decode(wanted)
    if decoded <= wanted[-1]:
        if decoded == 0:
            raise ValueError(f"{path}: no video frame decodes")
        wanted = frame_indices(decoded, num_frames)
        images, decoded = decode(wanted)
    return [images[i].convert("RGB") for i in wanted]


def load_audio(path) -> np.ndarray:
    """The first audio stream of ``path`` as float32 16 kHz mono samples in [-1, 1] (PyAV)."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise ValueError(f"{path}: the audio stream decodes to no samples")
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def _expand2square(img, background):
    from PIL import Image

    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), background)
    out.paste(img, ((side - w) // 2, (side - h) // 2))
    return out


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class EmoLLMProcessor:
    """Tokenizer (LLaVA's slow Llama tokenizer), CLIP image processor, Whisper feature extractor
    (None without an audio tower) and the chat template the checkpoint was trained with."""

    def __init__(self, tokenizer, image_processor, feature_extractor=None, chat_template: str = "",
                 image_aspect_ratio: str = "pad", num_frames: int = 8, image_token_index: int = 32000,
                 video_token_index: int = 32001, audio_token_index: int = 32002, emoprompt_exemplars=None,
                 source_dir=None):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.feature_extractor = feature_extractor
        self.chat_template = chat_template
        self.image_aspect_ratio = image_aspect_ratio
        self.num_frames = num_frames
        self.placeholder_ids = {"<image>": image_token_index, "<video>": video_token_index,
                                "<audio>": audio_token_index}
        self.emoprompt_exemplars = list(emoprompt_exemplars or [])
        self._source_dir = source_dir

    _auto_class = None

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor"):
        """Called by AutoProcessor on remote code; save_pretrained always writes the auto_map."""
        cls._auto_class = auto_class if isinstance(auto_class, str) else auto_class.__name__

    # ----- files --------------------------------------------------------------------------------
    def settings(self) -> dict:
        return {"auto_map": {"AutoProcessor": "processing_emollm.EmoLLMProcessor"},
                "image_aspect_ratio": self.image_aspect_ratio, "num_frames": self.num_frames,
                "image_token_index": self.placeholder_ids["<image>"],
                "video_token_index": self.placeholder_ids["<video>"],
                "audio_token_index": self.placeholder_ids["<audio>"],
                "chat_template": self.chat_template, "emoprompt_exemplars": self.emoprompt_exemplars}

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        from transformers.utils import cached_file

        hub = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only", "subfolder")
               if k in kwargs}
        settings = json.loads(Path(cached_file(pretrained_model_name_or_path, PROCESSOR_FILE, **hub)).read_text())
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, use_fast=False, **hub)
        image_processor = CLIPImageProcessor.from_pretrained(pretrained_model_name_or_path, **hub)
        feature_extractor = None
        if settings.get("has_audio", False):
            feature_extractor = WhisperFeatureExtractor.from_pretrained(
                pretrained_model_name_or_path, **dict(hub, subfolder=AUDIO_SUBFOLDER))
        known = {k: settings[k] for k in ("chat_template", "image_aspect_ratio", "num_frames",
                                          "image_token_index", "video_token_index", "audio_token_index",
                                          "emoprompt_exemplars") if k in settings}
        source = str(pretrained_model_name_or_path) if os.path.isdir(str(pretrained_model_name_or_path)) else None
        return cls(tokenizer, image_processor, feature_extractor, source_dir=source, **known)

    def save_pretrained(self, save_directory, **kwargs):
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        copied = False
        if self._source_dir and Path(self._source_dir).resolve() != out.resolve():
            for name in TOKENIZER_FILES:  # byte for byte: re-saving a slow tokenizer may drop its settings
                if (Path(self._source_dir) / name).is_file():
                    shutil.copyfile(Path(self._source_dir) / name, out / name)
                    copied = True
        if not copied and not (out / "tokenizer_config.json").is_file():
            self.tokenizer.save_pretrained(str(out))
        self.image_processor.save_pretrained(str(out))
        if self.feature_extractor is not None:
            self.feature_extractor.save_pretrained(str(out / AUDIO_SUBFOLDER))
        settings = dict(self.settings(), has_audio=self.feature_extractor is not None)
        (out / PROCESSOR_FILE).write_text(json.dumps(settings, indent=2) + "\n")
        (out / "chat_template.jinja").write_text(self.chat_template)
        here = Path(__file__)
        if here.parent.resolve() != out.resolve():
            shutil.copyfile(here, out / here.name)
        return [str(out / PROCESSOR_FILE)]

    # ----- prompts ------------------------------------------------------------------------------
    def apply_chat_template(self, messages, add_generation_prompt: bool = True, tokenize: bool = False,
                            return_dict: bool = False, return_tensors=None, **kwargs):
        """The prompt the checkpoint was trained with, for messages ``[{"role": "system" | "user" |
        "assistant", "content": str | [{"type": "text" | "image" | "video" | "audio", ...}]}]``.

        A media part holds its data under its type's key (``{"type": "image", "image": PIL}``), or
        a ``path``. ``tokenize=True`` also loads the media and returns the processor's output (a
        ``BatchFeature`` with ``return_dict=True``, else its ``input_ids``)."""
        import jinja2

        env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
        prompt = env.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt, **kwargs)
        if not tokenize:
            return prompt
        media = {"image": [], "video": [], "audio": []}
        for message in messages:
            if isinstance(message.get("content"), list):
                for part in message["content"]:
                    kind = part.get("type")
                    if kind in media:
                        media[kind].append(part.get(kind, part.get("path", part.get("url"))))
        out = self(text=prompt, images=media["image"] or None, videos=media["video"] or None,
                   audio=media["audio"] or None, return_tensors=return_tensors or "pt")
        return out if return_dict else out["input_ids"]

    def emoprompt_system(self, exemplar_id: str) -> str:
        """The system prompt with EmoPrompt exemplar ``exemplar_id`` as its worked example."""
        for exemplar in self.emoprompt_exemplars:
            if exemplar["id"] == exemplar_id:
                return exemplar["system"]
        raise KeyError(f"no EmoPrompt exemplar {exemplar_id!r}; known: "
                       f"{', '.join(e['id'] for e in self.emoprompt_exemplars[:10])}")

    def tokenize(self, text: str) -> list:
        """LLaVA's tokenisation of a prompt with media placeholders (module doc)."""
        parts = _SPLIT.split(text)
        texts, placeholders = parts[0::2], parts[1::2]
        chunks = [self.tokenizer(piece).input_ids for piece in texts]
        ids, offset = [], 0
        if chunks and chunks[0] and chunks[0][0] == self.tokenizer.bos_token_id:
            offset = 1
            ids.append(chunks[0][0])
        for i, chunk in enumerate(chunks):
            ids.extend(chunk[offset:])
            if i < len(placeholders):
                ids.append(self.placeholder_ids[placeholders[i]])
        return ids

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        return next(i for i in (tok.pad_token_id, tok.unk_token_id, tok.eos_token_id, 0) if i is not None)

    # ----- media --------------------------------------------------------------------------------
    def _pixels(self, images) -> torch.Tensor:
        from PIL import Image

        pictures = []
        for image in images:
            if isinstance(image, (str, os.PathLike)):
                with Image.open(image) as opened:
                    image = opened.convert("RGB")
            elif not isinstance(image, Image.Image):
                image = Image.fromarray(np.asarray(image))
            image = image.convert("RGB")
            if self.image_aspect_ratio == "pad":
                background = tuple(int(x * 255) for x in self.image_processor.image_mean)
                image = _expand2square(image, background)
            pictures.append(image)
        return self.image_processor.preprocess(pictures, return_tensors="pt")["pixel_values"]

    def _clip(self, video) -> torch.Tensor:
        frames = sample_video(video, self.num_frames) if isinstance(video, (str, os.PathLike)) else list(video)
        return self._pixels(frames)

    def _audio(self, clips, sampling_rate: int):
        if self.feature_extractor is None:
            raise ValueError("audio was given but this EmoLLM has no audio tower")
        waves = []
        for clip in clips:
            wave = load_audio(clip) if isinstance(clip, (str, os.PathLike)) else np.asarray(clip, np.float32)
            if wave.ndim != 1 or wave.size == 0:
                raise ValueError(f"audio must be 1-D mono samples (got shape {wave.shape}) or a file path")
            waves.append(wave)
        if sampling_rate != SAMPLE_RATE:
            raise ValueError(f"audio must be {SAMPLE_RATE} Hz (got {sampling_rate}); a path is resampled")
        features = self.feature_extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        lengths = torch.tensor([covered_mel_frames(w.size) for w in waves], dtype=torch.long)
        return features, lengths

    def __call__(self, text=None, images=None, videos=None, audio=None, sampling_rate: int = SAMPLE_RATE,
                 return_tensors="pt", **kwargs) -> BatchFeature:
        texts = [text] if isinstance(text, str) else list(text)
        rows = [self.tokenize(t) for t in texts]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):
            input_ids[b, width - len(row):] = torch.tensor(row, dtype=torch.long)
            attention_mask[b, width - len(row):] = 1
        data = {"input_ids": input_ids, "attention_mask": attention_mask}
        counts = {p: sum(t.count(p) for t in texts) for p in PLACEHOLDERS}
        images, audio = _as_list(images), _as_list(audio)
        if videos is not None and (isinstance(videos, (str, os.PathLike)) or not isinstance(videos, (list, tuple))
                                   or (videos and not isinstance(videos[0], (list, tuple, str, os.PathLike)))):
            videos = [videos]  # one clip: a path, or a list of frames
        videos = _as_list(videos)
        for placeholder, given in (("<image>", images), ("<video>", videos), ("<audio>", audio)):
            if counts[placeholder] != len(given):
                raise ValueError(f"the text has {counts[placeholder]} {placeholder} placeholder(s) but "
                                 f"{len(given)} {placeholder[1:-1]}(s) were given")
        if images:
            data["pixel_values"] = self._pixels(images)
        if videos:
            data["pixel_values_videos"] = torch.stack([self._clip(v) for v in videos])
        if audio:
            data["input_features"], data["audio_feature_lengths"] = self._audio(audio, sampling_rate)
        return BatchFeature(data=data, tensor_type=return_tensors)

    # ----- decoding -----------------------------------------------------------------------------
    def _text_ids(self, ids):
        placeholders = set(self.placeholder_ids.values())
        return [int(i) for i in ids if int(i) not in placeholders]

    def decode(self, ids, **kwargs) -> str:
        return self.tokenizer.decode(self._text_ids(ids), **kwargs)

    def batch_decode(self, sequences, **kwargs) -> list:
        return [self.decode(ids, **kwargs) for ids in sequences]
