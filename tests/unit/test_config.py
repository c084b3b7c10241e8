import pytest

from asr.config import load_config
from asr.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_yaml_sections_fill_dataclasses_and_paths_resolve_against_the_config(tmp_path):
    path = write(tmp_path, "data:\n  train: d/train.jsonl\nmodel:\n  cell: gru\n  hidden_size: 32\n")
    config = load_config(path)
    assert config.model.cell == "gru" and config.model.hidden_size == 32
    assert config.data.train == str(tmp_path / "d" / "train.jsonl")
    assert config.model.num_layers == 3  # default kept


def test_overrides_win_and_are_typed(tmp_path):
    path = write(tmp_path, "model:\n  cell: gru\n")
    config = load_config(path, ["model.cell=rnn", "model.bidirectional=false", "optim.lr=0.01", "specaugment=null"])
    assert config.model.cell == "rnn" and config.model.bidirectional is False
    assert config.optim.lr == 0.01 and config.specaugment is None


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("model:\n  hiden_size: 3\n", [], "hiden_size"),
        ("modle:\n  cell: gru\n", [], "modle"),
        ("", ["model.hidden_size=big"], "integer"),
        ("", ["model.bidirectional=3"], "true or false"),
        ("", ["nodot"], "section.key=value"),
        ("model: [1, 2\n", [], "invalid YAML"),
        ("", ["model.cell=lstmx"], "model.cell"),
        ("", ["features.dither=0.1"], "unknown key.*dither"),  # removed: it never did anything
    ],
)
def test_mistakes_are_clear_errors(tmp_path, text, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), overrides)


def test_shipped_configs_load():
    from pathlib import Path

    confs = sorted((Path(__file__).resolve().parents[2] / "conf").glob("*.yaml"))
    assert confs, "no configs shipped in conf/"
    for conf in confs:
        load_config(conf)


def test_select_by_is_checked(tmp_path):
    assert load_config(None, ["trainer.select_by=cer"]).trainer.select_by == "cer"
    with pytest.raises(ConfigError, match="select_by"):
        load_config(None, ["trainer.select_by=loss"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.schedule=cosin", "optim.schedule: must be one of 'cosine', 'constant', got 'cosin'"),
        ("decoder.kind=beem", "decoder.kind: must be one of 'greedy', 'beam'"),
        ("model.cmvn=utt", "model.cmvn: must be one of 'global', 'utterance'"),
        ("model.subsampling=4.0", "model.subsampling: must be one of 1, 2, 4, got 4.0"),
        ("text.unicode_form=nfc", "text.unicode_form: must be one of"),
        ("data.speed_perturb=[0.9, 1.0, 3]", r"data.speed_perturb\[2\]: must be in \[0.5, 2\], got 3.0"),
        ("data.speed_perturb=[0.4]", r"data.speed_perturb\[0\]: must be in \[0.5, 2\]"),
        ("data.max_batch_seconds=0", "data.max_batch_seconds: must be > 0, got 0.0"),
        ("features.hop_ms=-10", r"features.hop_ms: must be in \(0, 1000\]"),
        ("features.hop_ms=0.01", "features.hop_ms and features.win_ms must each span at least one sample"),
        ("features.f_max=9000", "features.f_max .* above the Nyquist"),
        ("trainer.max_epochs=0", "trainer.max_epochs: must be >= 1, got 0"),
        ("optim.lr=0", "optim.lr: must be > 0"),
        ("optim.lr=.nan", "optim.lr: expected a finite number, got nan"),
        ("optim.lr=.inf", "optim.lr: expected a finite number, got inf"),
        ("optim.lr=1.0e+999", "optim.lr: expected a finite number"),
        ("decoder.beam_size=0", r"decoder.beam_size: must be in \[1, 100000\]"),
        ("specaugment.max_time_ratio=1.5", r"specaugment.max_time_ratio: must be in \[0, 1\]"),
        ("specaugment.freq_warp=0.5", r"specaugment.freq_warp: must be in \[0, 0.3\]"),
    ],
)
def test_choices_and_ranges_are_checked_when_the_config_is_read(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


def test_every_choice_and_range_edge_is_accepted():
    config = load_config(None, ["optim.schedule=constant", "decoder.kind=beam", "model.cmvn=utterance",
                                "data.speed_perturb=[0.5, 1, 2]", "decoder.unk_score=-.inf", "model.subsampling=2",
                                "specaugment.freq_warp=0.3"])
    assert config.optim.schedule == "constant" and config.decoder.kind == "beam"
    assert config.model.cmvn == "utterance" and config.model.subsampling == 2
    assert config.data.speed_perturb == [0.5, 1.0, 2.0]
    assert config.decoder.unk_score == float("-inf")
    assert config.specaugment.freq_warp == 0.3


def test_the_choices_are_what_the_model_and_decoder_build():
    """The config's Literal choices must not drift from what CtcModel and build_decoder accept."""
    import typing

    from asr.config import _CHOICES, OptimConfig
    from asr.decode import DecoderConfig, build_decoder
    from asr.model import CtcModel, ModelConfig
    from asr.text import CharTokenizer

    tokenizer = CharTokenizer.build(["ab"])
    for cell in typing.get_args(_CHOICES["model.cell"]):
        for cmvn in typing.get_args(_CHOICES["model.cmvn"]):
            CtcModel(ModelConfig(cell=cell, cmvn=cmvn, hidden_size=4, num_layers=1, input_dim=4), 8, len(tokenizer))
    for kind in typing.get_args(_CHOICES["decoder.kind"]):
        build_decoder(DecoderConfig(kind=kind), tokenizer)
    assert typing.get_args(typing.get_type_hints(OptimConfig)["schedule"]) == ("cosine", "constant")


def test_literal_fields_are_checked_generically():
    from dataclasses import dataclass
    from typing import Literal

    from asr.config import from_dict

    @dataclass
    class Toy:
        mode: Literal["fast", "slow"] = "fast"
        step: Literal[1, 2] = 1

    assert from_dict(Toy, {"mode": "slow", "step": 2}) == Toy("slow", 2)
    with pytest.raises(ConfigError, match="toy.mode: must be one of 'fast', 'slow', got 'quick'"):
        from_dict(Toy, {"mode": "quick"}, "toy")
    with pytest.raises(ConfigError, match="toy.step: must be one of 1, 2, got True"):
        from_dict(Toy, {"step": True}, "toy")  # YAML's true is not the choice 1


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.cell=" + "x" * 100_000, "model.cell: must be one of"),
        ("data.speed_perturb=[" + ", ".join(["9.5"] * 20_000) + "]", "data.speed_perturb[0]: must be in"),
        ("data.speed_perturb=" + "x" * 100_000, "data.speed_perturb: expected a list"),
        ("trainer.max_epochs=" + "9" * 5000, "override 'trainer.max_epochs': cannot parse value"),
        ("optim.lr=" + "9" * 400, "optim.lr: number out of range"),
        ("model.hiden" + "x" * 5000 + "=1", "model: unknown key(s) hidenxxx"),
    ],
)
def test_a_huge_value_gives_a_short_one_line_error_naming_the_key(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert message.startswith(key) and len(message) < 300 and "\n" not in message


@pytest.mark.parametrize("content, message", [(b"\xff\xfe\x00junk", "not a text file"),
                                              (b"trainer:\n  max_epochs: " + b"9" * 5000, "invalid value")])
def test_unreadable_config_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value) and len(str(info.value)) < 300
