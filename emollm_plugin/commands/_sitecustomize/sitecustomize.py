"""Opt-in activation for `emollm-run CMD ...` (put on PYTHONPATH by the wrapper, never installed).

When the process imports `llava`, the EmoLLM plugin registers itself right after LLaVA's package
import finishes, so unmodified upstream entry points (and DeepSpeed/torchrun workers, which
inherit the environment) build plugin models. Any other sitecustomize on sys.path still runs.
"""
import importlib.abc
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


class _RegisterAfterLlava(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "llava":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("llava")
        if spec is None or spec.loader is None:
            return spec
        upstream_exec = spec.loader.exec_module

        def exec_module(module):
            upstream_exec(module)
            from emollm_plugin import register
            register()
            if os.environ.get("EMOLLM_RUN_CPU") == "1":
                from emollm_plugin.commands.run import map_cuda_to_cpu
                map_cuda_to_cpu()

        spec.loader.exec_module = exec_module
        return spec


def _chain_next_sitecustomize():
    """Run the sitecustomize this one shadows (e.g. a distribution's), if any."""
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == _HERE:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_emollm_chained_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return


if os.environ.get("EMOLLM_AUTO_REGISTER") == "1" and "llava" not in sys.modules:
    sys.meta_path.insert(0, _RegisterAfterLlava())
_chain_next_sitecustomize()
