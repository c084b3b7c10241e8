"""``asr lm tune``: search LM weight and word score on a dev set; emissions are computed once (ScoringSet)."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from asr.decode import DecoderConfig
from asr.scoring import ScoringSet

log = logging.getLogger(__name__)


@dataclass
class TrialResult:
    lm_weight: float
    word_score: float
    wer: float
    cer: float
    seconds: float


def tune_decoder(
    model_path: str | os.PathLike,
    manifest: str | os.PathLike,
    base: DecoderConfig,
    lm_weights: list[float],
    word_scores: list[float],
    trials: int = 0,
    seed: int = 0,
    ensemble: Sequence[str | os.PathLike] = (),
) -> tuple[DecoderConfig, list[TrialResult]]:
    """Grid search (or ``trials`` random points of the grid) over (lm_weight, word_score) by dev WER, of the
    model alone or with ``ensemble``'s posteriors averaged in."""
    scoring = ScoringSet.load(model_path, manifest, ensemble=ensemble)
    grid = list(itertools.product(lm_weights, word_scores))
    if trials and trials < len(grid):
        grid = random.Random(seed).sample(grid, trials)
    results: list[TrialResult] = []
    for weight, score in grid:
        config = dataclasses.replace(base, kind="beam", lm_weight=weight, word_score=score)
        start = time.perf_counter()
        report = scoring.score(scoring.decode(config))
        results.append(TrialResult(weight, score, report.wer, report.cer, time.perf_counter() - start))
        log.info("lm_weight %.3f word_score %.3f: WER %.2f%% CER %.2f%%", weight, score, 100 * report.wer,
                 100 * report.cer)
    best = min(results, key=lambda r: (r.wer, r.cer))
    return dataclasses.replace(base, kind="beam", lm_weight=best.lm_weight, word_score=best.word_score), results
