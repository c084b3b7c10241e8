"""Checkpoint averaging: the mean of the weights of several model files of one training run.

Averaging the last few epochs smooths out the noise of the final updates and usually gives a model a
little better than any single epoch (a standard step in ESPnet and EESEN recipes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from asr.checkpoint import AsrBundle, load_bundle, save_bundle
from asr.errors import CheckpointError


def _signature(bundle: AsrBundle) -> dict:
    return {
        "model": asdict(bundle.model.config),
        "features": asdict(bundle.features),
        "tokenizer": bundle.tokenizer.to_dict(),
        "normalizer": asdict(bundle.normalizer.config),
    }


def average_models(paths: Sequence[str | os.PathLike]) -> AsrBundle:
    """One bundle whose weights are the element-wise mean of the model files in ``paths``.

    Every file must share model shape, features, tokenizer and normaliser; the first file's decoder
    settings are kept.
    """
    if not paths:
        raise CheckpointError("no model files to average")
    first = load_bundle(paths[0])
    reference = _signature(first)
    total = {k: v.detach().clone().double() for k, v in first.model.state_dict().items()}
    epochs = [first.info.get("epoch")]
    for path in paths[1:]:
        bundle = load_bundle(path)
        signature = _signature(bundle)
        if signature != reference:
            differing = ", ".join(k for k in reference if signature[k] != reference[k])
            raise CheckpointError(f"{path}: cannot be averaged with {paths[0]} (different {differing})")
        for key, value in bundle.model.state_dict().items():
            total[key] += value.double()
        epochs.append(bundle.info.get("epoch"))
    averaged = {k: (v / len(paths)).to(first.model.state_dict()[k].dtype) for k, v in total.items()}
    first.model.load_state_dict(averaged)
    first.info = {"averaged_from": [str(Path(p)) for p in paths], "epochs": epochs}
    return first


def write_average(paths: Sequence[str | os.PathLike], output: str | os.PathLike) -> Path:
    with torch.no_grad():
        return save_bundle(average_models(paths), output)
