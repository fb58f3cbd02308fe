"""Each shim for newer transformers (docs/upstream-quirks.md): the shimmed behaviour holds on
both rows, and on the current row (transformers 5.x) the upstream behaviour it corrects is observed,
so removing the shim would fail here."""
from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
import types

import pytest
import torch
import transformers

NEW = int(transformers.__version__.split(".")[0]) >= 5  # the current row

pytestmark = pytest.mark.current_stack


def _restore_and_import_llava_train():
    """llava.train.train, importable on either row."""
    from emollm_plugin.plugin import seams
    seams.restore_moved_trainer_names()
    import llava.train.train as train_mod
    return train_mod


@pytest.mark.slow  # a fresh interpreter importing LLaVA's trainer
def test_all_layernorm_layers_is_restored_before_llava_trainer_imports():
    code = ("import importlib, sys\n"
            "try:\n    importlib.import_module('llava.train.llava_trainer'); print('plain: ok')\n"
            "except ImportError as err:\n    print('plain:', err)\n"
            "for name in [m for m in sys.modules if m.startswith('llava.train')]: del sys.modules[name]\n"
            "from emollm_plugin import seams\nseams.restore_moved_trainer_names()\n"
            "importlib.import_module('llava.train.llava_trainer'); print('shimmed: ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "shimmed: ok" in proc.stdout
    if NEW:
        assert "plain: cannot import name 'ALL_LAYERNORM_LAYERS'" in proc.stdout


def test_train_sampler_accepts_the_dataset_argument():
    _restore_and_import_llava_train()
    from emollm_plugin.train.trainer import make_trainer_class
    from llava.train.llava_trainer import LLaVATrainer as upstream  # where LLaVA defines it; never patched
    cls = make_trainer_class(upstream)
    dataset = type("Lengths", (), {"modality_lengths": [5, -3, 4, -2], "__len__": lambda self: 4})()
    fake = object.__new__(cls)
    fake.train_dataset = dataset
    fake.args = types.SimpleNamespace(group_by_modality_length=True, train_batch_size=2, world_size=1,
                                      gradient_accumulation_steps=1)
    assert sorted(iter(cls._get_train_sampler(fake, dataset))) == [0, 1, 2, 3]
    if NEW:  # the Trainer passes the dataset; LLaVA's override takes none
        assert "train_dataset" in inspect.signature(transformers.Trainer._get_train_sampler).parameters
        with pytest.raises(TypeError):
            upstream._get_train_sampler(fake, dataset)


def _tiny_llama(tiny_models):
    return transformers.LlamaForCausalLM.from_pretrained(str(tiny_models.llm))


def test_trainer_gets_the_tokenizer_as_processing_class(tiny_models, tmp_path):
    train_mod = _restore_and_import_llava_train()
    from emollm_plugin.train.trainer import make_trainer_class
    from llava.train.llava_trainer import LLaVATrainer as upstream  # where LLaVA defines it; never patched
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_models.llm), use_fast=False)
    args = train_mod.TrainingArguments(output_dir=str(tmp_path), report_to="none")
    trainer = make_trainer_class(upstream)(model=_tiny_llama(tiny_models), tokenizer=tokenizer, args=args)
    assert getattr(trainer, "processing_class", getattr(trainer, "tokenizer", None)) is tokenizer
    if NEW:
        with pytest.raises(TypeError, match="tokenizer"):
            upstream(model=_tiny_llama(tiny_models), tokenizer=tokenizer, args=args)


def test_save_checkpoint_calls_the_trainer_without_metrics(monkeypatch):
    train_mod = _restore_and_import_llava_train()
    from emollm_plugin.train import trainer as emo_trainer
    from llava.train.llava_trainer import LLaVATrainer as upstream  # where LLaVA defines it; never patched
    takes_metrics = emo_trainer.hf_save_checkpoint_takes_metrics()
    assert not (NEW and takes_metrics)
    calls = []
    if takes_metrics:
        def recorder(self, model, trial, metrics=None):
            calls.append((model, trial))
    else:
        def recorder(self, model, trial):
            calls.append((model, trial))
    monkeypatch.setattr(transformers.Trainer, "_save_checkpoint", recorder)
    cls = emo_trainer.make_trainer_class(upstream)
    fake = object.__new__(cls)
    fake.args = types.SimpleNamespace(tune_mm_mlp_adapter=False)
    monkeypatch.setattr(cls, "_is_peft_without_deepspeed", lambda self: False)
    cls._save_checkpoint(fake, "model", None, metrics={"loss": 1.0})
    assert calls == [("model", None)]
    if not takes_metrics:  # LLaVA's own method passes metrics on
        with pytest.raises(TypeError):
            upstream._save_checkpoint(fake, "model", None, metrics={"loss": 1.0})
    del train_mod


