#!/usr/bin/env bash
# Trains EmoLLM through LLaVA's own train(): LoRA on the LLM, the MVP visual projector and the
# Whisper audio projector trained in full, EmoPrompt exemplars in every EmoBench prompt.
#
# From the paper (arXiv 2406.16442): EmoPrompt (§4.4, --version emoprompt_v1 with a bank), the
# MVP projector, the Whisper-base audio encoder, LoRA, and the sequential strategy of its headline
# row (Table 2's EmoLLM row, Overall 60.36, is Table 4's sequential row: objective data first, then
# EmoBench), and §5.1's 5 epochs, batch size 16, AdamW lr 2e-5, cosine schedule with 3% warm-up,
# 224 x 224 images. This project's choices (the paper states none): the batch of 16 read as global,
# LoRA r = 128 / alpha 256 (LLaVA v1.5's), weight decay 0, DeepSpeed ZeRO-2, bf16 + TF32, the
# micro-batch / accumulation split, LLaVA v1.5's 665k instruction mix as the objective data. docs/differences.md lists every departure; docs/training.md explains each setting.
#
#   EMOPROMPT_BANK=work/bank.jsonl bash scripts/finetune_emo_lora.sh [more training flags...]
#   PRESET=tiny bash scripts/finetune_emo_lora.sh                  # offline tiny run, 2 CPU processes (GPUs hidden)
#   HOSTFILE=hostfile bash scripts/finetune_emo_lora.sh            # several nodes (deepspeed + pdsh)
#   DRY_RUN=1 bash scripts/finetune_emo_lora.sh                    # print the launch commands only
#   SEEDS="1 2 3" bash scripts/finetune_emo_lora.sh                # one run per seed: ${OUTPUT_DIR}-seed1 ...
#
# Strategy (the rows of the paper's Table 4):
#  sequential  stage 1 on the objective data (STAGE1_DATA, EmoPrompt off) -> ${OUTPUT_DIR}-stage1, its
#              LoRA merged into the base (${OUTPUT_DIR}-stage1-merged), stage 2 on EmoBench from it
#              -> OUTPUT_DIR; with SEEDS, stage 1 is trained once (first seed) and shared
#  emo         one run on EmoBench only -> OUTPUT_DIR
#  mix         one run on both files shuffled together (${OUTPUT_DIR}-mixed_train.json, media root
#              ${OUTPUT_DIR}-mixed_media linking both roots' top-level folders) -> OUTPUT_DIR
# A sequential stage whose output is complete is not run again: delete its folder to redo it.
#
# Environment (relative paths are taken from the repository root; docs/training.md has the details):
#  STRATEGY            sequential | emo | mix                     (default: sequential; PRESET=tiny: emo)
#  EMOPROMPT           on | off: off trains plain --version v1, without exemplars (default: on)
#  EMOPROMPT_BANK      exemplar bank from `emollm emoprompt generate`, or "illustrative" for the 18
#                      hand-written toy exemplars; required with EMOPROMPT=on (default: none;
#                      PRESET=tiny: illustrative)
#  SEEDS               several seeds, one run each, checkpoints ${OUTPUT_DIR}-seed${SEED}; sequential
#                      shares one stage 1 (${OUTPUT_DIR}-stage1, its first seed) (default: "")
#  PRESET              "" = the full-size run, "tiny" = offline tiny models + demo data  (default: "")
#  WORK_DIR            PRESET=tiny: where tiny models, data and checkpoints go   (default: work/preset_tiny)
#  MODELS_DIR          folder holding the downloaded base models                 (default: models)
#  MODEL_BASE          base LLM, a folder or a Hub id        (default: $MODELS_DIR/vicuna-7b-v1.5)
#  VISION_TOWER        CLIP ViT-L/14 224 px, folder or Hub id (default: $MODELS_DIR/clip-vit-large-patch14)
#  AUDIO_TOWER         openai-whisper checkpoint file; "" trains without audio
#                                                             (default: $MODELS_DIR/whisper-base.pt)
#  DATA_PATH           EmoBench training records (JSON)      (default: data/emobench/train.json)
#  MEDIA_FOLDER        root of the records' image/video/audio paths (default: data/emobench/media)
#  STAGE1_DATA         objective instruction records for sequential / mix: LLaVA v1.5's mix
#                      (default: data/llava_v1_5/llava_v1_5_mix665k.json; PRESET=tiny: generated)
#  STAGE1_MEDIA        root of STAGE1_DATA's image paths (coco/, gqa/, ocr_vqa/, textvqa/, vg/)
#                                                             (default: data/llava_v1_5)
#  STAGE1_EPOCHS       epochs of stage 1                      (default: 1)
#  MERGE_DEVICE        device for merging stage 1 (cpu needs RAM for the fp16 model) (default: cpu)
#  OUTPUT_DIR          checkpoint folder; its name must contain "llava" and "lora"
#                                                             (default: checkpoints/emollm-llava-lora-7b)
#  PRETRAIN_MM_ADAPTER LLaVA mm_projector.bin to start MVP's content projection from; needs
#                      MVP_CONTENT_PROJ=mlp2x_gelu                               (default: "")
#  DS_CONFIG           DeepSpeed config                      (default: zero_configs/zero2.json)
#  NUM_GPUS            processes on this node                (default: GPUs found; PRESET=tiny: 2)
#  HOSTFILE            DeepSpeed hostfile ("host slots=N" lines) for several nodes  (default: "")
#  MASTER_ADDR         first node's address with HOSTFILE    (default: chosen by deepspeed)
#  MASTER_PORT         rendezvous port                       (default: 29500)
#  LAUNCHER            deepspeed | torchrun (one node only)   (default: deepspeed)
#  GLOBAL_BATCH        samples per optimizer step, all GPUs   (default: 16; PRESET=tiny: 4)
#  MAX_MICRO_BATCH     largest per-GPU batch tried            (default: 4; see `emollm memory`)
#  MICRO_BATCH         per-GPU batch; GLOBAL_BATCH / (GPUs * MICRO_BATCH) = accumulation steps
#                                                 (default: largest divisor of the per-GPU share <= MAX_MICRO_BATCH)
#  EPOCHS              training epochs                        (default: 5)
#  MAX_STEPS           stop after this many optimizer steps, -1 = use EPOCHS (default: -1; PRESET=tiny: 4)
#  LR                  AdamW learning rate (LoRA and projectors) (default: 2e-5; PRESET=tiny: 2e-3)
#  WARMUP_RATIO        linear warm-up share of the steps      (default: 0.03)
#  LR_SCHEDULER        learning-rate schedule                 (default: cosine)
#  WEIGHT_DECAY        AdamW weight decay                     (default: 0.0)
#  PRECISION           bf16 | fp16 | fp32                     (default: bf16; PRESET=tiny: fp32)
#  TF32                pass --tf32 True (Ampere or newer GPUs) (default: True with bf16, else "")
#  GRAD_CKPT           gradient checkpointing                 (default: True)
#  LORA_R / LORA_ALPHA / LORA_DROPOUT  LoRA rank, scale, dropout (default: 128 / 256 / 0.05; tiny: 8 / 16)
#  MAX_LEN             --model_max_length in tokens           (default: 2048; PRESET=tiny: 512)
#  NUM_VIDEO_FRAMES    frames sampled per clip                (default: 32 = 2 events; PRESET=tiny: 8)
#  AUDIO_TOKENS        audio tokens per clip                  (default: 32; PRESET=tiny: 8)
#  MVP_CLUSTERS        MVP merge steps                        (default: "64 32 16"; PRESET=tiny: "16 8 4")
#  MVP_KNN             DPC-KNN neighbours per step            (default: "5 3 3"; PRESET=tiny: "3 3 2")
#  MVP_FRAMES_PER_EVENT frames per video event               (default: 16; PRESET=tiny: 4)
#  MVP_CONTENT_PROJ    linear | mlp2x_gelu                    (default: linear)
#  SAVE_STEPS / SAVE_TOTAL_LIMIT  checkpoint-N every SAVE_STEPS steps, keep the last N; a new run
#                      with the same OUTPUT_DIR resumes from the last one (default: 1000 / 2)
#  DATA_WORKERS        dataloader workers per process         (default: 4; PRESET=tiny: 0)
#  REPORT_TO           none | wandb | tensorboard             (default: none)
#  SEED                seed                                   (default: 42; PRESET=tiny: 0)
#  TINY_KINDS          PRESET=tiny demo media kinds: image video video+audio (default: all three)
#  PYTHON              interpreter with the plugin installed  (default: python)
#  TORCH_EXTENSIONS_DIR  DeepSpeed's JIT-built ops (CPU runs build one, ~35 s once)
#                                                 (default: work/torch_extensions)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

