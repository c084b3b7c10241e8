"""One scoring pipeline: manifest -> emissions (computed once) -> decode -> normalised references -> report.

``asr test`` (asr.evaluate), ``asr lm tune`` (asr.tune) and ``tools/bench/decode_bench.py`` all score
through :class:`ScoringSet`, so a decoder setting means the same number everywhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer
import torch

from asr.data.manifest import Utterance, read_manifest
from asr.decode import DecoderConfig, Hypothesis, build_decoder
from asr.longform import manifest_emissions
from asr.metrics import ErrorReport, error_report
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


@dataclass
class ScoringSet:
    """A manifest's utterances, normalised references and the model's emissions, ready to decode many ways."""

    transcriber: Transcriber
    utts: list[Utterance]
    refs: list[str]
    emissions: list[torch.Tensor]

    @classmethod
    def load(cls, model: str | os.PathLike, manifest: str | os.PathLike, decoder: DecoderConfig | None = None,
             decoder_overrides: dict | None = None, limit: int = 0, ensemble: Sequence[str | os.PathLike] = ()
             ) -> ScoringSet:
        transcriber = Transcriber(model, decoder, decoder_overrides=decoder_overrides, ensemble=ensemble)
        utts = read_manifest(manifest)[: limit or None]
        bundle = transcriber.bundle
        refs = [bundle.normalizer(u.text) for u in utts]
        unknown = count_unknown(bundle.tokenizer, refs)
        if unknown:
            # Those words can never be right; scoring them is honest, hiding why they fail is not.
            log.warning("%s: reference characters (or words without a pronunciation) the model cannot write "
                        "(their words count as errors): %s",
                        manifest, ", ".join(f"{c!r} x{n}" for c, n in unknown.most_common(20)))
        emissions = manifest_emissions(transcriber, utts)  # long recordings streamed, as asr transcribe does
        return cls(transcriber, utts, refs, emissions)

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self.utts]

    @property
    def audio_seconds(self) -> float:
        return sum(u.duration for u in self.utts)

    def decode(self, config: DecoderConfig | None = None) -> list[Hypothesis]:
        """Hypotheses with the transcriber's decoder, or with ``config`` (built for this call)."""
        bundle = self.transcriber.bundle
        decoder = self.transcriber.decoder if config is None else \
            build_decoder(config, bundle.tokenizer, bundle.normalizer)
        return [decoder.decode(e, bundle.frame_shift) for e in self.emissions]

    def score(self, hyps: list[Hypothesis], worst: int = 0) -> ErrorReport:
        bundle = self.transcriber.bundle
        texts = [bundle.normalizer(h.text) for h in hyps]
        report = error_report(self.ids, self.refs, texts, worst=worst)
        if bundle.tokenizer.unit_metric == "per":
            report.per = phone_error_rate(bundle.tokenizer, self.refs, [h.units for h in hyps])
        return report
