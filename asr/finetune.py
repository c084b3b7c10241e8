"""Fine-tuning: training that starts from a model file (``trainer.init``, ``asr train --init MODEL``).

What the fine-tuned model takes from the model file:

- architecture (``model.*``) and features (``features.*``), and its units (``tokenizer.units``, and
  ``tokenizer.stress`` for phone models): always, since the weights only fit those shapes and the features
  they were trained on. A config may leave these keys out; one that sets a key to another value than the
  model's (in its YAML or as an override) is refused with one line naming each such key, the model's value
  and the config's. ``model.dropout`` is a training setting: the model's unless the config sets it.
- normaliser: the model's; ``text.*`` keys the config sets override it (a new corpus may need other
  characters kept).
- vocabulary: the model's symbols in their order, then the units the new training transcripts need that
  the model lacks (asr.units.build_tokenizer with ``base``); symbols the new data lacks stay. Phone models
  keep their lexicon and add the new training words.
- weights: every tensor but the output layer is copied; output rows are copied by symbol, so a row keeps
  its weights whatever its index; the rows of new symbols keep their fresh initialisation.
- CMVN statistics (buffers of the model): the model's with ``trainer.init_cmvn=model`` (the default), or
  those of the new training data with ``trainer.init_cmvn=data``.

Freezing: ``trainer.freeze_frontend`` (the convolutional front end and its projection) and
``trainer.freeze_layers=N`` (the first N recurrent layers, both directions) turn off the gradients of those
parameters; the optimiser only gets the trainable ones. Freezing needs ``trainer.init``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from asr.checkpoint import AsrBundle, load_bundle
from asr.config import TrainConfig
from asr.errors import ConfigError
from asr.model import CtcModel
from asr.text import NormalizerConfig
from asr.units import PhoneTokenizer

log = logging.getLogger(__name__)

# Model settings that are training choices, not shapes: the config may change them.
_TRAINING_SETTINGS = {"dropout"}
_LAYER = re.compile(r"_l(\d+)(?:_reverse)?$")


@dataclass
class InitModel:
    """A model file to start from, and the training config adjusted to it."""

    path: Path
    bundle: AsrBundle
    config: TrainConfig  # architecture, features, units and normaliser of the model file
    text_overrides: list[str]  # text.* keys the config sets over the model's normaliser


def explicit_keys(config: TrainConfig) -> set[str]:
    """Dotted keys the config sets: recorded by asr.config.load_config; for a config built in Python, the
    keys whose values differ from the defaults."""
    keys = getattr(config, "explicit_keys", None)
    if keys is not None:
        return set(keys)
    default = TrainConfig()
    return {f"{section}.{f.name}" for section in ("model", "features", "text", "tokenizer", "trainer")
            for f in dataclasses.fields(getattr(default, section))
            if getattr(getattr(config, section), f.name) != getattr(getattr(default, section), f.name)}


def _units(tokenizer) -> str:
    return "phone" if isinstance(tokenizer, PhoneTokenizer) else "char"


def load_init(config: TrainConfig) -> InitModel | None:
    """The model file of ``trainer.init`` and the config to fine-tune it with; None without ``trainer.init``.

    Runs before any features are computed, so a missing or mismatched model fails at once.
    """
    trainer = config.trainer
    if not trainer.init:
        if trainer.freeze_frontend or trainer.freeze_layers:
            raise ConfigError("trainer.freeze_frontend and trainer.freeze_layers freeze weights loaded with "
                              "trainer.init (asr train --init MODEL); without it they would stay random")
        return None
    path = Path(trainer.init)
    bundle = load_bundle(path)
    keys = explicit_keys(config)
    mismatches = []

    def check(key: str, model_value, config_value) -> None:
        if key in keys and model_value != config_value:
            mismatches.append(f"{key}: model {model_value!r}, config {config_value!r}")

    model_config = dataclasses.replace(bundle.model.config)
    for field in dataclasses.fields(model_config):
        if field.name not in _TRAINING_SETTINGS:
            check(f"model.{field.name}", getattr(model_config, field.name), getattr(config.model, field.name))
    for field in dataclasses.fields(bundle.features):
        check(f"features.{field.name}", getattr(bundle.features, field.name), getattr(config.features, field.name))
    units = _units(bundle.tokenizer)
    check("tokenizer.units", units, config.tokenizer.units)
    if units == "phone":
        check("tokenizer.stress", bundle.tokenizer.stress, config.tokenizer.stress)
    if mismatches:
        raise ConfigError(f"{path}: the config differs from the model file it fine-tunes ({'; '.join(mismatches)}); "
                          "with trainer.init the architecture and features come from the model file: leave these "
                          "keys out or set them to the model's values")

    if "model.dropout" in keys:
        model_config = dataclasses.replace(model_config, dropout=config.model.dropout)
    if trainer.freeze_layers > model_config.num_layers:
        raise ConfigError(f"trainer.freeze_layers={trainer.freeze_layers}, but the model file {path} has "
                          f"{model_config.num_layers} recurrent layer(s)")
    text_overrides = sorted(k for k in keys if k.startswith("text."))
    normaliser = dataclasses.asdict(bundle.normalizer.config)
    normaliser.update({k[len("text."):]: getattr(config.text, k[len("text."):]) for k in text_overrides})
    tokenizer = dataclasses.replace(config.tokenizer, units=units,
                                    stress=bundle.tokenizer.stress if units == "phone" else config.tokenizer.stress)
    adjusted = dataclasses.replace(config, model=model_config, features=dataclasses.replace(bundle.features),
                                   text=NormalizerConfig(**normaliser), tokenizer=tokenizer)
    return InitModel(path, bundle, adjusted, text_overrides)


@dataclass
class CopyReport:
    encoder_params: int  # parameters copied outside the output layer
    kept: list[str]  # output symbols whose rows came from the source model
    new: list[str]  # output symbols the source model lacks (fresh rows)


def copy_weights(source: CtcModel, source_symbols: list[str], target: CtcModel, target_symbols: list[str],
                 cmvn: bool = True) -> CopyReport:
    """Copy ``source`` into ``target``: every tensor but the output layer as is (and the CMVN buffers when
    ``cmvn``), output rows by symbol. The two must share their architecture and features."""
    source_state, target_state = source.state_dict(), target.state_dict()
    head = {name for name, _ in target.named_parameters() if name.startswith("head.")}
    parameters = {name for name, _ in target.named_parameters()}
    copied = 0
    for name, tensor in target_state.items():
        if name in head or (not cmvn and name.startswith("cmvn.")):
            continue
        if source_state[name].shape != tensor.shape:  # guarded by load_init; a bug if it happens
            raise ConfigError(f"init: {name} has shape {tuple(source_state[name].shape)} in the model file, "
                              f"{tuple(tensor.shape)} in the new model")
        tensor.copy_(source_state[name])
        if name in parameters:
            copied += tensor.numel()
    index = {s: i for i, s in enumerate(source_symbols)}
    kept, new = [], []
    for row, symbol in enumerate(target_symbols):
        if symbol in index:
            target_state["head.weight"][row].copy_(source_state["head.weight"][index[symbol]])
            target_state["head.bias"][row].copy_(source_state["head.bias"][index[symbol]])
            kept.append(symbol)
        else:
            new.append(symbol)
    return CopyReport(copied, kept, new)


def freeze(model: CtcModel, frontend: bool, layers: int) -> list[str]:
    """Turn off the gradients of the front end and/or the first ``layers`` recurrent layers; what was frozen."""
    frozen = []
    if frontend:
        for parameter in model.subsampling.parameters():
            parameter.requires_grad_(False)
        frozen.append("front end")
    if layers:
        for name, parameter in model.rnn.named_parameters():
            found = _LAYER.search(name)
            if found is None:
                raise ValueError(f"unexpected recurrent parameter name {name!r}")
            if int(found.group(1)) < layers:
                parameter.requires_grad_(False)
        total = model.config.num_layers
        frozen.append(f"all {total} recurrent layers" if layers == total else
                      f"recurrent layer 1 of {total}" if layers == 1 else f"recurrent layers 1-{layers} of {total}")
    return frozen


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def _listed(symbols: list[str], limit: int = 12) -> str:
    return ", ".join(symbols[:limit]) + (f", ... ({len(symbols) - limit} more)" if len(symbols) > limit else "")


def init_model(model: CtcModel, data, init: InitModel) -> str:
    """Load ``init``'s weights into the freshly built ``model`` (whose CMVN holds the training data's
    statistics), freeze what the config says, log one line saying what was loaded and return it.

    ``data`` is the set-up AsrDataModule: its tokenizer extends the model file's (base_tokenizer).
    """
    trainer = init.config.trainer
    keep_cmvn = trainer.init_cmvn == "model"
    source_symbols = init.bundle.tokenizer.symbols
    report = copy_weights(init.bundle.model, source_symbols, model, data.tokenizer.symbols, cmvn=keep_cmvn)
    frozen = freeze(model, trainer.freeze_frontend, trainer.freeze_layers)
    used = {i for target in data.train_set.targets for i in target.tolist()}
    unseen = [s for i, s in enumerate(data.tokenizer.symbols[: len(source_symbols)])
              if i not in used and i not in (data.tokenizer.blank_id, data.tokenizer.word_sep_id)]
    cfg = init.config.model
    layers = (f"{cfg.num_layers} {'bidirectional ' if cfg.bidirectional else ''}{cfg.cell.upper()} "
              f"layer{'s' if cfg.num_layers > 1 else ''} of {cfg.hidden_size}")
    parts = [
        f"init from {init.path}: {_count(report.encoder_params)} encoder params (front end, {layers})",
        f"{len(report.kept)} of {len(source_symbols)} output rows kept by symbol"
        + (f" ({len(unseen)} unseen in the new data: {_listed(unseen)})" if unseen else ""),
        f"{len(report.new)} new output rows" + (f" ({_listed(report.new)})" if report.new else ""),
    ]
    if isinstance(data.tokenizer, PhoneTokenizer):
        added = len(data.tokenizer.lexicon) - len(init.bundle.tokenizer.lexicon)
        parts.append(f"lexicon: {len(init.bundle.tokenizer.lexicon)} words from the model + {added} new")
    normaliser = "normaliser from the model" + (f" with {', '.join(init.text_overrides)} from the config"
                                                if init.text_overrides else "")
    parts.append(f"features, {_units(data.tokenizer)} units and {normaliser}")
    parts.append(f"CMVN from the {'model' if keep_cmvn else 'new training data'}")
    parts.append(f"frozen: {', '.join(frozen)}" if frozen else "nothing frozen")
    line = "; ".join(parts)
    log.info("%s", line)
    return line