die() { echo "finetune_emo_lora.sh: $*" >&2; exit 2; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }

PRESET="${PRESET:-}"
PYTHON="${PYTHON:-python}"
# remember which model paths the user chose: a chosen path that is not a folder may be a Hub id
USER_MODEL_BASE="${MODEL_BASE:-}"; USER_VISION_TOWER="${VISION_TOWER:-}"

case "$PRESET" in
  "") ;;
  tiny)
    WORK_DIR="$(abspath "${WORK_DIR:-work/preset_tiny}")"
    : "${MODEL_BASE:=$WORK_DIR/models/llm}" "${VISION_TOWER:=$WORK_DIR/models/clip}"
    : "${AUDIO_TOWER=$WORK_DIR/models/whisper.pt}"
    : "${DATA_PATH:=$WORK_DIR/data/train.json}" "${MEDIA_FOLDER:=$WORK_DIR/data/media}"
    : "${OUTPUT_DIR:=$WORK_DIR/checkpoints/emollm-llava-lora-tiny}"
    : "${NUM_GPUS:=2}" "${GLOBAL_BATCH:=4}" "${MAX_STEPS:=4}" "${LR:=2e-3}" "${PRECISION:=fp32}"
    : "${LORA_R:=8}" "${LORA_ALPHA:=16}" "${MAX_LEN:=512}" "${NUM_VIDEO_FRAMES:=8}" "${AUDIO_TOKENS:=8}"
    : "${MVP_CLUSTERS:=16 8 4}" "${MVP_KNN:=3 3 2}" "${MVP_FRAMES_PER_EVENT:=4}"
    : "${DATA_WORKERS:=0}" "${SEED:=0}" "${SAVE_STEPS:=2}" "${TINY_KINDS:=image video video+audio}"
    : "${STRATEGY:=emo}" "${EMOPROMPT_BANK:=illustrative}"
    : "${STAGE1_DATA:=$WORK_DIR/data/general_train.json}" "${STAGE1_MEDIA:=$WORK_DIR/data/media}"
    # always the CPU, also on a GPU machine: DeepSpeed's CPU accelerator with gloo
    export CUDA_VISIBLE_DEVICES="" DS_ACCELERATOR=cpu
    ;;
  *) die "unknown PRESET=$PRESET: use PRESET=tiny or leave it unset for the full-size run" ;;
