"""emollm doctor: each known-bad version or missing piece is reported with its fix; exit code 1 only
for hard requirements. The probes (installed versions, imports, GPUs, tools) are monkeypatched."""
from __future__ import annotations

import pytest

from emollm_plugin import versions
from emollm_plugin.commands import doctor

GIB = 2 ** 30
HEALTHY = {**versions.ROWS["pinned"].pins, "av": "12.3.0", "sentencepiece": "0.2.0", "flash-attn": "2.5.8",
           "protobuf": "7.36.2"}


@pytest.fixture
def env(monkeypatch):
    """A healthy 4 x RTX 4090 machine; tests change one thing at a time."""
    state = {"versions": dict(HEALTHY), "import_errors": {}, "tools": {"ffmpeg", "g++", "ninja"},
             "gpus": [("NVIDIA GeForce RTX 4090", 24 * GIB, True)] * 4, "cuda": ("12.1", True), "python": "3.11.7"}
    monkeypatch.setattr(doctor, "installed_version", lambda dist: state["versions"].get(dist))
    monkeypatch.setattr(doctor, "import_error", lambda module: state["import_errors"].get(module))
    monkeypatch.setattr(doctor, "which", lambda cmd: f"/usr/bin/{cmd}" if cmd in state["tools"] else None)
    monkeypatch.setattr(doctor, "gpu_list", lambda: state["gpus"])
    monkeypatch.setattr(doctor, "cuda_build", lambda: state["cuda"])
    monkeypatch.setattr(doctor, "python_version", lambda: state["python"])
    return state


def _run(capsys) -> tuple[int, str, dict[str, doctor.Check]]:
    code = doctor.main([])
    return code, capsys.readouterr().out, {c.name: c for c in doctor.run_checks()}


def test_tested_matrix_passes_everything(env, capsys):
    code, out, checks = _run(capsys)
    assert code == 0 and "all checks passed" in out
    assert {c.status for c in checks.values()} == {doctor.OK}
    assert "4 x NVIDIA GeForce RTX 4090, 24 GiB each" in out and "emollm memory --gpus 4 --gpu-mem 24" in out


@pytest.mark.parametrize("dist, version, reason, fix", [
    ("transformers", "4.41.0", "untested", "pip install transformers==4.37.2"),
    ("transformers", "4.36.2", "older versions", "pip install transformers==4.37.2"),
    ("peft", "0.14.0", "EncoderDecoderCache", "pip install peft==0.13.2"),
    ("accelerate", "1.2.1", "dispatch_batches", "pip install accelerate==0.34.2"),
    ("accelerate", "0.21.0", "nccl", "pip install accelerate==0.34.2"),
    ("tokenizers", "0.19.1", ">= 0.14, < 0.19", "pip install tokenizers==0.15.1"),
    ("torch", "2.0.1", "torch >= 2.1", "pip install 'torch>=2.1'"),
])
def test_known_bad_versions_fail_with_the_pin(env, capsys, dist, version, reason, fix):
    env["versions"][dist] = version
    code, out, checks = _run(capsys)
    assert code == 1
    assert checks[dist].status == doctor.FAIL and checks[dist].found == version
    assert reason in checks[dist].detail and checks[dist].fix == fix
    assert f"fix: {fix}" in out and "1 problem(s) to fix" in out


@pytest.mark.parametrize("dist, version", [("peft", "0.10.0"), ("accelerate", "0.30.1"), ("deepspeed", "0.16.0"),
                                           ("torch", "2.5.1"), ("transformers", "4.37.1")])
def test_untested_but_plausible_versions_only_warn(env, capsys, dist, version):
    env["versions"][dist] = version
    code, _, checks = _run(capsys)
    assert code == 0 and checks[dist].status == doctor.WARN and "tested" in checks[dist].detail


def test_current_row_passes_everything(env, capsys):
    env["versions"].update(versions.ROWS["current"].pins)
    code, out, checks = _run(capsys)
    assert code == 0 and "all checks passed" in out
    assert checks["version row"].found == "current (transformers 5.24.0)"


def test_a_mix_of_the_rows_names_each_distribution_that_is_off(env, capsys):
    env["versions"].update(versions.ROWS["current"].pins)
    env["versions"]["peft"] = versions.ROWS["pinned"].pins["peft"]
    code, out, checks = _run(capsys)
    assert code == 1
    row = checks["version row"]
    assert row.status == doctor.FAIL and row.found == "a mix, closest to current"
    assert row.detail == "peft 0.13.2 (the current row has 0.21.2)"
    assert row.fix.startswith("EMOLLM_STACK=current bash scripts/install.sh")


