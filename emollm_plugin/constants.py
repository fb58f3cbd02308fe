"""The plugin's version, and the placeholder strings and token indices it adds next to LLaVA's
<image> (-200)."""
__version__ = "0.1.0"
IMAGE_TOKEN_INDEX = -200  # llava.constants.IMAGE_TOKEN_INDEX, repeated to keep this module import-light
AUDIO_TOKEN_INDEX = -300
DEFAULT_IMAGE_TOKEN = "<image>"
DEFAULT_VIDEO_TOKEN = "<video>"  # in data files; becomes <image> (the clip's MVP tokens) before tokenizing
DEFAULT_AUDIO_TOKEN = "<audio>"
IGNORE_INDEX = -100
# Frames sampled uniformly from each clip. With MVP's 16 frames per event (MVPConfig) this gives
# every clip 2 events, so eq. 7's event clustering runs; docs/mvp.md has the `emollm memory` cost.
NUM_VIDEO_FRAMES = 32
# model-config key: the conversation template training used (evaluation's default --conv-mode)
CONV_MODE_CONFIG_KEY = "emollm_conv_mode"
# model-config key: the frames per clip training sampled (inference's default --num-video-frames)
VIDEO_FRAMES_CONFIG_KEY = "emollm_num_video_frames"
