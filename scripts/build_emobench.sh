#!/usr/bin/env bash
# Build EmoBench (train.json, test.json, per-task files, manifest.json, media/ links) from your
# copies of the source datasets, each in its original layout (README: "EmoBench: the eight datasets").
#
# Environment (a dataset whose root is unset or empty is left out; at least one is needed):
#   EMOTIC_ROOT  CAER_S_ROOT  MELD_ROOT  EMOTION6_ROOT  MINTREC_ROOT  URFUNNY_ROOT  MMHS150K_ROOT  MMSD2_ROOT
#   OUT_DIR          output folder                              (default: data/emobench)
#   SEED             sampling / template / option-order seed    (default: 0)
#   CLOSED_FRACTION  share of emotion train samples asked closed-set  (default: 0.5)
#   EMOTION_QUESTIONS  both|split: val/test emotion samples asked both ways or like train
#   VAL_SIZE         val samples per dataset
#   VAL_FROM         valtest|train: val beside a ~30k test set from Val&Test, or from the training side
#   EMOTION_LABELS   7|6: keep neutral, or drop it (six Emo-C options)
#   (unset: the defaults of `emollm bench build --help`)
#   EMOLLM_VENV      venv used when none is active              (default: <repo>/.venv)
# Sizes default to the paper's Table 1; edit the written OUT_DIR/bench.yaml and rerun
# `emollm bench build --config OUT_DIR/bench.yaml` for per-dataset sizes or options.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "${EMOLLM_VENV:-$REPO/.venv}/bin/python" ]; then
  . "${EMOLLM_VENV:-$REPO/.venv}/bin/activate"
fi
OUT_DIR="${OUT_DIR:-data/emobench}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
CONFIG="$OUT_DIR/bench.yaml"

datasets=""
add() {  # add NAME ROOT
  if [ -n "${2:-}" ]; then
    [ -d "$2" ] || { echo "build_emobench: $1 root '$2' is not a folder" >&2; exit 2; }
    datasets+="  $1: {root: \"$(cd "$2" && pwd)\"}"$'\n'
  fi
}
add emotic "${EMOTIC_ROOT:-}"; add caer_s "${CAER_S_ROOT:-}"; add meld "${MELD_ROOT:-}"
add emotion6 "${EMOTION6_ROOT:-}"; add mintrec "${MINTREC_ROOT:-}"; add urfunny "${URFUNNY_ROOT:-}"
add mmhs150k "${MMHS150K_ROOT:-}"; add mmsd2 "${MMSD2_ROOT:-}"
if [ -z "$datasets" ]; then
  echo "build_emobench: set at least one of EMOTIC_ROOT CAER_S_ROOT MELD_ROOT EMOTION6_ROOT" \
       "MINTREC_ROOT URFUNNY_ROOT MMHS150K_ROOT MMSD2_ROOT to a dataset folder" >&2
  exit 2
fi
cat > "$CONFIG" <<YAML
out: "$OUT_DIR"
seed: ${SEED:-0}
closed_fraction: ${CLOSED_FRACTION:-0.5}
${EMOTION_QUESTIONS:+emotion_questions: $EMOTION_QUESTIONS}
datasets:
$datasets
YAML
echo "[build_emobench] config: $CONFIG"
emollm bench build --config "$CONFIG" ${VAL_SIZE:+--val-size "$VAL_SIZE"} ${VAL_FROM:+--val-from "$VAL_FROM"} \
  ${EMOTION_LABELS:+--emotion-labels "$EMOTION_LABELS"}
files=("$OUT_DIR/train.json" "$OUT_DIR/test.json")
[ -f "$OUT_DIR/val.json" ] && files+=("$OUT_DIR/val.json")
emollm bench validate "${files[@]}" --media-root "$OUT_DIR/media"
