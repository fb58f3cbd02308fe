"""lmms-eval's entry point payload: ``--model emollm`` resolves to ``model.EmoLLM``."""
from lmms_eval.models.registry_v2 import ModelManifest

MANIFEST = ModelManifest(model_id="emollm", simple_class_path="emollm_plugin.apps.lmms_eval.model.EmoLLM")
