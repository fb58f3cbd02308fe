"""The import layers of ``emollm_plugin`` (the table docs/architecture.md shows) and the
checker ``tests/test_layering.py`` runs over every module.

A module may import from its own unit and from any unit of a LOWER layer; an import of a unit in
the same layer (sideways) or a higher one (upward) is refused. Every import counts, also one inside
a function: a lazy import is still a dependency.

Units are the names listed in ``LAYERS``: a top-level module or package of ``emollm_plugin``
(``eval``), or a dotted module inside a package (``plugin.compat``) where one package holds modules
of different layers. A module belongs to the longest listed unit its dotted name starts with
(``plugin.compat`` is low, ``plugin.seams`` high, the rest of ``plugin`` falls back to ``plugin``);
so does an imported name. ``__init__`` is the package itself (``from .. import register``). A
package's ``__main__`` module is a command (``python -m`` runs it, nothing imports it), so it sits
in the ``commands`` unit wherever it lives.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# (layer name, units), lowest first. Foundation and the entry points are split into ordered
# sub-layers where one of them needs another (every error derives from errors.EmoLLMError; the
# package's register() drives the seams).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation/base", ("constants", "errors", "plugin")),
    ("foundation", ("registry", "records", "media", "configs", "versions", "model_card",
                    # the LLaVA names the data path needs, and the transformers version shims
                    "plugin.compat", "plugin.stack", "plugin.hf_trainer", "plugin.resume",
                    "plugin.training_arguments")),
    ("tasks", ("tasks",)),
    ("components", ("projectors", "audio", "model")),
    ("bench", ("bench",)),
    ("emoprompt", ("emoprompt",)),
    ("features", ("eval", "train")),
    ("runtime", ("runtime",)),
    ("apps", ("apps", "export")),
    ("entry/wiring", ("plugin.wiring",)),  # registers the built-in parts of every layer by name
    ("entry/seams", ("plugin.seams",)),
    ("entry/package", ("__init__",)),
    ("entry/commands", ("commands", "testing")),  # register() before loading a model
    ("entry", ("commands.cli", "commands._sitecustomize")),  # dispatch to the commands above
]

# (importing module, imported unit) pairs allowed to break the table. Empty: register() is called
# only from the commands layer.
COMMAND_REGISTERS: frozenset[tuple[str, str]] = frozenset()

MAIN_UNIT = "commands"  # the unit every ``__main__`` module belongs to

LAYER_OF: dict[str, int] = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


@dataclass(frozen=True)
class Violation:
    module: str  # dotted, relative to the package: "eval.score"
    line: int
    imported: str  # dotted target, relative to the package
    why: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.why}"


def _module_name(package_root: Path, path: Path) -> tuple[list[str], list[str]]:
    """(module parts, package parts) relative to the package root."""
    parts = list(path.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return parts[:-1], parts[:-1]
    return parts, parts[:-1]


def _is_module(package_root: Path, parts: list[str]) -> bool:
    path = package_root.joinpath(*parts) if parts else package_root
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _targets(node: ast.AST, package: list[str], package_root: Path) -> list[list[str]]:
    """The plugin modules an import statement names, relative to the package root (``from X
    import y`` names ``X.y`` where ``y`` is a module, else ``X``; a name defined in the package's
    ``__init__`` stays ``[name]``)."""
    package_name = package_root.name
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == package_name]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        if not node.module or node.module.split(".")[0] != package_name:
            return []
        base = node.module.split(".")[1:]
    else:
        if node.level - 1 > len(package):
            return []
        base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    targets = []
    for alias in node.names:
        target = base + [alias.name]
        if base and not _is_module(package_root, target):
            target = base
        if target not in targets:
            targets.append(target)
    return targets


def unit_of(parts: list[str], package_root: Path, layers: dict[str, int] = None) -> str:
    """The unit a dotted path belongs to: the longest listed prefix; else its top-level module
    (unlisted: the checker reports it), or ``__init__`` for the package itself or a name defined
    in it."""
    layers = LAYER_OF if layers is None else layers
    if parts and parts[-1] == "__main__":
        return MAIN_UNIT
    for n in range(len(parts), 0, -1):
        dotted = ".".join(parts[:n])
        if dotted in layers:
            return dotted
    if not parts:
        return "__init__"
    head = parts[0]
    if (package_root / head).is_dir() or (package_root / f"{head}.py").is_file():
        return head
    return "__init__"


def check_package(package_root: Path, layers: dict[str, int] = LAYER_OF,
                  allowed: frozenset[tuple[str, str]] = COMMAND_REGISTERS) -> list[Violation]:
    """Every import of every module under ``package_root`` that breaks the layer table."""
    package_root = Path(package_root)
    violations = []
    for path in sorted(package_root.rglob("*.py")):
        module, package = _module_name(package_root, path)
        name = ".".join(module) or "__init__"
        own = unit_of(module, package_root, layers)
        if own not in layers:
            violations.append(Violation(name, 0, "", f"unit {own!r} has no layer; add it to tests/layers.py"))
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in _targets(node, package, package_root):
                unit = unit_of(target, package_root, layers)
                if unit == own or (name, unit) in allowed:
                    continue
                if unit not in layers:
                    violations.append(Violation(name, node.lineno, ".".join(target),
                                                f"unit {unit!r} has no layer; add it to tests/layers.py"))
                elif layers[unit] >= layers[own]:
                    way = "sideways" if layers[unit] == layers[own] else "upward"
                    violations.append(Violation(
                        name, node.lineno, ".".join(target) or "__init__",
                        f"{way}: {own} is in layer {LAYERS[layers[own]][0]!r}, {unit} in "
                        f"{LAYERS[layers[unit]][0]!r}"))
    return violations
