"""Feature extraction for a whole manifest, the in-memory dataset and the padding collate."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from asr.audio import audio_info, change_speed, load_audio
from asr.data.manifest import Utterance
from asr.errors import AsrError, AudioError
from asr.features import FeatureConfig, LogMel, subsampled_length
from asr.io_utils import atomic_write

log = logging.getLogger(__name__)


def utterance_features(utt: Utterance, logmel: LogMel, speed: float = 1.0) -> torch.Tensor:
    duration = utt.duration if utt.offset else None  # a segment of a longer recording
    if duration is None:
        # A whole file is read at once: a manifest claiming 1 s for a 10-hour file must not load 2.3 GB.
        actual = audio_info(utt.audio, verify=False)[2]
        if actual > 1.5 * utt.duration + 30:
            raise AudioError(f"{utt.audio}: holds {actual:.1f} s of audio, the manifest says {utt.duration:g} s "
                             f"(utterance {utt.id!r}); fix the manifest's duration, or give an offset and "
                             "duration to use a segment")
    wave = load_audio(utt.audio, logmel.config.sample_rate, offset=utt.offset, duration=duration)
    wave = change_speed(wave, logmel.config.sample_rate, speed)
    with torch.no_grad():
        return logmel(wave)


def _cache_key(utterances: Sequence[Utterance], config: FeatureConfig, speed: float) -> str:
    h = hashlib.sha1(json.dumps(asdict(config), sort_keys=True).encode())
    if speed != 1.0:  # unperturbed features keep the keys of caches written before speed perturbation existed
        h.update(f"speed={speed}".encode())
    for u in utterances:
        h.update(f"{u.id}\t{u.audio}\t{u.offset}\t{u.duration}\n".encode())
    return h.hexdigest()[:16]


def extract_features(
    utterances: Sequence[Utterance], config: FeatureConfig, cache_dir: str | Path | None = None, speed: float = 1.0
) -> list[torch.Tensor]:
    """Log-mel features of every utterance, computed once and cached on disk when ``cache_dir`` is set.

    ``speed`` other than 1 plays each recording that much faster first (speed perturbation).

    Features are computed up front rather than in DataLoader workers: on a 2-core machine, worker
    processes fight the recurrent layers for the same cores, and decoding compressed audio every
    epoch costs more than holding the features (2.9 h of audio is about 330 MB at 80 bins).
    """
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"feats-{_cache_key(utterances, config, speed)}.pt"
        if cache_file.is_file():
            try:
                cached = torch.load(cache_file, weights_only=True)
                if len(cached) == len(utterances):
                    return cached
            except Exception:  # a damaged cache is recomputed, never trusted
                log.warning("ignoring unreadable feature cache %s", cache_file)
    logmel = LogMel(config).eval()
    # One utterance's log-mel is too small an operation to split over threads: with other work on the cores,
    # OpenMP threads spin waiting for each other and extraction ran 10x slower on 2 threads than on one
    # (tools/bench/results/features.md). Utterances are spread over the thread budget instead: decoding
    # compressed audio (libsndfile, called without the GIL) and the log-mel ops (torch, likewise) run in
    # parallel. Training's thread count is restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        feats = _map_in_order(lambda u: utterance_features(u, logmel, speed), utterances, threads)
    finally:
        torch.set_num_threads(threads)
    if cache_file is not None:
        with atomic_write(cache_file, "wb") as handle:
            torch.save(feats, handle)
    return feats


def _map_in_order(function, items: Sequence, workers: int) -> list:
    """``[function(x) for x in items]`` on ``workers`` threads; the first failure (in item order) is raised and
    the items not yet started are dropped, so a bad file stops extraction as soon as it would alone."""
    if workers <= 1 or len(items) <= 1:
        return [function(x) for x in items]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr-features")
    try:
        return list(pool.map(function, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def ctc_min_frames(target: list[int]) -> int:
    """Frames CTC needs for a label sequence: one per label plus a blank between repeated labels."""
    return len(target) + sum(1 for a, b in zip(target, target[1:]) if a == b)


def skip_reason(text: str, duration: float, tokenizer, max_duration: float | None) -> str | None:
    """Why a normalised transcript and its duration cannot be trained on (``None``: keep it). The manifest path
    (asr.data.datamodule) and the shard stream (asr.data.stream) filter alike through this and labels_fit."""
    if not text:
        return "empty_text"
    if tokenizer.unknown(text):
        return "unknown_chars"
    if max_duration and duration > max_duration:
        return "too_long"
    return None


def labels_fit(target: list[int], frames: int, subsampling: int) -> bool:
    """Whether CTC can align ``target`` to ``frames`` feature frames after the front end's subsampling."""
    return ctc_min_frames(target) <= subsampled_length(frames, subsampling)


@dataclass
class Example:
    id: str
    feats: torch.Tensor  # (frames, bins)
    target: torch.Tensor  # (labels,)
    text: str


class FeatureDataset(Dataset):
    def __init__(self, ids: list[str], feats: list[torch.Tensor], targets: list[list[int]], texts: list[str]):
        if not (len(ids) == len(feats) == len(targets) == len(texts)):
            raise AsrError("dataset parts differ in length")
        self.ids, self.feats, self.texts = ids, feats, texts
        self.targets = [torch.tensor(t, dtype=torch.long) for t in targets]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Example:
        return Example(self.ids[index], self.feats[index], self.targets[index], self.texts[index])


@dataclass
class Batch:
    ids: list[str]
    feats: torch.Tensor  # (batch, frames, bins), zero-padded
    feat_lengths: torch.Tensor
    targets: torch.Tensor  # (batch, labels), zero-padded
    target_lengths: torch.Tensor
    texts: list[str]


def collate(examples: list[Example]) -> Batch:
    feat_lengths = torch.tensor([e.feats.shape[0] for e in examples], dtype=torch.long)
    target_lengths = torch.tensor([e.target.shape[0] for e in examples], dtype=torch.long)
    bins = examples[0].feats.shape[1]
    feats = torch.zeros(len(examples), int(feat_lengths.max()), bins)
    targets = torch.zeros(len(examples), max(1, int(target_lengths.max())), dtype=torch.long)
    for i, e in enumerate(examples):
        feats[i, : e.feats.shape[0]] = e.feats
        targets[i, : e.target.shape[0]] = e.target
    return Batch([e.id for e in examples], feats, feat_lengths, targets, target_lengths, [e.text for e in examples])
