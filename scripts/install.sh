#!/usr/bin/env bash
# Install EmoLLM plugin + an unmodified LLaVA v1.5 (llava-torch) into a virtual environment.
#
# Uses the active virtualenv if one is active, else creates/uses $EMOLLM_VENV (default: .venv).
# Environment:
#   EMOLLM_VENV    venv folder when none is active            (default: <repo>/.venv)
#   TORCH_SPEC     torch requirement installed first          (default: torch==2.13.0)
#   EMOLLM_EXTRAS  extras of this package to install          (default: train,audio,dev,serve,demo)
# llava-torch==1.2.2.post1 hard-pins torch 2.0.1 / transformers 4.36.2 / gradio, so it is installed
# with --no-deps; setup.cfg declares the versions that were measured to run LLaVA's code.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

if [ -z "${VIRTUAL_ENV:-}" ]; then
  VENV="${EMOLLM_VENV:-$REPO/.venv}"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
fi
PY=python
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${EMOLLM_EXTRAS:-train,audio,dev,serve,demo}"

# The web demo's browser test (tests/test_apps_demo_ui.py) drives Debian's chromium headless.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[install] chromium (Debian package) for the demo page's headless-browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[install] note: no chromium; tests/test_apps_demo_ui.py needs it (apt-get install chromium)" >&2
  fi
fi

STAMP="$VIRTUAL_ENV/.emollm-install-stamp"
WANT="$(cat setup.cfg scripts/install.sh | sha256sum | cut -d' ' -f1) $TORCH_SPEC $EXTRAS"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi

echo "[install] into $VIRTUAL_ENV"
$PY -m pip install -q --upgrade pip setuptools wheel
if ! $PY -c "import torch" 2>/dev/null; then
  $PY -m pip install -q "$TORCH_SPEC"
fi
echo "[install] llava-torch 1.2.2.post1 with --no-deps: pip's notes that it 'requires torch==2.0.1," \
     "transformers==4.36.2, ...' are expected; setup.cfg pins the versions measured to run its code"
$PY -m pip install -q --no-deps "llava-torch==1.2.2.post1"
if [[ ",$EXTRAS," == *",train,"* ]] && ! $PY -c "import deepspeed" 2>/dev/null; then
  # DS_BUILD_OPS=0: no CUDA ops at install time; --no-build-isolation: its build uses our torch
  DS_BUILD_OPS=0 $PY -m pip install -q --no-build-isolation "deepspeed==0.19.8"
fi
$PY -m pip install -q -e ".[$EXTRAS]"
$PY -c "import llava.model, emollm_plugin; print('[install] llava + emollm_plugin import fine')"
echo "$WANT" > "$STAMP"
