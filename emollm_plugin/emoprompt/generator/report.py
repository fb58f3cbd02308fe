"""What a generation run did: exemplars written per task, drops per reason, shortfalls."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...tasks.labels import TASKS


@dataclass
class GenerationReport:
    out_path: Path
    already: Counter[str] = field(default_factory=Counter)  # per task, in the bank before the run
    written: Counter[str] = field(default_factory=Counter)  # per task, this run
    dropped: Counter[str] = field(default_factory=Counter)  # per reason
    drop_examples: dict[str, list[str]] = field(default_factory=dict)
    shortfall: dict[str, int] = field(default_factory=dict)  # task -> exemplars still missing
    other_split: int = 0  # records left out for their split
    removed_partial_line: str | None = None
    requests: int = 0

    def drop(self, reason: str, record_id: str) -> None:
        self.dropped[reason] += 1
        examples = self.drop_examples.setdefault(reason, [])
        if len(examples) < 3:
            examples.append(record_id)

    def summary(self) -> str:
        lines = [f"{self.out_path}: {sum(self.written.values())} exemplars written "
                 f"({self.requests} requests), {sum(self.already.values())} already there"]
        if self.removed_partial_line is not None:
            lines.append(f"  removed a cut-off last line ({len(self.removed_partial_line)} chars) "
                         "left by an interrupted run")
        for task in TASKS:
            if self.written[task] or self.already[task] or task in self.shortfall:
                short = (f", {self.shortfall[task]} short: no more candidate records"
                         if task in self.shortfall else "")
                lines.append(f"  {task:<15} +{self.written[task]} (had {self.already[task]}){short}")
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"  DROPPED {reason}: {n} (e.g. {', '.join(self.drop_examples[reason])})")
        if self.other_split:
            lines.append(f"  {self.other_split} records of other splits not used")
        return "\n".join(lines)
