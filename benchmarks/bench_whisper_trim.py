"""Whisper-base encoder on a short clip: both --audio_window settings against openai-whisper's own.

    python benchmarks/bench_whisper_trim.py [--seconds 3] [--repeats 5] [--threads 2] [--device cpu|cuda]

Random-init weights with Whisper-base encoder dims (80 mels, width 512, 8 heads, 6 layers, 1500
positions), written to a temporary openai-whisper checkpoint. Measured side by side in one run:
  whisper: whisper.log_mel_spectrogram(pad_or_trim(x)) + whisper's own AudioEncoder.forward (3000 frames)
  padded (the default): audio.mel.log_mel_for(80, "padded") + WhisperAudioTower(window="padded")
  trimmed: audio.mel.log_mel_for(80, "trimmed") + WhisperAudioTower(window="trimmed") (the clip only)
Median of ``--repeats`` timed runs after one warm-up. Target: trimmed <= 20 % of whisper's.
Also prints how far each window's features are from whisper's on the positions the clip covers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BASE_DIMS = dict(n_mels=80, n_audio_state=512, n_audio_head=8, n_audio_layer=6)
TARGET = 0.20


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length (default: 3.0)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (default: 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--workdir", default=None, help="where the checkpoint goes (default: a temp dir)")
    args = parser.parse_args(argv)

    import whisper

    from emollm_plugin.audio.mel import log_mel_for
    from emollm_plugin.testing.tiny_audio import make_tiny_whisper
    from emollm_plugin.audio.tower import WhisperAudioTower

    torch.set_num_threads(args.threads)
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
    times = {name: median_ms(fn, args.repeats) for name, fn in rows.items()}
    reference = padded().float()
    print(f"Whisper-base encoder dims, random init, {args.seconds:g} s clip, device {device}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}, load {os.getloadavg()[0]:.1f}")
    print("| encode (mel + encoder)        | positions | ms      | ratio | rel. L2 vs whisper | max abs diff |")
    print("|-------------------------------|----------:|--------:|------:|-------------------:|-------------:|")
    base = times["padded to 30 s (whisper)"]
    for name, fn in rows.items():
        out = fn().float()
        expected = reference[: out.shape[0]]
        gap = ((out - expected).norm() / expected.norm()).item()
        print(f"| {name:29s} | {out.shape[0]:>9} | {times[name]:7.1f} | {times[name] / base:.3f} "
              f"| {gap:18.3g} | {(out - expected).abs().max().item():12.3g} |")
    ratio = times["trimmed (WhisperAudioTower)"] / base
    print(f"target: trimmed <= {TARGET:.0%} of whisper's padded encode: "
          f"{'met' if ratio <= TARGET else 'NOT met'} ({ratio:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