esac

MODELS_DIR="${MODELS_DIR:-models}"
: "${MODEL_BASE:=$MODELS_DIR/vicuna-7b-v1.5}" "${VISION_TOWER:=$MODELS_DIR/clip-vit-large-patch14}"
: "${AUDIO_TOWER=$MODELS_DIR/whisper-base.pt}"
: "${DATA_PATH:=data/emobench/train.json}" "${MEDIA_FOLDER:=data/emobench/media}"
: "${OUTPUT_DIR:=checkpoints/emollm-llava-lora-7b}" "${PRETRAIN_MM_ADAPTER:=}"
: "${DS_CONFIG:=zero_configs/zero2.json}" "${HOSTFILE:=}" "${MASTER_ADDR:=}" "${MASTER_PORT:=29500}"
: "${LAUNCHER:=deepspeed}" "${GLOBAL_BATCH:=16}" "${MAX_MICRO_BATCH:=4}" "${MICRO_BATCH:=}"
: "${EPOCHS:=5}" "${MAX_STEPS:=-1}" "${LR:=2e-5}" "${WARMUP_RATIO:=0.03}" "${LR_SCHEDULER:=cosine}"
: "${WEIGHT_DECAY:=0.0}" "${PRECISION:=bf16}" "${GRAD_CKPT:=True}"
: "${LORA_R:=128}" "${LORA_ALPHA:=256}" "${LORA_DROPOUT:=0.05}" "${MAX_LEN:=2048}"
: "${NUM_VIDEO_FRAMES:=32}" "${AUDIO_TOKENS:=32}" "${MVP_CLUSTERS:=64 32 16}" "${MVP_KNN:=5 3 3}"
: "${MVP_FRAMES_PER_EVENT:=16}" "${MVP_CONTENT_PROJ:=linear}"
: "${SAVE_STEPS:=1000}" "${SAVE_TOTAL_LIMIT:=2}" "${DATA_WORKERS:=4}" "${REPORT_TO:=none}" "${SEED:=42}"
if [ "$PRECISION" = bf16 ]; then : "${TF32=True}"; else : "${TF32=}"; fi
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$REPO/work/torch_extensions}"

