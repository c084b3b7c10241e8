"""Value checks shared by training configs and model files: types, choices and ranges, each as one line
naming the key (``section.key``), with values cut to about 80 characters.

Kept apart from asr.config (which imports the training stack, Lightning included) so that loading a model
file, which checks its stored settings with the same tables, stays fast.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from asr import limits
from asr.errors import ConfigError
from asr.features import FeatureConfig

# Choices of settings whose dataclasses live in other modules and annotate them as plain str or int there.
# A field annotated with a Literal of its own (optim.schedule, trainer.select_by) needs no entry.
_CHOICES: dict[str, Any] = {
    "model.cell": Literal["rnn", "lstm", "gru"],
    "model.cmvn": Literal["global", "utterance", "speaker"],
    "model.subsampling": Literal[1, 2, 4],
    "text.unicode_form": Literal["NFC", "NFKC", "NFD", "NFKD"],
    "decoder.kind": Literal["greedy", "beam"],
}

# Numeric ranges, key -> (test, what the test says). List items (data.speed_perturb[0]) use their list's key.
_AT_LEAST_0 = (lambda x: x >= 0, ">= 0")
_AT_LEAST_1 = (lambda x: x >= 1, ">= 1")
_POSITIVE = (lambda x: x > 0, "> 0")


def _between(low: float, high: float, note: str = "") -> tuple[Any, str]:
    return (lambda x: low <= x <= high, f"in [{low}, {high}]{note}")


# Upper bounds (asr/limits.py) keep a typo, or a hostile model file whose settings pass through the same
# checks, from asking for a layer of gigabytes.
_WIDTH = _between(1, limits.MAX_MODEL_WIDTH)
_RANGES: dict[str, tuple[Any, str]] = {
    "data.max_batch_seconds": _POSITIVE,
    "data.num_buckets": _between(1, 100_000),
    "data.max_duration": (lambda x: x >= 0, ">= 0 (0 = no limit)"),
    "data.speed_perturb": (lambda x: 0.5 <= x <= 2.0, "in [0.5, 2]"),
    "data.num_workers": _between(0, 256),
    "data.shuffle_buffer": _between(1, 10_000_000),
    "data.cmvn_utterances": _between(1, 10_000_000),
    "features.sample_rate": _between(limits.MIN_SAMPLE_RATE, limits.MAX_SAMPLE_RATE),
    "features.n_mels": _WIDTH,
    "features.win_ms": (lambda x: 0 < x <= 1000, "in (0, 1000]"),
    "features.hop_ms": (lambda x: 0 < x <= 1000, "in (0, 1000]"),
    "features.n_fft": _between(0, limits.MAX_FFT, " (0 = from the window)"),
    "features.f_min": _between(0, limits.MAX_SAMPLE_RATE),
    "features.f_max": _between(0, limits.MAX_SAMPLE_RATE, " (0 = Nyquist)"),
    "features.floor_db": _between(0, 200, " (0 = a fixed floor)"),
    "specaugment.freq_masks": _between(0, 1000),
    "specaugment.freq_width": _between(0, limits.MAX_MODEL_WIDTH),
    "specaugment.time_masks": _between(0, 1000),
    "specaugment.time_width": _between(0, 1_000_000),
    "specaugment.max_time_ratio": (lambda x: 0 <= x <= 1, "in [0, 1]"),
    "specaugment.freq_warp": (lambda x: 0 <= x <= 0.3, "in [0, 0.3]"),
    "model.hidden_size": _WIDTH,
    "model.num_layers": _between(1, limits.MAX_MODEL_LAYERS),
    "model.conv_channels": _WIDTH,
    "model.input_dim": _WIDTH,
    "model.dropout": (lambda x: 0 <= x < 1, "in [0, 1)"),
    "optim.lr": _POSITIVE,
    "optim.weight_decay": _AT_LEAST_0,
    "optim.warmup_steps": _AT_LEAST_0,
    "optim.confidence_penalty": _between(0, 10),
    "optim.inter_ctc_weight": (lambda x: 0 <= x < 1, "in [0, 1)"),
    "optim.inter_ctc_layer": _between(0, limits.MAX_MODEL_LAYERS, " (0 = the middle layer)"),
    "optim.min_lr_ratio": (lambda x: 0 <= x <= 1, "in [0, 1]"),
    "optim.grad_clip": (lambda x: x >= 0, ">= 0 (0 = off)"),
    "trainer.max_epochs": _AT_LEAST_1,
    "trainer.threads": _between(0, 4096, " (0 = automatic)"),
    "trainer.num_nodes": _between(1, 100_000),
    "trainer.accumulate_grad_batches": _between(1, 100_000),
    "trainer.seed": _between(0, 2**32 - 1),
    "trainer.log_every_n_steps": _AT_LEAST_1,
    "trainer.check_val_every_n_epoch": _AT_LEAST_1,
    "trainer.early_stop_patience": (lambda x: x >= 0, ">= 0 (0 = off)"),
    "trainer.average_last": _AT_LEAST_0,
    "trainer.freeze_layers": _AT_LEAST_0,
    "decoder.beam_size": _between(1, limits.MAX_BEAM),
    "decoder.beam_size_token": _between(0, limits.MAX_VOCAB, " (0 = all)"),
    "decoder.beam_threshold": (lambda x: 0 < x <= 1e6, "in (0, 1e6]"),
    "decoder.token_min_logp": _between(-1000, 0),
    "decoder.blank_skip": (lambda x: 0 < x <= 1, "in (0, 1] (1 = off)"),
    # Beyond these, scores overflow to infinity and the beam search returns nothing or nonsense.
    "decoder.lm_weight": _between(-1000, 1000),
    "decoder.word_score": _between(-1000, 1000),
    "decoder.sil_score": _between(-1000, 1000),
    "decoder.unk_score": (lambda x: x == -math.inf or -1000 <= x <= 1000, "in [-1000, 1000] or -inf"),
    "decoder.nbest": _between(1, limits.MAX_NBEST),
    "decoder.hotword_boost": _between(-1000, 1000),
    "decoder.unk_prefix_score": _between(-1000, 0),
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


def check_features(features: FeatureConfig) -> None:
    """Settings that are only wrong together: a hop or window shorter than one sample, f_min above f_max."""
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
    if features.fft_size > limits.MAX_FFT or features.fft_size < features.win_length:
        raise ConfigError(f"features: FFT size {features.fft_size} must be between the window "
                          f"({features.win_length} samples) and {limits.MAX_FFT}")


