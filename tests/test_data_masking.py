"""Targets are masked exactly as upstream masks them, and fully-masked samples are reported."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

pytestmark = pytest.mark.current_stack  # also run on the current version row (scripts/test.sh)

CONVERSATION = [{"from": "human", "value": "<image>\nWhat emotion?"}, {"from": "gpt", "value": "joy"},
                {"from": "human", "value": "Why?"}, {"from": "gpt", "value": "The face smiles."}]


@pytest.fixture()
def image_data(tiny_models, tmp_path):
    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "d", per_label=1, kinds=("image",))
    records = json.loads((data / "train.json").read_text())
    records[0]["conversations"] = CONVERSATION
    (data / "train.json").write_text(json.dumps(records))
    return data


def _dataset(tiny_models, data, legacy=True, max_len=512, image_tokens=None, version="v1"):
    from llava import conversation as conversation_lib
    from transformers import CLIPImageProcessor, LlamaTokenizer

    from emollm_plugin.plugin.compat import default_conversation
    from emollm_plugin.model.tokens import MediaTokenCounts
    from emollm_plugin.train.data import EmoSupervisedDataset
    tokenizer = LlamaTokenizer.from_pretrained(str(tiny_models.llm), legacy=legacy, model_max_length=max_len)
    tokenizer.pad_token = tokenizer.unk_token
    args = SimpleNamespace(image_processor=CLIPImageProcessor.from_pretrained(str(tiny_models.clip)),
                           image_folder=str(data / "media"), is_multimodal=True, mm_use_im_start_end=False,
                           image_aspect_ratio="square", num_video_frames=4)
    counts = None if image_tokens is None else MediaTokenCounts(image_tokens, lambda t: t, lambda t: 1)
    with default_conversation(conversation_lib.conv_templates[version]):  # as train() sets it for --version
        return EmoSupervisedDataset(str(data / "train.json"), tokenizer, args, token_counts=counts), tokenizer


def test_exactly_the_assistant_tokens_are_supervised(tiny_models, image_data, capsys, registered):
    dataset, tokenizer = _dataset(tiny_models, image_data)
    item = dataset[0]
    supervised = item["labels"][item["labels"] != -100].tolist()
    assert tokenizer.decode(supervised).split() == ["joy</s>", "The", "face", "smiles.</s>"]
    assert item["image"].shape == (3, 64, 64)
    assert "tokenization mismatch" not in capsys.readouterr().out


def test_a_sample_keeps_the_template_the_dataset_was_made_with(tiny_models, image_data, registered):
    """LLaVA's preprocess reads a module global; changing it later changes no sample."""
    from llava import conversation as conversation_lib

    from emollm_plugin.plugin.compat import default_conversation
    dataset, tokenizer = _dataset(tiny_models, image_data)
    before = dataset[0]["input_ids"].tolist()
    assert "USER:" in tokenizer.decode([t for t in before if t >= 0])
    with default_conversation(conversation_lib.conv_templates["llava_v1"]):
        after = dataset[0]["input_ids"].tolist()
        assert after == before
        other, _ = _dataset(tiny_models, image_data, version="llava_v1")
        assert other[0]["input_ids"].tolist() != before  # the template does decide the sample


def test_tokenizer_mismatch_is_reported_not_trained_on(tiny_models, image_data, registered):
    from emollm_plugin.train.data import UnsupervisedSampleError
    dataset, _ = _dataset(tiny_models, image_data, legacy=False)
    with pytest.raises(UnsupervisedSampleError, match=r"record 0 \(id=demo/image/anger/0\).*tokenization mismatch"):
        dataset[0]


def test_labels_truncated_away_by_media_tokens_are_reported(tiny_models, image_data, registered):
    from emollm_plugin.train.data import UnsupervisedSampleError
    dataset, _ = _dataset(tiny_models, image_data, max_len=80, image_tokens=112)
    with pytest.raises(UnsupervisedSampleError, match=r"--model_max_length is 80"):
        dataset[0]
    fits, _ = _dataset(tiny_models, image_data, max_len=512, image_tokens=112)
    assert (fits[0]["labels"] != -100).any()


def test_truncated_json_names_file_and_position(tiny_models, image_data, registered):
    text = (image_data / "train.json").read_text()
    (image_data / "train.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"train.json: not valid JSON at line \d+ column \d+.*truncated"):
        _dataset(tiny_models, image_data)


def test_media_token_tokenizer_matches_upstream_for_image_prompts(tiny_models):
    from llava.mm_utils import tokenizer_image_token as upstream  # noqa: F401 (may be patched)
    from emollm_plugin.plugin import seams
    from emollm_plugin.constants import AUDIO_TOKEN_INDEX, IMAGE_TOKEN_INDEX
    from emollm_plugin.model.tokens import tokenizer_media_token
    from transformers import LlamaTokenizer
    upstream = seams.original("llava.mm_utils", "tokenizer_image_token")
    tok = LlamaTokenizer.from_pretrained(str(tiny_models.llm), legacy=True)
    for prompt in ["<image>\nWhat emotion?", "A chat. USER: <image>\nHi ASSISTANT:", "no media here", "<image>"]:
        assert tokenizer_media_token(prompt, tok) == upstream(prompt, tok)
    ids = tokenizer_media_token("USER: <image>\n<audio>\nWhat?", tok, return_tensors="pt")
    assert ids.dtype == torch.long
    assert ids.tolist().count(IMAGE_TOKEN_INDEX) == 1 and ids.tolist().count(AUDIO_TOKEN_INDEX) == 1
    assert ids.tolist().index(IMAGE_TOKEN_INDEX) < ids.tolist().index(AUDIO_TOKEN_INDEX)


def test_clip_frames_get_the_images_aspect_handling(tiny_models):
    from PIL import Image
    from transformers import CLIPImageProcessor

    from emollm_plugin.media.reader import clip_pixels
    processor = CLIPImageProcessor.from_pretrained(str(tiny_models.clip))
    wide = [Image.new("RGB", (128, 32), (250, 10, 10)) for _ in range(3)]
    square = clip_pixels(wide, processor, "square")
    padded = clip_pixels(wide, processor, "pad")
    assert square.shape == padded.shape == (3, 3, 64, 64)
    # padding puts mean-colour bands above and below the red strip; a centre crop of the resized
    # wide frame is red everywhere
    assert torch.allclose(square[:, :, 0], square[:, :, 32])
    assert not torch.allclose(padded[:, :, 0], padded[:, :, 32])
    assert padded[:, :, 0].abs().max() < 0.05  # the processor's mean colour normalises to ~0
