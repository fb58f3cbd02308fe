"""`emollm doctor`: check this environment against the tested rows; print each problem with its fix.

Exit code 1 when a hard requirement fails (the plugin or LLaVA's training would not run), 0 when
only warnings remain. The rows (pinned: transformers 4.37.2; current: transformers 5.x) are the
table in `versions.py`; the installed Hugging Face stack is matched to the closer row, and a mix
of the two rows is named distribution by distribution.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
import shutil
import sys
from dataclasses import dataclass

from packaging.version import Version

from .. import versions

OK, WARN, FAIL = "ok", "warn", "FAIL"
INSTALL = "bash scripts/install.sh (or pip install -c constraints/pinned.txt -e '.[train,audio]')"


@dataclass
class Check:
    name: str
    status: str        # ok | warn | FAIL
    found: str         # what was found (version, count, ...)
    detail: str = ""   # why it matters
    fix: str = ""      # what to do


# ---- probes (module-level so tests can replace them) -------------------------------------------------

def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def import_error(module: str) -> str | None:
    """None if ``module`` imports, else the real error as 'Type: message'."""
    try:
        importlib.import_module(module)
    except BaseException as err:  # noqa: BLE001 - a broken extension can raise anything, even SystemExit
        return f"{type(err).__name__}: {err}"
    return None


def gpu_list() -> list[tuple[str, int, bool]]:
    """(name, total bytes, bf16 supported) per visible CUDA GPU."""
    import torch
    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append((props.name, props.total_memory, props.major >= 8))  # bf16 and TF32 need Ampere (sm_80)
    return gpus


def cuda_build() -> tuple[str | None, bool]:
    """(CUDA version torch was built for or None, whether CUDA is usable now)."""
    import torch
    return torch.version.cuda, torch.cuda.is_available()


def which(command: str) -> str | None:
    return shutil.which(command)


def python_version() -> str:
    return platform.python_version()


# ---- checks ------------------------------------------------------------------------------------------

def _tested(dist: str, row: versions.Row | None = None) -> str:
    return (row or versions.row(versions.DEFAULT_ROW)).pins[dist]


def _pin(dist: str, row: versions.Row | None = None) -> str:
    return f"pip install {dist}=={_tested(dist, row)}"


def _same(found: str, tested: str) -> bool:
    return Version(found).base_version == Version(tested).base_version  # 2.13.0+cpu is 2.13.0


def _versioned(dist: str, found: str, tested_note: str = "", fix: str = "", row: versions.Row | None = None) -> Check:
    """OK at the tested version, else a warning that names the tested one."""
    if _same(found, _tested(dist, row)):
        return Check(dist, OK, found)
    return Check(dist, WARN, found, tested_note or f"tested {_tested(dist, row)}", fix)


def check_python() -> Check:
    v = python_version()
    if Version(v) < Version("3.10"):
        return Check("Python", FAIL, v, "the plugin needs Python >= 3.10", "use a Python 3.11 virtual environment")
    return Check("Python", OK, v, "" if v.startswith("3.11.") else "tested on 3.11")


def check_torch() -> list[Check]:
    v = installed_version("torch")
    if v is None or import_error("torch"):
        return [Check("torch", FAIL, v or "missing", import_error("torch") or "not installed",
                      f"pip install torch=={_tested('torch')} (the CUDA build for your driver)")]
    if Version(v).release[:2] < (2, 1):
        return [Check("torch", FAIL, v, "the plugin needs torch >= 2.1", "pip install 'torch>=2.1'")]
    checks = [Check("torch", OK if Version(v).release[:2] == (2, 13) else WARN, v,
                    "" if Version(v).release[:2] == (2, 13) else f"tested with {_tested('torch')}")]
    built_for, usable = cuda_build()
    checks.append(Check("CUDA", OK if usable else WARN,
                        f"torch built for CUDA {built_for}" if built_for else "CPU-only torch build",
                        "" if usable else "no usable CUDA: training runs only as PRESET=tiny on CPU",
                        "" if usable else "install the CUDA build of torch matching your driver"))
    return checks


def check_llava() -> list[Check]:
    v = installed_version("llava-torch")
    fix = f"pip install --no-deps llava-torch=={_tested('llava-torch')} (its own pins would replace torch)"
    if v is None:
        return [Check("llava-torch", FAIL, "missing", "the plugin extends an installed LLaVA v1.5", fix)]
    checks = [_versioned("llava-torch", v, fix=fix)]
    # llava/model/__init__.py hides this import behind a bare except; import it directly to see why
    err = import_error("llava.model.language_model.llava_llama")
    checks.append(Check("llava.model imports", FAIL if err else OK, "error" if err else "LlavaLlamaForCausalLM",
                        err or "", "fix the error above (usually a version in this list); " + INSTALL if err else ""))
    return checks


def check_row(installed: dict) -> tuple[versions.Row, Check]:
    """The row the installed Hugging Face stack belongs to; FAIL on a mix of the two rows."""
    row, off = versions.closest_row(installed)
    others = [r for r in versions.ROWS.values() if r is not row]
    if not off:
        return row, Check("version row", OK, f"{row.name} (transformers {row.pins['transformers']})")
    mixed = {d: (found, tested) for d, (found, tested) in off.items()
             if found and any(o.pins[d] == found for o in others)}
    named = "; ".join(f"{d} {found or 'missing'} (the {row.name} row has {tested})" for d, (found, tested) in off.items())
    fix = f"EMOLLM_STACK={row.name} bash scripts/install.sh (pip install -c constraints/{row.name}.txt -e .)"
    if mixed:
        return row, Check("version row", FAIL, f"a mix, closest to {row.name}", named, fix)
    return row, Check("version row", WARN, f"closest to {row.name}, untested versions", named, fix)


def check_transformers(row: versions.Row) -> Check:
    v = installed_version("transformers")
    if v is None:
        return Check("transformers", FAIL, "missing", "LLaVA is built on it", _pin("transformers", row))
    release = Version(v).release[:2]
    if release == (4, 37) or (release[0] == 5 and 20 <= release[1] <= 24):
        return _versioned("transformers", v, fix=_pin("transformers", row), row=row)
    why = ("older versions lack what the plugin and LLaVA use" if Version(v) < Version("4.37") else
           "untested: the shims cover 4.37.2 and 5.20-5.24 (docs/upstream-quirks.md)")
    return Check("transformers", FAIL, v, why, _pin("transformers", row))


def check_tokenizers(row: versions.Row) -> Check:
    v = installed_version("tokenizers")
    low, high = ("0.14", "0.19") if row.name == "pinned" else ("0.23.1", "0.24")
    if v is None or not Version(low) <= Version(v) < Version(high):
        return Check("tokenizers", FAIL, v or "missing",
                     f"transformers {row.pins['transformers']} needs tokenizers >= {low}, < {high}", _pin("tokenizers", row))
    return _versioned("tokenizers", v, row=row)


def check_accelerate(row: versions.Row) -> Check:
    v = installed_version("accelerate")
    if v is None:
        return Check("accelerate", FAIL, "missing", "the HF Trainer needs it", _pin("accelerate", row))
    if Version(v) >= Version("1.13"):
        return Check("accelerate", FAIL, v, "accelerate >= 1.13 no longer detects multi-process CPU runs, and "
                     "DeepSpeed's batch-size check then fails", _pin("accelerate", row))
    if row.name == "pinned" and Version(v) >= Version("1.0"):
        return Check("accelerate", FAIL, v, "accelerate >= 1.0 with transformers 4.37.2 fails (dispatch_batches)",
                     _pin("accelerate", row))
    if Version(v) < Version("0.22"):
        return Check("accelerate", FAIL, v, "0.21 hard-codes the nccl backend", _pin("accelerate", row))
    return _versioned("accelerate", v, row=row)


def check_peft(row: versions.Row) -> Check:
    v = installed_version("peft")
    if v is None:
        return Check("peft", FAIL, "missing", "LoRA training and loading need it", _pin("peft", row))
    if row.name == "pinned" and Version(v) >= Version("0.14"):
        return Check("peft", FAIL, v, "peft >= 0.14 with transformers 4.37.2 fails (EncoderDecoderCache)",
                     _pin("peft", row))
    return _versioned("peft", v, "tested 0.13.2 (0.10.0 ran too)" if row.name == "pinned" else "", row=row)


def check_protobuf(row: versions.Row) -> Check:
    """transformers 5.x parses sentencepiece models with protobuf >= 7.36.1; with an older one it
    falls back, silently, to a reader that cannot parse them (lmms-eval's wandb pin asks < 7)."""
    v = installed_version("protobuf")
    wanted = row.overrides.get("protobuf")
    if wanted is None:
        return Check("protobuf", OK, v or "not installed")
    if v is None or Version(v) < Version("7.36.1"):
        return Check("protobuf", FAIL, v or "missing", "transformers 5.x reads sentencepiece tokenizers with "
                     "protobuf >= 7.36.1", f"pip install --no-deps protobuf=={wanted}")
    return Check("protobuf", OK, v)


def check_hub(row: versions.Row) -> Check:
    v = installed_version("huggingface_hub")
    if v is None:
        return Check("huggingface_hub", FAIL, "missing", "transformers needs it", _pin("huggingface_hub", row))
    return _versioned("huggingface_hub", v, row=row)


def check_deepspeed() -> Check:
    v = installed_version("deepspeed")
    fix = f"DS_BUILD_OPS=0 pip install --no-build-isolation deepspeed=={_tested('deepspeed')}"
    if v is None:
        return Check("deepspeed", FAIL, "missing",
                     "LLaVA's LoRA save path imports deepspeed even without --deepspeed", fix)
    err = import_error("deepspeed")
    if err:
        return Check("deepspeed", FAIL, v, f"does not import: {err}", fix)
    return _versioned("deepspeed", v, fix=fix)


def check_required(dist: str, module: str, why: str) -> Check:
    v = installed_version(dist)
    err = import_error(module) if v else "not installed"
    if err:
        return Check(dist, FAIL, v or "missing", f"{why}: {err}", INSTALL)
    return _versioned(dist, v) if dist in versions.SHARED else Check(dist, OK, v)


def check_whisper() -> Check:
    v = installed_version("openai-whisper")
    if v is None:
        return Check("openai-whisper", WARN, "missing", "needed for --audio_tower (video+audio records)",
                     "pip install -e '.[audio]'")
    err = import_error("whisper")  # needs numba and tiktoken
    if err:
        return Check("openai-whisper", WARN, v, f"does not import: {err}", "pip install -e '.[audio]'")
    return Check("openai-whisper", OK, v)


def check_flash_attn(gpus: list) -> Check:
    v = installed_version("flash-attn")
    if not gpus:
        return Check("flash-attn", OK, v or "not installed", "not used on CPU (PyTorch SDPA instead)")
    if v is None:
        return Check("flash-attn", WARN, "not installed", "training falls back to PyTorch SDPA (slower, more memory)",
                     "pip install -e '.[gpu]' (or pip install flash-attn --no-build-isolation)")
    err = import_error("flash_attn")
    if err:  # the launcher would pick flash_attention_2 because the package is present, then crash
        return Check("flash-attn", FAIL, v, f"installed but does not import: {err}",
                     "rebuild it for this torch/CUDA, or pip uninstall flash-attn (SDPA is used then), "
                     "or set EMOLLM_ATTN_IMPLEMENTATION=sdpa")
    return Check("flash-attn", OK, v)


def check_tools() -> list[Check]:
    checks = []
    ffmpeg = which("ffmpeg")
    checks.append(Check("ffmpeg", OK, ffmpeg) if ffmpeg else Check(
        "ffmpeg", WARN, "not found", "PyAV decodes the media; openai-whisper's load_audio(file) needs ffmpeg",
        "apt-get install ffmpeg (or conda install ffmpeg)"))
    missing = [c for c in ("g++", "ninja") if not which(c)]
    checks.append(Check("g++ / ninja", WARN if missing else OK,
                        "missing: " + ", ".join(missing) if missing else "found",
                        "DeepSpeed JIT-builds ops (CPU runs: its shm op)" if missing else "",
                        "apt-get install g++ && pip install ninja" if missing else ""))
    return checks


def check_gpus(gpus: list) -> list[Check]:
    if not gpus:
        return [Check("GPUs", WARN, "none visible", "the recipes need CUDA GPUs; PRESET=tiny runs on the CPU",
                      "check nvidia-smi and CUDA_VISIBLE_DEVICES")]
    gib = min(mem for _, mem, _ in gpus) / 2 ** 30
    names = ", ".join(sorted({name for name, _, _ in gpus}))
    checks = [Check("GPUs", OK, f"{len(gpus)} x {names}, {gib:.0f} GiB each",
                    f"budget: emollm memory --gpus {len(gpus)} --gpu-mem {gib:.0f}")]
    if not all(bf16 for _, _, bf16 in gpus):
        checks.append(Check("bf16 / TF32", WARN, "pre-Ampere GPU", "the recipe's bf16 and --tf32 need sm_80 or newer",
                            "PRECISION=fp16 bash scripts/finetune_emo_lora.sh"))
    return checks


def run_checks() -> list[Check]:
    gpus = gpu_list() if installed_version("torch") and not import_error("torch") else []
    row, row_check = check_row({d: installed_version(d) for d in versions.STACK})
    checks = [check_python(), *check_torch(), row_check, check_transformers(row), check_tokenizers(row),
              check_hub(row), check_protobuf(row), check_accelerate(row), check_peft(row), check_deepspeed(), *check_llava(),
              check_required("torch_geometric", "torch_geometric.nn", "MVP's graph convolution needs it"),
              check_required("av", "av", "video frames and audio tracks are read with PyAV"),
              check_required("sentencepiece", "sentencepiece", "LLaVA's slow Llama tokenizer needs it"),
              check_whisper(), check_flash_attn(gpus), *check_tools(), *check_gpus(gpus)]
    return checks


def format_checks(checks: list[Check]) -> str:
    lines = ["emollm doctor: this environment against the tested version rows"]
    for c in checks:
        line = f"  [{c.status:<4}] {c.name:<20} {c.found}"
        if c.detail:
            line += f"  ({c.detail})"
        lines.append(line)
        if c.fix and c.status != OK:
            lines.append(f"  {'':<6} {'':<20} fix: {c.fix}")
    fails, warns = sum(c.status == FAIL for c in checks), sum(c.status == WARN for c in checks)
    lines.append("")
    lines.append(f"{fails} problem(s) to fix, {warns} warning(s)" if fails or warns else "all checks passed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emollm doctor", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    checks = run_checks()
    print(format_checks(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