# ---- EmoPrompt: on by default, and then with a bank chosen on purpose ----------------------------
: "${STRATEGY:=sequential}" "${EMOPROMPT:=on}" "${EMOPROMPT_BANK:=}" "${SEEDS:=}"
: "${STAGE1_DATA:=data/llava_v1_5/llava_v1_5_mix665k.json}" "${STAGE1_MEDIA:=data/llava_v1_5}"
: "${STAGE1_EPOCHS:=1}" "${MERGE_DEVICE:=cpu}" "${STAGE1_OUTPUT:=${OUTPUT_DIR}-stage1}"
case "$EMOPROMPT" in
  on)
    [ -n "$EMOPROMPT_BANK" ] || die "EmoPrompt is on (--version emoprompt_v1) but EMOPROMPT_BANK is not set.
  Make a bank from the EmoBench training records once:
    emollm emoprompt generate --bench $DATA_PATH --out work/emoprompt_bank.jsonl --per-task 100 --base-url URL --model MODEL
  then run EMOPROMPT_BANK=work/emoprompt_bank.jsonl bash scripts/finetune_emo_lora.sh (docs/emoprompt.md).
  EMOPROMPT_BANK=illustrative takes the 18 hand-written exemplars packaged with the plugin (a toy, not training data).
  EMOPROMPT=off trains without EmoPrompt on purpose (plain --version v1, not the paper's EmoLLM)."
    CONV_VERSION=emoprompt_v1 ;;
  off) CONV_VERSION=v1 ;;
  *) die "EMOPROMPT=$EMOPROMPT: use on (the paper's EmoPrompt, needs EMOPROMPT_BANK) or off" ;;
esac
case "$STRATEGY" in
  sequential|emo|mix) ;;
  *) die "STRATEGY=$STRATEGY: use sequential (objective data, then EmoBench: the paper's headline row), emo (EmoBench only) or mix" ;;
esac
for seed in $SEEDS; do
  [[ "$seed" =~ ^[0-9]+$ ]] || die "SEEDS=\"$SEEDS\": each seed must be a non-negative integer"
done
SELF=(bash "$REPO/scripts/finetune_emo_lora.sh")

# ---- several seeds: one complete run per seed, ${OUTPUT_DIR}-seed${SEED} -------------------------
if [ -n "$SEEDS" ]; then
  for seed in $SEEDS; do
    echo "[finetune] seed $seed -> ${OUTPUT_DIR}-seed$seed"
    # sequential: one stage 1 for all seeds (the first seed trains it), so every seed's stage 2
    # starts from the same merged base and evaluates against it
    SEEDS= SEED="$seed" OUTPUT_DIR="${OUTPUT_DIR}-seed$seed" STRATEGY="$STRATEGY" EMOPROMPT="$EMOPROMPT" \
      EMOPROMPT_BANK="$EMOPROMPT_BANK" STAGE1_OUTPUT="$STAGE1_OUTPUT" "${SELF[@]}" "$@"
  done
  exit 0
fi

# ---- sequential and mix: each stage is a STRATEGY=emo run of this script -------------------------
if [ "$STRATEGY" != emo ]; then
  if [ "$PRESET" = tiny ] && [ -z "${DRY_RUN:-}" ]; then
    if [ ! -f "$DATA_PATH" ]; then
      "$PYTHON" -c 'import sys; from emollm_plugin.testing.demo_data import make_demo_data
make_demo_data(sys.argv[1], per_label=3, kinds=tuple(sys.argv[2:]))' "$(dirname "$DATA_PATH")" $TINY_KINDS
    fi
    if [ ! -f "$STAGE1_DATA" ]; then
      # tiny objective data: plain description requests about the demo media (no emotion words)
      "$PYTHON" - "$DATA_PATH" "$STAGE1_DATA" <<'EOF'
