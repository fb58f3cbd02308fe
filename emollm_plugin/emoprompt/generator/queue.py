"""A task's candidate records, handed out label-balanced: the next record comes from the label
with the fewest exemplars so far (ties: the smaller label); within a label, records go in
``stable_index`` hash order of the seed and record id."""
from __future__ import annotations

from collections import Counter, defaultdict, deque

from ..select import stable_index


class LabelQueue:
    def __init__(self, records: list[dict], have: Counter[str], seed: int):
        groups: dict[str, list[dict]] = defaultdict(list)
        for record in records:
            groups[record["label"]].append(record)

        def order(record: dict) -> int:
            return stable_index(seed, record["id"], 2**62)

        self.groups = {label: deque(sorted(rs, key=order)) for label, rs in groups.items()}
        self.have = Counter({label: have[label] for label in self.groups})

    def next(self) -> dict | None:
        ready = [label for label, queue in self.groups.items() if queue]
        if not ready:
            return None
        label = min(ready, key=lambda lab: (self.have[lab], lab))
        return self.groups[label].popleft()
