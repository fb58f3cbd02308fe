"""LLaVA's trainer with checkpoints that hold everything a LoRA run trains.

Without DeepSpeed, the HF Trainer saves a PEFT model's checkpoint as the LoRA adapter alone, so
a resumed run silently restarts the MVP and audio projectors from random weights. Here each
``checkpoint-N`` also gets ``non_lora_trainables.bin`` (as LLaVA writes at the end of training),
and resuming loads it back, checking that every trainable non-LoRA weight is there. DeepSpeed
checkpoints already hold the whole module and are left alone.

A record whose media fail mid-training (``--on_bad_media stop``, ``data.BadMediaError``) ends the
run with a checkpoint of the steps done (one process; with several, the other ranks could not
join the save, so the error says to use the data check or ``--on_bad_media skip``), and the
error names the record and the checkpoint. Rerunning the same command resumes from it.

It also absorbs what newer transformers changed under LLaVA's ``LLaVATrainer``
(docs/upstream-quirks.md): ``Trainer(tokenizer=)`` became ``processing_class`` (5.x), ``_get_train_sampler``
is called with the dataset (4.5x), and ``Trainer._save_checkpoint`` lost its ``metrics`` argument
(4.5x), which LLaVA still passes.
"""
from __future__ import annotations

import os

import torch

from ..plugin.hf_trainer import hf_save_checkpoint_takes_metrics, trainer_takes

NON_LORA_FILE = "non_lora_trainables.bin"


def non_lora_trainables(model) -> dict:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()
            if p.requires_grad and "lora_" not in name}


def make_trainer_class(upstream_cls):
    from transformers import Trainer

    class EmoLLaVATrainer(upstream_cls):
        def train(self, *args, **kwargs):
            from .data import BadMediaError
            try:
                return super().train(*args, **kwargs)
            except BadMediaError as err:
                raise BadMediaError(f"{err}. {self._save_after_bad_media()}") from err

        def _save_after_bad_media(self) -> str:
            """Save a checkpoint of the steps done (single process); say where, or why not."""
            steps = self.state.global_step
            if self.args.world_size > 1:
                return (f"Training stopped after {steps} step(s); no checkpoint was saved (the other "
                        f"{self.args.world_size - 1} process(es) cannot join the save). Fix or drop the record, "
                        "or train with --on_bad_media skip")
            self._save_checkpoint(self.model_wrapped, trial=None)
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
            folder = os.path.join(self._get_output_dir(trial=None), f"{PREFIX_CHECKPOINT_DIR}-{steps}")
            return (f"A checkpoint of the {steps} step(s) done is in {folder}; fix or drop the record and run "
                    "the same command again to resume from it (or train with --on_bad_media skip)")

        def __init__(self, *args, **kwargs):
            if "tokenizer" in kwargs and not trainer_takes("tokenizer"):
                kwargs["processing_class"] = kwargs.pop("tokenizer")
            super().__init__(*args, **kwargs)
            from .progress import use_progress_lines
            use_progress_lines(self)  # a log gets progress lines in place of tqdm's carriage returns

        def _get_train_sampler(self, train_dataset=None):
            # LLaVA's override reads self.train_dataset and takes no argument
            return super()._get_train_sampler()

        def _is_peft_without_deepspeed(self) -> bool:
            from peft import PeftModel
            return isinstance(self.model, PeftModel) and not self.is_deepspeed_enabled

        def _save_checkpoint(self, model, trial, metrics=None):
            if getattr(self.args, "tune_mm_mlp_adapter", False) or hf_save_checkpoint_takes_metrics():
                super()._save_checkpoint(model, trial, metrics)
            else:  # LLaVA's method only forwards here, passing `metrics`, which the Trainer no longer takes
                Trainer._save_checkpoint(self, model, trial)
            if getattr(self.args, "should_save", False):
                self._write_card(self._checkpoint_folder(trial))
            if not self._is_peft_without_deepspeed() or getattr(self.args, "tune_mm_mlp_adapter", False):
                return
            if self.args.should_save:
                torch.save(non_lora_trainables(self.model), os.path.join(self._checkpoint_folder(trial), NON_LORA_FILE))

        def _checkpoint_folder(self, trial) -> str:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
            return os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")

        def _write_card(self, folder: str) -> None:
            """The model card over the README.md PEFT wrote into the checkpoint folder."""
            import dataclasses
            import sys

            from .card import write_card
            if os.path.isdir(folder):
                write_card(folder, self.model.config.to_dict(), sys.argv[1:], dataclasses.asdict(self.state))

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            if not self._is_peft_without_deepspeed():
                return
            path = os.path.join(resume_from_checkpoint, NON_LORA_FILE)
            target = model if model is not None else self.model
            expected = set(non_lora_trainables(target))
            if not expected:
                return
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{resume_from_checkpoint} has no {NON_LORA_FILE}: resuming would restart the projectors "
                    "from random weights. It was written without the plugin; start the run afresh.")
            state = torch.load(path, map_location="cpu")
            missing = sorted(expected - set(state))
            if missing:
                raise KeyError(f"{path} lacks trainable weights {missing[:5]} ({len(missing)}): written by a run "
                               "with other flags; resume with the same flags")
            target.load_state_dict(state, strict=False)

    EmoLLaVATrainer.__name__ = EmoLLaVATrainer.__qualname__ = "EmoLLaVATrainer"
    return EmoLLaVATrainer