def test_old_protobuf_fails_on_the_current_row_only(env, capsys):
    env["versions"]["protobuf"] = "6.33.6"
    code, _, checks = _run(capsys)
    assert code == 0 and checks["protobuf"].status == doctor.OK
    env["versions"].update(versions.ROWS["current"].pins)
    code, _, checks = _run(capsys)
    assert code == 1 and checks["protobuf"].fix == "pip install --no-deps protobuf==7.36.2"


def test_accelerate_that_breaks_cpu_deepspeed_fails_on_the_current_row(env, capsys):
    env["versions"].update(versions.ROWS["current"].pins)
    env["versions"]["accelerate"] = "1.13.0"
    code, _, checks = _run(capsys)
    assert code == 1 and "batch-size check" in checks["accelerate"].detail
    assert checks["accelerate"].fix == "pip install accelerate==1.12.0"


def test_missing_deepspeed_is_a_hard_failure(env, capsys):
    del env["versions"]["deepspeed"]
    code, out, checks = _run(capsys)
    assert code == 1 and checks["deepspeed"].status == doctor.FAIL
    assert "LoRA save path imports deepspeed" in out and "DS_BUILD_OPS=0" in checks["deepspeed"].fix


def test_deepspeed_that_does_not_import_shows_why(env, capsys):
    env["versions"]["deepspeed"] = "0.12.6"
    env["import_errors"]["deepspeed"] = "AttributeError: module 'torch' has no attribute 'xyz'"
    code, out, _ = _run(capsys)
    assert code == 1 and "does not import: AttributeError: module 'torch' has no attribute 'xyz'" in out


def test_llava_import_error_is_shown_not_hidden(env, capsys):
    env["import_errors"]["llava.model.language_model.llava_llama"] = "ModuleNotFoundError: No module named 'flash_attn'"
    code, out, checks = _run(capsys)
    assert code == 1 and checks["llava.model imports"].status == doctor.FAIL
    assert "No module named 'flash_attn'" in out


def test_missing_llava_names_the_no_deps_install(env, capsys):
    del env["versions"]["llava-torch"]
    code, _, checks = _run(capsys)
    assert code == 1 and "--no-deps llava-torch==1.2.2.post1" in checks["llava-torch"].fix


@pytest.mark.parametrize("dist", ["torch_geometric", "av", "sentencepiece"])
def test_missing_install_requirement_fails(env, capsys, dist):
    del env["versions"][dist]
    code, _, checks = _run(capsys)
    assert code == 1 and checks[dist].status == doctor.FAIL and "install.sh" in checks[dist].fix


def test_optional_pieces_only_warn(env, capsys):
    del env["versions"]["openai-whisper"]
    del env["versions"]["flash-attn"]
    env["tools"] = {"g++"}
    code, out, checks = _run(capsys)
    assert code == 0
    assert checks["openai-whisper"].status == doctor.WARN and ".[audio]" in checks["openai-whisper"].fix
    assert checks["flash-attn"].status == doctor.WARN and "SDPA" in checks["flash-attn"].detail
    assert checks["ffmpeg"].status == doctor.WARN and checks["g++ / ninja"].found == "missing: ninja"
    assert "0 problem(s) to fix, 4 warning(s)" in out


def test_broken_flash_attn_fails_because_the_launcher_would_pick_it(env, capsys):
    env["import_errors"]["flash_attn"] = "ImportError: undefined symbol: _ZN3c10"
    code, _, checks = _run(capsys)
    assert code == 1 and "EMOLLM_ATTN_IMPLEMENTATION=sdpa" in checks["flash-attn"].fix


def test_cpu_machine_warns_and_points_to_the_tiny_preset(env, capsys):
    env["gpus"], env["cuda"] = [], (None, False)
    del env["versions"]["flash-attn"]
    code, _, checks = _run(capsys)
    assert code == 0
    assert checks["GPUs"].status == doctor.WARN and "PRESET=tiny" in checks["GPUs"].detail
    assert checks["CUDA"].found == "CPU-only torch build" and checks["flash-attn"].status == doctor.OK


def test_pre_ampere_gpu_suggests_fp16(env, capsys):
    env["gpus"] = [("Tesla V100-SXM2-32GB", 32 * GIB, False)] * 2
    code, _, checks = _run(capsys)
    assert code == 0 and checks["bf16 / TF32"].fix == "PRECISION=fp16 bash scripts/finetune_emo_lora.sh"


def test_old_python_fails(env, capsys):
    env["python"] = "3.9.18"
    code, _, checks = _run(capsys)
    assert code == 1 and checks["Python"].status == doctor.FAIL


def test_this_machine_passes_its_hard_requirements(capsys):
    """No monkeypatching: the venv the tests run in is the tested matrix."""
    assert doctor.main([]) == 0
    assert "llava.model imports  LlavaLlamaForCausalLM" in capsys.readouterr().out
