"""The import layers of ``emollm_plugin`` (the table README's architecture section shows) and the
checker ``tests/test_layering.py`` runs over every module.

A module may import from its own top-level package (``eval.infer`` from ``eval.questions``) and
from any unit of a LOWER layer; an import of a unit in the same layer (sideways) or a higher one
(upward) is refused. Every import counts, also one inside a function: a lazy import is still a
dependency. Units are the top-level modules and packages of ``emollm_plugin`` (``__init__`` is the
package itself, e.g. ``from .. import register``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# (layer name, units), lowest first. Foundation and the entry points are split into ordered
# sub-layers where one of them needs another (every error derives from errors.EmoLLMError; the
# package's register() drives the seams).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation/base", ("constants", "errors")),
    ("foundation", ("registry", "records", "media", "configs", "versions", "llava_compat")),
    ("components", ("projectors", "audio", "model")),
    ("bench", ("bench",)),
    ("emoprompt", ("emoprompt",)),
    ("features", ("eval", "train")),
    ("apps", ("apps",)),
    ("entry/wiring", ("components",)),  # registers the built-in parts of every layer by name
    ("entry/seams", ("seams",)),
    ("entry/package", ("__init__",)),
    ("entry/commands", ("run", "doctor", "tiny", "demo_data")),
    ("entry", ("cli", "_sitecustomize")),  # dispatch to the commands above
]

# (importing module, imported unit): the `python -m` commands that live in a feature package and
# register the plugin before they load a model. Nothing else may reach up.
COMMAND_REGISTERS: frozenset[tuple[str, str]] = frozenset({
    ("eval.infer", "__init__"),
    ("train.launch", "__init__"),
    ("train.merge", "__init__"),
})

LAYER_OF: dict[str, int] = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


@dataclass(frozen=True)
class Violation:
    module: str  # dotted, relative to the package: "eval.infer"
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


def _targets(node: ast.AST, package: list[str], package_name: str) -> list[list[str]]:
    """The plugin modules an import statement names, relative to the package root."""
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
    if node.module and (node.level or base):
        return [base]
    return [base + [alias.name] for alias in node.names]  # "from .. import x": x may be a module


def unit_of(parts: list[str], package_root: Path) -> str:
    """The top-level unit a dotted path belongs to (``__init__`` for the package itself or a name
    defined in it)."""
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
    package_name = package_root.name
    violations = []
    for path in sorted(package_root.rglob("*.py")):
        module, package = _module_name(package_root, path)
        name = ".".join(module) or "__init__"
        own = unit_of(module, package_root)
        if own not in layers:
            violations.append(Violation(name, 0, "", f"unit {own!r} has no layer; add it to tests/layers.py"))
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in _targets(node, package, package_name):
                unit = unit_of(target, package_root)
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
