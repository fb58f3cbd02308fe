"""train/progress.py: a Trainer writing to a log (not a terminal) gets one ProgressLines callback in
place of tqdm's, however often the construction hook runs."""
from __future__ import annotations

import io
from types import SimpleNamespace


class _Handler:
    def __init__(self, callbacks):
        self.callbacks = list(callbacks)


class _Trainer:
    """What use_progress_lines touches of a transformers Trainer."""

    def __init__(self, callbacks):
        self.args = SimpleNamespace(disable_tqdm=False)
        self.callback_handler = _Handler(callbacks)

    def remove_callback(self, kind):
        self.callback_handler.callbacks = [c for c in self.callback_handler.callbacks if not isinstance(c, kind)]

    def add_callback(self, callback):
        self.callback_handler.callbacks.append(callback)


def test_one_progress_callback_however_often_it_is_installed():
    from transformers.trainer_callback import ProgressCallback

    from emollm_plugin.train.progress import ProgressLines, use_progress_lines
    trainer = _Trainer([ProgressCallback()])
    log = io.StringIO()  # not a terminal
    use_progress_lines(trainer, log)
    use_progress_lines(trainer, log)
    kinds = [type(c) for c in trainer.callback_handler.callbacks]
    assert kinds == [ProgressLines]


def test_a_terminal_keeps_tqdm():
    from transformers.trainer_callback import ProgressCallback

    from emollm_plugin.train.progress import use_progress_lines

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    trainer = _Trainer([ProgressCallback()])
    use_progress_lines(trainer, Terminal())
    assert [type(c) for c in trainer.callback_handler.callbacks] == [ProgressCallback]
