"""What one request asks: the instructions, the record's question and ground-truth answer, and
its image or ``num_frames`` frames sampled uniformly from its video, as base64 JPEG ``image_url``
parts (audio cannot travel as an image; what is said reaches the model through the question
where the dataset provides it). Media paths never appear in the text.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

from ...tasks.schema import answer_text, question_without_placeholders
from ..template import TASK_PHRASES, TEMPLATE_BREAKERS

PROMPT_VERSION = "emoprompt-gen-v1"
GENERATOR_SYSTEM = (
    "You write worked examples that teach a multimodal assistant to recognise emotions, "
    "intentions, humor, sarcasm and hate. You are shown one sample and its ground-truth answer. "
    "Write a reasoning chain that goes from objective to subjective: first what can be observed "
    "(faces and expressions, gaze, posture and gestures, the scene and objects, any visible text, "
    "what is said), then what these cues suggest, then the conclusion, which must agree with the "
    "ground-truth answer. Do not mention that the answer was given to you, do not quote file "
    "names, and do not write any of: " + ", ".join(TEMPLATE_BREAKERS) + ". Reply with one JSON "
    'object and nothing else: {"reasoning": "<3 to 6 sentences>", "answer": "<the ground-truth '
    'answer>"}.')
def _jpeg_data_url(image, max_side: int) -> str:
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _load_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    from ...media.errors import CORRUPT, MISSING, MediaError
    if not path.is_file():
        raise MediaError(path, MISSING)
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError) as err:
        raise MediaError(path, CORRUPT, str(err)) from None


def build_messages(record: dict, media_root: str | Path, num_frames: int = 4,
                   max_image_side: int = 512) -> list[dict]:
    """System + user message (text, then the image or the video's frames as image_url parts)."""
    from ...media.video import sample_frames

    root = Path(media_root)
    if "video" in record:
        images = sample_frames(root / record["video"], num_frames)
        attached = f"{len(images)} frames sampled uniformly from the video clip, in time order"
    else:
        images = [_load_image(root / record["image"])]
        attached = "the image"
    audio = (" The clip's audio track is not attached; what is said is in the question when the "
             "dataset provides it.") if "audio" in record else ""
    text = (f"Task: {TASK_PHRASES[record['task']]}.\n"
            f"Question asked about this sample: {question_without_placeholders(record)}\n"
            f"Ground-truth answer: {answer_text(record['task'], record['label'])}\n"
            f"Attached: {attached}.{audio}\n"
            "Explain, as a worked example, how the ground-truth answer follows from the sample. "
            "Reply with the JSON object only.")
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": _jpeg_data_url(im, max_image_side)}}
              for im in images]
    return [{"role": "system", "content": GENERATOR_SYSTEM}, {"role": "user", "content": parts}]
