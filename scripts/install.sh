#!/usr/bin/env bash
# Install EmoLLM plugin + an unmodified LLaVA v1.5 (llava-torch) into a virtual environment.
#
# Uses the active virtualenv if one is active, else creates/uses $EMOLLM_VENV.
# Environment:
#   EMOLLM_STACK   version row: pinned | current (README, "Tested versions") (default: pinned)
#   EMOLLM_VENV    venv folder when none is active   (default: <repo>/.venv, or .venv-current)
#   TORCH_SPEC     torch requirement installed first                       (default: torch==2.13.0)
#   EMOLLM_EXTRAS  extras of this package  (default: train,audio,dev,serve,demo; current: train,audio,dev,lmms)
#   EMOLLM_BROWSER=1  also apt-get install Debian's chromium (as root) for the web demo's browser
#                  test; scripts/test.sh sets it. Without it nothing outside the venv is installed.
#   VERBOSE=1      show pip's whole output (by default: one line per step; a failing step prints
#                  its full log and the script exits non-zero)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/install_steps.sh
. "$REPO/scripts/install_steps.sh"

STACK="${EMOLLM_STACK:-pinned}"
case "$STACK" in
  pinned) DEFAULT_VENV="$REPO/.venv"; DEFAULT_EXTRAS="train,audio,dev,serve,demo" ;;
  current) DEFAULT_VENV="$REPO/.venv-current"; DEFAULT_EXTRAS="train,audio,dev,lmms" ;;
  *) echo "[install] EMOLLM_STACK=$STACK: use pinned or current" >&2; exit 2 ;;
esac
CONSTRAINTS="$REPO/constraints/$STACK.txt"

if [ -z "${VIRTUAL_ENV:-}" ]; then
  VENV="${EMOLLM_VENV:-$DEFAULT_VENV}"
  [ -x "$VENV/bin/python" ] || step "create venv $VENV" python3 -m venv "$VENV"
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
fi
PY=python
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${EMOLLM_EXTRAS:-$DEFAULT_EXTRAS}"

# The web demo's browser test (tests/test_apps_demo_ui.py) drives Debian's chromium headless.
# Installing a system package is opt-in: EMOLLM_BROWSER=1 (scripts/test.sh sets it).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "${EMOLLM_BROWSER:-0}" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      step "chromium (Debian package, EMOLLM_BROWSER=1) for the demo page's headless-browser test" \
        bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
    else
      echo "[install] EMOLLM_BROWSER=1: install chromium yourself (apt-get install chromium, as root)" >&2
      exit 1
    fi
  elif [[ ",$EXTRAS," == *",demo,"* ]]; then
    echo "[install] note: no chromium; tests/test_apps_demo_ui.py needs it (EMOLLM_BROWSER=1 installs it)" >&2
  fi
fi

STAMP="$VIRTUAL_ENV/.emollm-install-stamp"
WANT="$(cat setup.cfg scripts/install.sh scripts/install_steps.sh "$CONSTRAINTS" | sha256sum | cut -d' ' -f1) $STACK $TORCH_SPEC $EXTRAS"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi

echo "[install] $STACK row into $VIRTUAL_ENV"
step "pip, setuptools, wheel" $PY -m pip install --upgrade pip setuptools wheel
if ! $PY -c "import torch" 2>/dev/null; then
  step "$TORCH_SPEC" $PY -m pip install "$TORCH_SPEC"
fi
step "llava-torch (without its own pins)" $PY -m pip install --no-deps -c "$CONSTRAINTS" llava-torch
if [[ ",$EXTRAS," == *",train,"* ]] && ! $PY -c "import deepspeed" >/dev/null 2>&1; then
  # DS_BUILD_OPS=0: no CUDA ops at install time; --no-build-isolation: its build uses our torch
  DS_BUILD_OPS=0 step "deepspeed (no prebuilt ops)" $PY -m pip install --no-build-isolation -c "$CONSTRAINTS" deepspeed
fi
step "emollm-plugin [$EXTRAS] with constraints/$STACK.txt" $PY -m pip install -c "$CONSTRAINTS" -e ".[$EXTRAS]"
OVERRIDES="$($PY -m emollm_plugin.versions overrides "$STACK" | tr '\n' ' ')"
if [ -n "${OVERRIDES// /}" ]; then
  # shellcheck disable=SC2086
  step "$OVERRIDES(over a dependency's pin; README, Tested versions)" $PY -m pip install --no-deps $OVERRIDES
fi
if $PY -c "import importlib.util as u, sys; sys.exit(u.find_spec('torchvision') is None)" \
   && ! $PY -c "import torchvision" 2>/dev/null; then
  # PyPI's torchvision is built for PyPI's (CUDA) torch; next to a CPU torch it fails to import,
  # and transformers would then fail on every image processor instead of using its PIL ones
  step "remove torchvision (built for another torch build)" $PY -m pip uninstall -y torchvision
fi
step "check: import llava.model, emollm_plugin" $PY -c "import llava.model, emollm_plugin"
echo "$WANT" > "$STAMP"
summary "$STACK" "$VIRTUAL_ENV"
