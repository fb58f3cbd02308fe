"""A bounded queue that groups waiting jobs into batches for one worker thread.

``submit`` refuses a job when ``capacity`` jobs already wait (the server answers 503 with
Retry-After). The worker takes the oldest job, waits up to ``wait_s`` for more, and runs up to
``batch_size`` jobs that share its ``key`` (e.g. the generation settings) in one call of
``run_batch(payloads) -> results``; jobs with another key wait for a later batch, in order.
Every job is finished exactly once: with its result, with the batch's exception, or cancelled
(a cancelled job that has not started is dropped from the queue).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Callable, Hashable

from ..errors import EmoLLMError


class QueueFull(EmoLLMError):
    """``capacity`` jobs are already waiting."""


class Batcher:
    def __init__(self, run_batch: Callable[[list], list], batch_size: int = 8, capacity: int = 64,
                 wait_s: float = 0.01):
        if batch_size < 1 or capacity < 1 or wait_s < 0:
            raise ValueError(f"batch_size and capacity must be >= 1 and wait_s >= 0, got {batch_size}, "
                             f"{capacity}, {wait_s}")
        self.run_batch, self.batch_size, self.capacity, self.wait_s = run_batch, batch_size, capacity, wait_s
        self._jobs: list[tuple[Hashable, object, Future]] = []
        self._cond = threading.Condition()
        self._closed = False
        self.batches_run = 0
        self._thread = threading.Thread(target=self._work, name="emollm-batcher", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._jobs)

    def submit(self, key: Hashable, payload) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if len(self._jobs) >= self.capacity:
                raise QueueFull(f"{len(self._jobs)} requests are already waiting (queue capacity {self.capacity})")
            self._jobs.append((key, payload, future))
            self._cond.notify_all()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for _, _, future in self._jobs:
                future.cancel()
            self._jobs.clear()
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _take(self) -> list[tuple[object, Future]]:
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            if self._closed:
                return []
            deadline = time.monotonic() + self.wait_s
            while len(self._jobs) < self.batch_size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._jobs = [job for job in self._jobs if not job[2].cancelled()]
            if not self._jobs:
                return []
            key = self._jobs[0][0]
            chosen = [job for job in self._jobs if job[0] == key][:self.batch_size]
            taken = {id(job) for job in chosen}
            self._jobs = [job for job in self._jobs if id(job) not in taken]
        return [(payload, future) for _, payload, future in chosen if future.set_running_or_notify_cancel()]

    def _work(self) -> None:
        while not self._closed:
            batch = self._take()
            if not batch:
                continue
            try:
                results = self.run_batch([payload for payload, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} jobs")
            except BaseException as err:  # noqa: BLE001 - handed to every waiting request
                for _, future in batch:
                    future.set_exception(err)
            else:
                for (_, future), result in zip(batch, results):
                    future.set_result(result)
            self.batches_run += 1
