"""One trained tiny checkpoint and a folder of your-own-media for the apps tests (predict, serve, demo).

The checkpoint is ``test_eval_infer.eval_setup``'s (MVP + Whisper audio + LoRA, trained once per
session and shared with the eval tests), so the apps add no training time to the suite.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from test_eval_infer import eval_setup

GENERATION = ["--max-new-tokens", "6", "--num-video-frames", "4"]


@dataclass
class AppsSetup:
    ckpt: Path
    base: Path
    demo_media: Path  # make_demo_data's media/demo folder

    @property
    def model_args(self) -> list[str]:
        return ["--model", str(self.ckpt), "--model-base", str(self.base), *GENERATION]

    def image(self) -> Path:
        return self.demo_media / "image_joy_2.png"

    def clip(self) -> Path:
        return self.demo_media / "video_anger_2.mp4"  # no sound track

    def clip_with_sound(self) -> Path:
        return self.demo_media / "video_audio_sadness_2.mp4"


def apps_setup(tiny_models, tmp_path_factory) -> AppsSetup:
    setup = eval_setup(tiny_models, tmp_path_factory)
    return AppsSetup(setup.ckpt, setup.base, setup.media / "demo")


def own_media_folder(setup: AppsSetup, folder: Path) -> Path:
    """An image, a silent clip, a clip with sound, a wav recording, a corrupt clip and a note."""
    from emollm_plugin.testing.synth import tone, write_corrupt_video, write_wav

    (folder / "clips").mkdir(parents=True)
    shutil.copy(setup.image(), folder / "face.png")
    shutil.copy(setup.clip(), folder / "clips" / "silent.mp4")
    shutil.copy(setup.clip_with_sound(), folder / "clips" / "talking.mp4")
    write_wav(folder / "voice.wav", tone(1.0, 330.0))
    write_corrupt_video(folder / "clips" / "broken.mp4")
    (folder / "notes.txt").write_text("not media")
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_command(command: str, args: list[str], log: Path, env: dict, startup_s: int = 120,
                    ready_path: str = "/health"):
    """``emollm COMMAND ARGS`` (serve, demo-ui) on a free port of 127.0.0.1, its output in ``log``:
    yields (base URL, process) once ``ready_path`` answers 200 (a bounded wait), and stops it after."""
    import httpx
    import pytest

    port = free_port()
    with open(log, "w") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "emollm_plugin.commands.cli", command, *args,
                                    "--port", str(port)], stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(startup_s * 4):  # bounded wait for the model to load
            if process.poll() is not None:
                pytest.fail(f"{command} exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(base + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            pytest.fail(f"{command} not up after {startup_s} s:\n{log.read_text()}")
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def running_server(serve_args: list[str], log: Path, env: dict, startup_s: int = 120):
    """``emollm serve SERVE_ARGS``, as ``running_command`` runs it."""
    return running_command("serve", serve_args, log, env, startup_s)
