"""``lmms-eval --model emollm --model_args pretrained=CKPT,model_base=BASE``: an EmoLLM checkpoint
(LoRA + base, or full) loaded through LLaVA's own loader, answering lmms-eval requests.

generate_until: the request's document is an EmoBench record (``tasks/emobench``); its prompt and
media (image, clip, clip with audio) are built exactly as ``emollm eval infer`` builds them
(``runtime.answerer.Answerer``), so the answers equal that command's for the same checkpoint and flags.

loglikelihood: for the prompt ids p (1..P, media placeholders spliced by the model) and a
continuation c (1..C) appended after the assistant role,

    log p(c | p) = sum_{k=1..C} log softmax(z_{P+k-1})[c_k]          (z: logits, T x V)
    is_greedy    = all_k argmax z_{P+k-1} == c_k

so a yes/no task gets log p("Yes") and log p("No") for a ROC-AUC. Requests are answered one at a
time (batch 1, no padding).

``answer_mode=score`` (model_args): generate_until answers the closed-set and yes/no questions by
scoring their options in one pass (``runtime/scoring.py``), as ``emollm eval infer --answer-mode score``.
"""
from __future__ import annotations

import argparse
import logging

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from .documents import media_root, record_of

logger = logging.getLogger(__name__)


def answerer_args(pretrained: str, model_base: str | None, **options) -> argparse.Namespace:
    """The runtime's own options (defaults included), as its command line would parse them."""
    from ...runtime.arguments import add_model_arguments
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    argv = ["--model-path", pretrained] + (["--model-base", model_base] if model_base else [])
    for key, value in options.items():
        if value is not None:  # None: the option's own default (e.g. the checkpoint's frames)
            argv += [f"--{key.replace('_', '-')}", str(value)]
    args = parser.parse_args(argv)
    args.media_root = media_root()
    args.question_file = args.media_root / "questions.json"  # only its folder is ever used
    return args


class EmoLLM(lmms):
    is_simple = True

    def __init__(self, pretrained: str, model_base: str | None = None, conv_mode: str | None = None,
                 device: str = "auto", dtype: str = "auto", batch_size: int | str = 1, num_video_frames: int | None = None,
                 max_new_tokens: int = 128, max_batch_size=None, answer_mode: str = "generate", **unused) -> None:
        super().__init__()
        if unused:
            logger.warning("emollm: ignoring model_args %s", sorted(unused))
        from ...runtime.answerer import Answerer
        self.args = answerer_args(pretrained, model_base, conv_mode=conv_mode, device=device, dtype=dtype,
                                  num_video_frames=num_video_frames, max_new_tokens=max_new_tokens,
                                  answer_mode=answer_mode)
        self.answerer = Answerer(self.args)
        self.batch_size_per_gpu = int(batch_size)

    @property
    def model(self):
        return self.answerer.model

    @property
    def device(self):
        return self.answerer.model.device

    def _record(self, request: Instance) -> dict:
        *_, doc_id, task, split = request.args
        return record_of(self.task_dict[task][split][doc_id])

    def generate_until(self, requests: list[Instance]) -> list[str]:
        from ...runtime.errors import Unanswerable
        answers: list[str] = [""] * len(requests)
        pending: list[tuple[int, object]] = []

        def flush():
            texts = self.answerer.answer([prepared for _, prepared in pending])
            for (index, _), text in zip(pending, texts):
                answers[index] = text
            pending.clear()

        for index, request in enumerate(requests):
            record = self._record(request)
            try:
                pending.append((index, self.answerer.prepare(record)))
            except Unanswerable as err:  # scored as unparseable, and said
                logger.warning("emollm: record %s not answered: %s", record["id"], err)
            if len(pending) >= self.batch_size_per_gpu:
                flush()
        if pending:
            flush()
        return answers

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        results = []
        for request in requests:
            continuation = request.args[1]
            prepared = self.answerer.prepare(self._record(request))
            results.append(continuation_logprob(self.model, self.answerer.tokenizer, prepared, continuation))
        return results

    def generate_until_multi_round(self, requests) -> list[str]:
        raise NotImplementedError("emollm answers single-turn EmoBench questions")


def continuation_logprob(model, tokenizer, prepared, continuation: str) -> tuple[float, bool]:
    """(log p(continuation | prompt), whether greedy decoding would produce it); see the module doc."""
    import torch
    cont = torch.tensor(tokenizer(continuation, add_special_tokens=False).input_ids, dtype=torch.long)
    ids = torch.cat([prepared.input_ids, cont]).unsqueeze(0).to(model.device)
    visual = None if prepared.visual is None else [prepared.visual.to(model.device, model.dtype)]
    audio = None if prepared.audio is None else [prepared.audio.to(model.device, model.dtype)]
    with torch.inference_mode():
        logits = model(input_ids=ids, images=visual, audios=audio).logits[0].float()  # T x V
    scored = logits[-len(cont) - 1:-1]  # C x V: the positions that predict the continuation
    logprobs = torch.log_softmax(scored, dim=-1)
    cont = cont.to(scored.device)
    total = logprobs.gather(1, cont.unsqueeze(1)).sum().item()
    return total, bool((scored.argmax(dim=-1) == cont).all())
