"""Fine-tuning (asr/finetune.py): init from a model file, vocabulary growth, refusals, freezing."""

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import load_bundle
from asr.config import load_config
from asr.data.manifest import Utterance, write_manifest
from asr.errors import ConfigError
from asr.finetune import copy_weights, init_model, load_init
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer
from asr.train import prepare_data, train
from asr.units import PhoneTokenizer

TINY_MODEL = ["model.hidden_size=16", "model.num_layers=2", "model.conv_channels=4", "model.input_dim=16"]
TINY_FEATURES = ["features.sample_rate=8000", "features.n_mels=20"]


def write_corpus(root, texts, seed=0):
    """Ten noise utterances (8 kHz, 0.6-0.8 s) with ``texts`` in turn; dev = the first three."""
    rng = np.random.default_rng(seed)
    utts = []
    for i in range(10):
        seconds = 0.6 + 0.1 * (i % 3)
        path = root / "wav" / f"u{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(8000 * seconds))).astype(np.float32), 8000)
        utts.append(Utterance(f"u{i}", str(path), seconds, texts[i % len(texts)].upper() + "!"))
    write_manifest(root / "train.jsonl", utts)
    write_manifest(root / "dev.jsonl", utts[:3])
    return root


def config_for(root, *extra, exp="exp"):
    overrides = [f"data.train={root / 'train.jsonl'}", f"data.dev={root / 'dev.jsonl'}",
                 f"trainer.exp_dir={root / exp}", "trainer.max_epochs=1", "trainer.progress_bar=false",
                 "optim.warmup_steps=2", "data.max_batch_seconds=3", *extra]
    return load_config(None, overrides)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A char model (blank, |, a, b; 2 BiLSTM layers of 16) trained for one epoch."""
    root = write_corpus(tmp_path_factory.mktemp("source"), ["ab", "ba", "abba", "b a", "a"])
    train(config_for(root, *TINY_FEATURES, *TINY_MODEL))
    return root / "exp" / "model_last.pt"


@pytest.fixture
def target(tmp_path):
    """New data with 'c' and 'z', which the source model lacks, and without its 'a'."""
    return write_corpus(tmp_path, ["bc", "cb", "b c", "cbc", "bz"], seed=1)


def initialised(config):
    """What asr.train.train does before fitting: load, prepare the data, build and initialise the model."""
    init = load_init(config)
    data = prepare_data(init.config, cache_dir=None, base_tokenizer=init.bundle.tokenizer)
    model = CtcModel(init.config.model, init.config.features.n_mels, len(data.tokenizer))
    model.cmvn.set_stats(*data.cmvn_stats())
    return init, data, model, init_model(model, data, init)


def test_init_keeps_rows_by_symbol_adds_new_ones_and_logs_one_line(source, target, caplog):
    # The config names no architecture or features: they come from the model file.
    with caplog.at_level(logging.INFO, logger="asr.finetune"):
        init, data, model, line = initialised(config_for(target, f"trainer.init={source}"))
    old = load_bundle(source)
    assert init.config.model == old.model.config and init.config.features == old.features
    assert data.tokenizer.symbols == ["<blank>", "|", "a", "b", "c", "z"]  # 'a' stays, though unused
    assert model.head.weight.shape[0] == 6
    assert torch.equal(model.head.weight[:4], old.model.head.weight)
    assert torch.equal(model.head.bias[:4], old.model.head.bias)
    assert model.head.weight[4:].abs().sum() > 0  # fresh rows, not zeros
    new_state, old_state = model.state_dict(), old.model.state_dict()
    for name, tensor in old_state.items():
        if not name.startswith("head."):
            assert torch.equal(new_state[name], tensor), name  # CMVN buffers included: the model's
    assert not torch.equal(model.cmvn.mean, data.cmvn_stats()[0])
    assert all(p.requires_grad for p in model.parameters())
    records = [r.getMessage() for r in caplog.records if r.name == "asr.finetune"]
    assert records == [line] and "\n" not in line
    assert line.startswith(f"init from {source}: ")
    assert "4 of 4 output rows kept by symbol (1 unseen in the new data: a)" in line
    assert "2 new output rows (c, z)" in line and "CMVN from the model" in line and "nothing frozen" in line


def test_output_rows_are_matched_by_symbol_not_by_index():
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, num_layers=1, conv_channels=2, input_dim=8)
    source_symbols, target_symbols = ["<blank>", "|", "a", "b"], ["<blank>", "|", "b", "q", "a"]
    source, target = CtcModel(config, 10, 4), CtcModel(config, 10, 5)
    fresh_q = target.head.weight[3].clone()
    report = copy_weights(source, source_symbols, target, target_symbols)
    assert report.kept == ["<blank>", "|", "b", "a"] and report.new == ["q"]
    for t, s in ((0, 0), (1, 1), (2, 3), (4, 2)):
        assert torch.equal(target.head.weight[t], source.head.weight[s])
        assert torch.equal(target.head.bias[t], source.head.bias[s])
    assert torch.equal(target.head.weight[3], fresh_q)
    assert torch.equal(target.rnn.weight_hh_l0_reverse, source.rnn.weight_hh_l0_reverse)


def test_a_config_that_contradicts_the_model_is_refused_in_one_line(source, target):
    config = config_for(target, f"trainer.init={source}", "model.hidden_size=32", "model.cell=gru",
                        "features.n_mels=40", "model.num_layers=2")
    with pytest.raises(ConfigError) as caught:
        train(config)
    message = str(caught.value)
    assert "\n" not in message and str(source) in message
    assert "model.hidden_size: model 16, config 32" in message
    assert "model.cell: model 'lstm', config 'gru'" in message
    assert "features.n_mels: model 20, config 40" in message
    assert "num_layers" not in message  # set, but to the model's value
    assert not (target / "exp").exists()  # refused before any work
    with pytest.raises(ConfigError, match="tokenizer.units: model 'char', config 'phone'"):
        load_init(config_for(target, f"trainer.init={source}", "tokenizer.units=phone"))
    # Dropout is a training setting, not architecture: the config may change it.
    init = load_init(config_for(target, f"trainer.init={source}", "model.dropout=0.3", *TINY_MODEL))
    assert init.config.model.dropout == 0.3 and init.config.model.hidden_size == 16


def test_cmvn_from_the_data_and_normaliser_keys_from_the_config(source, target):
    _, data, model, line = initialised(config_for(target, f"trainer.init={source}", "trainer.init_cmvn=data",
                                                  "text.keep_chars=\"'!\""))
    mean, std = data.cmvn_stats()
    assert torch.equal(model.cmvn.mean, mean) and torch.equal(model.cmvn.std, std)
    assert "!" in data.tokenizer.symbols and data.train_set.texts[0] == "bc!"
    assert "CMVN from the new training data" in line and "with text.keep_chars from the config" in line


def test_frozen_weights_stay_and_the_rest_trains(source, target, caplog):
    config = config_for(target, f"trainer.init={source}", "trainer.freeze_frontend=true", "trainer.freeze_layers=1",
                        "optim.lr=0.01")
    with caplog.at_level(logging.INFO, logger="asr.finetune"):
        train(config)
    assert "frozen: front end, recurrent layer 1 of 2" in caplog.text
    old = load_bundle(source).model.state_dict()
    tuned = load_bundle(target / "exp" / "model_last.pt")
    assert tuned.tokenizer.symbols == ["<blank>", "|", "a", "b", "c", "z"]
    new = tuned.model.state_dict()
    frozen = [n for n in old if n.startswith("subsampling.") or "_l0" in n]
    trained = [n for n in old if "_l1" in n] + ["head.weight"]
    assert len(frozen) == 2 * 2 + 2 + 8 and len(trained) == 9  # 2 convs, projection, 2 directions x 4
    for name in frozen:
        assert torch.equal(new[name], old[name]), f"{name} is frozen but changed"
    for name in trained:
        if name == "head.weight":
            assert not torch.equal(new[name][:4], old[name]), "the output layer did not train"
        else:
            assert not torch.equal(new[name], old[name]), f"{name} is not frozen but did not change"


def test_freezing_needs_an_init_model_with_enough_layers(source, target):
    with pytest.raises(ConfigError, match="trainer.init"):
        load_init(config_for(target, "trainer.freeze_layers=1"))
    with pytest.raises(ConfigError, match="freeze_layers=3, but .* has 2 recurrent layer"):
        load_init(config_for(target, f"trainer.init={source}", "trainer.freeze_layers=3"))
    with pytest.raises(ConfigError, match="trainer.freeze_layers"):
        config_for(target, "trainer.freeze_layers=-1")


def test_a_phone_model_inits_a_phone_model(tmp_path):
    source_root = write_corpus(tmp_path / "source", ["yes", "no", "yes no"])
    train(config_for(source_root, "tokenizer.units=phone", "trainer.select_by=per", *TINY_FEATURES,
                     "model.hidden_size=16", "model.num_layers=1", "model.conv_channels=4", "model.input_dim=16"))
    source = source_root / "exp" / "model_last.pt"
    old = load_bundle(source)
    target = write_corpus(tmp_path / "target", ["yes go", "stop no", "go"], seed=1)
    # No tokenizer.units in the config: the units come from the model file.
    init, data, model, line = initialised(config_for(target, f"trainer.init={source}"))
    assert isinstance(data.tokenizer, PhoneTokenizer) and init.config.tokenizer.units == "phone"
    assert data.tokenizer.symbols == old.tokenizer.symbols  # every ARPAbet phone was there already
    assert set(data.tokenizer.lexicon) == {"yes", "no", "go", "stop"}
    assert all(data.tokenizer.lexicon[w] == old.tokenizer.lexicon[w] for w in ("yes", "no"))
    assert torch.equal(model.head.weight, old.model.head.weight)
    assert "0 new output rows" in line and "lexicon: 2 words from the model + 2 new" in line


def test_init_comes_from_the_command_line_or_a_config_relative_path(tmp_path):
    from asr.cli import build_parser

    args = build_parser().parse_args(["train", "--init", "m.pt", "trainer.max_epochs=1"])
    assert args.init == "m.pt" and args.overrides == ["trainer.max_epochs=1"]
    path = tmp_path / "conf" / "ft.yaml"
    path.parent.mkdir()
    path.write_text("trainer:\n  init: ../exp/model_best.pt\n  freeze_layers: 1\n")
    config = load_config(path)
    assert config.trainer.init == str(tmp_path / "exp" / "model_best.pt") and config.trainer.freeze_layers == 1
    # The example config leaves architecture and features to the model file and lowers the peak rate below
    # the demo model's own recipe (the source of recipes/finetune).
    conf = Path(__file__).resolve().parents[2] / "conf"
    example = load_config(conf / "finetune.yaml")
    assert not [k for k in example.explicit_keys if k.startswith(("model.", "features.", "tokenizer."))]
    assert example.optim.lr < load_config(conf / "demo.yaml").optim.lr


def test_char_base_extends_in_order():
    from asr.units import TokenizerConfig, build_tokenizer

    base = CharTokenizer(["<blank>", "|", "z", "a"])
    assert build_tokenizer(TokenizerConfig(), ["b a", "c"], base=base).symbols == ["<blank>", "|", "z", "a", "b", "c"]