import json, sys
general = []
for rec in json.load(open(sys.argv[1])):
    media = {k: rec[k] for k in ("image", "video", "audio") if k in rec}
    prefix = "".join(f"<{k}>\n" for k in ("video", "image", "audio") if k in media)
    kind = "clip" if "video" in media else "picture"
    general.append({"id": "general/" + rec["id"], **media, "conversations": [
        {"from": "human", "value": prefix + f"Describe this {kind} in a few words."},
        {"from": "gpt", "value": f"A short {kind} filled with one flat colour."}]})
json.dump(general, open(sys.argv[2], "w"), indent=1)
print(f"[finetune] wrote {len(general)} tiny objective-instruction records to {sys.argv[2]}")
EOF
    fi
  fi
  if [ -z "${DRY_RUN:-}" ]; then
    [ -f "$STAGE1_DATA" ] || die "STRATEGY=$STRATEGY needs the objective (stage-1) instruction data, and STAGE1_DATA=$STAGE1_DATA does not exist.
  Download LLaVA v1.5's instruction mix (llava_v1_5_mix665k.json and its image folders) as docs/training.md shows, or set STAGE1_DATA and STAGE1_MEDIA,
  or train on EmoBench only with STRATEGY=emo (the paper's Table 4 \"emo\" row, not its headline row)."
    [ -d "$STAGE1_MEDIA" ] || die "STAGE1_MEDIA=$STAGE1_MEDIA is not a folder: set it to the root of STAGE1_DATA's image paths (docs/training.md), or use STRATEGY=emo"
    [ -f "$DATA_PATH" ] || die "DATA_PATH=$DATA_PATH does not exist: build EmoBench with 'emollm bench build ...' (docs/training.md) or set DATA_PATH"
  fi
  STAGE=(env SEEDS= STRATEGY=emo "EMOPROMPT_BANK=$EMOPROMPT_BANK")
fi

if [ "$STRATEGY" = mix ]; then
  MIXED="${OUTPUT_DIR}-mixed_train.json"
  MIXED_ROOT="${OUTPUT_DIR}-mixed_media"
  echo "[finetune] strategy mix: $STAGE1_DATA and $DATA_PATH shuffled together -> $OUTPUT_DIR"
  if [ -z "${DRY_RUN:-}" ]; then
    # one run reads one media root: MIXED_ROOT links every top-level folder of both roots (the way
    # `emollm bench build` links media/<dataset>), so every record keeps its own relative path
    "$PYTHON" - "$MIXED" "$MIXED_ROOT" "$STAGE1_DATA" "$STAGE1_MEDIA" "$DATA_PATH" "$MEDIA_FOLDER" <<'EOF'
import json, os, sys
out, root, pairs = sys.argv[1], sys.argv[2], list(zip(sys.argv[3::2], sys.argv[4::2]))
os.makedirs(root, exist_ok=True)
owner = {}
for _, media in pairs:
    for name in sorted(os.listdir(media)):
        source, link = os.path.realpath(os.path.join(media, name)), os.path.join(root, name)
        if name in owner and owner[name] != source:
            sys.exit(f"finetune_emo_lora.sh: STRATEGY=mix: {owner[name]} and {source} are both top-level "
                     f"'{name}' of a media root; one run reads one media root, so rename one of them")
        owner[name] = source
        if os.path.lexists(link):
            if os.path.realpath(link) == source:
                continue
            os.remove(link)
        if os.path.isdir(source):
            os.symlink(source, link)
        else:
            os.link(source, link)  # a top-level file: a hard link stays inside the root
mixed = []
for data, _ in pairs:
    records = json.load(open(data))
    mixed += records
    print(f"[finetune] {len(records)} records from {data}")
json.dump(mixed, open(out, "w"), indent=1)
print(f"[finetune] mixed {len(mixed)} records into {out}, media root {root}")
EOF
  fi
  "${STAGE[@]}" DATA_PATH="$MIXED" MEDIA_FOLDER="$MIXED_ROOT" OUTPUT_DIR="$OUTPUT_DIR" "${SELF[@]}" "$@"
  exit 0
fi

if [ "$STRATEGY" = sequential ]; then
  STAGE1_DIR="$STAGE1_OUTPUT"
  MERGED_DIR="${STAGE1_OUTPUT}-merged"
  echo "[finetune] strategy sequential: stage 1 on $STAGE1_DATA (EmoPrompt off) -> $STAGE1_DIR;" \
       "merged into its base -> $MERGED_DIR; stage 2 on $DATA_PATH -> $OUTPUT_DIR"
  if [ -f "$STAGE1_DIR/non_lora_trainables.bin" ]; then
    echo "[finetune] stage 1 done before: $STAGE1_DIR"
  else
    "${STAGE[@]}" DATA_PATH="$STAGE1_DATA" MEDIA_FOLDER="$STAGE1_MEDIA" OUTPUT_DIR="$STAGE1_DIR" \
      EPOCHS="$STAGE1_EPOCHS" EMOPROMPT=off "${SELF[@]}" "$@"
  fi
  if [ -n "${DRY_RUN:-}" ]; then
    echo "[finetune] merge: $STAGE1_DIR into its base -> $MERGED_DIR"
  elif [ -f "$MERGED_DIR/emollm_merged.json" ]; then
    echo "[finetune] stage 1 merged before: $MERGED_DIR"
  else
    "$PYTHON" -m emollm_plugin.commands.merge "$STAGE1_DIR" "$MERGED_DIR" --device "$MERGE_DEVICE"
  fi
  "${STAGE[@]}" MODEL_BASE="$MERGED_DIR" DATA_PATH="$DATA_PATH" MEDIA_FOLDER="$MEDIA_FOLDER" \
    OUTPUT_DIR="$OUTPUT_DIR" PRETRAIN_MM_ADAPTER= "${SELF[@]}" "$@"
  echo "[finetune] sequential done: evaluate $OUTPUT_DIR with base $MERGED_DIR"
  exit 0
fi

# ---- world size: processes on this node, or the slots of every host in HOSTFILE -----------------
count_gpus() {
  if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c .
  elif command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true
  else
    "$PYTHON" -c "import torch; print(torch.cuda.device_count())"
  fi
}
if [ -n "$HOSTFILE" ]; then
  [ -f "$HOSTFILE" ] || die "HOSTFILE=$HOSTFILE does not exist (one 'hostname slots=N' line per node)"
  [ "$LAUNCHER" = deepspeed ] || die "HOSTFILE needs LAUNCHER=deepspeed (torchrun here is single-node)"
  WORLD=$(awk '!/^[[:space:]]*(#|$)/ { n = 0; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, s, "="); n = s[2] }
               if (n !~ /^[0-9]+$/ || n < 1) { printf "bad line %d: %s\n", NR, $0 > "/dev/stderr"; exit 1 } total += n }
               END { print total + 0 }' "$HOSTFILE") || die "HOSTFILE=$HOSTFILE: each line must be 'hostname slots=N'"
  [ "$WORLD" -gt 0 ] || die "HOSTFILE=$HOSTFILE lists no hosts"
else
  : "${NUM_GPUS:=$(count_gpus)}"
  [ "$NUM_GPUS" -gt 0 ] 2>/dev/null || die "no GPU found (NUM_GPUS=$NUM_GPUS): set NUM_GPUS=N, or PRESET=tiny for a CPU run"
  WORLD=$NUM_GPUS
fi

# ---- batch: GLOBAL_BATCH = WORLD x MICRO_BATCH x ACCUM ------------------------------------------
[ $((GLOBAL_BATCH % WORLD)) -eq 0 ] || die "GLOBAL_BATCH=$GLOBAL_BATCH is not divisible by the $WORLD processes; choose a multiple of $WORLD"
PER_RANK=$((GLOBAL_BATCH / WORLD))
if [ -z "$MICRO_BATCH" ]; then
  MICRO_BATCH=1
  for ((m = MAX_MICRO_BATCH; m >= 1; m--)); do
    if [ $((PER_RANK % m)) -eq 0 ]; then MICRO_BATCH=$m; break; fi
  done
fi
[ $((PER_RANK % MICRO_BATCH)) -eq 0 ] || die "MICRO_BATCH=$MICRO_BATCH does not divide the per-process share $PER_RANK of GLOBAL_BATCH=$GLOBAL_BATCH"
ACCUM=$((PER_RANK / MICRO_BATCH))

case "$PRECISION" in
  bf16) PRECISION_FLAGS=(--bf16 True) ;;
  fp16) PRECISION_FLAGS=(--fp16 True) ;;
  fp32) PRECISION_FLAGS=() ;;
  *) die "PRECISION=$PRECISION: use bf16, fp16 or fp32" ;;
