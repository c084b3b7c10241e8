"""Search LM weight and word score on a dev set; emissions are computed once and kept in memory."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
import time
from dataclasses import dataclass

import torch

from asr.data.dataset import extract_features
from asr.data.manifest import read_manifest
from asr.decode import DecoderConfig, build_decoder
from asr.metrics import error_report
from asr.transcribe import Transcriber

log = logging.getLogger(__name__)


@dataclass
class TrialResult:
    lm_weight: float
    word_score: float
    wer: float
    cer: float
    seconds: float


def decode_all(transcriber: Transcriber, config: DecoderConfig, emissions: list[torch.Tensor]) -> list[str]:
    bundle = transcriber.bundle
    decoder = build_decoder(config, bundle.tokenizer, bundle.normalizer)
    return [decoder.decode(e, bundle.frame_shift).text for e in emissions]


def tune_decoder(
    model_path: str | os.PathLike,
    manifest: str | os.PathLike,
    base: DecoderConfig,
    lm_weights: list[float],
    word_scores: list[float],
    trials: int = 0,
    seed: int = 0,
) -> tuple[DecoderConfig, list[TrialResult]]:
    """Grid search (or ``trials`` random points of the grid) over (lm_weight, word_score) by dev WER."""
    transcriber = Transcriber(model_path)
    utts = read_manifest(manifest)
    emissions = transcriber.emissions(extract_features(utts, transcriber.bundle.features))
    normalizer = transcriber.bundle.normalizer
    refs = [normalizer(u.text) for u in utts]
    ids = [u.id for u in utts]
    grid = list(itertools.product(lm_weights, word_scores))
    if trials and trials < len(grid):
        grid = random.Random(seed).sample(grid, trials)
    results: list[TrialResult] = []
    for weight, score in grid:
        config = dataclasses.replace(base, kind="beam", lm_weight=weight, word_score=score)
        start = time.perf_counter()
        hyps = decode_all(transcriber, config, emissions)
        report = error_report(ids, refs, [normalizer(h) for h in hyps], worst=0)
        results.append(TrialResult(weight, score, report.wer, report.cer, time.perf_counter() - start))
        log.info("lm_weight %.3f word_score %.3f: WER %.2f%% CER %.2f%%", weight, score, 100 * report.wer,
                 100 * report.cer)
    best = min(results, key=lambda r: (r.wer, r.cer))
    return dataclasses.replace(base, kind="beam", lm_weight=best.lm_weight, word_score=best.word_score), results
