"""Fill a bank up to ``per_task`` exemplars per task (``generate_bank``).

For each task, training records come from a ``LabelQueue``; each one is asked once
(``prompt.build_messages`` -> ``ChatClient.complete`` -> ``reply.parse_reply``), retried by the
``RetryPolicy``. A record whose replies stay unusable, whose media cannot be read, or that the
endpoint rejects is dropped and counted per reason; ``max_consecutive_drops`` drops in a row stop
the run (something systematic). Other HTTP errors (401, 403, 404, ...) and transient errors that
outlast the retries stop the run with ``GenerationError``; every exemplar finished so far is on
disk.

Each exemplar is appended (flushed, fsynced) as soon as it is checked; a rerun resumes: a cut-off
last line is removed and reported, records already in the bank are not asked again, and each task
is filled up to ``per_task``. The API key is read from the environment variable named by
``api_key_env``; it is masked in every message and log line, and a reply that echoes it is
refused (``client``).
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from ...tasks.labels import TASKS
from ...tasks.schema import SchemaError, answer_text, check_record
from ...records import check_unique_ids
from ..bank import MEDIA_KEYS, SCHEMA_VERSION, Exemplar, append_exemplar, bank_file, load_bank
from .client import ChatClient, RateLimiter, RetryPolicy
from .config import GeneratorConfig
from .errors import GenerationError, ReplyError
from .prompt import build_messages
from .queue import LabelQueue
from .reply import parse_reply
from .report import GenerationReport
from .secret import Secret

log = logging.getLogger(__name__)


def exemplar_id(record_id: str, prompt_version: str) -> str:
    return f"{record_id}@{prompt_version}"


def _check_records(records: Sequence[Any]) -> None:
    for index, record in enumerate(records):
        try:
            check_record(record)
        except SchemaError as err:
            record_id = record.get("id") if isinstance(record, dict) else None
            raise ValueError(f"bench record {index} (id={record_id!r}): {err}; fix it with "
                             "`emollm bench validate`") from None
    for index, _, record_id in check_unique_ids(record["id"] for record in records)[:1]:
        raise ValueError(f"bench record {index}: duplicate id {record_id!r}")


def _read_existing(out_path: Path, report: GenerationReport) -> list[Exemplar]:
    removed = bank_file(out_path).repair_tail()
    report.removed_partial_line = None if removed is None else removed.decode("utf-8", errors="replace")
    if report.removed_partial_line is not None:
        log.warning("%s: removed a cut-off last line left by an interrupted run: %.80r",
                    out_path, report.removed_partial_line)
    if not out_path.exists() or not out_path.read_bytes().strip():
        return []
    return load_bank(out_path)


def _api_key(config: GeneratorConfig) -> Secret:
    if config.api_key_env is None:
        return Secret(None)
    value = os.environ.get(config.api_key_env)
    if not value:
        raise GenerationError(f"environment variable {config.api_key_env} is not set: export it with "
                              "the API key (pass --api-key-env '' for an endpoint without a key)")
    return Secret(value)


def generate_bank(bench_records: Sequence[dict], config: GeneratorConfig, *,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> GenerationReport:
    """Fill the bank at ``config.out_path`` (module docstring); ``sleep`` and ``clock`` pace the
    requests and retries (tests pass fakes)."""
    from tqdm import tqdm

    _check_records(bench_records)
    secret = _api_key(config)
    tasks = list(config.tasks or [t for t in TASKS if any(r["task"] == t for r in bench_records)])
    out_path = config.out_path
    report = GenerationReport(out_path)
    existing = _read_existing(out_path, report)
    done_sources = {ex.source_id for ex in existing}
    report.already.update(ex.task for ex in existing)
    usable = [r for r in bench_records if r["split"] in config.splits]
    report.other_split = len(bench_records) - len(usable)

    client = ChatClient(config.base_url, config.model, secret, config.timeout_s,
                        RateLimiter(config.requests_per_minute, clock, sleep),
                        temperature=config.temperature, max_tokens=config.max_tokens,
                        max_reply_bytes=config.max_reply_bytes)
    retry = RetryPolicy(config.max_attempts, config.backoff_base_s, config.backoff_max_s, sleep)
    needs = {t: max(0, config.per_task - report.already[t]) for t in tasks}
    consecutive_drops = 0
    try:
        with tqdm(total=sum(needs.values()), desc="exemplars", unit="ex", disable=not config.progress) as bar:
            for task in tasks:
                labels_have = Counter(ex.label for ex in existing if ex.task == task)
                queue = LabelQueue([r for r in usable if r["task"] == task and r["id"] not in done_sources],
                                   labels_have, config.seed)
                while needs[task] > 0 and (record := queue.next()) is not None:
                    outcome = _ask(record, config, client, retry)
                    if isinstance(outcome, ReplyError):
                        report.drop(outcome.reason, record["id"])
                        log.warning("record %s dropped: %s", record["id"], secret.mask(str(outcome)))
                        consecutive_drops += 1
                        if consecutive_drops >= config.max_consecutive_drops:
                            raise GenerationError(
                                f"the last {consecutive_drops} records were all dropped "
                                f"({dict(report.dropped)}); something systematic is wrong (model, "
                                f"media root, endpoint). Finished exemplars are in {out_path}")
                        continue
                    consecutive_drops = 0
                    append_exemplar(out_path, _exemplar(record, task, outcome, config))
                    report.written[task] += 1
                    queue.have[record["label"]] += 1
                    needs[task] -= 1
                    bar.update(1)
                if needs[task] > 0:
                    report.shortfall[task] = needs[task]
    finally:
        report.requests = client.requests
    return report


def _ask(record: dict, config: GeneratorConfig, client: ChatClient, retry: RetryPolicy) -> str | ReplyError:
    """The reasoning for one record, or the ``ReplyError`` that drops it."""
    from ...media.errors import MediaError
    try:
        messages = build_messages(record, config.media_root, config.num_frames, config.max_image_side)
    except MediaError as err:
        return ReplyError(f"media unreadable ({err.cause})", str(err))
    return retry.run(lambda: parse_reply(client.complete(messages), record["task"], record["label"]),
                     f"record {record['id']}", client.secret)


def _exemplar(record: dict, task: str, reasoning: str, config: GeneratorConfig) -> Exemplar:
    return Exemplar(
        schema_version=SCHEMA_VERSION, id=exemplar_id(record["id"], config.prompt_version),
        task=task, label=record["label"], source_id=record["id"],
        media={k: record[k] for k in MEDIA_KEYS if k in record}, reasoning=reasoning,
        answer=answer_text(task, record["label"]), generator=config.model,
        prompt_version=config.prompt_version,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
