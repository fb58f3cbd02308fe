"""Does a pitch reach the answer? The audio path's input norm, measured on a toy task.

    python benchmarks/bench_audio_input_norm.py [--steps 60] [--seeds 0 1 2] [--threads 1]

Four labels decided by a tone's pitch (200 / 450 / 900 / 1800 Hz, random loudness, light noise):
12 clips of 1 s per label, every third held out. The tiny models of ``emollm make-tiny``: frozen
tiny Whisper (padded window) -> ``AudioProjector`` (8 tokens, mlp2x_gelu) -> tiny Llama with LoRA
(r 16, alpha 32, every linear layer), AdamW at 5e-3 (the demo's), cosine schedule, batch 4. The
loop is the model's audio splice reduced to one prompt: ``USER: <audio> What emotion does this
show? ASSISTANT: LABEL</s>``, loss on the answer only. An answer is the label whose answer turn
has the lowest loss. Printed side by side, per variant:
  none:         the pooled frames as they are (checkpoints saved before the switch)
  standardize only: per-feature shift/scale fitted on the training clips, no silence subtraction
  silence only: the tower's output for silence subtracted, no standardisation
  standardize:  both (``--mm_audio_input_norm standardize``, the default)
and the feature statistics behind them: how much of a pooled token all clips share.
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

LABELS = ("anger", "joy", "sadness", "surprise")
PITCHES = (200.0, 450.0, 900.0, 1800.0)


def clips(tower, seed: int = 1, per_label: int = 12):
    from emollm_plugin.audio.mel import log_mel_for
    from emollm_plugin.testing.synth import tone
    rng = np.random.default_rng(seed)
    mel = log_mel_for(tower.n_mels, tower.window)
    out = []
    with torch.no_grad():
        for label, pitch in enumerate(PITCHES):
            for _ in range(per_label):
                x = tone(1.0, pitch) * rng.uniform(0.3, 0.7) + rng.normal(0, 0.01, 16000).astype(np.float32)
                m = mel(torch.from_numpy(x.astype(np.float32)))
                out.append((tower([m])[0], tower.silence([m.shape[-1]])[0], label))
    return out


def statistics(data, projector) -> str:
    pooled = torch.stack([projector.pool(f) for f, _, _ in data])  # clips x n x d
    labels = torch.tensor([y for _, _, y in data])
    tokens = pooled.reshape(-1, pooled.shape[-1])
    common = tokens.mean(0)
    means = torch.stack([pooled[labels == y].mean(0) for y in range(len(LABELS))]).flatten(1)
    cos = torch.nn.functional.cosine_similarity(means[:, None], means[None], dim=-1)
    off = cos[~torch.eye(len(LABELS), dtype=torch.bool)]
    between = ((means - means.mean(0)) ** 2).sum(1).mean() / pooled.shape[1]
    return (f"pooled token norm {tokens.norm(dim=1).mean():.2f}, of which shared by all clips "
            f"{common.norm():.2f}; between-label variance per token {between:.4f}; "
            f"cosine between label means {off.min():.4f} .. {off.max():.4f}")


def run(variant: str, data, models, steps: int, seed: int) -> tuple[float, float]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emollm_plugin.audio.projector import AudioProjector
    train = [d for i, d in enumerate(data) if i % 3 != 2]
    test = [d for i, d in enumerate(data) if i % 3 == 2]
    subtract = variant in ("standardize", "silence only")
    fit = variant in ("standardize", "standardize only")

    def frames(item):
        return item[0] - item[1] if subtract else item[0]

    torch.manual_seed(seed)
    llm = AutoModelForCausalLM.from_pretrained(str(models.llm))
    llm = get_peft_model(llm, LoraConfig(r=16, lora_alpha=32, task_type="CAUSAL_LM", target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    width = data[0][0].shape[1]
    projector = AudioProjector(width, llm.config.hidden_size, num_tokens=8,
                               input_norm="standardize" if fit else "none")
    if fit:
        projector.fit_input_norm([frames(d) for d in train])
    tok = AutoTokenizer.from_pretrained(str(models.llm), use_fast=False)
    embed = llm.get_input_embeddings()
    before = torch.tensor(tok("USER: ").input_ids)
    after = torch.tensor(tok(" What emotion does this show? ASSISTANT:", add_special_tokens=False).input_ids)
    answers = [torch.tensor(tok(" " + l, add_special_tokens=False).input_ids + [tok.eos_token_id]) for l in LABELS]

    def sample(item, label):
        e = torch.cat([embed(before), projector([frames(item)])[0], embed(after), embed(answers[label])])
        target = torch.full((e.shape[0],), -100)
        target[-len(answers[label]):] = answers[label]
        return e, target

    params = [p for p in llm.parameters() if p.requires_grad] + list(projector.parameters())
    opt = torch.optim.AdamW(params, lr=5e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 3) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    order = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        batch = [sample(train[i], train[i][2]) for i in order.choice(len(train), 4, replace=False)]
        length = max(e.shape[0] for e, _ in batch)
        embeds = torch.stack([torch.cat([e, e.new_zeros(length - len(e), e.shape[1])]) for e, _ in batch])
        targets = torch.stack([torch.cat([t, t.new_full((length - len(t),), -100)]) for _, t in batch])
        mask = torch.stack([torch.arange(length) < len(e) for e, _ in batch]).long()
        loss = llm(inputs_embeds=embeds, attention_mask=mask, labels=targets).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    right = 0
    with torch.no_grad():
        for item in test:
            scores = [llm(inputs_embeds=e[None], labels=t[None]).loss.item()
                      for e, t in (sample(item, y) for y in range(len(LABELS)))]
            right += int(np.argmin(scores)) == item[2]
    return right / len(test), float(np.mean(losses[-10:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from emollm_plugin.audio.projector import AudioProjector
    from emollm_plugin.audio.tower import WhisperAudioTower
    from emollm_plugin.testing.tiny import make_tiny
    with tempfile.TemporaryDirectory() as tmp:
        models = make_tiny(Path(tmp) / "models")
        tower = WhisperAudioTower(models.whisper, window="padded")
        data = clips(tower)
        probe = AudioProjector(tower.hidden_size, 8, num_tokens=8)
        print("raw frames:      ", statistics(data, probe))
        print("silence removed: ", statistics([(f - s, s, y) for f, s, y in data], probe))
        print(f"\nheld-out accuracy after {args.steps} steps (chance 25 %; {len(data) // 3} test clips), "
              "final loss (mean of the last 10 steps)")
        print(f"{'variant':<18} " + " ".join(f"{'seed ' + str(s):>16}" for s in args.seeds))
        for variant in ("none", "standardize only", "silence only", "standardize"):
            cells = [run(variant, data, models, args.steps, seed) for seed in args.seeds]
            print(f"{variant:<18} " + " ".join(f"{100 * acc:>7.0f} % {loss:>6.3f}" for acc, loss in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
