"""Timing shared by the benchmarks.

``timed(fn, device) -> (seconds, fn's result)``: wall clock, with CUDA synchronised before and
after so queued kernels are counted.

``Harness``: the steady side-by-side comparison every benchmark of two (or more) paths uses.

- Each path is a list of named phases (``phase(state) -> seconds``; ``state`` is the path's own
  dict, so a phase can hand its output to the next one).
- Within a repeat the paths alternate phase by phase: phase 1 of (a), phase 1 of (b), phase 2 of
  (a), ... The order of the paths is reversed on every other repeat, so neither always runs first
  after a phase of the other.
- One untimed warm-up repeat, then ``repeats`` (>= 3 by default) timed ones.
- Per path and phase: the minimum and the median over the repeats; per path the same for the
  total (sum of its phases within a repeat).
- Ratios to the reference path: of the minimums and of the medians. The minimum is the run least
  disturbed by other work on the machine; the median shows how typical that was.
- 1 torch thread by default (``--threads N``): on a shared machine a single thread does not wait
  on a second one descheduled by other processes.
- The 1-minute load average at start and end goes into the header.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

Phase = Callable[[dict], float]


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def timed_phase(fn: Callable[[dict], object], device: torch.device, key: str | None = None) -> Phase:
    """A phase timing ``fn(state)`` as a whole; its result goes to ``state[key]`` when given."""
    def phase(state: dict) -> float:
        seconds, out = timed(lambda: fn(state), device)
        if key is not None:
            state[key] = out
        return seconds
    return phase


def load_1min() -> float:
    return os.getloadavg()[0]


def add_harness_arguments(parser: argparse.ArgumentParser, repeats: int = 3) -> None:
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--repeats", type=int, default=repeats,
                        help=f"timed repeats after one warm-up, paths alternating phase by phase (default: {repeats})")


@dataclass
class Runs:
    """Seconds per (path, phase) over the timed repeats."""

    paths: list[str]
    phases: dict[str, list[str]]
    seconds: dict[tuple[str, str], list[float]]
    threads: int
    repeats: int
    load_start: float
    load_end: float = 0.0
    states: dict[str, dict] = field(default_factory=dict)

    def values(self, path: str, phase: str | None = None) -> list[float]:
        """One phase's seconds, or (phase None) the path's total per repeat."""
        if phase is not None:
            return self.seconds[(path, phase)]
        per_phase = [self.seconds[(path, p)] for p in self.phases[path]]
        return [sum(v) for v in zip(*per_phase)]

    def min(self, path: str, phase: str | None = None) -> float:
        return min(self.values(path, phase))

    def median(self, path: str, phase: str | None = None) -> float:
        return statistics.median(self.values(path, phase))

    def ratios(self, path: str, reference: str, phase: str | None = None) -> tuple[float, float]:
        """(ratio of minimums, ratio of medians) of ``path`` to ``reference``."""
        return (self.min(path, phase) / self.min(reference, phase),
                self.median(path, phase) / self.median(reference, phase))

    def header(self) -> str:
        return (f"threads={self.threads} repeats={self.repeats} (after 1 warm-up; paths alternating phase by phase; "
                f"min and median) load(1 min)={self.load_start:.2f} at start, {self.load_end:.2f} at end")

    def table(self, reference: str, unit: float = 1e3, unit_name: str = "ms") -> str:
        """Markdown: one row per path and phase (and the path's total), ratios to ``reference``."""
        lines = [f"| path | phase | min {unit_name} | median {unit_name} | x ref (min) | x ref (median) |",
                 "|---|---|---:|---:|---:|---:|"]
        for path in self.paths:
            for phase in [*self.phases[path], *([None] if len(self.phases[path]) > 1 else [])]:
                shared = phase is None or phase in self.phases[reference]
                by_min, by_median = self.ratios(path, reference, phase) if shared else (float("nan"),) * 2
                lines.append(f"| {path} | {phase or 'total'} | {self.min(path, phase) * unit:.1f} "
                             f"| {self.median(path, phase) * unit:.1f} | {by_min:.3f} | {by_median:.3f} |")
        return "\n".join(lines)


class Harness:
    """Runs named paths phase by phase, alternating; see the module docstring."""

    def __init__(self, threads: int = 1, repeats: int = 3, warmup: int = 1):
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.threads, self.repeats, self.warmup = threads, repeats, warmup
        torch.set_num_threads(threads)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Harness":
        return cls(args.threads, args.repeats)

    def run(self, paths: dict[str, list[tuple[str, Phase]]],
            setup: Callable[[str], dict] | None = None) -> Runs:
        """``paths``: name -> [(phase name, phase)]. ``setup(path) -> state`` makes each path's
        fresh state before every repeat (default: an empty dict)."""
        names = list(paths)
        runs = Runs(names, {p: [n for n, _ in paths[p]] for p in names}, {}, self.threads, self.repeats,
                    load_1min())
        depth = max(len(phases) for phases in paths.values())
        for repeat in range(self.warmup + self.repeats):
            order = names if repeat % 2 == 0 else names[::-1]
            states = {p: (setup(p) if setup else {}) for p in names}
            for step in range(depth):
                for path in order:
                    if step >= len(paths[path]):
                        continue
                    phase_name, phase = paths[path][step]
                    seconds = phase(states[path])
                    if repeat >= self.warmup:
                        runs.seconds.setdefault((path, phase_name), []).append(seconds)
            runs.states = states
        runs.load_end = load_1min()
        return runs
