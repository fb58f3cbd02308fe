#!/usr/bin/env bash
# Set up from nothing (venv + install) and run the whole test suite. Extra args go to pytest.
# --fast: only the quick tier (-m "not slow"); CI runs everything.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/install.sh"
if [ -z "${VIRTUAL_ENV:-}" ]; then . "${EMOLLM_VENV:-$REPO/.venv}/bin/activate"; fi
cd "$REPO"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$REPO/work/torch_extensions}"
if [ "${1:-}" = "--fast" ]; then shift; set -- -m "not slow" "$@"; fi
python -m pytest tests "$@"
