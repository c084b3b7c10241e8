"""The model file: weights plus everything ``transcribe`` needs, loaded without executing code.

Layout (a torch.save'd dict, read back with ``weights_only=True``): ``format_version`` (int),
``meta`` (a JSON string: model, feature, normaliser, tokenizer and decoder settings, training info)
and ``state_dict`` (tensors only; the CMVN statistics are buffers in it).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from asr.decode import DecoderConfig
from asr.errors import AsrError, CheckpointError
from asr.features import FeatureConfig
from asr.io_utils import atomic_write
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
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found")
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
        meta = json.loads(payload["meta"])
        model_config = ModelConfig(**meta["model"])
        feature_settings = dict(meta["features"])
        feature_settings.pop("dither", None)  # a removed setting (features are computed in eval mode: no dither)
        features = FeatureConfig(**feature_settings)
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
        normalizer = TextNormalizer(NormalizerConfig(**meta["normalizer"]))
        decoder = DecoderConfig(**meta.get("decoder", {}))
        model = CtcModel(model_config, features.n_mels, len(tokenizer))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError, AsrError) as exc:
        raise CheckpointError(f"{path}: model file is inconsistent ({exc})") from None
    model.eval()
    return AsrBundle(model, features, tokenizer, normalizer, decoder, meta.get("info", {}))
