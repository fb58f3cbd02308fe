"""Benchmark (b): Whisper-base encoder on a short clip, trimmed encode vs the padded 30 s encode.

    python benchmarks/bench_whisper_trim.py [--seconds 3] [--repeats 5] [--threads 2]

Random-init weights with Whisper-base encoder dims (80 mels, width 512, 8 heads, 6 layers, 1500
positions), written to a temporary openai-whisper checkpoint. Measured side by side in one run:
  padded: whisper.log_mel_spectrogram(pad_or_trim(x)) + whisper's own AudioEncoder.forward (3000 frames)
  trimmed: audio.mel.log_mel_trimmed(x) + WhisperAudioTower (the clip's frames only)
Median of ``--repeats`` timed runs after one warm-up. Target: trimmed <= 20 % of padded.
Also prints how far the trimmed features are from the padded ones on the covered frames.
"""
from __future__ import annotations

import argparse
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

    from emollm_plugin.audio.mel import log_mel_trimmed
    from emollm_plugin.audio.tiny import make_tiny_whisper
    from emollm_plugin.audio.tower import WhisperAudioTower

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        checkpoint = make_tiny_whisper(Path(tmp) / "whisper_base_dims.pt", seed=0, **BASE_DIMS)
        reference = whisper.load_model(str(checkpoint), device=device).encoder.eval()
        tower = WhisperAudioTower(checkpoint).to(device)

    samples = torch.from_numpy(
        (np.random.default_rng(0).standard_normal(round(args.seconds * 16000)) * 0.1).astype(np.float32))

    @torch.no_grad()
    def padded():
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(samples))  # 80 x 3000
        out = reference(mel[None].to(device))
        sync()
        return out[0]

    @torch.no_grad()
    def trimmed():
        out = tower([log_mel_trimmed(samples).to(device)])[0]
        sync()
        return out

    padded_ms = median_ms(padded, args.repeats)
    trimmed_ms = median_ms(trimmed, args.repeats)
    short, full = trimmed().float(), padded().float()[: trimmed().shape[0]]
    gap = ((short - full).norm() / full.norm()).item()
    cosine = torch.nn.functional.cosine_similarity(short, full, dim=-1).mean().item()

    ratio = trimmed_ms / padded_ms
    frames = log_mel_trimmed(samples).shape[1]
    print(f"Whisper-base encoder dims, random init, {args.seconds:g} s clip, device {device}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print("| encode (mel + encoder)        | mel frames | ms      | ratio |")
    print("|-------------------------------|-----------:|--------:|------:|")
    print(f"| padded to 30 s (whisper)      | {3000:>10} | {padded_ms:7.1f} | 1.000 |")
    print(f"| trimmed (WhisperAudioTower)   | {frames:>10} | {trimmed_ms:7.1f} | {ratio:.3f} |")
    print(f"target <= {TARGET:.0%}: {'met' if ratio <= TARGET else 'NOT met'}")
    print(f"trimmed vs padded features on the {short.shape[0]} covered positions (random weights): "
          f"relative L2 {gap:.3f}, mean cosine {cosine:.3f}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
