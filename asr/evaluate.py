"""``asr test``: decode a manifest, score it, write hypotheses and a report."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import jiwer

from asr.data.dataset import extract_features
from asr.data.manifest import read_manifest
from asr.decode import DecoderConfig, describe_decoder
from asr.io_utils import atomic_write
from asr.metrics import ErrorReport, error_report, format_report
from asr.transcribe import Transcriber
from asr.units import count_unknown

log = logging.getLogger(__name__)


def phone_error_rate(tokenizer, refs: list[str], hyp_units: list[str]) -> float:
    """Phones of the decoded path against the pronunciations of the references (word separators excluded);
    references holding a word without a pronunciation are left out."""
    pairs = [(tokenizer.unit_string(tokenizer.encode(r)), h) for r, h in zip(refs, hyp_units)
             if r and not tokenizer.unknown(r)]
    if not pairs:
        return float("nan")
    return jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])


def evaluate(
    model_path: str | os.PathLike,
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    decoder: DecoderConfig | None = None,
    worst: int = 10,
    decoder_overrides: dict | None = None,
) -> ErrorReport:
    """Writes ``hyps.jsonl`` (id, ref, hyp, words) and ``report.txt`` under ``out_dir``."""
    transcriber = Transcriber(model_path, decoder, decoder_overrides=decoder_overrides)
    utts = read_manifest(manifest)
    feats = extract_features(utts, transcriber.bundle.features)
    hyps = transcriber.transcribe_features(feats)
    normalizer = transcriber.bundle.normalizer
    refs = [normalizer(u.text) for u in utts]
    unknown = count_unknown(transcriber.bundle.tokenizer, refs)
    if unknown:
        # Those words can never be right; scoring them is honest, hiding why they fail is not.
        log.warning("%s: reference characters (or words without a pronunciation) the model cannot write "
                    "(their words count as errors): %s",
                    manifest, ", ".join(f"{c!r} x{n}" for c, n in unknown.most_common()))
    texts = [normalizer(h.text) for h in hyps]
    report = error_report([u.id for u in utts], refs, texts, worst=worst)
    tokenizer = transcriber.bundle.tokenizer
    if tokenizer.unit_metric == "per":
        report.per = phone_error_rate(tokenizer, refs, [h.units for h in hyps])
    out_dir = Path(out_dir)
    with atomic_write(out_dir / "hyps.jsonl") as handle:
        for utt, ref, hyp in zip(utts, refs, hyps):
            words = [w.__dict__ for w in hyp.words]
            handle.write(json.dumps({"id": utt.id, "ref": ref, "hyp": hyp.text, "words": words}) + "\n")
    title = f"model: {model_path}\nmanifest: {manifest}\ndecoder: {describe_decoder(transcriber.decoder_config)}"
    with atomic_write(out_dir / "report.txt") as handle:
        handle.write(format_report(report, title))
    return report
