"""The model file: weights plus everything ``transcribe`` needs, loaded without executing code.

Layout (a torch.save'd dict, read back with ``weights_only=True``): ``format_version`` (int),
``meta`` (a JSON string: model, feature, normaliser, tokenizer and decoder settings, training info)
and ``state_dict`` (tensors only; the CMVN statistics are buffers in it).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from asr import limits
from asr.decode import DecoderConfig
from asr.errors import AsrError, CheckpointError
from asr.features import FeatureConfig
from asr.io_utils import atomic_write
from asr.limits import check_regular_file
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, NormalizerConfig, TextNormalizer
from asr.units import PhoneTokenizer, tokenizer_from_dict

FORMAT_VERSION = 1

_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


@dataclass
class AsrBundle:
    """A trained model with the pieces that turn audio into text around it."""

    model: CtcModel
    features: FeatureConfig
    tokenizer: CharTokenizer | PhoneTokenizer
    normalizer: TextNormalizer
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    info: dict = field(default_factory=dict)

    @property
    def frame_shift(self) -> float:
        """Seconds per model output frame (feature hop times subsampling)."""
        return self.features.hop_length / self.features.sample_rate * self.model.config.subsampling


def save_bundle(bundle: AsrBundle, path: str | os.PathLike) -> Path:
    meta = {
        "model": asdict(bundle.model.config),
        "features": asdict(bundle.features),
        "normalizer": asdict(bundle.normalizer.config),
        "tokenizer": bundle.tokenizer.to_dict(),
        "decoder": asdict(bundle.decoder),
        "info": bundle.info,
    }
    payload = {
        "format_version": FORMAT_VERSION,
        "meta": json.dumps(meta),
        "state_dict": {k: v.detach().cpu().clone() for k, v in bundle.model.state_dict().items()},
    }
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)
    return path


def _safe_load(path: Path, what: str) -> object:
    """``torch.load`` restricted to tensors and plain data, every failure as a CheckpointError naming ``path``."""
    check_regular_file(path, what, CheckpointError)  # a FIFO or a device is never opened
    _check_zip_sizes(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises retrying with weights_only=False, the one thing never to do with such a file.
        found = _UNSAFE_GLOBAL.search(str(exc))
        if found:
            raise CheckpointError(
                f"{path}: refused to load: the file holds a pickled Python object ({found.group(1)}), not only "
                "tensors and plain data, and loading it could run code"
            ) from None
        raise CheckpointError(f"{path}: not a readable {what} (truncated or corrupt: not a torch.save file "
                              "of tensors and plain data)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable {what} (truncated or corrupt: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - arbitrary bytes make the unpickler fail in arbitrary ways
        detail = f"{type(exc).__name__} {exc}"
        raise CheckpointError(f"{path}: not a readable {what} (truncated or corrupt: {detail})") from None


def _check_zip_sizes(path: Path, what: str) -> None:
    """A torch.save file is a zip archive: entries that would expand far beyond the file are refused unread."""
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except Exception:  # noqa: BLE001 - BadZipFile, NotImplementedError (zip version), OSError...: damaged
        return  # torch.load reports the damage in its own words
    size = path.stat().st_size
    expanded = sum(e.file_size for e in entries)
    if expanded > limits.MAX_MODEL_BYTES or expanded > 100 * size + (1 << 20):
        raise CheckpointError(f"{path}: refused to load: the {what}'s entries expand to {expanded} bytes "
                              f"from a {size}-byte file (limit {limits.MAX_MODEL_BYTES})")


def check_training_checkpoint(path: str | os.PathLike) -> dict:
    """Load a Lightning checkpoint for ``--resume`` the safe way; a damaged or unsafe one is a CheckpointError."""
    path = Path(path)
    payload = _safe_load(path, "training checkpoint")
    if not isinstance(payload, dict) or "state_dict" not in payload or "global_step" not in payload:
        raise CheckpointError(f"{path}: not a Lightning training checkpoint (no state_dict or global_step)")
    return payload


def load_bundle(path: str | os.PathLike) -> AsrBundle:
    path = Path(path)
    payload = _safe_load(path, "model file")
    if not isinstance(payload, dict) or "format_version" not in payload or "meta" not in payload:
        raise CheckpointError(f"{path}: not a model file of this toolkit (no format_version); "
                              "Lightning training checkpoints are for --resume, use model_best.pt or model_last.pt")
    version = payload["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: model format version {version} is newer than this toolkit supports ({FORMAT_VERSION}); "
            "upgrade the toolkit"
        )
    try:
        model_config, features, tokenizer, normalizer, decoder, meta = _settings(payload["meta"])
        state = payload.get("state_dict")
        _check_tensors(model_config, features.n_mels, len(tokenizer), state)
        model = CtcModel(model_config, features.n_mels, len(tokenizer))
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AsrError) as exc:
        raise CheckpointError(f"{path}: model file is inconsistent ({_clip(str(exc), 300)})") from None
    model.eval()
    info = meta.get("info", {})
    return AsrBundle(model, features, tokenizer, normalizer, decoder, info if isinstance(info, dict) else {})


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _settings(raw: object) -> tuple:
    """The settings stored in a model file, checked like a training config's values (ranges, choices, types)."""
    from asr.checks import check_features, from_dict

    if not isinstance(raw, str) or len(raw) > limits.MAX_META_CHARS:
        raise ValueError("the settings (meta) are not a JSON string of a sane size")
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise ValueError("the settings (meta) are not a JSON object")
    for section in ("model", "features", "tokenizer", "normalizer"):
        if not isinstance(meta.get(section), dict):
            raise ValueError(f"settings section '{section}' is missing or not a mapping")
    model_config = from_dict(ModelConfig, meta["model"], "model")
    model_config.validate()
    feature_settings = dict(meta["features"])
    feature_settings.pop("dither", None)  # a removed setting (features are computed in eval mode: no dither)
    features = from_dict(FeatureConfig, feature_settings, "features")
    check_features(features)
    symbols = meta["tokenizer"].get("symbols")
    if not isinstance(symbols, list) or not 1 <= len(symbols) <= limits.MAX_VOCAB or \
            not all(isinstance(s, str) for s in symbols):
        raise ValueError(f"tokenizer symbols must be a list of 1 to {limits.MAX_VOCAB} strings")
    tokenizer = tokenizer_from_dict(meta["tokenizer"])
    normalizer = TextNormalizer(from_dict(NormalizerConfig, meta["normalizer"], "text"))
    decoder_settings = meta.get("decoder", {})
    if not isinstance(decoder_settings, dict):
        raise ValueError("settings section 'decoder' is not a mapping")
    decoder = from_dict(DecoderConfig, decoder_settings, "decoder")
    return model_config, features, tokenizer, normalizer, decoder, meta


