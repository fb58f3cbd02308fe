#!/usr/bin/env bash
# Set up from nothing and run the tests of both version rows (README, "Tested versions"):
#   1. everything but the lmms-eval tests (marked `lmms`) on the pinned row (.venv, or the active
#      virtualenv);
#   2. the tests marked `current_stack` (end-to-end training, reload, answers, scoring, the
#      2-process ZeRO-2 recipe, lmms-eval) on the current row, in .venv-current.
# Each venv is installed once and reused while setup.cfg, the constraints and the install scripts
# are unchanged (a stamp inside the venv).
#   --fast   only `-m "not slow"` on the pinned row
# Extra args go to pytest (both rows).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FAST=0
if [ "${1:-}" = "--fast" ]; then FAST=1; shift; fi
cd "$REPO"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$REPO/work/torch_extensions}"

# EMOLLM_BROWSER=1: chromium for the web demo's browser test (tests/test_apps_demo_ui.py)
EMOLLM_BROWSER=1 EMOLLM_STACK=pinned bash scripts/install.sh
(
  if [ -z "${VIRTUAL_ENV:-}" ]; then . "${EMOLLM_VENV:-$REPO/.venv}/bin/activate"; fi
  if [ "$FAST" = 1 ]; then
    python -m pytest tests -m "not slow and not lmms" "$@"
  else
    python -m pytest tests -m "not lmms" "$@"
  fi
)
[ "$FAST" = 1 ] && exit 0

echo "== current row: tests marked current_stack, in .venv-current"
started=$SECONDS
env -u VIRTUAL_ENV -u EMOLLM_VENV EMOLLM_STACK=current bash scripts/install.sh
(
  . "$REPO/.venv-current/bin/activate"
  # only the files holding marked tests are collected (the others may import extras this row lacks)
  mapfile -t files < <(grep -l "current_stack" tests/test_*.py)
  python -m pytest "${files[@]}" -m current_stack "$@"
)
echo "== current row took $((SECONDS - started))s"
