"""The built-in offline demo corpus: digit strings and smart-home commands spoken by eSpeak NG.

Nothing is downloaded: the speech comes from the eSpeak NG library shipped in the ``espeakng-loader`` wheel,
driven through ctypes. Variety comes from several English accents and voice variants, random speaking rate,
pitch and pitch range, random pauses, gain and leading/trailing silence, and white or pink noise at 20-35 dB SNR.

Speakers (a speaker is an eSpeak voice such as ``en-us+m3``) are split so that the test set is spoken only
by voice variants that never occur in training: train and dev share :data:`TRAIN_VOICES` (dev measures
progress on seen voices), test uses :data:`TEST_VOICES`.

Each word is synthesised on its own and the words are joined with pauses, so word boundaries are known
exactly (``alignments.jsonl``). eSpeak's word events cannot give them: it merges function-word pairs such as
"on the" into one word and then reports one event for both. The library itself is driven from espeak.py; this
module plans utterances (every random choice drawn first) and renders them (pauses, gain, noise, resampling).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.data.corpora.espeak import ESPEAK_SAMPLE_RATE, _assemble, _EspeakProcess
from asr.data.manifest import Utterance, write_manifest
from asr.errors import AsrError
from asr.io_utils import atomic_write

LANGUAGES_TRAIN = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland")
VARIANTS_TRAIN = ("m1", "m2", "m3", "m4", "m6", "m8", "f1", "f2", "f4")
LANGUAGES_TEST = ("en-us", "en")
VARIANTS_TEST = ("m5", "m7", "f3", "f5")

TRAIN_VOICES: tuple[str, ...] = tuple(f"{lang}+{var}" for lang in LANGUAGES_TRAIN for var in VARIANTS_TRAIN)
"""Voices of the train and dev sets."""
TEST_VOICES: tuple[str, ...] = tuple(f"{lang}+{var}" for lang in LANGUAGES_TEST for var in VARIANTS_TEST)
"""Voices of the test set and of :func:`write_fresh_utterance`; none of their variants is heard in training."""

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_SLOTS: dict[str, tuple[str, ...]] = {
    "room": ("kitchen", "bedroom", "bathroom", "garage", "office"),
    "opening": ("door", "window", "garage"),
    "person": ("mom", "dad", "home", "the office"),
    "many": DIGITS[2:],  # plural "minutes" needs a number above one
    "day": ("today", "tomorrow"),
}

# Templates are weighted by repetition only through the slots they expand to; no article "a" anywhere,
# because eSpeak reads a lone "a" as the letter name "ay".
_COMMANDS = (
    "turn on the {room} light",
    "turn off the {room} light",
    "turn on the lights in the {room}",
    "turn off the lights in the {room}",
    "play some music",
    "play the next song",
    "next song",
    "previous song",
    "stop",
    "stop the music",
    "pause the music",
    "volume up",
    "volume down",
    "turn the volume up",
    "turn the volume down",
    "set the timer for {many} minutes",
    "set the timer for one minute",
    "set the timer for {many} seconds",
    "cancel the timer",
    "call {person}",
    "what time is it",
    "what is the weather {day}",
    "open the {opening}",
    "close the {opening}",
    "lock the door",
    "yes",
    "no",
)


def _vocabulary() -> tuple[str, ...]:
    words = set(DIGITS)
    for template in _COMMANDS:
        words.update(w for w in template.split() if not w.startswith("{"))
    for values in _SLOTS.values():
        for value in values:
            words.update(value.split())
    return tuple(sorted(words))


VOCABULARY: tuple[str, ...] = _vocabulary()
"""Every word a demo transcript can contain."""


@dataclass(frozen=True)
class _Plan:
    """Every random choice for one utterance, drawn before any audio exists."""

    utt_id: str
    words: tuple[str, ...]
    voice: str
    rate: int
    pitch: int
    pitch_range: int
    pauses: tuple[float, ...]
    lead: float
    trail: float
    pink: bool
    snr_db: float
    peak_dbfs: float
    noise_seed: int
    connected: bool = False  # the sentence in one eSpeak call instead of word by word with pauses

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _sample_words(rng: np.random.Generator) -> tuple[str, ...]:
    if rng.random() < 0.5:
        return tuple(DIGITS[d] for d in rng.integers(0, 10, size=int(rng.integers(3, 8))))
    template = _COMMANDS[int(rng.integers(len(_COMMANDS)))]
    text = re.sub(r"\{(\w+)\}", lambda m: _SLOTS[m.group(1)][int(rng.integers(len(_SLOTS[m.group(1)])))], template)
    return tuple(text.split())


def _plan(rng: np.random.Generator, utt_id: str, voices: Sequence[str], words: tuple[str, ...] | None = None,
          connected_share: float = 0.0) -> _Plan:
    if words is None:
        words = _sample_words(rng)
    rate = int(rng.integers(130, 211))
    # Faster talkers pause less; scaling keeps pauses plausible relative to the words.
    pause_scale = 175.0 / rate
    return _Plan(
        utt_id=utt_id,
        words=words,
        voice=voices[int(rng.integers(len(voices)))],
        rate=rate,
        pitch=int(rng.integers(30, 71)),
        pitch_range=int(rng.integers(30, 81)),
        pauses=tuple(round(float(p) * pause_scale, 4) for p in rng.uniform(0.04, 0.14, size=len(words) - 1)),
        lead=round(float(rng.uniform(0.1, 0.5)), 4),
        trail=round(float(rng.uniform(0.1, 0.5)), 4),
        pink=bool(rng.random() < 0.5),
        snr_db=float(rng.uniform(20.0, 35.0)),
        peak_dbfs=float(rng.uniform(-10.0, -2.0)),
        noise_seed=int(rng.integers(2**32)),
        # Drawn last and only when asked for, so word-by-word plans stay those of earlier corpora.
        connected=bool(connected_share > 0 and rng.random() < connected_share),
    )



class _Renderer:
    """Turns a plan and its word clips into the final noisy, resampled waveform."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._resample = None
        if sample_rate != ESPEAK_SAMPLE_RATE:
            import torchaudio  # here, not at the top: the eSpeak worker process never needs torch

            # One transform object so the sinc kernel is built once, not once per utterance.
            self._resample = torchaudio.transforms.Resample(ESPEAK_SAMPLE_RATE, sample_rate)

    def __call__(self, plan: _Plan, clips: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
        if plan.connected:  # one clip: the sentence is one "word" whose times span the speech
            clean = _assemble((plan.text,), clips, (), plan.lead, plan.trail, ESPEAK_SAMPLE_RATE)
        else:
            clean = _assemble(plan.words, clips, plan.pauses, plan.lead, plan.trail, ESPEAK_SAMPLE_RATE)
        audio = clean.samples
        if self._resample is not None:
            import torch

            with torch.no_grad():
                audio = self._resample(torch.from_numpy(audio)).numpy()
        audio = audio.astype(np.float64)
        audio *= 10 ** (plan.peak_dbfs / 20) / max(float(np.abs(audio).max()), 1e-9)
        # SNR against the power of the words only: silence would make quiet speech look cleaner than it is.
        rate = self.sample_rate
        speech = np.concatenate([audio[int(start * rate) : math.ceil(end * rate)] for _, start, end in clean.words])
        speech_power = float(np.mean(speech**2))
        noise = _noise(np.random.default_rng(plan.noise_seed), len(audio), plan.pink)
        audio += noise * math.sqrt(speech_power / 10 ** (plan.snr_db / 10))
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        return pcm, clean.words


def _noise(rng: np.random.Generator, n: int, pink: bool) -> np.ndarray:
    """Unit-power white or pink (1/f power) noise."""
    white = rng.standard_normal(n)
    if not pink or n < 4:
        return white / max(float(np.std(white)), 1e-12)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]  # no infinite DC gain
    shaped = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    shaped -= shaped.mean()
    return shaped / max(float(np.std(shaped)), 1e-12)


