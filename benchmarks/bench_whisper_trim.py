"""Whisper-base encoder on a short clip: both --audio_window settings against openai-whisper's own.

    python benchmarks/bench_whisper_trim.py [--seconds 3] [--repeats 5] [--threads 1] [--device cpu|cuda]

Random-init weights with Whisper-base encoder dims (80 mels, width 512, 8 heads, 6 layers, 1500
positions), written to a temporary openai-whisper checkpoint. Measured side by side in one run:
  whisper: whisper.log_mel_spectrogram(pad_or_trim(x)) + whisper's own AudioEncoder.forward (3000 frames)
  padded (the default): audio.mel.log_mel_for(80, "padded") + WhisperAudioTower(window="padded")
  trimmed: audio.mel.log_mel_for(80, "trimmed") + WhisperAudioTower(window="trimmed") (the clip only)
Timed with the harness (benchmarks/timing.py): rows alternating, minimum and median. Target: trimmed <= 20 % of whisper's.
Also prints how far each window's features are from whisper's on the positions the clip covers.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Harness, add_harness_arguments, timed  # noqa: E402

BASE_DIMS = dict(n_mels=80, n_audio_state=512, n_audio_head=8, n_audio_layer=6)
TARGET = 0.20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length (default: 3.0)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--workdir", default=None, help="where the checkpoint goes (default: a temp dir)")
    add_harness_arguments(parser, repeats=5)
    args = parser.parse_args(argv)
    harness = Harness.from_args(args)

    import whisper

    from emollm_plugin.audio.mel import log_mel_for
    from emollm_plugin.testing.tiny_audio import make_tiny_whisper
    from emollm_plugin.audio.tower import WhisperAudioTower

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        checkpoint = make_tiny_whisper(Path(tmp) / "whisper_base_dims.pt", seed=0, **BASE_DIMS)
        whisper_encoder = whisper.load_model(str(checkpoint), device=device).encoder.eval()
        towers = {window: WhisperAudioTower(checkpoint, window=window).to(device)
                  for window in ("padded", "trimmed")}

    samples = torch.from_numpy(
        (np.random.default_rng(0).standard_normal(round(args.seconds * 16000)) * 0.1).astype(np.float32))

    @torch.no_grad()
    def padded():
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(samples))  # 80 x 3000
        out = whisper_encoder(mel[None].to(device))
        sync()
        return out[0]

    def encode(window):
        log_mel = log_mel_for(80, window)

        @torch.no_grad()
        def run():
            out = towers[window]([log_mel(samples).to(device)])[0]
            sync()
            return out
        return run

    rows = {"padded to 30 s (whisper)": padded, "padded (WhisperAudioTower)": encode("padded"),
            "trimmed (WhisperAudioTower)": encode("trimmed")}
    whisper_row = "padded to 30 s (whisper)"
    runs = harness.run({name: [("encode", lambda _, fn=fn: timed(fn, device)[0])] for name, fn in rows.items()})
    reference = padded().float()
    print(f"Whisper-base encoder dims, random init, {args.seconds:g} s clip, device {device}")
    print(runs.header())
    print("| encode (mel + encoder) | positions | min ms | median ms | ratio (min) | ratio (median) "
          "| rel. L2 vs whisper | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, fn in rows.items():
        out = fn().float()
        expected = reference[: out.shape[0]]
        gap = ((out - expected).norm() / expected.norm()).item()
        by_min, by_median = runs.ratios(name, whisper_row)
        print(f"| {name} | {out.shape[0]} | {runs.min(name) * 1e3:.1f} | {runs.median(name) * 1e3:.1f} "
              f"| {by_min:.3f} | {by_median:.3f} | {gap:.3g} | {(out - expected).abs().max().item():.3g} |")
    by_min, by_median = runs.ratios("trimmed (WhisperAudioTower)", whisper_row)
    print(f"target: trimmed <= {TARGET:.0%} of whisper's padded encode: "
          f"{'met' if max(by_min, by_median) <= TARGET else 'NOT met'} ({by_min:.1%} minimums, {by_median:.1%} medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