def test_deepspeed_resume_passes_load_module_strict_through(monkeypatch):
    from emollm_plugin.plugin import seams
    seen = {}
    monkeypatch.setattr(seams, "original", lambda module, name: lambda engine, path, **kw: seen.update(kw))
    engine = types.SimpleNamespace(module=torch.nn.Linear(1, 1))  # not a PEFT model: upstream loads it
    seams.deepspeed_load_checkpoint(engine, "ckpt", load_module_strict=False)
    assert seen == {"load_module_strict": False}
    if NEW:
        import transformers.trainer as hf_trainer
        assert "load_module_strict=" in inspect.getsource(hf_trainer)  # the Trainer now passes it


def test_legacy_training_flags_still_parse(tmp_path):
    train_mod = _restore_and_import_llava_train()
    from emollm_plugin.plugin.training_arguments import extend_training_arguments
    upstream = next(c for c in train_mod.TrainingArguments.__mro__ if c.__module__ == "llava.train.train")
    argv = ["--output_dir", str(tmp_path), "--warmup_ratio", "0.03", "--evaluation_strategy", "no",
            "--report_to", "none"]
    (args,) = transformers.HfArgumentParser((extend_training_arguments(upstream),)).parse_args_into_dataclasses(argv)
    assert args.get_warmup_steps(100) == 3
    assert pickle.loads(pickle.dumps(args)).get_warmup_steps(100) == 3  # saved in every checkpoint
    assert (getattr(args, "eval_strategy", None) or args.evaluation_strategy) == "no"
    if NEW:
        with pytest.raises(ValueError, match="warmup_ratio|evaluation_strategy"):
            transformers.HfArgumentParser((upstream,)).parse_args_into_dataclasses(argv)
        with pytest.raises(ValueError, match="fraction"):
            transformers.HfArgumentParser((extend_training_arguments(upstream),)).parse_args_into_dataclasses(
                ["--output_dir", str(tmp_path), "--warmup_ratio", "1.5", "--report_to", "none"])
    del train_mod


def test_tiny_tokenizer_keeps_its_vocabulary_and_legacy_settings(tiny_models):
    import sentencepiece as spm
    from emollm_plugin.testing.tiny import TINY_VOCAB_SIZE
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_models.llm), use_fast=False)
    assert len(tokenizer) >= TINY_VOCAB_SIZE // 2
    sp = spm.SentencePieceProcessor(model_file=str(tiny_models.llm / "tokenizer.model"))
    text = "USER: What emotion does the person show? ASSISTANT: joy"
    assert tokenizer(text).input_ids == [1] + sp.encode(text)
    config = json.loads((tiny_models.llm / "tokenizer_config.json").read_text())
    assert config["legacy"] is True and config["add_bos_token"] is True
    if NEW:  # the constructor the tiny factory used before ignores the file
        assert len(transformers.LlamaTokenizer(vocab_file=str(tiny_models.llm / "tokenizer.model"))) <= 3


def _tiny_emo_model(tiny_models):
    import emollm_plugin
    emollm_plugin.register()
    from llava.model.language_model.llava_llama import LlavaConfig
    from emollm_plugin.model.emollm_llama import EmoLlavaLlamaForCausalLM
    config = LlavaConfig.from_pretrained(str(tiny_models.llm))
    torch.manual_seed(0)
    return EmoLlavaLlamaForCausalLM(config).eval()


def test_generate_uses_the_kv_cache_and_matches_plain_llama(tiny_models, monkeypatch):
    from emollm_plugin.plugin import stack
    model = _tiny_emo_model(tiny_models)
    plain = transformers.LlamaForCausalLM(model.config).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    ids = torch.tensor([[1, 30, 40, 50, 60, 70]])
    kwargs = dict(max_new_tokens=12, do_sample=False, attention_mask=torch.ones_like(ids))
    expected = plain.generate(ids, **kwargs)[:, ids.shape[1]:]
    assert torch.equal(model.generate(ids, **kwargs)[:, -expected.shape[1]:], expected)
    if stack.cache_keyword() == "cache":  # without the shim generate's cache= is dropped silently
        monkeypatch.setattr(stack, "split_cache", lambda pkv, kw: (pkv, {k: v for k, v in kw.items() if k != "cache"}))
        assert not torch.equal(model.generate(ids, **kwargs)[:, -expected.shape[1]:], expected)


def test_gradient_checkpointing_takes_new_keywords(tiny_models):
    model = _tiny_emo_model(tiny_models)
    extra = {"every_n_layers": 1} if NEW else {}
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False}, **extra)
    assert model.get_model().gradient_checkpointing or any(
        getattr(m, "gradient_checkpointing", False) for m in model.modules())


def test_from_pretrained_without_dtype_gives_float32_as_on_4x(tiny_models, tmp_path):
    model = _tiny_emo_model(tiny_models)
    model.to(torch.float16).save_pretrained(tmp_path / "fp16")
    from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
    from emollm_plugin.model.emollm_llama import EmoLlavaLlamaForCausalLM
    loaded = EmoLlavaLlamaForCausalLM.from_pretrained(str(tmp_path / "fp16"), torch_dtype=None)
    assert loaded.dtype == torch.float32
    if NEW:
        assert LlavaLlamaForCausalLM.from_pretrained(str(tmp_path / "fp16"), torch_dtype=None).dtype == torch.float16
