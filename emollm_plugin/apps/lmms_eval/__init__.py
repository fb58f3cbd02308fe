"""EmoBench in lmms-eval (current version row; ``pip install -e .[lmms]``): the ``emollm`` model class
(``model.py``), registered through lmms-eval's ``lmms_eval.models`` entry point (``manifest.py``), and
the ``emobench`` task group (``tasks/emobench/``, loaded with ``--include_path``; see
docs/lmms_eval.md). Prompts, media, parsing and scoring are the plugin's own (runtime,
tasks.answers, eval.score)."""
from pathlib import Path

TASKS_DIR = Path(__file__).parent / "tasks"
