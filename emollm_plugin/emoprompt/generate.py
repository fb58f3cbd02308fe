"""Write an exemplar bank by asking an OpenAI-compatible chat-completions endpoint.

For each task, EmoBench training records are taken label-balanced (next record from the label
with the fewest exemplars so far; within a label in ``stable_index`` hash order of the seed and
record id). Each request (``POST {base_url}/chat/completions``) carries a system message with the
instructions and a user message with the task, the record's question, its ground-truth answer
and the record's image, or ``num_frames`` frames sampled uniformly from its video, as base64
JPEG ``image_url`` parts (audio cannot travel as an image; what is said reaches the model through
the question where the dataset provides it). The reply must be one JSON object
``{"reasoning": ..., "answer": ...}`` whose answer parses to the label.

Failures:
- HTTP 429 / 5xx, timeouts, dropped connections, a body that is not JSON, and replies that are
  not the asked-for JSON are retried ``max_attempts`` times in all with exponential backoff
  ``min(backoff_max_s, backoff_base_s * 2**(attempt-1))`` (at least the server's Retry-After).
- A record whose replies stay invalid, whose media cannot be read, or that the endpoint rejects
  (HTTP 400/413/422, e.g. a content filter) is dropped; drops are counted per reason and
  reported. ``max_consecutive_drops`` drops in a row stop the run (something systematic).
- Other HTTP errors (401, 403, 404, ...) and transient errors that outlast the retries stop the
  run with ``GenerationError``; every exemplar finished so far is already on disk.

Each exemplar is appended (flushed, fsynced) as soon as it is checked; a rerun resumes: a cut-off
last line is removed and reported, records already in the bank are not asked again, and each task
is filled up to ``per_task``. The API key is read from the environment variable named by
``api_key_env`` and never logged (any echo of it in a server message is masked).
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from ..bench.answers import parse_answer
from ..bench.labels import CLOSED_TASKS, TASKS
from ..bench.schema import TASK_LABELS, SchemaError, answer_text, check_record
from .bank import MEDIA_KEYS, SCHEMA_VERSION, Exemplar, append_exemplar, load_bank, repair_truncated_tail
from .select import stable_index
from .template import TASK_PHRASES, TEMPLATE_BREAKERS

log = logging.getLogger(__name__)

PROMPT_VERSION = "emoprompt-gen-v1"
GENERATOR_SYSTEM = (
    "You write worked examples that teach a multimodal assistant to recognise emotions, "
    "intentions, humor, sarcasm and hate. You are shown one sample and its ground-truth answer. "
    "Write a reasoning chain that goes from objective to subjective: first what can be observed "
    "(faces and expressions, gaze, posture and gestures, the scene and objects, any visible text, "
    "what is said), then what these cues suggest, then the conclusion, which must agree with the "
    "ground-truth answer. Do not mention that the answer was given to you, do not quote file "
    "names, and do not write any of: " + ", ".join(TEMPLATE_BREAKERS) + ". Reply with one JSON "
    'object and nothing else: {"reasoning": "<3 to 6 sentences>", "answer": "<the ground-truth '
    'answer>"}.')
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_REJECTED_STATUS = (400, 413, 422)


class GenerationError(RuntimeError):
    """The run cannot go on (authentication, endpoint down, systematic failure)."""


class ReplyError(ValueError):
    """The model's reply is not a usable exemplar; ``reason`` is the drop-count key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Rejected(Exception):
    pass


@dataclass
class RateLimiter:
    """At most ``requests_per_minute`` request starts per minute: ``60 / rpm`` s between starts
    (None or 0: no limit)."""

    requests_per_minute: float | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _last: float | None = None

    def wait(self) -> None:
        if self.requests_per_minute:
            if self._last is not None:
                delay = self._last + 60.0 / self.requests_per_minute - self.clock()
                if delay > 0:
                    self.sleep(delay)
            self._last = self.clock()


