"""The one versions table: constraints files, setup.cfg's ranges and the README table agree with it."""
from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from emollm_plugin import versions

REPO = Path(__file__).resolve().parents[1]


def _setup_cfg_requirements() -> dict[str, Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in cfg["options.extras_require"].values():
        lines += extra.splitlines()
    reqs = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    return {r.name.lower().replace("_", "-"): r for r in reqs}


@pytest.mark.parametrize("name", list(versions.ROWS))
def test_constraints_file_is_generated_from_the_table(name):
    path = REPO / "constraints" / f"{name}.txt"
    assert path.read_text() == versions.constraints_text(name), \
        f"regenerate: python -m emollm_plugin.versions constraints {name} > constraints/{name}.txt"


@pytest.mark.parametrize("name", list(versions.ROWS))
def test_setup_cfg_ranges_admit_every_row(name):
    reqs = _setup_cfg_requirements()
    for dist, version in versions.ROWS[name].pins.items():
        req = reqs.get(dist.lower().replace("_", "-"))
        if req is not None:
            assert req.specifier.contains(version, prereleases=True), f"setup.cfg {req} excludes {dist} {version}"


def test_setup_cfg_keeps_accelerate_below_the_version_that_breaks_cpu_deepspeed():
    assert not _setup_cfg_requirements()["accelerate"].specifier.contains("1.13.0")


def test_readme_holds_the_generated_table():
    assert versions.markdown_table() in (REPO / "README.md").read_text(), \
        "paste `python -m emollm_plugin.versions table` into README.md"


def test_closest_row_names_what_is_off():
    installed = {**versions.ROWS["current"].pins, "accelerate": "0.34.2"}
    row, off = versions.closest_row(installed)
    assert row.name == "current" and off == {"accelerate": ("0.34.2", "1.12.0")}
    row, off = versions.closest_row(versions.ROWS["pinned"].pins)
    assert row.name == "pinned" and off == {}


def test_unknown_row_is_a_clear_error():
    with pytest.raises(ValueError, match="pinned, current"):
        versions.row("nightly")
