"""``asr test``: decode a manifest, score it, write hypotheses and a report."""

from __future__ import annotations

import json
import os
from pathlib import Path

from asr.decode import DecoderConfig, describe_decoder
from asr.io_utils import atomic_write
from asr.metrics import ErrorReport, format_report
from asr.scoring import ScoringSet


def evaluate(
    model_path: str | os.PathLike,
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    decoder: DecoderConfig | None = None,
    worst: int = 10,
    decoder_overrides: dict | None = None,
) -> ErrorReport:
    """Writes ``hyps.jsonl`` (id, ref, hyp, words) and ``report.txt`` under ``out_dir``."""
    scoring = ScoringSet.load(model_path, manifest, decoder, decoder_overrides)
    hyps = scoring.decode()
    report = scoring.score(hyps, worst=worst)
    out_dir = Path(out_dir)
    with atomic_write(out_dir / "hyps.jsonl") as handle:
        for utt, ref, hyp in zip(scoring.utts, scoring.refs, hyps):
            words = [w.__dict__ for w in hyp.words]
            handle.write(json.dumps({"id": utt.id, "ref": ref, "hyp": hyp.text, "words": words}) + "\n")
    decoder_text = describe_decoder(scoring.transcriber.decoder_config)
    title = f"model: {model_path}\nmanifest: {manifest}\ndecoder: {decoder_text}"
    with atomic_write(out_dir / "report.txt") as handle:
        handle.write(format_report(report, title))
    return report
