"""transformers 4.x training flags that newer transformers dropped, accepted on LLaVA's
``TrainingArguments`` (installed by the seams)."""
from __future__ import annotations

import dataclasses
from typing import Optional


def _field(default, help_: str):
    return dataclasses.field(default=default, metadata={"help": help_})


def extend_training_arguments(upstream_cls):
    """Accept transformers 4.x training flags that newer transformers dropped, so LLaVA's scripts
    and the recipes keep one command line: ``--evaluation_strategy`` (now ``--eval_strategy``) and
    ``--warmup_ratio`` (in 5.x a ``--warmup_steps`` below 1 is the ratio). Unchanged when upstream
    still has both."""
    names = {f.name for f in dataclasses.fields(upstream_cls)}
    fields = []
    if "evaluation_strategy" not in names:
        fields.append(("evaluation_strategy", Optional[str], _field(None, "old name of --eval_strategy")))
    if "warmup_ratio" not in names:
        fields.append(("warmup_ratio", Optional[float], _field(None, "fraction of the steps to warm up over "
                                                               "(given to --warmup_steps, which reads < 1 as a ratio)")))
    if not fields:
        return upstream_cls
    maps_ratio = "warmup_ratio" not in names  # 4.5x still has it natively; 5.x does not

    def __post_init__(self):
        ratio = self.warmup_ratio if maps_ratio else None
        if ratio is not None:
            if not 0 <= ratio < 1:
                raise ValueError(f"--warmup_ratio {ratio}: give a fraction in [0, 1) or use --warmup_steps N")
            if self.warmup_steps:
                raise ValueError("give --warmup_ratio or --warmup_steps, not both")
            self.warmup_steps = ratio
        if getattr(self, "evaluation_strategy", None) is not None:
            self.eval_strategy = self.evaluation_strategy
        upstream_cls.__post_init__(self)

    cls = dataclasses.make_dataclass("TrainingArguments", fields, bases=(upstream_cls,),
                                     namespace={"__post_init__": __post_init__})
    cls.__module__ = __name__
    # the Trainer pickles its arguments into every checkpoint (training_args.bin): pickle finds the
    # class by module and name, so the generated class is published here
    globals()["TrainingArguments"] = cls
    return cls
