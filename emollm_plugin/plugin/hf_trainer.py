"""What transformers' ``Trainer`` changed under LLaVA's ``LLaVATrainer``, as signature checks.

``Trainer(tokenizer=)`` became ``processing_class`` (5.x) and ``Trainer._save_checkpoint`` lost its
``metrics`` argument (4.5x), which LLaVA still passes; ``train/trainer.py`` adapts to both.
"""
from __future__ import annotations

import inspect


def trainer_takes(name: str) -> bool:
    """Whether transformers' Trainer.__init__ still has the keyword ``name``."""
    from transformers import Trainer
    return name in inspect.signature(Trainer.__init__).parameters


def hf_save_checkpoint_takes_metrics() -> bool:
    from transformers import Trainer
    return "metrics" in inspect.signature(Trainer._save_checkpoint).parameters