class ChatClient:
    """One chat-completions request per ``complete`` call (no retries here)."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout_s: float,
                 limiter: RateLimiter, temperature: float = 0.2, max_tokens: int = 600):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.timeout_s, self.limiter = model, timeout_s, limiter
        self.temperature, self.max_tokens = temperature, max_tokens
        self._key = api_key
        self.requests = 0

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def complete(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature,
                           "max_tokens": self.max_tokens}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        self.limiter.wait()
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            self._raise_for_status(err)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            raise _Transient(self.redact(f"connection failed: {getattr(err, 'reason', err)}")) from None
        try:
            return _content(json.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise _Transient(self.redact(f"response is not a chat completion ({err}): "
                                         f"{raw[:200]!r}")) from None

    def _raise_for_status(self, err: urllib.error.HTTPError):
        status = err.code
        snippet = self.redact(err.read()[:300].decode("utf-8", errors="replace"))
        message = f"HTTP {status} from {self.url}: {snippet}"
        if status == 429 or status >= 500:
            retry_after = err.headers.get("Retry-After") if err.headers else None
            raise _Transient(message, float(retry_after) if _is_number(retry_after) else None) from None
        if status in _REJECTED_STATUS:
            raise _Rejected(message) from None
        hint = {401: "check the API key in the environment variable named by --api-key-env",
                403: "the key has no access to this model", 404: "check --base-url (usually "
                "ends in /v1) and --model"}.get(status, "")
        raise GenerationError(message + (f" ({hint})" if hint else "")) from None


def _is_number(text: str | None) -> bool:
    try:
        float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _content(reply: dict) -> str:
    content = reply["choices"][0]["message"]["content"]
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}")
    return content


def parse_reply(content: str, task: str, label: str) -> str:
    """The reasoning chain of a reply, or ``ReplyError`` saying why it is unusable."""
    text = content.strip()
    fenced = _FENCE.match(text)
    text = fenced.group(1) if fenced else text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            obj = json.loads(text[start:end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            obj = None
    if not isinstance(obj, dict):
        raise ReplyError("reply is not a JSON object", content[:120])
    reasoning, answer = obj.get("reasoning"), obj.get("answer")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise ReplyError("reply has no reasoning")
    if not isinstance(answer, str):
        raise ReplyError("reply has no answer")
    label_set = TASK_LABELS[task] if task in CLOSED_TASKS else None
    parsed = parse_answer(answer, task, label_set)
    if parsed.label != label:
        raise ReplyError("reply answer disagrees with the label", f"{answer!r} vs {label!r}")
    found = [s for s in TEMPLATE_BREAKERS if s in reasoning]
    if found:
        raise ReplyError("reply reasoning contains template markers", str(found))
    if re.search(r"ground[ -]truth", reasoning, re.IGNORECASE):
        raise ReplyError("reply reasoning mentions the given answer")
    return " ".join(reasoning.split())


def _jpeg_data_url(image, max_side: int) -> str:
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _load_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    from ..media.errors import CORRUPT, MISSING, MediaError
    if not path.is_file():
        raise MediaError(path, MISSING)
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError) as err:
        raise MediaError(path, CORRUPT, str(err)) from None


def question_text(record: dict) -> str:
    """The record's question without the leading media placeholder lines."""
    text = record["conversations"][0]["value"]
    lines = text.split("\n")
    while lines and lines[0].strip() in ("<image>", "<video>", "<audio>"):
        lines.pop(0)
    return "\n".join(lines).strip()


def build_messages(record: dict, media_root: str | Path, num_frames: int = 4,
                   max_image_side: int = 512) -> list[dict]:
    """System + user message (text, then the image or the video's frames as image_url parts)."""
    from ..media.video import sample_frames

    root = Path(media_root)
    if "video" in record:
        images = sample_frames(root / record["video"], num_frames)
        attached = f"{len(images)} frames sampled uniformly from the video clip, in time order"
    else:
        images = [_load_image(root / record["image"])]
        attached = "the image"
    audio = (" The clip's audio track is not attached; what is said is in the question when the "
             "dataset provides it.") if "audio" in record else ""
    text = (f"Task: {TASK_PHRASES[record['task']]}.\n"
            f"Question asked about this sample: {question_text(record)}\n"
            f"Ground-truth answer: {answer_text(record['task'], record['label'])}\n"
            f"Attached: {attached}.{audio}\n"
            "Explain, as a worked example, how the ground-truth answer follows from the sample. "
            "Reply with the JSON object only.")
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": _jpeg_data_url(im, max_image_side)}}
              for im in images]
    return [{"role": "system", "content": GENERATOR_SYSTEM}, {"role": "user", "content": parts}]


def exemplar_id(record_id: str, prompt_version: str = PROMPT_VERSION) -> str:
    return f"{record_id}@{prompt_version}"


class _LabelQueue:
    """A task's candidate records, handed out label-balanced (module docstring)."""

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


def _check_records(records: Sequence[Any]) -> None:
    seen: set[str] = set()
    for index, record in enumerate(records):
        try:
            check_record(record)
        except SchemaError as err:
            record_id = record.get("id") if isinstance(record, dict) else None
            raise ValueError(f"bench record {index} (id={record_id!r}): {err}; fix it with "
                             "`emollm bench validate`") from None
        if record["id"] in seen:
            raise ValueError(f"bench record {index}: duplicate id {record['id']!r}")
        seen.add(record["id"])


def _read_existing(out_path: Path, report: GenerationReport) -> list[Exemplar]:
    report.removed_partial_line = repair_truncated_tail(out_path)
    if report.removed_partial_line is not None:
        log.warning("%s: removed a cut-off last line left by an interrupted run: %.80r",
                    out_path, report.removed_partial_line)
    if not out_path.exists() or not out_path.read_bytes().strip():
        return []
    return load_bank(out_path)


