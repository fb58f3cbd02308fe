"""Choose the exemplar a query's prompt carries.

Eligible exemplars for a query record (always): same task as the query, not built from the query's
own record (``exemplar.source_id != query["id"]``) and sharing none of its media files (EMOTIC
asks about several people in one image, CAER-S/EMOTIC feed two tasks from one image: an exemplar
of the same picture would show the answer). Then, by strategy:

- ``random``: the eligible exemplar at index ``h(seed, query id) mod n`` of the id-sorted list,
  ``h`` = the first 8 bytes of blake2b, so a query gets the same exemplar whatever the call order,
  worker process or bank file order.
- ``same-label-excluded``: as ``random`` over the eligible exemplars whose label differs from the
  query's label. Note: it reveals information by elimination (one option ruled out; for the
  yes/no tasks it gives the answer away as "the opposite of the example"); ``random`` is the
  strategy whose exemplar label is independent of the query's. It reads the gold label, so it is
  a training-time strategy only: evaluation refuses it (``emoprompt/runtime.py``).
- ``nearest``: the eligible exemplar of highest cosine similarity to the query's feature,

      s_i = <e_i, q> / (||e_i|| ||q||),   E: N x D (one row per exemplar), q: D

  ties going to the smaller exemplar id. Exemplar features are given at construction.

No eligible exemplar raises ``NoExemplarError`` naming the query and why, never a fallback.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from ..configs.emoprompt import STRATEGIES, EmoPromptConfig
from ..errors import EmoLLMError
from .bank import MEDIA_KEYS, Exemplar


class NoExemplarError(EmoLLMError, LookupError):
    """No exemplar in the bank may be shown with this query."""


def stable_index(seed: int, query_id: str, n: int) -> int:
    """``h(seed, query_id) mod n`` with ``h`` independent of the Python process (not ``hash``)."""
    digest = hashlib.blake2b(f"{seed}\x1f{query_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def _media_of(record: Mapping[str, Any]) -> set[str]:
    return {record[k] for k in MEDIA_KEYS if isinstance(record.get(k), str)}


class ExemplarSelector:
    """Picks one exemplar per query record (rules: module docstring).

    Args:
        bank: the exemplars (``load_bank``).
        strategy: ``random`` | ``same-label-excluded`` | ``nearest``
            (default: ``EmoPromptConfig.strategy``, ``random``).
        seed: varies the ``random`` / ``same-label-excluded`` choice
            (default: ``EmoPromptConfig.seed``, 0).
        features: ``nearest`` only: one vector per exemplar, an ``N x D`` array in bank order
            or a mapping exemplar id -> vector (default: None).
    """

    def __init__(self, bank: Sequence[Exemplar], strategy: str = EmoPromptConfig.strategy,
                 seed: int = EmoPromptConfig.seed, features: Any = None):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown exemplar selection strategy {strategy!r}; known: "
                             f"{', '.join(STRATEGIES)}")
        if not bank:
            raise ValueError("the exemplar bank is empty; give a bank with exemplars for the tasks "
                             "you prompt (`emollm emoprompt generate`)")
        ids = [ex.id for ex in bank]
        if len(set(ids)) != len(ids):
            raise ValueError("the exemplar bank has duplicate ids; run `emollm emoprompt validate`")
        self.strategy, self.seed = strategy, seed
        self._by_task: dict[str, list[Exemplar]] = defaultdict(list)
        for ex in sorted(bank, key=lambda e: e.id):
            self._by_task[ex.task].append(ex)
        self._unit: dict[str, np.ndarray] = {}
        if strategy == "nearest":
            self._unit = self._unit_features(bank, features)
        elif features is not None:
            raise ValueError(f"features are used by the 'nearest' strategy only, not {strategy!r}")

    @staticmethod
    def _unit_features(bank: Sequence[Exemplar], features: Any) -> dict[str, np.ndarray]:
        if features is None:
            raise ValueError("strategy 'nearest' needs one feature vector per exemplar (features=)")
        if isinstance(features, Mapping):
            missing = [ex.id for ex in bank if ex.id not in features]
            if missing:
                raise ValueError(f"no feature for {len(missing)} exemplar(s), e.g. {missing[:3]}")
            rows = np.stack([np.asarray(features[ex.id], dtype=np.float64) for ex in bank])
        else:
            rows = np.asarray(features, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] != len(bank):
            raise ValueError(f"features must be N x D with N = {len(bank)} exemplars, got shape "
                             f"{tuple(rows.shape)}")
        norms = np.linalg.norm(rows, axis=1)
        bad = [ex.id for ex, n in zip(bank, norms) if not np.isfinite(n) or n == 0]
        if bad:
            raise ValueError(f"exemplar feature(s) with zero or non-finite norm: {bad[:3]}; cosine "
                             "similarity needs non-zero vectors")
        return {ex.id: row / n for ex, row, n in zip(bank, rows, norms)}

    def eligible(self, query: Mapping[str, Any]) -> list[Exemplar]:
        """Exemplars that may be shown with ``query`` under this strategy (id order)."""
        for key in ("id", "task"):
            if not isinstance(query.get(key), str):
                raise ValueError(f"query record needs a string {key!r} field, got {query.get(key)!r}")
        media = _media_of(query)
        pool = [ex for ex in self._by_task.get(query["task"], ())
                if ex.source_id != query["id"] and not media & set(ex.media.values())]
        if self.strategy == "same-label-excluded":
            if not isinstance(query.get("label"), str):
                raise ValueError(f"query {query['id']!r} has no 'label': strategy "
                                 "'same-label-excluded' needs the query's label")
            pool = [ex for ex in pool if ex.label != query["label"]]
        return pool

    def select(self, query: Mapping[str, Any], query_feature: Any = None) -> Exemplar:
        pool = self.eligible(query)
        if not pool:
            in_task = len(self._by_task.get(query["task"], ()))
            raise NoExemplarError(
                f"no exemplar may be shown with query {query['id']!r} (task {query['task']!r}, "
                f"strategy {self.strategy!r}): the bank has {in_task} exemplar(s) of this task, "
                "none of them eligible (own record, same media"
                + (", same label" if self.strategy == "same-label-excluded" else "")
                + "); add exemplars of this task to the bank")
        if self.strategy != "nearest":
            if query_feature is not None:
                raise ValueError(f"query_feature is used by the 'nearest' strategy only, not "
                                 f"{self.strategy!r}")
            return pool[stable_index(self.seed, query["id"], len(pool))]
        if query_feature is None:
            raise ValueError(f"strategy 'nearest' needs query_feature for query {query['id']!r}")
        q = np.asarray(query_feature, dtype=np.float64).reshape(-1)
        norm = np.linalg.norm(q)
        if not np.isfinite(norm) or norm == 0:
            raise ValueError(f"query {query['id']!r}: feature has zero or non-finite norm")
        matrix = np.stack([self._unit[ex.id] for ex in pool])  # N x D
        if matrix.shape[1] != q.shape[0]:
            raise ValueError(f"query {query['id']!r}: feature has {q.shape[0]} dims, exemplar "
                             f"features have {matrix.shape[1]}")
        return pool[int(np.argmax(matrix @ (q / norm)))]
