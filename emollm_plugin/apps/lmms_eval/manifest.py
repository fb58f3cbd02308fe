"""lmms-eval's entry point payload: ``--model emollm`` resolves to ``commands.lmms_eval.EmoLLM``
(``model.EmoLLM`` with the plugin registered)."""
from lmms_eval.models.registry_v2 import ModelManifest

MANIFEST = ModelManifest(model_id="emollm", simple_class_path="emollm_plugin.commands.lmms_eval.EmoLLM")
