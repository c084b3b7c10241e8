"""Synthetic pretraining speech: sentences from any text file spoken by eSpeak NG in many voices and accents.

Real English speech cannot be fetched here, and speechocean762 has 2.9 hours of it; issue 11 asks whether
pretraining on synthetic speech of everyday sentences, then fine-tuning (``asr train --init``), beats
training from scratch. This writes such a corpus with the demo generator's machinery (one word at a time,
random rate, pitch, pauses, gain and noise; :mod:`asr.data.corpora.demo`), from sentences drawn at random
from a text file (plain or gzipped, one sentence per line, e.g. ``../shared/corpora/text/sgd``) or from the
transcripts of a manifest (``.jsonl``: a recipe's training set, spoken in voices the corpus lacks).

Voices: the demo's English voices, plus eSpeak's voices for other languages reading the English words,
which gives accented English (Mandarin, Spanish, Hindi, Korean...: the first languages of non-native
corpora such as speechocean762). Japanese is left out: it spells English words letter by letter.

Sentences are kept when, after lower-casing and removing punctuation, they hold 3-12 words (by default;
``min_words``/``max_words``: FSDD speaks its one-word training transcripts) of letters and apostrophes
only (no digits: eSpeak would read "7:30" its own way and the transcript would not say how).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.data.corpora.demo import TRAIN_VOICES, _EspeakProcess, _plan, _Renderer
from asr.data.manifest import Utterance, read_manifest, write_manifest
from asr.errors import AsrError

ACCENT_LANGUAGES = ("cmn", "es", "hi", "ko", "fr", "de", "pt", "ru", "vi")
ACCENT_VARIANTS = ("m1", "m3", "f1", "f2")
ACCENTED_VOICES: tuple[str, ...] = tuple(f"{lang}+{var}" for lang in ACCENT_LANGUAGES for var in ACCENT_VARIANTS)
"""eSpeak voices of other languages reading English words: accented English."""
VOICE_SETS = {"english": TRAIN_VOICES, "accented": ACCENTED_VOICES, "both": TRAIN_VOICES + ACCENTED_VOICES}

MIN_WORDS, MAX_WORDS = 3, 12
_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
_MAX_LINE = 2000  # characters; longer lines are not sentences


def sentence_words(line: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> tuple[str, ...] | None:
    """The words of one text line as they will be spoken and transcribed, or None when it is not usable."""
    if len(line) > _MAX_LINE:
        return None
    words = tuple(re.sub(r"[^\w' ]+", " ", line.lower().replace("\u2019", "'")).split())
    words = tuple(w.strip("'") for w in words)
    if not min_words <= len(words) <= max_words or not all(_WORD.match(w) for w in words):
        return None
    return words


def _lines(path: Path) -> Iterator[str]:
    if path.suffix == ".jsonl":  # a manifest: its transcripts are the sentences (errors name file and line)
        yield from (utt.text for utt in read_manifest(path))
        return
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from handle
    except FileNotFoundError:
        raise AsrError(f"{path}: text file not found") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise AsrError(f"{path}: cannot read the text ({type(exc).__name__}: {exc})") from None


def sample_sentences(path: str | os.PathLike, count: int, seed: int = 0, *, min_words: int = MIN_WORDS,
                     max_words: int = MAX_WORDS) -> list[tuple[str, ...]]:
    """``count`` usable sentences drawn uniformly from the file (reservoir sampling: memory holds ``count``)."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    chosen: list[tuple[str, ...]] = []
    seen = 0
    for line in _lines(path):
        words = sentence_words(line, min_words, max_words)
        if words is None:
            continue
        seen += 1
        if len(chosen) < count:
            chosen.append(words)
        else:
            slot = int(rng.integers(seen))
            if slot < count:
                chosen[slot] = words
    if not chosen:
        raise AsrError(f"{path}: no usable sentences ({min_words}-{max_words} words of letters, no digits)")
    order = rng.permutation(len(chosen))  # the reservoir keeps file order near its start
    return [chosen[i] for i in order]


def generate_synthetic_corpus(
    text: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    n_train: int,
    n_dev: int = 100,
    voices: str = "both",
    sample_rate: int = 16000,
    seed: int = 0,
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
    id_prefix: str = "synth",
    connected: float = 0.0,
) -> dict[str, Path]:
    """Write ``audio/*.flac``, ``train.jsonl`` and ``dev.jsonl`` (disjoint sentences) to ``out_dir``.

    The same text, seed and sizes give the same transcripts and audio. Utterance ids (and audio names) are
    ``{id_prefix}-{split}-{k:06d}``: give two corpora that will be trained on together different prefixes.
    ``connected`` is the share of sentences (0-1, drawn per utterance) spoken in one piece, with eSpeak's
    joins and sentence intonation, instead of word by word with pauses. Returns ``{"train": path, "dev": path}``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_]+", id_prefix):
        raise AsrError(f"id prefix must be letters, digits or underscores, got {id_prefix!r}")
    if voices not in VOICE_SETS:
        raise AsrError(f"voices must be one of {', '.join(VOICE_SETS)}, got {voices!r}")
    for name, count in (("n_train", n_train), ("n_dev", n_dev)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise AsrError(f"{name} must be a positive integer, got {count!r}")
    if isinstance(connected, bool) or not isinstance(connected, (int, float)) or not 0.0 <= connected <= 1.0:
        raise AsrError(f"connected must be a share between 0 and 1, got {connected!r}")
    if not 1 <= min_words <= max_words:
        raise AsrError(f"words per sentence: need 1 <= min ({min_words}) <= max ({max_words})")
    sentences = sample_sentences(text, n_train + n_dev, seed, min_words=min_words, max_words=max_words)
    if len(sentences) < n_train + n_dev:
        raise AsrError(f"{text}: {len(sentences)} usable sentences, fewer than the {n_train + n_dev} asked for")
    out_dir = Path(out_dir).absolute()
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    for name in ("train.jsonl", "dev.jsonl"):  # never a manifest describing audio of another run
        (out_dir / name).unlink(missing_ok=True)
    splits = {"train": sentences[:n_train], "dev": sentences[n_train:]}
    render = _Renderer(sample_rate)
    outputs = {}
    with _EspeakProcess() as espeak:
        for split_no, (split, words_list) in enumerate(splits.items()):
            plans = [
                _plan(np.random.default_rng([seed, split_no, k]), f"{id_prefix}-{split}-{k:06d}", VOICE_SETS[voices],
                      words, connected_share=connected)
                for k, words in enumerate(words_list)
            ]
            utts = []
            for plan, pcm, _ in espeak.rendered(plans, render):
                path = audio_dir / f"{plan.utt_id}.flac"
                sf.write(str(path), pcm, sample_rate, format="FLAC", subtype="PCM_16")
                # Each rendering draws its own pitch, level and noise: it is a speaker of its own (voice/id),
                # which is what speaker mean normalisation (model.cmvn: speaker) must group by.
                utts.append(Utterance(id=plan.utt_id, audio=str(path), duration=len(pcm) / sample_rate,
                                      text=plan.text, speaker=f"{plan.voice}/{plan.utt_id}"))
            outputs[split] = write_manifest(out_dir / f"{split}.jsonl", utts)
    return outputs
