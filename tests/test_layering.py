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
    score = copy / "eval" / "score.py"
    score.write_text(score.read_text() + "\nfrom ..train.data import load_training_records\n")
    violations = check_package(copy)
    assert [(v.module, v.imported, v.why.split(":")[0]) for v in violations] == \
        [("eval.score", "train.data", "sideways")]


def test_absolute_and_package_level_imports_are_seen(tmp_path):
    copy = _copy_package(tmp_path)
    media = copy / "media" / "probe.py"
    media.write_text(media.read_text() + "\nimport emollm_plugin.plugin.seams\nfrom emollm_plugin import register\n")
    found = sorted((v.module, v.imported, v.why.split(":")[0]) for v in check_package(copy))
    assert found == [("media.probe", "plugin.seams", "upward"), ("media.probe", "register", "upward")]


def test_a_dotted_unit_has_its_own_layer(tmp_path):
    """``plugin.compat`` is foundation and ``plugin.seams`` an entry point, though both live in
    ``plugin/``: compat may not import the seams, and train may import compat but not the seams."""
    copy = _copy_package(tmp_path)
    compat = copy / "plugin" / "compat.py"
    compat.write_text(compat.read_text() + "\n\ndef _late():\n    from . import seams\n")
    data = copy / "train" / "data.py"
    data.write_text(data.read_text() + "\nfrom ..plugin.compat import default_conversation\n"
                    "from ..plugin.seams import installed\n")
    found = sorted((v.module, v.imported, v.why.split(":")[0]) for v in check_package(copy))
    assert found == [("plugin.compat", "plugin.seams", "upward"), ("train.data", "plugin.seams", "upward")]


def test_a_main_module_is_a_command_wherever_it_lives(tmp_path):
    copy = _copy_package(tmp_path)
    main = copy / "eval" / "__main__.py"
    main.write_text("from .. import register\nfrom ..commands.infer import main\n")
    assert check_package(copy) == []
    main.write_text("from ..commands.cli import main\n")
    assert [(v.module, v.imported) for v in check_package(copy)] == [("eval.__main__", "commands.cli")]


def test_the_package_root_holds_only_the_foundation_modules():
    root = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert root <= {"constants", "errors", "registry", "records", "versions", "model_card"}, root