def generate_bank(bench_records: Sequence[dict], out_path: str | Path, per_task: int, base_url: str,
                  model: str, api_key_env: str | None = "OPENAI_API_KEY", media_root: str | Path = ".",
                  *, tasks: Sequence[str] | None = None, splits: Sequence[str] = ("train",),
                  num_frames: int = 4, max_image_side: int = 512,
                  requests_per_minute: float | None = 30.0, max_attempts: int = 5,
                  backoff_base_s: float = 1.0, backoff_max_s: float = 60.0, timeout_s: float = 60.0,
                  max_consecutive_drops: int = 10, temperature: float = 0.2, max_tokens: int = 600,
                  seed: int = 0, prompt_version: str = PROMPT_VERSION, progress: bool = True,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> GenerationReport:
    """Fill the bank at ``out_path`` up to ``per_task`` exemplars per task (module docstring).

    ``tasks`` defaults to every task present in ``bench_records``; only records of ``splits``
    (default: train) are used, so test queries never meet their own sample in the bank.
    """
    from tqdm import tqdm

    from ..media.errors import MediaError

    if per_task < 1 or max_attempts < 1:
        raise ValueError(f"per_task and max_attempts must be >= 1, got {per_task}, {max_attempts}")
    _check_records(bench_records)
    api_key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and not api_key:
        raise GenerationError(f"environment variable {api_key_env} is not set: export it with the "
                              "API key (pass --api-key-env '' for an endpoint without a key)")
    tasks = list(tasks) if tasks else [t for t in TASKS if any(r["task"] == t for r in bench_records)]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")

    out_path = Path(out_path)
    report = GenerationReport(out_path)
    existing = _read_existing(out_path, report)
    done_sources = {ex.source_id for ex in existing}
    report.already.update(ex.task for ex in existing)
    usable = [r for r in bench_records if r["split"] in splits]
    report.other_split = len(bench_records) - len(usable)

    client = ChatClient(base_url, model, api_key, timeout_s, RateLimiter(requests_per_minute, clock, sleep),
                        temperature=temperature, max_tokens=max_tokens)
    needs = {t: max(0, per_task - report.already[t]) for t in tasks}
    consecutive_drops = 0
    with tqdm(total=sum(needs.values()), desc="exemplars", unit="ex", disable=not progress) as bar:
        for task in tasks:
            labels_have = Counter(ex.label for ex in existing if ex.task == task)
            queue = _LabelQueue([r for r in usable if r["task"] == task and r["id"] not in done_sources],
                                labels_have, seed)
            while needs[task] > 0 and (record := queue.next()) is not None:
                try:
                    messages = build_messages(record, media_root, num_frames, max_image_side)
                    outcome = _ask(client, messages, record, max_attempts, backoff_base_s,
                                   backoff_max_s, sleep)
                except MediaError as err:
                    outcome = ReplyError(f"media unreadable ({err.cause})", str(err))
                if isinstance(outcome, Exception):
                    report.drop(getattr(outcome, "reason", str(outcome)), record["id"])
                    log.warning("record %s dropped: %s", record["id"], client.redact(str(outcome)))
                    consecutive_drops += 1
                    if consecutive_drops >= max_consecutive_drops:
                        report.requests = client.requests
                        raise GenerationError(
                            f"the last {consecutive_drops} records were all dropped "
                            f"({dict(report.dropped)}); something systematic is wrong (model, "
                            f"media root, endpoint). Finished exemplars are in {out_path}")
                    continue
                consecutive_drops = 0
                append_exemplar(out_path, Exemplar(
                    schema_version=SCHEMA_VERSION, id=exemplar_id(record["id"], prompt_version),
                    task=task, label=record["label"], source_id=record["id"],
                    media={k: record[k] for k in MEDIA_KEYS if k in record}, reasoning=outcome,
                    answer=answer_text(task, record["label"]), generator=model,
                    prompt_version=prompt_version,
                    created_at=datetime.now(timezone.utc).isoformat(timespec="seconds")))
                report.written[task] += 1
                queue.have[record["label"]] += 1
                needs[task] -= 1
                bar.update(1)
            if needs[task] > 0:
                report.shortfall[task] = needs[task]
    report.requests = client.requests
    return report


def _ask(client: ChatClient, messages: list[dict], record: dict, max_attempts: int,
         backoff_base_s: float, backoff_max_s: float,
         sleep: Callable[[float], None]) -> str | Exception:
    """The reasoning for one record, or the exception that drops it; GenerationError when the
    endpoint keeps failing."""
    last: Exception | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            return parse_reply(client.complete(messages), record["task"], record["label"])
        except _Rejected as err:
            return ReplyError("rejected by the endpoint", str(err))
        except (_Transient, ReplyError) as err:
            last = err
        if attempt == max_attempts:
            break
        delay = min(backoff_max_s, backoff_base_s * 2 ** (attempt - 1))
        retry_after = getattr(last, "retry_after", None)
        if retry_after:
            delay = max(delay, min(retry_after, backoff_max_s))
        log.warning("record %s: attempt %d/%d failed (%s); retrying in %.2fs", record["id"], attempt,
                    max_attempts, client.redact(str(last))[:200], delay)
        sleep(delay)
    if isinstance(last, _Transient):
        raise GenerationError(f"the endpoint failed {max_attempts} times in a row for record "
                              f"{record['id']!r}: {last}. Finished exemplars are kept; rerun to "
                              "resume") from None
    return last  # type: ignore[return-value]
