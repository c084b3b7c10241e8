"""Training configuration: YAML sections mirror dataclasses; ``section.key=value`` overrides on the CLI.

Unknown keys are errors, so a typo in a config never silently falls back to a default; so are values
outside a setting's choices (``typing.Literal`` fields) or range (``_RANGES``), each as one line naming
the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from asr.data.datamodule import DataConfig
from asr.decode import DecoderConfig
from asr.errors import ConfigError
from asr.features import FeatureConfig, SpecAugmentConfig
from asr.model import ModelConfig
from asr.text import NormalizerConfig
from asr.units import TokenizerConfig


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    # After warm-up: "cosine" to min_lr_ratio * lr at the last step, or "constant".
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0


@dataclass
class TrainerConfig:
    exp_dir: str = "exp/default"
    max_epochs: int = 30
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = all cores
    flush_denormal: bool = True  # CPU: treat denormal floats as zero (they take a slow path on x86)
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    early_stop_patience: int = 0  # epochs without dev improvement (select_by); 0 = off
    # Dev metric that picks model_best.pt: "wer", or "cer" for models far from usable word accuracy,
    # where an all-blank epoch (WER 100%) beats one that spells words half right (WER > 100%).
    select_by: Literal["wer", "cer", "per"] = "wer"  # "cer" and "per": the unit error rate
    # Keep the model files of the last N epochs (model_epochNNN.pt) and write model_avg.pt, the mean of
    # their weights, when training ends; 0 or 1 = off.
    average_last: int = 0
    progress_bar: bool = True  # shown only on a terminal; otherwise one summary line per epoch
    # Fine-tuning (asr/finetune.py, `asr train --init MODEL`): start from this model file. Its architecture
    # (model.*, dropout aside), features, normaliser and units are taken from it; a config that sets one
    # of those differently is an error, except text.*, which overrides the model's normaliser.
    init: str = ""
    init_cmvn: Literal["model", "data"] = "model"  # CMVN statistics: the model's, or the new training data's
    freeze_frontend: bool = False  # keep the convolutional front end's weights as loaded
    freeze_layers: int = 0  # keep the first N recurrent layers (both directions) as loaded


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    specaugment: SpecAugmentConfig | None = field(default_factory=SpecAugmentConfig)
    text: NormalizerConfig = field(default_factory=NormalizerConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)


# Choices of settings whose dataclasses live in other modules and annotate them as plain str or int there.
# A field annotated with a Literal of its own (optim.schedule, trainer.select_by) needs no entry.
_CHOICES: dict[str, Any] = {
    "model.cell": Literal["rnn", "lstm", "gru"],
    "model.cmvn": Literal["global", "utterance"],
    "model.subsampling": Literal[1, 2, 4],
    "text.unicode_form": Literal["NFC", "NFKC", "NFD", "NFKD"],
    "decoder.kind": Literal["greedy", "beam"],
}

# Numeric ranges, key -> (test, what the test says). List items (data.speed_perturb[0]) use their list's key.
_AT_LEAST_0 = (lambda x: x >= 0, ">= 0")
_AT_LEAST_1 = (lambda x: x >= 1, ">= 1")
_POSITIVE = (lambda x: x > 0, "> 0")
_RANGES: dict[str, tuple[Any, str]] = {
    "data.max_batch_seconds": _POSITIVE,
    "data.num_buckets": _AT_LEAST_1,
    "data.max_duration": (lambda x: x >= 0, ">= 0 (0 = no limit)"),
    "data.speed_perturb": (lambda x: 0.5 <= x <= 2.0, "in [0.5, 2]"),
    "features.sample_rate": _AT_LEAST_1,
    "features.n_mels": _AT_LEAST_1,
    "features.win_ms": _POSITIVE,
    "features.hop_ms": _POSITIVE,
    "features.n_fft": _AT_LEAST_0,
    "features.f_min": _AT_LEAST_0,
    "features.f_max": _AT_LEAST_0,
    "specaugment.freq_masks": _AT_LEAST_0,
    "specaugment.freq_width": _AT_LEAST_0,
    "specaugment.time_masks": _AT_LEAST_0,
    "specaugment.time_width": _AT_LEAST_0,
    "specaugment.max_time_ratio": (lambda x: 0 <= x <= 1, "in [0, 1]"),
    "model.hidden_size": _AT_LEAST_1,
    "model.num_layers": _AT_LEAST_1,
    "model.conv_channels": _AT_LEAST_1,
    "model.input_dim": _AT_LEAST_1,
    "model.dropout": (lambda x: 0 <= x < 1, "in [0, 1)"),
    "optim.lr": _POSITIVE,
    "optim.weight_decay": _AT_LEAST_0,
    "optim.warmup_steps": _AT_LEAST_0,
    "optim.min_lr_ratio": (lambda x: 0 <= x <= 1, "in [0, 1]"),
    "optim.grad_clip": (lambda x: x >= 0, ">= 0 (0 = off)"),
    "trainer.max_epochs": _AT_LEAST_1,
    "trainer.threads": (lambda x: x >= 0, ">= 0 (0 = all cores)"),
    "trainer.log_every_n_steps": _AT_LEAST_1,
    "trainer.check_val_every_n_epoch": _AT_LEAST_1,
    "trainer.early_stop_patience": (lambda x: x >= 0, ">= 0 (0 = off)"),
    "trainer.average_last": _AT_LEAST_0,
    "trainer.freeze_layers": _AT_LEAST_0,
    "decoder.beam_size": _AT_LEAST_1,
    "decoder.beam_size_token": (lambda x: x >= 0, ">= 0 (0 = all)"),
    "decoder.beam_threshold": _POSITIVE,
    "decoder.nbest": _AT_LEAST_1,
}
# Floats may be infinite only here (minus infinity: words outside the lexicon are never chosen).
_INFINITE_OK = {"decoder.unk_score"}


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _short(value: Any) -> str:
    """``repr(value)`` cut to about 80 characters, so a huge value never floods the error line."""
    try:
        return _clip(repr(value))
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"<an integer of {value.bit_length()} bits>"


def _rule_key(where: str) -> str:
    return where.split("[", 1)[0]


def _check_range(value: float, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value) or _rule_key(where) not in _INFINITE_OK:
            raise ConfigError(f"{where}: expected a finite number, got {_short(value)}")
    rule = _RANGES.get(_rule_key(where))
    if rule is not None and not rule[0](value):
        raise ConfigError(f"{where}: must be {rule[1]}, got {_short(value)}")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        # Compare types too: YAML's true is not the choice 1, nor 4.0 the choice 4.
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        raise ConfigError(f"{where}: must be one of {', '.join(map(repr, choices))}, got {_short(value)}")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_short(value)}")
        return from_dict(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_short(value)}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {_short(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an int too large for a float
                raise ConfigError(f"{where}: number out of range, got {_short(value)}") from None
            _check_range(value, where)
            return value
        raise ConfigError(f"{where}: expected a number, got {_short(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            _check_range(value, where)
            return value
        raise ConfigError(f"{where}: expected an integer, got {_short(value)}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {_short(value)}")
    return value


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; ``where`` is the dotted key of ``data`` ("" at the top level)."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(data) - known))
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {_clip(', '.join(unknown))}; "
                          f"known: {', '.join(sorted(known))}")
    kwargs = {}
    for k, v in data.items():
        key = f"{where}.{k}" if where else k
        kwargs[k] = _coerce(v, _CHOICES.get(key, hints[k]), key)
    return cls(**kwargs)


def _check_features(config: TrainConfig) -> None:
    """Settings that are only wrong together: a hop or window shorter than one sample, f_min above f_max."""
    features = config.features
    try:
        hop, win = (features.sample_rate * ms / 1000 for ms in (features.hop_ms, features.win_ms))
    except OverflowError:
        raise ConfigError("features.sample_rate is out of range") from None
    if not (round(hop) >= 1 and round(win) >= 1 and math.isfinite(hop * win)):
        raise ConfigError(f"features.hop_ms and features.win_ms must each span at least one sample at "
                          f"{_short(features.sample_rate)} Hz, got {_short(features.hop_ms)} and "
                          f"{_short(features.win_ms)} ms")
    top = features.f_max or features.sample_rate / 2
    if features.f_max > features.sample_rate / 2:
        raise ConfigError(f"features.f_max ({features.f_max} Hz) is above the Nyquist frequency "
                          f"({features.sample_rate / 2} Hz); 0 means Nyquist")
    if features.f_min >= top:
        raise ConfigError(f"features.f_min ({features.f_min}) must be below f_max ({top} Hz)")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a nested dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {_short(item)} must look like section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer beyond Python's digit limit
            raise ConfigError(f"override {_short(key)}: cannot parse value ({_clip(str(exc))})") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {_short(item)}: {part} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> TrainConfig:
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML ({exc})") from None
        except ValueError as exc:  # an integer beyond Python's digit limit
            raise ConfigError(f"{path}: invalid value ({_clip(str(exc))})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        # Manifest and model paths in a config are relative to the config file, like audio paths in a manifest.
        for section, key in (("data", "train"), ("data", "dev"), ("trainer", "init")):
            values = data.get(section)
            value = values.get(key) if isinstance(values, dict) else None
            if isinstance(value, str) and value and not os.path.isabs(value):
                values[key] = str((path.parent / value).resolve())
    data = apply_overrides(data, overrides or [])
    config = from_dict(TrainConfig, data)
    # The keys the YAML or the overrides set: fine-tuning takes the rest of the architecture from the model.
    config.explicit_keys = frozenset(_dotted_keys(data))
    config.model.validate()
    _check_features(config)
    return config


def _dotted_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(f"{prefix}{key}")
        if isinstance(value, dict):
            keys |= _dotted_keys(value, f"{prefix}{key}.")
    return keys


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)