esac
[ -z "$TF32" ] || PRECISION_FLAGS+=(--tf32 "$TF32")

name="$(basename "$OUTPUT_DIR" | tr '[:upper:]' '[:lower:]')"
[[ "$name" == *llava* && "$name" == *lora* ]] || die "OUTPUT_DIR=$OUTPUT_DIR: the folder name must contain 'llava' and 'lora' (LLaVA's load_pretrained_model picks the LoRA loading path by name), e.g. checkpoints/emollm-llava-lora-7b"

# ---- PRESET=tiny: build tiny models and demo data once (offline, seconds) ------------------------
if [ "$PRESET" = tiny ] && [ -z "${DRY_RUN:-}" ]; then
  if [ ! -f "$WORK_DIR/models/tiny.json" ]; then
    "$PYTHON" -m emollm_plugin.commands.cli make-tiny "$WORK_DIR/models"
  fi
  if [ ! -f "$DATA_PATH" ]; then
    "$PYTHON" -c 'import sys; from emollm_plugin.testing.demo_data import make_demo_data
make_demo_data(sys.argv[1], per_label=3, kinds=tuple(sys.argv[2:]))' "$(dirname "$DATA_PATH")" $TINY_KINDS
  fi
fi

# ---- checks: every input exists before any process starts ---------------------------------------
model_path() {  # VAR VALUE USER_VALUE HOW_TO_GET
  if [ -e "$2" ]; then abspath "$2"
  elif [ -n "$3" ] && [[ "$2" != /* && "$2" != .* ]]; then echo "$2"  # the user's Hub id
  else die "$1=$2 does not exist. $4"; fi
}
if [ -z "${DRY_RUN:-}" ]; then
  MODEL_BASE="$(model_path MODEL_BASE "$MODEL_BASE" "$USER_MODEL_BASE" \
    "Download it once (huggingface-cli download lmsys/vicuna-7b-v1.5 --local-dir $MODELS_DIR/vicuna-7b-v1.5) or set MODEL_BASE.")"
  VISION_TOWER="$(model_path VISION_TOWER "$VISION_TOWER" "$USER_VISION_TOWER" \
    "Download it once (huggingface-cli download openai/clip-vit-large-patch14 --local-dir $MODELS_DIR/clip-vit-large-patch14) or set VISION_TOWER.")"
  if [ -n "$AUDIO_TOWER" ]; then
    [ -f "$AUDIO_TOWER" ] || die "AUDIO_TOWER=$AUDIO_TOWER does not exist. Save Whisper-base once (python -c \"import whisper; whisper._download(whisper._MODELS['base'], '$MODELS_DIR', False)\" then mv $MODELS_DIR/base.pt $AUDIO_TOWER), or set AUDIO_TOWER= to train without audio."
    AUDIO_TOWER="$(abspath "$AUDIO_TOWER")"
  fi
  [ -f "$DATA_PATH" ] || die "DATA_PATH=$DATA_PATH does not exist: build EmoBench with 'emollm bench build ...' (docs/training.md) or set DATA_PATH"
  [ -d "$MEDIA_FOLDER" ] || die "MEDIA_FOLDER=$MEDIA_FOLDER is not a folder: set it to the root the records' media paths are relative to"
  [ -f "$DS_CONFIG" ] || die "DS_CONFIG=$DS_CONFIG does not exist (see zero_configs/)"
  [ -z "$PRETRAIN_MM_ADAPTER" ] || [ -f "$PRETRAIN_MM_ADAPTER" ] || die "PRETRAIN_MM_ADAPTER=$PRETRAIN_MM_ADAPTER does not exist"
  if [ "$CONV_VERSION" = emoprompt_v1 ] && [ "$EMOPROMPT_BANK" != illustrative ]; then
    [ -f "$EMOPROMPT_BANK" ] || die "EMOPROMPT_BANK=$EMOPROMPT_BANK does not exist: make it with 'emollm emoprompt generate' (docs/emoprompt.md), or set EMOPROMPT=off"
    EMOPROMPT_BANK="$(abspath "$EMOPROMPT_BANK")"
  fi
fi

# ---- the training command ----------------------------------------------------------------------
read -r -a MVP_CLUSTERS_A <<< "$MVP_CLUSTERS"; read -r -a MVP_KNN_A <<< "$MVP_KNN"
TRAIN_ARGS=(
  --deepspeed "$DS_CONFIG"
  --model_name_or_path "$MODEL_BASE" --version "$CONV_VERSION"
  --data_path "$DATA_PATH" --image_folder "$MEDIA_FOLDER"
  --vision_tower "$VISION_TOWER" --mm_vision_select_layer -2
  --mm_use_im_start_end False --mm_use_im_patch_token False --image_aspect_ratio pad
  --mm_projector_type mvp --mvp_num_clusters "${MVP_CLUSTERS_A[@]}" --mvp_knn "${MVP_KNN_A[@]}"
  --mvp_frames_per_event "$MVP_FRAMES_PER_EVENT" --mvp_content_proj "$MVP_CONTENT_PROJ"
  --num_video_frames "$NUM_VIDEO_FRAMES"
  --lora_enable True --lora_r "$LORA_R" --lora_alpha "$LORA_ALPHA" --lora_dropout "$LORA_DROPOUT"
  --group_by_modality_length True
  "${PRECISION_FLAGS[@]}"
  --output_dir "$OUTPUT_DIR" --num_train_epochs "$EPOCHS" --max_steps "$MAX_STEPS"
  --per_device_train_batch_size "$MICRO_BATCH" --gradient_accumulation_steps "$ACCUM"
  --evaluation_strategy no --save_strategy steps --save_steps "$SAVE_STEPS" --save_total_limit "$SAVE_TOTAL_LIMIT"
  --learning_rate "$LR" --weight_decay "$WEIGHT_DECAY" --warmup_ratio "$WARMUP_RATIO" --lr_scheduler_type "$LR_SCHEDULER"
  --logging_steps 1 --model_max_length "$MAX_LEN" --gradient_checkpointing "$GRAD_CKPT"
  --dataloader_num_workers "$DATA_WORKERS" --lazy_preprocess True --report_to "$REPORT_TO" --seed "$SEED"
)
[ "$CONV_VERSION" != emoprompt_v1 ] || TRAIN_ARGS+=(--emoprompt_bank "$EMOPROMPT_BANK")
[ -z "$AUDIO_TOWER" ] || TRAIN_ARGS+=(--audio_tower "$AUDIO_TOWER" --mm_audio_num_tokens "$AUDIO_TOKENS")
[ -z "$PRETRAIN_MM_ADAPTER" ] || TRAIN_ARGS+=(--pretrain_mm_mlp_adapter "$PRETRAIN_MM_ADAPTER")
TRAIN_ARGS+=("$@")

case "$LAUNCHER" in
  deepspeed)
    LAUNCH=("$PYTHON" -m deepspeed.launcher.runner --master_port "$MASTER_PORT")
    if [ -n "$HOSTFILE" ]; then
      LAUNCH+=(--hostfile "$HOSTFILE")
      [ -z "$MASTER_ADDR" ] || LAUNCH+=(--master_addr "$MASTER_ADDR")
    elif [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
      LAUNCH+=(--include "localhost:$CUDA_VISIBLE_DEVICES")  # --num_gpus would ignore the mask
    else
      LAUNCH+=(--num_gpus "$NUM_GPUS")
    fi
    LAUNCH+=(--module emollm_plugin.train) ;;
  torchrun)
    LAUNCH=("$PYTHON" -m torch.distributed.run --nproc_per_node "$NUM_GPUS" --master_port "$MASTER_PORT" -m emollm_plugin.train) ;;
  *) die "LAUNCHER=$LAUNCHER: use deepspeed or torchrun" ;;
esac

if [ "$CONV_VERSION" = emoprompt_v1 ]; then
  echo "[finetune] EmoPrompt on: --version emoprompt_v1, bank $EMOPROMPT_BANK; data $DATA_PATH"
else
  echo "[finetune] EmoPrompt off: --version v1; data $DATA_PATH"
fi
echo "[finetune] $WORLD processes x micro-batch $MICRO_BATCH x accumulation $ACCUM = global batch $GLOBAL_BATCH; $PRECISION; $DS_CONFIG"
echo "[finetune] output: $OUTPUT_DIR"
if [ -n "${DRY_RUN:-}" ]; then
  printf '%q ' "${LAUNCH[@]}" "${TRAIN_ARGS[@]}"; echo
  exit 0
fi
mkdir -p "$OUTPUT_DIR"
"${LAUNCH[@]}" "${TRAIN_ARGS[@]}"
echo "[finetune] done: LoRA adapter + non_lora_trainables.bin in $OUTPUT_DIR (base: $MODEL_BASE)"
