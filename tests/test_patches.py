"""patches/ apply cleanly to LLaVA v1.5 sources and activate the plugin through entry points."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # patch application on a LLaVA copy and subprocesses

PATCHES = sorted((Path(__file__).parents[1] / "patches").glob("*.patch"))


@pytest.fixture()
def llava_checkout(tmp_path):
    """A copy of the installed llava sources laid out as in LLaVA's git repository."""
    import importlib.util
    installed = Path(importlib.util.find_spec("llava").origin).parent
    root = tmp_path / "LLaVA"
    shutil.copytree(installed, root / "llava", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_there_are_two_patches():
    assert [p.name[:4] for p in PATCHES] == ["0001", "0002"]


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.name)
def test_patch_applies_cleanly(llava_checkout, patch):
    proc = subprocess.run(["git", "apply", "--check", "-v", str(patch)], cwd=llava_checkout,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _python(checkout, code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(checkout), **env))


def test_patched_llava_activates_the_plugin_without_a_wrapper(llava_checkout):
    for patch in PATCHES:
        subprocess.run(["git", "apply", str(patch)], cwd=llava_checkout, check=True)
    code = ("import llava, llava.model.builder as b, llava.model.llava_arch as a;"
            "print(llava.__file__); print(b.LlavaLlamaForCausalLM.__name__, a.build_vision_projector.__module__)")
    proc = _python(llava_checkout, code)
    assert proc.returncode == 0, proc.stderr
    assert str(llava_checkout) in proc.stdout  # the checkout, not site-packages
    assert "EmoLlavaLlamaForCausalLM emollm_plugin.plugin.seams" in proc.stdout
    off = _python(llava_checkout, code, LLAVA_NO_PLUGINS="1")
    assert "LlavaLlamaForCausalLM llava.model.multimodal_projector.builder" in off.stdout


def test_patched_llava_shows_the_real_import_error(llava_checkout):
    subprocess.run(["git", "apply", str(PATCHES[0])], cwd=llava_checkout, check=True)
    broken = llava_checkout / "llava" / "model" / "language_model" / "llava_llama.py"
    broken.write_text("import a_module_that_does_not_exist\n" + broken.read_text())
    proc = _python(llava_checkout, "import llava")
    assert proc.returncode != 0
    assert "No module named 'a_module_that_does_not_exist'" in proc.stderr
