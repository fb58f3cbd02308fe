"""EmoBench as lmms-eval tasks: documents from the built questions file, answers judged and scored by
the plugin's own parser and scorer (tasks.answers, eval.score).

EMOBENCH_QUESTIONS: the built questions file (JSON list or JSONL, as `emollm bench build` writes
it); its media are read from EMOBENCH_MEDIA_ROOT (default: ``media`` next to it). Nothing is read
from a hub.
"""
from __future__ import annotations

from emollm_plugin.apps.lmms_eval.documents import accuracy_of, judged, load_task_documents, record_of
from lmms_eval.api.task import ConfigurableTask


class EmoBenchTask(ConfigurableTask):
    """A ConfigurableTask whose documents come from $EMOBENCH_QUESTIONS, one EmoBench task each."""

    def __init__(self, config=None, **kwargs):
        # lmms-eval hands python tasks their YAML including the `class` key, which TaskConfig refuses
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def download(self, dataset_kwargs=None) -> None:
        import datasets
        task = (self.config.metadata or {}).get("emobench_task")
        self.dataset = datasets.DatasetDict({"test": datasets.Dataset.from_list(load_task_documents(task))})
        self.dataset_no_image = self.dataset


def doc_to_visual(doc):
    return []  # the emollm model reads the record's media itself (image, clip, clip with audio)


def doc_to_text(doc):
    return record_of(doc)["conversations"][0]["value"]


def doc_to_target(doc):
    return record_of(doc)["label"]


def process_results(doc, results):
    return {"emobench_accuracy": judged(doc, results[0])}


def aggregate_accuracy(items):
    return accuracy_of(items)