_SPLITS = ("train", "dev", "test")
_OUTPUTS = ("train.jsonl", "dev.jsonl", "test.jsonl", "alignments.jsonl")


def generate_demo_corpus(
    out_dir: str | os.PathLike,
    *,
    n_train: int = 600,
    n_dev: int = 80,
    n_test: int = 120,
    sample_rate: int = 16000,
    seed: int = 0,
) -> dict[str, Path]:
    """Write the demo corpus to ``out_dir``: ``wav/*.wav``, ``train/dev/test.jsonl`` and ``alignments.jsonl``.

    Returns ``{"train": path, "dev": path, "test": path, "alignments": path}``. The same seed gives the same
    transcripts and byte-identical audio. Each alignments line is
    ``{"id": ..., "words": [{"word": ..., "start": seconds, "end": seconds}, ...]}``.
    """
    counts = {"train": n_train, "dev": n_dev, "test": n_test}
    for split, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise AsrError(f"n_{split} must be a positive integer, got {count!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 48000:
        raise AsrError(f"sample_rate must be an integer between 8000 and 48000, got {sample_rate!r}")
    out_dir = Path(out_dir).absolute()
    wav_dir = out_dir / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    # Manifests are written last; removing old ones first means an interrupted run never leaves a manifest
    # that describes audio from a different seed.
    for name in _OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)

    plans: dict[str, list[_Plan]] = {}
    for split_no, split in enumerate(_SPLITS):
        voices = TEST_VOICES if split == "test" else TRAIN_VOICES
        # One generator per utterance: utterance k of a split does not change when another split's size does.
        plans[split] = [
            _plan(np.random.default_rng([seed, split_no, k]), f"demo-{split}-{k:05d}", voices)
            for k in range(counts[split])
        ]

    render = _Renderer(sample_rate)
    manifests: dict[str, list[Utterance]] = {split: [] for split in _SPLITS}
    alignments: list[dict] = []
    with _EspeakProcess() as espeak:
        for split in _SPLITS:
            for plan, pcm, words in espeak.rendered(plans[split], render):
                wav = wav_dir / f"{plan.utt_id}.wav"
                sf.write(str(wav), pcm, sample_rate, subtype="PCM_16")
                manifests[split].append(
                    Utterance(
                        id=plan.utt_id,
                        audio=str(wav),
                        duration=len(pcm) / sample_rate,
                        text=plan.text,
                        speaker=plan.voice,
                    )
                )
                alignments.append({"id": plan.utt_id, "words": _words_json(words)})

    outputs = {split: write_manifest(out_dir / f"{split}.jsonl", manifests[split]) for split in _SPLITS}
    outputs["alignments"] = out_dir / "alignments.jsonl"
    with atomic_write(outputs["alignments"]) as handle:
        for entry in alignments:
            handle.write(json.dumps(entry) + "\n")
    return outputs


