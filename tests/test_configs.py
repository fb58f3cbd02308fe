"""configs/: AudioConfig and EmoPromptConfig, and ModelArguments generated from the three configs."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import pytest

from emollm_plugin.configs import (AudioConfig, ConfigError, EmoPromptConfig, MissingBankError,
                                   TEMPLATE_NAME)
from emollm_plugin.configs.mvp import MVPConfig
from emollm_plugin.train.arguments import config_flags, extend_model_arguments

PACKAGE = Path(__file__).resolve().parents[1] / "emollm_plugin"


@dataclasses.dataclass
class _Upstream:  # the two LLaVA ModelArguments fields the plugin reads
    model_name_or_path: Optional[str] = "facebook/opt-125m"
    version: Optional[str] = "v0"


def _plugin_fields(cls) -> dict[str, dataclasses.Field]:
    upstream = {f.name for f in dataclasses.fields(_Upstream)}
    return {f.name: f for f in dataclasses.fields(cls) if f.name not in upstream}


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def test_model_arguments_are_exactly_the_three_configs_fields_with_their_defaults():
    args_cls = extend_model_arguments(_Upstream)
    generated = _plugin_fields(args_cls)
    expected = {}  # each config's declared field defaults (a switch may resolve "" later)
    for f in dataclasses.fields(MVPConfig):
        expected["mvp_" + f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    for cls in (AudioConfig, EmoPromptConfig):
        for f in dataclasses.fields(cls):
            expected[f.metadata["flag"]] = f.default
    assert set(generated) == set(expected)
    assert {name: _default(f) for name, f in generated.items()} == expected
    parsed = args_cls()
    assert MVPConfig.from_model_config(parsed) == MVPConfig()
    assert AudioConfig.from_args(parsed) == AudioConfig()
    assert EmoPromptConfig.from_args(parsed) == EmoPromptConfig()


def test_a_field_added_to_a_config_becomes_a_flag_without_touching_arguments():
    @dataclasses.dataclass(frozen=True)
    class GrownMVPConfig(MVPConfig):
        variant: str = dataclasses.field(default="paper", metadata={"help": "which variant"})

    fields = _plugin_fields(extend_model_arguments(_Upstream, [GrownMVPConfig]))
    assert fields["mvp_variant"].default == "paper"
    assert fields["mvp_variant"].metadata["help"] == "which variant"
    assert len(fields) == len(dataclasses.fields(GrownMVPConfig))


def test_flag_names_are_unique_and_carry_help():
    names = [name for name, _, _, help_ in config_flags() if help_.strip()]
    assert len(names) == len(set(names)) == len(config_flags())


def test_generated_flags_parse_from_a_command_line():
    from transformers import HfArgumentParser
    (args,) = HfArgumentParser(extend_model_arguments(_Upstream)).parse_args_into_dataclasses(
        ["--audio_window", "trimmed", "--mm_audio_num_tokens", "8", "--mvp_knn", "3", "2", "2",
         "--emoprompt_target", "reasoning"])
    assert AudioConfig.from_args(args) == AudioConfig(window="trimmed", num_tokens=8)
    assert MVPConfig.from_model_config(args).knn == (3, 2, 2)
    assert EmoPromptConfig.from_args(args).target == "reasoning"


def test_emoprompt_on_without_a_bank_stops_when_the_flags_are_parsed():
    from emollm_plugin.train.arguments import check_model_arguments
    with pytest.raises(MissingBankError) as err:
        check_model_arguments(SimpleNamespace(version=TEMPLATE_NAME))
    message = str(err.value)
    assert "emollm emoprompt generate" in message and "--version v1" in message
    assert "--emoprompt_bank illustrative" in message
    check_model_arguments(SimpleNamespace(version="v1"))
    check_model_arguments(SimpleNamespace(version=TEMPLATE_NAME, emoprompt_bank="illustrative"))


def test_an_unreadable_bank_stops_training_when_the_flags_are_parsed(tmp_path):
    from emollm_plugin.train.arguments import check_model_arguments
    missing = tmp_path / "no_bank.jsonl"
    with pytest.raises(ConfigError, match=re.escape(f"--emoprompt_bank {missing}") + ".*cannot read"):
        check_model_arguments(SimpleNamespace(version=TEMPLATE_NAME, emoprompt_bank=str(missing)))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"schema_version": 1}\n')
    with pytest.raises(ConfigError, match="problem"):
        check_model_arguments(SimpleNamespace(version=TEMPLATE_NAME, emoprompt_bank=str(broken)))


def test_audio_config_round_trips_through_the_model_config_under_mm_audio_keys():
    config = AudioConfig(tower="/m/whisper-base.pt", num_tokens=8, window="trimmed",
                         projector_type="linear")
    hf = SimpleNamespace()
    config.write_to(hf)
    assert vars(hf) == {"mm_audio_tower": "/m/whisper-base.pt", "mm_audio_tower_type": "whisper",
                        "mm_audio_projector_type": "linear", "mm_audio_num_tokens": 8,
                        "mm_audio_window": "trimmed", "mm_audio_input_norm": "standardize"}
    assert AudioConfig.from_model_config(hf) == config
    assert AudioConfig.from_model_config(dict(vars(hf))) == config
    # a checkpoint saved before the window existed was trained on the trimmed window: it keeps it
    del hf.mm_audio_window
    assert AudioConfig.from_model_config(hf).window == "trimmed"
    assert AudioConfig.from_model_config(dict(vars(hf))).window == "trimmed"
    # one saved before the input norm existed fed raw frames to its projector: it keeps that
    del hf.mm_audio_input_norm
    assert AudioConfig.from_model_config(hf).input_norm == "none"
    # without an audio tower there is nothing to keep: the defaults stand
    assert AudioConfig.from_model_config(SimpleNamespace()).window == "padded"
    assert AudioConfig.from_model_config(SimpleNamespace()).input_norm == "standardize"


@pytest.mark.parametrize("kwargs, flag", [
    ({"window": "full"}, "--audio_window"),
    ({"input_norm": "layer"}, "--mm_audio_input_norm"),
    ({"num_tokens": -1}, "--mm_audio_num_tokens"),
    ({"num_tokens": "many"}, "--mm_audio_num_tokens"),
    ({"num_tokens": True}, "--mm_audio_num_tokens"),
    ({"projector_type": "mlp 2x"}, "--mm_audio_projector_type"),
    ({"tower": 3}, "--audio_tower"),
])
def test_audio_config_refuses_bad_values_naming_the_flag(kwargs, flag):
    with pytest.raises(ConfigError, match=re.escape(flag)):
        AudioConfig(**kwargs)


def test_audio_config_coerces_command_line_strings():
    assert AudioConfig(num_tokens="16").num_tokens == 16
    assert AudioConfig(tower=Path("/m/w.pt")).tower == "/m/w.pt"


@pytest.mark.parametrize("kwargs, flag", [
    ({"strategy": "best"}, "--emoprompt_strategy"),
    ({"target": "both"}, "--emoprompt_target"),
    ({"seed": 1.5}, "--emoprompt_seed"),
    ({"bank": "  "}, "--emoprompt_bank"),
])
def test_emoprompt_config_refuses_bad_values_naming_the_flag(kwargs, flag):
    with pytest.raises(ConfigError, match=re.escape(flag)):
        EmoPromptConfig(**kwargs)


def test_emoprompt_config_round_trips_and_requires_a_bank():
    config = EmoPromptConfig(bank="work/bank.jsonl", strategy="nearest", seed=3, target="reasoning")
    hf = SimpleNamespace()
    config.write_to(hf)
    assert vars(hf) == {"emoprompt_bank": "work/bank.jsonl", "emoprompt_strategy": "nearest",
                        "emoprompt_seed": 3, "emoprompt_target": "reasoning"}
    assert EmoPromptConfig.from_model_config(hf) == config
    assert config.require_bank("training") == "work/bank.jsonl"
    with pytest.raises(MissingBankError, match="evaluation: EmoPrompt is on"):
        EmoPromptConfig().require_bank("evaluation")


def test_defaults_used_by_components_come_from_the_configs():
    from emollm_plugin.audio.projector import PROJECTOR_KINDS, AudioProjector, build_audio_projector
    from emollm_plugin.configs import emoprompt as emoprompt_config
    from emollm_plugin.configs.audio import AUDIO_PROJECTOR_TYPES
    from emollm_plugin.emoprompt.select import STRATEGIES
    from emollm_plugin.emoprompt.template import EMOPROMPT_TEMPLATE_NAME
    from emollm_plugin.train.memory import RunSpec, LLMS, parse_run

    assert set(PROJECTOR_KINDS) == set(AUDIO_PROJECTOR_TYPES)
    projector = AudioProjector(4, 6)
    assert (projector.num_tokens, projector.kind) == (AudioConfig().num_tokens, AudioConfig().projector_type)
    built = build_audio_projector(SimpleNamespace(mm_audio_hidden_size=4, hidden_size=6))
    assert (built.num_tokens, built.kind) == (AudioConfig().num_tokens, AudioConfig().projector_type)
    run, _, _ = parse_run([])
    assert run.audio_tokens == RunSpec(LLMS["7b"]).audio_tokens == AudioConfig().num_tokens
    assert run.frames_per_event == MVPConfig().frames_per_event
    assert run.visual_tokens == MVPConfig().num_tokens
    assert EMOPROMPT_TEMPLATE_NAME == TEMPLATE_NAME
    assert STRATEGIES is emoprompt_config.STRATEGIES


def test_the_emoprompt_template_name_is_spelled_once_in_the_package():
    quoted = re.compile(r"""["']emoprompt_v1["']""")
    hits = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if quoted.search(p.read_text())]
    assert hits == ["configs/emoprompt.py"]


@pytest.mark.slow
def test_training_without_a_bank_exits_before_loading_anything(tmp_path):
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, "-m", "emollm_plugin.train", "--model_name_or_path", str(tmp_path / "absent"),
         "--version", TEMPLATE_NAME, "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "emollm train: error: training: EmoPrompt is on" in done.stderr
    assert "emollm emoprompt generate" in done.stderr and "--version v1" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
