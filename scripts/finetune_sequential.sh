#!/usr/bin/env bash
# EmoLLM's sequential strategy (paper, Table 4): stage 1 tunes on general (objective) instruction
# data, stage 2 continues on EmoBench from stage 1's weights. MIX=1 instead trains once on both
# files shuffled together (the "mixed" strategy). Each stage is scripts/finetune_emo_lora.sh.
#
# Stage 2 starts from stage 1 by *merging*: stage 1's LoRA is folded into the base LLM with LLaVA's
# own load_pretrained_model and saved, together with stage 1's MVP/audio projectors, as a complete
# LLaVA model ($RUN_DIR/stage1-merged); stage 2 trains a fresh LoRA on it (docs/training.md says why).
#
#   bash scripts/finetune_sequential.sh [more training flags for both stages...]
#   PRESET=tiny bash scripts/finetune_sequential.sh        # offline, tiny models, 2 CPU processes
#   MIX=1 bash scripts/finetune_sequential.sh
#
# Environment (besides every variable of finetune_emo_lora.sh, which both stages read):
#  STAGE1_DATA    general instruction records, LLaVA JSON (default: data/general/train.json;
#                 PRESET=tiny: generated from the demo media)
#  STAGE1_MEDIA   root of STAGE1_DATA's media paths       (default: data/general/media)
#  STAGE2_DATA    EmoBench records                        (default: $DATA_PATH or data/emobench/train.json)
#  STAGE2_MEDIA   root of STAGE2_DATA's media paths       (default: $MEDIA_FOLDER or data/emobench/media)
#  STAGE1_EPOCHS  epochs of stage 1                       (default: 1)
#  RUN_DIR        stage outputs: stage1-llava-lora/, stage1-merged/, stage2-llava-lora/ or
#                 mix-llava-lora/ + mixed_train.json      (default: checkpoints/emollm-sequential-7b;
#                 PRESET=tiny: $WORK_DIR/sequential)
#  MIX            0 = sequential, 1 = one run on both files mixed (default: 0)
#  MERGE_DEVICE   device for merging stage 1 (cpu needs RAM for the fp16 model) (default: cpu)
# A stage whose output is complete is not run again: delete RUN_DIR (or one stage folder) to redo it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
die() { echo "finetune_sequential.sh: $*" >&2; exit 2; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }
FINETUNE=(bash "$REPO/scripts/finetune_emo_lora.sh")

PRESET="${PRESET:-}"
PYTHON="${PYTHON:-python}"
MIX="${MIX:-0}"
MERGE_DEVICE="${MERGE_DEVICE:-cpu}"
STAGE1_EPOCHS="${STAGE1_EPOCHS:-1}"
case "$MIX" in 0|1) ;; *) die "MIX=$MIX: use 0 (sequential) or 1 (mixed)" ;; esac

if [ "$PRESET" = tiny ]; then
  export CUDA_VISIBLE_DEVICES="" DS_ACCELERATOR=cpu  # the CPU also for the merge, as in finetune_emo_lora.sh
  export WORK_DIR="$(abspath "${WORK_DIR:-work/preset_tiny}")"
  RUN_DIR="$(abspath "${RUN_DIR:-$WORK_DIR/sequential}")"
  : "${STAGE1_DATA:=$RUN_DIR/general/train.json}" "${STAGE1_MEDIA:=$WORK_DIR/data/media}"
  : "${STAGE2_DATA:=$WORK_DIR/data/train.json}" "${STAGE2_MEDIA:=$WORK_DIR/data/media}"
else
  RUN_DIR="$(abspath "${RUN_DIR:-checkpoints/emollm-sequential-7b}")"
  : "${STAGE1_DATA:=data/general/train.json}" "${STAGE1_MEDIA:=data/general/media}"
  : "${STAGE2_DATA:=${DATA_PATH:-data/emobench/train.json}}" "${STAGE2_MEDIA:=${MEDIA_FOLDER:-data/emobench/media}}"
fi
unset DATA_PATH MEDIA_FOLDER OUTPUT_DIR
mkdir -p "$RUN_DIR"

if [ "$PRESET" = tiny ] && [ ! -f "$STAGE2_DATA" ]; then
  "$PYTHON" -c 'import sys; from emollm_plugin.demo_data import make_demo_data
make_demo_data(sys.argv[1], per_label=3, kinds=tuple(sys.argv[2:]))' "$(dirname "$STAGE2_DATA")" ${TINY_KINDS:-video+audio}
fi
if [ "$PRESET" = tiny ] && [ ! -f "$STAGE1_DATA" ]; then
  # tiny stage-1 data: plain description requests about the demo media (no emotion words), so that
  # stage 1 is an instruction task other than EmoBench's
  mkdir -p "$(dirname "$STAGE1_DATA")"
  "$PYTHON" - "$STAGE2_DATA" "$STAGE1_DATA" <<'EOF'
import json, sys
records = json.load(open(sys.argv[1]))
general = []
for rec in records:
    media = {k: rec[k] for k in ("image", "video", "audio") if k in rec}
    prefix = "".join(f"<{k}>\n" for k in ("video", "image", "audio") if k in media)
    kind = "clip" if "video" in media else "picture"
    general.append({"id": "general/" + rec["id"], **media, "conversations": [
        {"from": "human", "value": prefix + f"Describe this {kind} in a few words."},
        {"from": "gpt", "value": f"A short {kind} filled with one flat colour."}]})
