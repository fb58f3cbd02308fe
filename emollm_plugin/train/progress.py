"""Training progress on rank 0: step, loss and ETA, as a bar on a terminal and as lines in a log.

On a terminal the Trainer's own tqdm bar stays (it shows the ETA, and each logged loss under it).
Written to a file or a pipe, a tqdm bar is one ever-growing line of carriage returns, which is
why scripts turned it off (``--disable_tqdm True``). There ``ProgressLines`` takes the bar's
place: one line per logged loss (``--logging_steps``), e.g.

    [emollm] step 15/60 (25%) loss 5.8320 lr 4.1e-03 | 0:42 elapsed, ETA 2:06

``--disable_tqdm True`` still turns both off.
"""
from __future__ import annotations

import sys
import time

from transformers import TrainerCallback


def clock(seconds: float) -> str:
    """H:MM:SS, or M:SS under an hour."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(step: int, max_steps: int, elapsed: float, loss=None, learning_rate=None) -> str:
    """The line for ``step`` of ``max_steps`` after ``elapsed`` seconds; the ETA assumes the steps
    to come take the mean time of the steps done."""
    share = f" ({100 * step / max_steps:.0f}%)" if max_steps else ""
    line = f"[emollm] step {step}/{max_steps or '?'}{share}"
    if loss is not None:
        line += f" loss {loss:.4f}"
    if learning_rate is not None:
        line += f" lr {learning_rate:.1e}"
    line += f" | {clock(elapsed)} elapsed"
    if step and max_steps:
        line += f", ETA {clock(elapsed / step * (max_steps - step))}"
    return line


class ProgressLines(TrainerCallback):
    """Rank 0 prints a progress line at every logged loss and at the end of training."""

    def __init__(self, stream=None):
        self.stream = stream
        self.started = None
        self.last_step = -1

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs or self.started is None:
            return
        self.last_step = state.global_step
        self._print(progress_line(state.global_step, state.max_steps, time.monotonic() - self.started,
                                  logs["loss"], logs.get("learning_rate")))

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.started is not None and state.global_step != self.last_step:
            self._print(progress_line(state.global_step, state.max_steps, time.monotonic() - self.started))


def use_progress_lines(trainer, stream=None) -> None:
    """Replace the Trainer's tqdm bar by ``ProgressLines`` when ``stream`` (default stderr, where
    tqdm draws) is not a terminal; leave everything as it is with ``--disable_tqdm True``."""
    from transformers.trainer_callback import ProgressCallback

    if trainer.args.disable_tqdm or (stream or sys.stderr).isatty():
        return
    if any(isinstance(callback, ProgressLines) for callback in trainer.callback_handler.callbacks):
        return  # once per trainer, however often the construction hook runs
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(ProgressLines())