def _words_json(words: Sequence[tuple[str, float, float]]) -> list[dict]:
    return [{"word": w, "start": round(start, 4), "end": round(end, 4)} for w, start, end in words]


def normalize_demo_text(text: str) -> tuple[str, ...]:
    """Lower-case words without punctuation, digits spelled out; raises :class:`AsrError` outside the vocabulary."""
    spaced = re.sub(r"[0-9]", lambda m: f" {DIGITS[int(m.group())]} ", text.lower())
    words = tuple(re.sub(r"[^a-z' ]+", " ", spaced).split())
    if not words:
        raise AsrError(f"no words to speak in {text!r}")
    unknown = sorted({w for w in words if w not in VOCABULARY})
    if unknown:
        raise AsrError(
            f"not in the demo vocabulary: {', '.join(unknown)} (the model only knows: {' '.join(VOCABULARY)})"
        )
    return words


def write_fresh_utterance(
    out_dir: str | os.PathLike, text: str | None = None, seed: int = 0, *, sample_rate: int = 16000
) -> Path:
    """Speak one sentence with a held-out test voice into ``out_dir/fresh.wav`` (transcript in ``fresh.txt``).

    ``text`` must use the demo vocabulary (digits may be written as numerals). Without it, a sentence from
    the demo grammar is drawn, avoiding the transcripts of ``out_dir/train.jsonl`` when that file exists.
    Returns the path of the WAV file.
    """
    out_dir = Path(out_dir).absolute()
    rng = np.random.default_rng([seed, len(_SPLITS)])  # a stream no corpus split uses
    if text is not None:
        words = normalize_demo_text(text)
    else:
        seen = _train_transcripts(out_dir / "train.jsonl")
        for _ in range(100):
            words = _sample_words(rng)
            if " ".join(words) not in seen:
                break
    plan = _plan(rng, "fresh", TEST_VOICES, words)
    render = _Renderer(sample_rate)
    with _EspeakProcess() as espeak:
        pcm, _ = render(plan, espeak.run([plan])[0])
    wav = out_dir / "fresh.wav"
    with atomic_write(wav, "wb") as handle:
        sf.write(handle, pcm, sample_rate, subtype="PCM_16", format="WAV")
    with atomic_write(out_dir / "fresh.txt") as handle:
        handle.write(plan.text + "\n")
    return wav


def _train_transcripts(manifest: Path) -> set[str]:
    if not manifest.is_file():
        return set()
    texts = set()
    with open(manifest, encoding="utf-8") as handle:
        for line in handle:
            try:
                texts.add(json.loads(line)["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # only used to avoid repeats; a damaged line is not this function's problem
    return texts
