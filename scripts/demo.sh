#!/usr/bin/env bash
# The whole EmoLLM pipeline at toy scale, offline, on a CPU, in a few minutes:
# tiny random-initialised models -> tiny EmoBench-format data (images, video clips, clips with
# audio) -> LoRA training through LLaVA's own train() with the MVP projector and the Whisper
# audio tower -> reload through LLaVA's own load_pretrained_model -> answers -> per-task table.
#
# Environment (all optional):
#   DEMO_DIR     where everything is written            (default: <repo>/work/demo)
#   DEMO_STEPS   training steps                         (default: 120)
#   EMOLLM_STACK version row: pinned | current           (default: pinned; README, Tested versions)
#   EMOLLM_VENV  venv used when none is active          (default: <repo>/.venv, or .venv-current)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/install.sh"
if [ "${EMOLLM_STACK:-pinned}" = current ]; then DEFAULT_VENV="$REPO/.venv-current"; else DEFAULT_VENV="$REPO/.venv"; fi
if [ -z "${VIRTUAL_ENV:-}" ]; then . "${EMOLLM_VENV:-$DEFAULT_VENV}/bin/activate"; fi
cd "$REPO"

DEMO_DIR="${DEMO_DIR:-$REPO/work/demo}"
STEPS="${DEMO_STEPS:-120}"
CKPT="$DEMO_DIR/checkpoints/emollm-llava-lora-tiny"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "== 1/4 tiny models (random weights, real classes) -> $DEMO_DIR/models"
emollm make-tiny "$DEMO_DIR/models"

echo "== 2/4 tiny dataset -> $DEMO_DIR/data: images (label = colour), 8-frame clips (label = colour),"
echo "       clips with sound (grey frames, label = the tone's pitch); the test split is unseen media"
python -c "from emollm_plugin.testing.demo_data import make_demo_data as m; \
m('$DEMO_DIR/data', per_label=6, kinds=('image', 'video', 'video+audio'), video_frames=8)"

echo "== 3/4 LoRA training through LLaVA's train(): MVP projector + Whisper audio tower + EmoPrompt (the packaged toy exemplars)"
rm -rf "$CKPT"
python -m emollm_plugin.train \
  --model_name_or_path "$DEMO_DIR/models/llm" --version emoprompt_v1 --emoprompt_bank illustrative \
  --data_path "$DEMO_DIR/data/train.json" --image_folder "$DEMO_DIR/data/media" \
  --vision_tower "$DEMO_DIR/models/clip" --mm_vision_select_layer -2 \
  --mm_projector_type mvp --mvp_num_clusters 16 8 4 --mvp_knn 3 3 2 --mvp_frames_per_event 4 \
  --audio_tower "$DEMO_DIR/models/whisper.pt" --mm_audio_num_tokens 8 --num_video_frames 8 \
  --mm_use_im_start_end False --mm_use_im_patch_token False \
  --lora_enable True --lora_r 16 --lora_alpha 32 \
  --output_dir "$CKPT" --max_steps "$STEPS" --per_device_train_batch_size 4 \
  --learning_rate 5e-3 --lr_scheduler_type cosine --warmup_ratio 0.05 --logging_steps 5 \
  --save_strategy no --model_max_length 512 --gradient_checkpointing True \
  --dataloader_num_workers 0 --report_to none --seed 0

echo "== 4/4 reload with LLaVA's load_pretrained_model, answer the test split, score"
# no NUM_VIDEO_FRAMES: the checkpoint records the 8 frames it was trained on
TEST_FILE="$DEMO_DIR/data/test.json" MEDIA_ROOT="$DEMO_DIR/data/media" OUT_DIR="$DEMO_DIR/eval" \
  bash "$REPO/scripts/eval_emobench.sh" "$CKPT" "$DEMO_DIR/models/llm"
python -m emollm_plugin.testing.demo_data "$DEMO_DIR/eval/answers.jsonl" "$DEMO_DIR/data/test.json"
echo "demo finished: checkpoint $CKPT, answers and plots in $DEMO_DIR/eval"
