#!/usr/bin/env bash
# Evaluate a checkpoint on an EmoBench test file: answers (batched, resumable) -> scores -> plots.
#
#   bash scripts/eval_emobench.sh CKPT [BASE]
#   SEEDS="1 2 3" bash scripts/eval_emobench.sh CKPT [BASE]
#
# CKPT: the checkpoint folder (LoRA adapter, projector-only or full model). BASE: the LLM that a
# LoRA or projector checkpoint was trained on (the training run's --model_name_or_path).
# With SEEDS, CKPT names the runs of finetune_emo_lora.sh's SEEDS: each seed's checkpoint
# ${CKPT}-seed${SEED} is evaluated into ${OUT_DIR}-seed${SEED}, then `emollm eval aggregate`
# writes the mean ± sample std over the seeds into ${OUT_DIR}/aggregate (aggregate.md, .json, .png).
#
# Environment (all optional):
#   TEST_FILE         EmoBench records, JSON list or JSONL      (default: <repo>/data/emobench/test.json)
#   MEDIA_ROOT        folder the records' media paths are relative to
#                                                               (default: media/ next to TEST_FILE)
#   OUT_DIR           answers, scores and plots                 (default: <repo>/work/eval/<CKPT folder name>)
#   CONV_MODE         LLaVA conversation template               (default: the one training used,
#                     recorded in CKPT's config.json; vicuna_v1 for checkpoints that record none)
#   SEEDS             seeds to evaluate and aggregate, e.g. "1 2 3" (default: none: CKPT alone)
#   BATCH_SIZE        records per generate call                 (default: 8)
#   MAX_NEW_TOKENS    longest answer in tokens                  (default: 128)
#   NUM_VIDEO_FRAMES  frames sampled per clip                   (default: the checkpoint's, recorded in training)
#   RESUME            1: keep the answers already in OUT_DIR/answers.jsonl and answer the rest;
#                     0: start over                             (default: 1)
#   INFER_ARGS        more flags for python -m emollm_plugin.commands.infer, e.g. "--device cuda:1"
#                                                               (default: none)
#   EMOLLM_VENV       venv used when none is active             (default: <repo>/.venv)
#
# Leaves in OUT_DIR: answers.jsonl, answers.jsonl.skipped.jsonl (records the model could not take,
# with the reason), scores.json, scores.md, accuracy_by_task.png, confusion_*.png, outcomes_*.png.
# Prints the Markdown report (the per-task table first).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
CKPT="${1%/}"
BASE="${2:-}"
VENV="${EMOLLM_VENV:-$REPO/.venv}"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "$VENV/bin/activate" ]; then . "$VENV/bin/activate"; fi

if [ -n "${SEEDS:-}" ]; then
  OUT_BASE="${OUT_DIR:-$REPO/work/eval/$(basename "$CKPT")}"
  RUN_DIRS=()
  for SEED in $SEEDS; do
    if [ ! -e "$CKPT-seed$SEED" ]; then
      echo "eval_emobench.sh: $CKPT-seed$SEED does not exist (SEEDS=\"$SEEDS\" evaluates \${CKPT}-seed\${SEED}," \
           "as finetune_emo_lora.sh's SEEDS names its runs)" >&2
      exit 2
    fi
  done
  for SEED in $SEEDS; do
    echo "== seed $SEED: $CKPT-seed$SEED -> $OUT_BASE-seed$SEED" >&2
    SEEDS="" OUT_DIR="$OUT_BASE-seed$SEED" bash "${BASH_SOURCE[0]}" "$CKPT-seed$SEED" ${BASE:+"$BASE"}
    RUN_DIRS+=("$OUT_BASE-seed$SEED")
  done
  echo "== mean ± sample std over seeds $SEEDS -> $OUT_BASE/aggregate" >&2
  python -m emollm_plugin.commands.cli eval aggregate "${RUN_DIRS[@]}" --out "$OUT_BASE/aggregate"
  exit 0
fi

TEST_FILE="${TEST_FILE:-$REPO/data/emobench/test.json}"
MEDIA_ROOT="${MEDIA_ROOT:-$(dirname "$TEST_FILE")/media}"
OUT_DIR="${OUT_DIR:-$REPO/work/eval/$(basename "$CKPT")}"
RESUME="${RESUME:-1}"
for path in "$CKPT" "$TEST_FILE" "$MEDIA_ROOT"; do
  if [ ! -e "$path" ]; then echo "eval_emobench.sh: $path does not exist" >&2; exit 2; fi
done
mkdir -p "$OUT_DIR"
ANSWERS="$OUT_DIR/answers.jsonl"

INFER=(python -m emollm_plugin.commands.infer --model-path "$CKPT"
  --question-file "$TEST_FILE" --media-root "$MEDIA_ROOT" --answers-file "$ANSWERS"
  --batch-size "${BATCH_SIZE:-8}"
  --max-new-tokens "${MAX_NEW_TOKENS:-128}")
if [ -n "$BASE" ]; then INFER+=(--model-base "$BASE"); fi
# unset: the frames the checkpoint was trained on (its config records them)
if [ -n "${NUM_VIDEO_FRAMES:-}" ]; then INFER+=(--num-video-frames "$NUM_VIDEO_FRAMES"); fi
if [ -n "${CONV_MODE:-}" ]; then INFER+=(--conv-mode "$CONV_MODE"); fi
if [ "$RESUME" = 1 ]; then INFER+=(--resume); fi
# shellcheck disable=SC2206  # INFER_ARGS is a list of flags
INFER+=(${INFER_ARGS:-})

echo "== 1/3 answers -> $ANSWERS" >&2
"${INFER[@]}"

echo "== 2/3 scores -> $OUT_DIR/scores.json, scores.md" >&2
python -m emollm_plugin.commands.cli eval score --answers "$ANSWERS" --questions "$TEST_FILE" \
  --out-json "$OUT_DIR/scores.json" --out-md "$OUT_DIR/scores.md" --model-card "$CKPT"

echo "== 3/3 plots -> $OUT_DIR" >&2
# the report repeats the score's table and warnings: show its log only when it fails
LOG="$OUT_DIR/report.log"
if ! python -m emollm_plugin.commands.cli eval report --answers "$ANSWERS" --questions "$TEST_FILE" \
    --out "$OUT_DIR" >"$LOG" 2>&1; then
  cat "$LOG" >&2
  exit 1
fi
tail -n 1 "$LOG" >&2
