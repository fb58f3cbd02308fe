"""lmms-eval's ``--model emollm``: the plugin registered, then ``apps.lmms_eval.model.EmoLLM``.

lmms-eval imports this class by the path ``apps/lmms_eval/manifest.py`` names, so registering
here makes the plugin's model class, towers and templates exist before the checkpoint loads.
"""
from __future__ import annotations

from .. import register
from ..apps.lmms_eval.model import EmoLLM as _AppEmoLLM


class EmoLLM(_AppEmoLLM):
    def __init__(self, *args, **kwargs) -> None:
        register()
        super().__init__(*args, **kwargs)
