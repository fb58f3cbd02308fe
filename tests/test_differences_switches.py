"""Every row of docs/differences.md names a switch that exists, or says "none".

A `--flag` must be an option of one of the package's argument parsers (an ``add_argument`` call
anywhere in ``emollm_plugin``) or a field of the training dataclasses LLaVA's ``train()`` parses
(upstream's plus the plugin's); an UPPERCASE variable must be read by a script in ``scripts/``; a
``key:`` must be a build-config key, i.e. a ``bench build`` flag spelled with underscores.
"""
from __future__ import annotations

import ast
import dataclasses
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "differences.md"
FLAG = re.compile(r"--[A-Za-z][\w-]*")
VARIABLE = re.compile(r"^([A-Z][A-Z0-9_]{2,})(?:=\S*)?$")
CONFIG_KEY = re.compile(r"^([a-z][a-z0-9_]*):$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_rows() -> list[tuple[str, str]]:
    """(topic, switch cell) of every row of the "Differences from the paper" table."""
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| topic |"))
    columns = _cells(lines[header])
    switch = columns.index("switch")
    rows = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(columns), f"docs/differences.md: row {cells[0]!r} has {len(cells)} cells"
        rows.append((cells[0], cells[switch]))
    return rows


@lru_cache(maxsize=None)
def parser_flags() -> frozenset[str]:
    """Option strings of every ``add_argument`` call in the package, and the training flags."""
    flags: set[str] = set()
    for path in (ROOT / "emollm_plugin").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument"):
                flags.update(a.value for a in node.args
                             if isinstance(a, ast.Constant) and str(a.value).startswith("--"))
    flags.update("--" + name for name in training_fields())
    return frozenset(flags)


def training_fields() -> set[str]:
    """Fields of the dataclasses ``llava.train.train.train()`` parses, with the plugin's added."""
    import llava.train.train as upstream

    from emollm_plugin.plugin.training_arguments import extend_training_arguments
    from emollm_plugin.train.arguments import extend_data_arguments, extend_model_arguments
    classes = (extend_model_arguments(upstream.ModelArguments),
               extend_data_arguments(upstream.DataArguments),
               extend_training_arguments(upstream.TrainingArguments))
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


@lru_cache(maxsize=None)
def script_variables() -> frozenset[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "scripts").glob("*.sh"))
    return frozenset(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", text))


def unresolved(cell: str) -> tuple[list[str], int]:
    """Names in ``cell``'s code spans that do not exist, and how many names it has."""
    missing, found = [], 0
    for span in re.findall(r"`([^`]+)`", cell):
        span = span.replace("\\|", "|")
        for flag in FLAG.findall(span):
            found += 1
            if flag not in parser_flags():
                missing.append(flag)
        words = span.split()
        if len(words) == 1 and VARIABLE.match(words[0]):
            found += 1
            name = VARIABLE.match(words[0]).group(1)
            if name not in script_variables():
                missing.append(name)
        if len(words) == 1 and CONFIG_KEY.match(words[0]):
            found += 1
            key = CONFIG_KEY.match(words[0]).group(1)
            if "--" + key.replace("_", "-") not in parser_flags():
                missing.append(key + ":")
    return missing, found


ROWS = table_rows()


def test_the_table_has_rows():
    assert len(ROWS) >= 30


@pytest.mark.parametrize("topic,cell", ROWS, ids=[topic for topic, _ in ROWS])
def test_row_names_an_existing_switch_or_says_none(topic, cell):
    missing, found = unresolved(cell)
    assert not missing, f"docs/differences.md row {topic!r}: no such flag or variable: {missing}"
    assert found or cell.lower().startswith("none"), (
        f"docs/differences.md row {topic!r}: the switch column names no flag or variable; "
        f"write 'none' when there is nothing to switch: {cell!r}")


def test_a_misspelt_switch_is_caught():
    assert unresolved("`--mvp_no_such_flag`, `NO_SUCH_VARIABLE`, `no_such_key:`") == (
        ["--mvp_no_such_flag", "NO_SUCH_VARIABLE", "no_such_key:"], 3)
    assert unresolved("`--mvp_variant paper`, `EPOCHS`") == ([], 2)
