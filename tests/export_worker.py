"""Answer questions with an exported EmoLLM folder in a process where the plugin and LLaVA cannot
be imported: ``python export_worker.py DIR CASES.json OUT.pt [--dtype bfloat16] [--device-map auto]
[--resave DIR2]``.

CASES.json: ``{name: {"messages": [...], "max_new_tokens": N}}``; OUT.pt: ``{name: {"input_ids",
"logits" (first step, V), "tokens" (new ids)}}`` plus ``"_classes"`` (the auto classes used).
"""
import importlib.abc
import sys

BLOCKED = ("llava", "emollm_plugin", "torch_geometric", "whisper")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the exported folder must not need it")
        return None


sys.meta_path.insert(0, _Blocker())

import argparse  # noqa: E402
import json  # noqa: E402

import torch  # noqa: E402
import transformers  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("cases")
    p.add_argument("out")
    p.add_argument("--dtype", default=None)
    p.add_argument("--device-map", default=None)
    p.add_argument("--resave", default=None)
    args = p.parse_args()
    auto = getattr(transformers, "AutoModelForImageTextToText", None) or transformers.AutoModelForVision2Seq
    kwargs = {"trust_remote_code": True}
    if args.dtype:
        kwargs["torch_dtype"] = getattr(torch, args.dtype)
    if args.device_map:
        kwargs["device_map"] = args.device_map
    folder = args.folder
    model = auto.from_pretrained(folder, **kwargs)
    processor = transformers.AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    if args.resave:
        model.save_pretrained(args.resave)
        processor.save_pretrained(args.resave)
        model = auto.from_pretrained(args.resave, **kwargs)
        processor = transformers.AutoProcessor.from_pretrained(args.resave, trust_remote_code=True)
    model.eval()
    results = {"_classes": [auto.__name__, type(model).__name__, type(processor).__name__],
               "_dtype": str(next(model.parameters()).dtype)}
    with open(args.cases) as f:
        cases = json.load(f)
    for name, case in cases.items():
        inputs = processor.apply_chat_template(case["messages"], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1].float()
            out = model.generate(**inputs, max_new_tokens=case["max_new_tokens"], do_sample=False,
                                 pad_token_id=processor.pad_token_id)
        results[name] = {"input_ids": inputs["input_ids"][0], "logits": logits,
                         "tokens": out[0, inputs["input_ids"].shape[1]:],
                         "prompt": processor.apply_chat_template(case["messages"], add_generation_prompt=True),
                         "answer": processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)}
    torch.save(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
