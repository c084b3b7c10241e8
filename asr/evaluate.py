"""``asr test``: decode a manifest, score it, write hypotheses and a report."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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
    ensemble: Sequence[str | os.PathLike] = (),
) -> ErrorReport:
    """Writes ``hyps.jsonl`` (id, ref, hyp, words) and ``report.txt`` under ``out_dir``; ``ensemble``: more
    model files whose posteriors are averaged with the model's (:class:`~asr.transcribe.Transcriber`)."""
    scoring = ScoringSet.load(model_path, manifest, decoder, decoder_overrides, ensemble=ensemble)
    hyps = scoring.decode()
    report = scoring.score(hyps, worst=worst)
    out_dir = Path(out_dir)
    with atomic_write(out_dir / "hyps.jsonl") as handle:
        for utt, ref, hyp in zip(scoring.utts, scoring.refs, hyps):
            words = [w.__dict__ for w in hyp.words]
            handle.write(json.dumps({"id": utt.id, "ref": ref, "hyp": hyp.text, "words": words}) + "\n")
    decoder_text = describe_decoder(scoring.transcriber.decoder_config)
    models = ", ".join(str(m) for m in (model_path, *ensemble))
    label = "models (posteriors averaged)" if ensemble else "model"
    title = f"{label}: {models}\nmanifest: {manifest}\ndecoder: {decoder_text}"
    with atomic_write(out_dir / "report.txt") as handle:
        handle.write(format_report(report, title))
    return report