def _check_tensors(config: ModelConfig, n_mels: int, vocab: int, state: object) -> None:
    """The tensors the settings ask for must be the ones the file holds, checked before anything is allocated.

    The model is first built on torch's "meta" device (shapes only, no memory), so settings asking for a
    14 GB layer cost nothing when the file holds no such tensor; weights must also be finite.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("state_dict is not a mapping of tensors")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in CtcModel(config, n_mels, vocab).state_dict().items()}
    total = sum(math.prod(shape) for shape in expected.values())
    if total > limits.MAX_MODEL_PARAMS:
        raise ValueError(f"the settings ask for {total} weights, more than the limit {limits.MAX_MODEL_PARAMS}")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"tensors missing: {_clip(', '.join(missing) or 'none', 100)}; "
                         f"not expected: {_clip(', '.join(map(str, unexpected)) or 'none', 100)}")
    for name, shape in expected.items():
        tensor = state[name]
        if tuple(tensor.shape) != shape:
            raise ValueError(f"tensor {name} has shape {tuple(tensor.shape)}, the settings ask for {shape}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"tensor {name} holds NaN or Inf values")
    std = state.get("cmvn.std")
    if std is not None and not bool((std > 0).all()):
        raise ValueError("cmvn.std holds values <= 0 (features would divide by zero)")