json.dump(general, open(sys.argv[2], "w"), indent=1)
print(f"[sequential] wrote {len(general)} tiny general-instruction records to {sys.argv[2]}")
EOF
fi

if [ -z "${DRY_RUN:-}" ]; then
  for f in STAGE1_DATA STAGE2_DATA; do [ -f "${!f}" ] || die "$f=${!f} does not exist"; done
  for d in STAGE1_MEDIA STAGE2_MEDIA; do [ -d "${!d}" ] || die "$d=${!d} is not a folder"; done
fi

if [ "$MIX" = 1 ]; then
  MIXED="$RUN_DIR/mixed_train.json"
  # one file, one media root: MIXED_MEDIA/stage1 and /stage2 link to the two roots (the dataset
  # links media/paths.py accepts) and every media path gets its stage's prefix
  MIXED_MEDIA="$RUN_DIR/mixed_media"
  mkdir -p "$MIXED_MEDIA"
  ln -sfn "$(abspath "$STAGE1_MEDIA")" "$MIXED_MEDIA/stage1"
  ln -sfn "$(abspath "$STAGE2_MEDIA")" "$MIXED_MEDIA/stage2"
  "$PYTHON" - "$MIXED" "$STAGE1_DATA" "$STAGE2_DATA" <<'EOF'
import json, sys
out, files = sys.argv[1], sys.argv[2:]
mixed = []
for stage, data in enumerate(files, start=1):
    records = json.load(open(data))
    for rec in records:
        for key in ("image", "video", "audio"):
            if key in rec:
                rec[key] = f"stage{stage}/{rec[key]}"
    mixed += records
    print(f"[sequential] {len(records)} records from {data}")
json.dump(mixed, open(out, "w"), indent=1)
print(f"[sequential] mixed {len(mixed)} records into {out}")
EOF
  DATA_PATH="$MIXED" MEDIA_FOLDER="$MIXED_MEDIA" OUTPUT_DIR="$RUN_DIR/mix-llava-lora" "${FINETUNE[@]}" "$@"
  exit 0
fi

STAGE1_DIR="$RUN_DIR/stage1-llava-lora"
MERGED_DIR="$RUN_DIR/stage1-merged"
STAGE2_DIR="$RUN_DIR/stage2-llava-lora"

if [ -f "$STAGE1_DIR/non_lora_trainables.bin" ]; then
  echo "[sequential] stage 1 done before: $STAGE1_DIR"
else
  echo "[sequential] stage 1: $STAGE1_DATA"
  DATA_PATH="$STAGE1_DATA" MEDIA_FOLDER="$STAGE1_MEDIA" OUTPUT_DIR="$STAGE1_DIR" EPOCHS="$STAGE1_EPOCHS" \
    "${FINETUNE[@]}" "$@"
fi

if [ -n "${DRY_RUN:-}" ]; then
  echo "[sequential] merge: $STAGE1_DIR into the base -> $MERGED_DIR"
elif [ -f "$MERGED_DIR/emollm_merged.json" ]; then
  echo "[sequential] stage 1 merged before: $MERGED_DIR"
else
  # the base stage 1 trained on, exactly as finetune_emo_lora.sh resolved it
  BASE="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_model_name_or_path"])' "$STAGE1_DIR/adapter_config.json")"
  echo "[sequential] merging stage 1 ($STAGE1_DIR) into $BASE -> $MERGED_DIR"
  "$PYTHON" - "$STAGE1_DIR" "$BASE" "$MERGED_DIR" "$MERGE_DEVICE" <<'EOF'
import json, os, sys
import emollm_plugin
emollm_plugin.register()
from llava.model.builder import load_pretrained_model

ckpt, base, out, device = sys.argv[1:5]
tokenizer, model, _, _ = load_pretrained_model(ckpt, base, os.path.basename(ckpt), device=device)
# the frozen towers are rebuilt from their own paths (config mm_vision_tower / mm_audio_tower)
state = {k: v for k, v in model.state_dict().items() if "vision_tower." not in k and "audio_tower." not in k}
model.save_pretrained(out, state_dict=state, safe_serialization=True)
tokenizer.save_pretrained(out)
json.dump({"stage1": os.path.abspath(ckpt), "base": base, "tensors": len(state)},
          open(os.path.join(out, "emollm_merged.json"), "w"), indent=1)
print(f"[sequential] merged model with {len(state)} tensors saved to {out}")
EOF
fi

echo "[sequential] stage 2: $STAGE2_DATA from $MERGED_DIR"
MODEL_BASE="$MERGED_DIR" DATA_PATH="$STAGE2_DATA" MEDIA_FOLDER="$STAGE2_MEDIA" OUTPUT_DIR="$STAGE2_DIR" \
  PRETRAIN_MM_ADAPTER= "${FINETUNE[@]}" "$@"
echo "[sequential] done: load $STAGE2_DIR with base $MERGED_DIR"
