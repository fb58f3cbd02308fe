"""``GeneratorConfig``: every setting of one bank-generation run, checked when it is made."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ...tasks.labels import TASKS
from .client import MAX_REPLY_BYTES
from .prompt import PROMPT_VERSION


@dataclass(frozen=True)
class GeneratorConfig:
    """Args:
        out_path: the bank to write or extend (JSONL).
        per_task: exemplars wanted per task.
        base_url: OpenAI-compatible endpoint, e.g. ``https://api.openai.com/v1``.
        model: model name sent to the endpoint.
        api_key_env: environment variable holding the API key; None for an endpoint without one
            (default: ``"OPENAI_API_KEY"``).
        media_root: folder the records' media paths resolve against (default: ``"."``).
        tasks: tasks to fill; None = every task present in the records (default: None).
        splits: record splits used, so test queries never meet their own sample in the bank
            (default: ``("train",)``).
        num_frames: frames sent per video (default: 4).
        max_image_side: images are shrunk to fit this many pixels (default: 512).
        requests_per_minute: request starts per minute; None or 0 = no limit (default: 30).
        max_attempts: attempts per record (default: 5).
        backoff_base_s / backoff_max_s: first retry delay, doubling, and its cap (default: 1, 60).
        timeout_s: total seconds one request may take, connecting, waiting and reading
            included (default: 60).
        max_reply_bytes: a reply over this size is refused while it is read (default:
            ``client.MAX_REPLY_BYTES``, 16 MiB).
        max_consecutive_drops: this many dropped records in a row stop the run (default: 10).
        temperature / max_tokens: sampling settings sent with each request (default: 0.2, 600).
        seed: record order within a label (default: 0).
        prompt_version: written into each exemplar and its id (default: ``PROMPT_VERSION``).
        progress: show a progress bar (default: True).
    """

    out_path: Path
    per_task: int
    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    media_root: Path = Path(".")
    tasks: tuple[str, ...] | None = None
    splits: tuple[str, ...] = ("train",)
    num_frames: int = 4
    max_image_side: int = 512
    requests_per_minute: float | None = 30.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_s: float = 60.0
    max_reply_bytes: int = MAX_REPLY_BYTES
    max_consecutive_drops: int = 10
    temperature: float = 0.2
    max_tokens: int = 600
    seed: int = 0
    prompt_version: str = PROMPT_VERSION
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_path", Path(self.out_path))
        object.__setattr__(self, "media_root", Path(self.media_root))
        object.__setattr__(self, "api_key_env", self.api_key_env or None)
        object.__setattr__(self, "splits", tuple(self.splits))
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(self.tasks) or None)
        unknown = [t for t in self.tasks or () if t not in TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
        for name in ("per_task", "max_attempts", "num_frames", "max_image_side",
                     "max_consecutive_drops", "max_tokens", "max_reply_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ValueError(f"timeout_s must be a finite number > 0, got {self.timeout_s}")
        for name in ("backoff_base_s", "backoff_max_s", "temperature"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.requests_per_minute is not None and not (math.isfinite(self.requests_per_minute)
                                                         and self.requests_per_minute >= 0):
            raise ValueError(f"requests_per_minute must be >= 0 (0: no limit), got "
                             f"{self.requests_per_minute}")
