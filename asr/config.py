"""Training configuration: YAML sections mirror dataclasses; ``section.key=value`` overrides on the CLI.

Unknown keys are errors, so a typo in a config never silently falls back to a default; so are values
outside a setting's choices (``typing.Literal`` fields) or range (``_RANGES``), each as one line naming
the key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from asr.checks import _CHOICES, _RANGES, _clip, _short, check_features, from_dict  # noqa: F401
from asr.data.datamodule import DataConfig
from asr.decode import DecoderConfig
from asr.errors import ConfigError
from asr.features import FeatureConfig, SpecAugmentConfig
from asr.limits import check_regular_file
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
    # Confidence penalty (Pereyra et al. 2017): training minimises the CTC loss minus this weight times the
    # entropy of the output distribution, summed over each utterance's frames; 0 = off. Against a CTC model
    # growing over-confident on its errors (the dev loss rising while the dev CER still falls).
    confidence_penalty: float = 0.0
    # Intermediate CTC (Lee & Watanabe 2021): the loss is (1 - w) * CTC(last layer) + w * CTC(recurrent layer
    # inter_ctc_layer, 1-based; 0 = the middle one, num_layers // 2) through the same output layer; 0 = off.
    # A regulariser for small corpora; needs model.num_layers >= 2; nothing changes at inference.
    inter_ctc_weight: float = 0.0
    inter_ctc_layer: int = 0


@dataclass
class TrainerConfig:
    exp_dir: str = "exp/default"
    max_epochs: int = 30
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = the usable cores less the load of other processes, per epoch
    flush_denormal: bool = True  # CPU: treat denormal floats as zero (they take a slow path on x86)
    accelerator: str = "auto"  # Lightning's: auto, cpu, gpu, cuda, mps, ...
    devices: str = "auto"  # per node: a count ("2"), GPU indices ("0,1") or auto
    # Data-parallel training (DDP): one process per device, launched by Lightning itself, torchrun or SLURM.
    # Each rank takes its own part of every epoch (asr/data/sampler.py); rank 0 alone writes files.
    strategy: Literal["auto", "ddp", "ddp_find_unused_parameters_true"] = "auto"
    num_nodes: int = 1
    accumulate_grad_batches: int = 1  # optimizer step every N batches (per rank)
    precision: Literal["32-true", "16-mixed", "bf16-mixed", "64-true"] = "32-true"
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


def _check_features(config: TrainConfig) -> None:
    check_features(config.features)


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
        check_regular_file(path, "config file", ConfigError)  # never opens a FIFO or a device
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
        except yaml.YAMLError as exc:
            raise ConfigError(_yaml_error(path, exc)) from None
        except ValueError as exc:  # an integer beyond Python's digit limit
            raise ConfigError(f"{path}: invalid value ({_clip(str(exc))})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        # Manifest and model paths in a config are relative to the config file, like audio paths in a manifest.
        for section, key in (("data", "train"), ("data", "dev"), ("data", "train_shards"), ("trainer", "init")):
            values = data.get(section)
            value = values.get(key) if isinstance(values, dict) else None
            if isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value:
                values[key] = str((path.parent / value).resolve())
    data = apply_overrides(data, overrides or [])
    config = from_dict(TrainConfig, data)
    # The keys the YAML or the overrides set: fine-tuning takes the rest of the architecture from the model.
    config.explicit_keys = frozenset(_dotted_keys(data))
    config.model.validate()
    _check_features(config)
    return config


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """PyYAML's messages span several lines (a caret under a quoted line); one line: file:line:column: problem."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{problem} ({context})" if context else problem
    return f"{where}: invalid YAML: {_clip(' '.join(str(text).split()), 200)}"


def _dotted_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(f"{prefix}{key}")
        if isinstance(value, dict):
            keys |= _dotted_keys(value, f"{prefix}{key}.")
    return keys


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)
