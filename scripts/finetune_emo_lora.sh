#!/usr/bin/env bash
# EmoLLM fine-tuning through LLaVA's own train(): LoRA on the LLM, the MVP visual projector and the
# Whisper audio projector trained in full, DeepSpeed ZeRO-2. The defaults are the paper's recipe
# (arXiv 2406.16442): Vicuna-7B v1.5, CLIP ViT-L/14 224 px, Whisper-base, MVP, LoRA, 5 epochs,
# global batch 16, AdamW lr 2e-5, cosine schedule, warmup 0.03, bf16, gradient checkpointing.
#
#   bash scripts/finetune_emo_lora.sh [more training flags...]     # flags are passed to the trainer
#   PRESET=tiny bash scripts/finetune_emo_lora.sh                  # offline tiny run, 2 CPU processes (GPUs hidden)
#   HOSTFILE=hostfile bash scripts/finetune_emo_lora.sh            # several nodes (deepspeed + pdsh)
#   DRY_RUN=1 bash scripts/finetune_emo_lora.sh                    # print the launch command only
#
# Environment (relative paths are taken from the repository root; docs/training.md has the details):
#  PRESET              "" = the paper's recipe, "tiny" = offline tiny models + demo data  (default: "")
#  WORK_DIR            PRESET=tiny: where tiny models, data and checkpoints go   (default: work/preset_tiny)
#  MODELS_DIR          folder holding the downloaded base models                 (default: models)
#  MODEL_BASE          base LLM, a folder or a Hub id        (default: $MODELS_DIR/vicuna-7b-v1.5)
#  VISION_TOWER        CLIP ViT-L/14 224 px, folder or Hub id (default: $MODELS_DIR/clip-vit-large-patch14)
#  AUDIO_TOWER         openai-whisper checkpoint file; "" trains without audio
#                                                             (default: $MODELS_DIR/whisper-base.pt)
#  DATA_PATH           EmoBench training records (JSON)      (default: data/emobench/train.json)
#  MEDIA_FOLDER        root of the records' image/video/audio paths (default: data/emobench/media)
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
#  CONV_VERSION        LLaVA conversation template            (default: v1)
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
    # always the CPU, also on a GPU machine: DeepSpeed's CPU accelerator with gloo
    export CUDA_VISIBLE_DEVICES="" DS_ACCELERATOR=cpu
    ;;
  *) die "unknown PRESET=$PRESET: use PRESET=tiny or leave it unset for the paper's recipe" ;;
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
: "${MVP_FRAMES_PER_EVENT:=16}" "${MVP_CONTENT_PROJ:=linear}" "${CONV_VERSION:=v1}"
: "${SAVE_STEPS:=1000}" "${SAVE_TOTAL_LIMIT:=2}" "${DATA_WORKERS:=4}" "${REPORT_TO:=none}" "${SEED:=42}"
if [ "$PRECISION" = bf16 ]; then : "${TF32=True}"; else : "${TF32=}"; fi
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$REPO/work/torch_extensions}"

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
    "$PYTHON" -m emollm_plugin.cli make-tiny "$WORK_DIR/models"
  fi
  if [ ! -f "$DATA_PATH" ]; then
    "$PYTHON" -c 'import sys; from emollm_plugin.demo_data import make_demo_data
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

echo "[finetune] $WORLD processes x micro-batch $MICRO_BATCH x accumulation $ACCUM = global batch $GLOBAL_BATCH; $PRECISION; $DS_CONFIG"
echo "[finetune] output: $OUTPUT_DIR"
if [ -n "${DRY_RUN:-}" ]; then
  printf '%q ' "${LAUNCH[@]}" "${TRAIN_ARGS[@]}"; echo
  exit 0
fi
mkdir -p "$OUTPUT_DIR"
"${LAUNCH[@]}" "${TRAIN_ARGS[@]}"
echo "[finetune] done: LoRA adapter + non_lora_trainables.bin in $OUTPUT_DIR (base: $MODEL_BASE)"
