"""Imports point down: every module of the plugin obeys the layer table in tests/layers.py."""
from __future__ import annotations

from pathlib import Path

import emollm_plugin
from layers import LAYER_OF, check_package

PACKAGE = Path(emollm_plugin.__file__).parent


def test_every_import_points_down():
    violations = check_package(PACKAGE)
    assert not violations, "imports against the layer table:\n" + "\n".join(map(str, violations))


def test_every_top_level_unit_has_a_layer():
    units = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir()
                                                      if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    assert units - set(LAYER_OF) == set()


def _copy_package(tmp_path: Path) -> Path:
    import shutil
    copy = tmp_path / "emollm_plugin"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def test_an_added_upward_import_fails_the_check(tmp_path):
    copy = _copy_package(tmp_path)
    records = copy / "records.py"
    records.write_text(records.read_text() + "\n\ndef _late():\n    from .eval.score import score_files\n")
    violations = check_package(copy)
    assert [(v.module, v.imported) for v in violations] == [("records", "eval.score")]
    assert "upward" in violations[0].why and "foundation" in violations[0].why


def test_a_sideways_import_fails_the_check(tmp_path):
    copy = _copy_package(tmp_path)
    infer = copy / "eval" / "infer.py"
    infer.write_text(infer.read_text() + "\nfrom ..train.data import load_training_records\n")
    violations = check_package(copy)
    assert [(v.module, v.imported, v.why.split(":")[0]) for v in violations] == \
        [("eval.infer", "train.data", "sideways")]


def test_absolute_and_package_level_imports_are_seen(tmp_path):
    copy = _copy_package(tmp_path)
    media = copy / "media" / "probe.py"
    media.write_text(media.read_text() + "\nimport emollm_plugin.seams\nfrom emollm_plugin import register\n")
    found = sorted((v.module, v.imported, v.why.split(":")[0]) for v in check_package(copy))
    assert found == [("media.probe", "register", "upward"), ("media.probe", "seams", "upward")]
