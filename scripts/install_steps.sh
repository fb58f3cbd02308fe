#!/usr/bin/env bash
# Sourced by scripts/install.sh: run each install step quietly, one line each.
#   step LABEL CMD...   runs CMD; prints "[install] LABEL ... ok (Ns)". VERBOSE=1 streams CMD's
#                       output. On failure prints CMD's whole output and exits with its status.
#   summary ROW VENV    the closing lines.
# pip's notes that llava-torch "requires torch==2.0.1, transformers==4.36.2, ..." are expected
# (it is installed with --no-deps), so a successful step's output is kept in a log, not shown.

step() {
  local label="$1"; shift
  local started=$SECONDS
  if [ "${VERBOSE:-0}" = "1" ]; then
    echo "[install] $label"
    "$@"
    return
  fi
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/emollm-install.XXXXXX")"
  printf '[install] %s ... ' "$label"
  if "$@" >"$log" 2>&1; then
    echo "ok ($((SECONDS - started))s)"
    rm -f "$log"
  else
    local status=$?
    echo "FAILED (exit $status); its output:"
    cat "$log"
    rm -f "$log"
    echo "[install] failed at: $label (rerun with VERBOSE=1 to watch every step)" >&2
    exit "$status"
  fi
}

summary() {
  local row="$1" venv="$2" transformers
  transformers="$(python -c 'import transformers; print(transformers.__version__)' 2>/dev/null || echo '?')"
  echo "[install] done: the $row row (transformers $transformers) in $venv"
  echo "[install] llava-torch was installed without its own pins (torch 2.0.1, transformers 4.36.2," \
       "gradio), which LLaVA's model and training code do not need; constraints/$row.txt holds the" \
       "versions tested with it. Check this environment with: emollm doctor"
}
