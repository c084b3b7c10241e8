"""Training configuration: YAML sections mirror dataclasses; ``section.key=value`` overrides on the CLI.

Unknown keys are errors, so a typo in a config never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from asr.decode import DecoderConfig
from asr.errors import ConfigError
from asr.features import FeatureConfig, SpecAugmentConfig
from asr.model import ModelConfig
from asr.text import NormalizerConfig


@dataclass
class DataConfig:
    train: str = ""
    dev: str = ""
    max_batch_seconds: float = 60.0  # total audio per batch, padding excluded
    num_buckets: int = 10
    max_duration: float = 30.0  # longer training utterances are skipped and counted
    # Speed perturbation: each factor other than 1 adds a copy of the training set played that much faster
    # (Kaldi's 0.9/1.0/1.1 triples the data). Features of every copy are computed once and cached.
    speed_perturb: list[float] = field(default_factory=list)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    # After warm-up: "cosine" to min_lr_ratio * lr at the last step, or "constant".
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0


@dataclass
class TrainerConfig:
    exp_dir: str = "exp/default"
    max_epochs: int = 30
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = all cores
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    early_stop_patience: int = 0  # epochs without dev improvement (select_by); 0 = off
    # Dev metric that picks model_best.pt: "wer", or "cer" for models far from usable word accuracy,
    # where an all-blank epoch (WER 100%) beats one that spells words half right (WER > 100%).
    select_by: str = "wer"
    # Keep the model files of the last N epochs (model_epochNNN.pt) and write model_avg.pt, the mean of
    # their weights, when training ends; 0 or 1 = off.
    average_last: int = 0
    progress_bar: bool = True


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    specaugment: SpecAugmentConfig | None = field(default_factory=SpecAugmentConfig)
    text: NormalizerConfig = field(default_factory=NormalizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type, data: dict, where: str = "config") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a nested dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value ({exc})") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
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
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        # Manifest paths in a config are relative to the config file, like audio paths in a manifest.
        data_section = data.get("data") or {}
        for key in ("train", "dev"):
            value = data_section.get(key)
            if isinstance(value, str) and value and not os.path.isabs(value):
                data_section[key] = str((path.parent / value).resolve())
    data = apply_overrides(data, overrides or [])
    config = from_dict(TrainConfig, data)
    config.model.validate()
    if config.trainer.select_by not in ("wer", "cer"):
        raise ConfigError(f"trainer.select_by must be 'wer' or 'cer', got {config.trainer.select_by!r}")
    return config


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)
