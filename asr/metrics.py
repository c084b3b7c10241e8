"""WER/CER reports on top of jiwer: totals, error counts and alignments of the worst utterances."""

from __future__ import annotations

from dataclasses import dataclass, field

import jiwer


@dataclass
class ErrorReport:
    wer: float
    cer: float
    words: int
    substitutions: int
    deletions: int
    insertions: int
    sentences: int
    sentence_errors: int
    worst: list[tuple[str, float, str]] = field(default_factory=list)  # (id, utterance WER, alignment text)
    per: float | None = None  # phone error rate of the decoded path (phone models)

    def summary(self) -> str:
        return (
            f"WER {100 * self.wer:.2f}% (S={self.substitutions} D={self.deletions} I={self.insertions} "
            f"of {self.words} words)  CER {100 * self.cer:.2f}%  "
            f"SER {100 * self.sentence_errors / self.sentences:.1f}% "
            f"({self.sentence_errors}/{self.sentences} utterances)"
            + (f"  PER {100 * self.per:.2f}%" if self.per is not None else "")
        )


def _alignment_text(single: jiwer.WordOutput) -> str:
    text = jiwer.visualize_alignment(single, show_measures=False)
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("===")).rstrip()


def error_report(ids: list[str], refs: list[str], hyps: list[str], worst: int = 10) -> ErrorReport:
    """Corpus-level WER and CER; utterances with empty references are scored only by their insertions."""
    if not (len(ids) == len(refs) == len(hyps)):
        raise ValueError("ids, references and hypotheses differ in length")
    keep = [i for i, r in enumerate(refs) if r.strip()]
    ref_k = [refs[i] for i in keep]
    hyp_k = [hyps[i].strip() for i in keep]
    words = jiwer.process_words(ref_k, hyp_k)
    chars = jiwer.process_characters(ref_k, hyp_k)
    extra_ins = sum(len(hyps[i].split()) for i in range(len(refs)) if not refs[i].strip())
    n_words = words.hits + words.substitutions + words.deletions
    errors = words.substitutions + words.deletions + words.insertions + extra_ins
    per_utt = []
    for j, i in enumerate(keep):
        n = len(ref_k[j].split())
        if ref_k[j].split() != hyp_k[j].split():
            single = jiwer.process_words(ref_k[j], hyp_k[j])
            utt_wer = (single.substitutions + single.deletions + single.insertions) / max(1, n)
            per_utt.append((ids[i], utt_wer, single))
    per_utt.sort(key=lambda item: -item[1])
    worst_list = [(uid, w, _alignment_text(single)) for uid, w, single in per_utt[:worst]]
    sentence_errors = len(per_utt) + sum(1 for i in range(len(refs)) if not refs[i].strip() and hyps[i].strip())
    return ErrorReport(
        wer=errors / max(1, n_words),
        cer=chars.cer,
        words=n_words,
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions + extra_ins,
        sentences=len(refs),
        sentence_errors=sentence_errors,
        worst=worst_list,
    )


def format_report(report: ErrorReport, title: str = "") -> str:
    lines = [title] if title else []
    lines.append(report.summary())
    if report.worst:
        lines.append("")
        lines.append(f"Worst {len(report.worst)} utterances:")
        for uid, w, alignment in report.worst:
            lines.append(f"--- {uid}  WER {100 * w:.1f}%")
            lines.append(alignment)
    return "\n".join(lines) + "\n"
