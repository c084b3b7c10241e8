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
