"""Fresh-process reload: `python reload_worker.py CKPT BASE INPUTS.pt OUT.pt [fp16_tower]`.

Loads the checkpoint with LLaVA's own load_pretrained_model (plugin registered) and saves the
logits for the saved inputs, plus the generated ids for a greedy decode.
"""
import sys

import torch

import emollm_plugin

emollm_plugin.register()
from llava.model.builder import load_pretrained_model  # noqa: E402

ckpt, base, inputs_path, out_path = sys.argv[1:5]
fp16_tower = len(sys.argv) > 5 and sys.argv[5] == "fp16_tower"
tokenizer, model, processor, _ = load_pretrained_model(ckpt, base, "emollm-llava-lora-tiny", device="cpu")
if fp16_tower:  # LLaVA's train() runs the frozen CLIP tower in float16 even for float32 training
    model.get_vision_tower().to(torch.float16)
model.eval()
inputs = torch.load(inputs_path)
with torch.no_grad():
    logits = model(input_ids=inputs["input_ids"], images=inputs.get("images"), audios=inputs.get("audios")).logits
    generated = model.generate(inputs["input_ids"], images=inputs.get("images"), audios=inputs.get("audios"),
                               max_new_tokens=4, do_sample=False)
torch.save({"logits": logits, "generated": generated, "dtype": str(model.dtype),
            "projector": type(model.get_model().mm_projector).__name__}, out_path)
