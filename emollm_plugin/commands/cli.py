"""`emollm` console entry: each command lives in its own module, imported only when used."""
from __future__ import annotations

import importlib
import sys

# command -> (module with main(argv), one-line help)
COMMANDS = {
    "make-tiny": ("emollm_plugin.testing.tiny", "build tiny random-initialised Llama/CLIP/Whisper models offline"),
    "bench": ("emollm_plugin.bench.cli", "EmoBench: build | validate | stats"),
    "eval": ("emollm_plugin.eval.cli", "score | report (tables, plots) | aggregate (runs: mean ± std) | export-questions | api (an OpenAI-compatible endpoint)"),
    "emoprompt": ("emollm_plugin.emoprompt.cli", "EmoPrompt exemplar bank: generate | validate"),
    "memory": ("emollm_plugin.train.memory", "GPU memory budget for a LoRA + ZeRO-2 run"),
    "doctor": ("emollm_plugin.commands.doctor", "check the environment against the tested matrix"),
    "predict": ("emollm_plugin.apps.predict", "answer questions about your own images, clips and recordings"),
    "mvp": ("emollm_plugin.apps.mvp_show", "mvp show: picture of MVP's clusters, relation graphs and video events"),
    "serve": ("emollm_plugin.apps.serve", "OpenAI-compatible HTTP API (chat completions with image, video, audio)"),
    "export": ("emollm_plugin.export.folder", "a checkpoint as a transformers model folder (AutoModel + AutoProcessor)"),
    "demo-ui": ("emollm_plugin.apps.demo_ui", "Gradio page: upload an image or clip, ask, see answer and reasoning"),
}

# (command, subcommand) -> module with main(argv) taking the arguments after the subcommand: a
# subcommand that lives above its command's package in the layer table
SUBCOMMANDS = {("eval", "api"): "emollm_plugin.apps.eval_api"}

# the commands that load a checkpoint through LLaVA's loader: the plugin is registered first
LOAD_A_MODEL = frozenset({"predict", "serve", "demo-ui", "export"})


def _usage() -> str:
    lines = ["usage: emollm COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "emollm COMMAND --help for a command's arguments"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"emollm: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from ..runtime.quiet_load import deprecations_once_per_run
    deprecations_once_per_run()
    if command in LOAD_A_MODEL:
        from .. import register
        register()
    if (command, rest[:1] and rest[0]) in SUBCOMMANDS:
        return int(importlib.import_module(SUBCOMMANDS[command, rest[0]]).main(rest[1:]) or 0)
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
