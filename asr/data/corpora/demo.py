"""The built-in offline demo corpus: digit strings and smart-home commands spoken by eSpeak NG.

Nothing is downloaded: the speech comes from the eSpeak NG library shipped in the ``espeakng-loader`` wheel,
driven through ctypes. Variety comes from several English accents and voice variants, random speaking rate,
pitch and pitch range, random pauses, gain and leading/trailing silence, and white or pink noise at 20-35 dB SNR.

Speakers (a speaker is an eSpeak voice such as ``en-us+m3``) are split so that the test set is spoken only
by voice variants that never occur in training: train and dev share :data:`TRAIN_VOICES` (dev measures
progress on seen voices), test uses :data:`TEST_VOICES`.

Each word is synthesised on its own and the words are joined with pauses, so word boundaries are known
exactly (``alignments.jsonl``). eSpeak's word events cannot give them: it merges function-word pairs such as
"on the" into one word and then reports one event for both.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import pickle
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.data.manifest import Utterance, write_manifest
from asr.errors import AsrError
from asr.io_utils import atomic_write

ESPEAK_SAMPLE_RATE = 22050

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

# Alone, eSpeak reads "close" as the adjective (s, not z), and "a" as the letter's name; the commands need
# the verb, the sentences of the synthetic corpus (asr/data/corpora/synthetic.py) the unstressed article.
_PRONUNCIATIONS = {"close": "[[kl'oUz]]", "a": "[[@]]"}

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it a bad data path makes eSpeak call exit() on the whole process
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEMES = 0x100  # lets text hold [[...]] phoneme mnemonics
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_BUFFER_MS = 500

# eSpeak pads words with exact digital silence; anything above this (about -72 dBFS) is speech.
_SILENCE_LEVEL = 8

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Synthesized:
    """Mono float32 audio and the ``(word, start, end)`` times in seconds of every word in it."""

    samples: np.ndarray
    sample_rate: int
    words: list[tuple[str, float, float]]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class _Engine:
    """One initialised eSpeak NG library. Its state is global to the process, hence one engine per library."""

    def __init__(self, library_path: str, data_path: str) -> None:
        self.library_path = library_path
        self.data_path = data_path
        data = Path(data_path)
        missing = [
            name for name in ("phontab", "phondata", "phonindex", "en_dict", "voices/!v") if not (data / name).exists()
        ]
        if missing:
            raise AsrError(f"eSpeak NG data folder {data} is incomplete (missing {', '.join(missing)})")
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise AsrError(f"cannot load the eSpeak NG library {library_path}: {exc}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT)
        if rate != ESPEAK_SAMPLE_RATE:
            raise AsrError(f"eSpeak NG failed to initialise from {data_path} (it returned {rate})")
        # eSpeak seeds the generator of its breath noise from the clock; a fixed seed makes a fresh process
        # reproducible. Libraries older than 1.52 lack the call and stay clock-dependent for breathy voices.
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed(0)
        self.lib = lib
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        # ctypes does not keep the C function pointer alive; eSpeak would call freed memory without this reference.
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None

    def _collect(self, wav, numsamples: int, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0  # 0 = keep synthesising

    def _select_voice(self, voice: str) -> None:
        if voice == self._voice:
            return
        language, _, variant = voice.partition("+")
        # eSpeak silently ignores an unknown variant, so check the file it would have read.
        if variant and not (Path(self.data_path) / "voices" / "!v" / variant).is_file():
            raise AsrError(f"eSpeak NG voice variant '{variant}' not found (in voice '{voice}')")
        if not language or self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AsrError(f"eSpeak NG voice '{voice}' not found")
        self._voice = voice

    def speak(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """Synthesise ``text`` as int16 samples at 22.05 kHz, including eSpeak's own leading/trailing silence."""
        with self.lock:
            self._select_voice(voice)
            for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
                if self.lib.espeak_SetParameter(param, int(value), 0) != 0:
                    raise AsrError(f"eSpeak NG rejected parameter {param}={value}")
            data = text.encode("utf-8") + b"\0"
            self._chunks = []
            flags = _CHARS_UTF8 | _PHONEMES
            status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags, None, None)
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise AsrError(f"eSpeak NG failed to synthesise {text!r} (error {status})")
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _default_paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError:
        raise AsrError("the demo corpus needs eSpeak NG: pip install espeakng-loader") from None
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except RuntimeError as exc:
        raise AsrError(f"espeakng-loader is installed but broken: {exc}") from None


def _engine(library_path: str | None, data_path: str | None) -> _Engine:
    if library_path is None or data_path is None:
        default_lib, default_data = _default_paths()
        library_path = library_path or default_lib
        data_path = data_path or default_data
    library_path, data_path = str(library_path), str(data_path)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(library_path)
        if engine is None:
            engine = _ENGINES[library_path] = _Engine(library_path, data_path)
        elif engine.data_path != data_path:
            raise AsrError(
                f"eSpeak NG library {library_path} is already initialised with data {engine.data_path}, not {data_path}"
            )
        return engine


class EspeakSynth:
    """Text to speech with eSpeak NG, one word at a time so that every word's start and end are exact.

    A voice is ``language`` or ``language+variant``, e.g. ``en-us+m3`` or ``en-gb-x-rp+f2``. ``rate`` is in words
    per minute (80-450), ``pitch`` and ``pitch_range`` are 0-99 (eSpeak's default is 50).

    The library keeps hidden state between calls (the phase of its pitch flutter), so the same call can give
    slightly different samples depending on what was synthesised before it in this process. Output is
    reproducible for the same sequence of calls in a fresh process, which is how the corpus is generated.
    """

    sample_rate = ESPEAK_SAMPLE_RATE

    def __init__(self, library_path: str | os.PathLike | None = None, data_path: str | os.PathLike | None = None):
        self._engine = _engine(
            None if library_path is None else str(library_path), None if data_path is None else str(data_path)
        )

    def synthesize_words(
        self, words: Sequence[str], voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> list[np.ndarray]:
        """One int16 clip per word, cut to the first and last audible sample."""
        _check_range("rate", rate, 80, 450)
        _check_range("pitch", pitch, 0, 99)
        _check_range("pitch_range", pitch_range, 0, 99)
        clips = []
        for i, word in enumerate(words):
            # A comma gives the non-final words a continuing intonation instead of a full stop on every word.
            text = _PRONUNCIATIONS.get(word, word) + ("" if i == len(words) - 1 else ",")
            audio = self._engine.speak(text, voice, rate, pitch, pitch_range)
            loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > _SILENCE_LEVEL)
            if loud.size == 0:
                raise AsrError(f"eSpeak NG produced no audio for {word!r} with voice '{voice}'")
            clips.append(audio[loud[0] : loud[-1] + 1])
        return clips

    def synthesize_sentence(
        self, words: Sequence[str], voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> np.ndarray:
        """The words spoken as one sentence (eSpeak's own joins and intonation), cut to the audible part.

        Connected speech: words run into each other as in read speech, where :meth:`synthesize_words` speaks
        each in its citation form with exact boundaries. No per-word times.
        """
        _check_range("rate", rate, 80, 450)
        _check_range("pitch", pitch, 0, 99)
        _check_range("pitch_range", pitch_range, 0, 99)
        text = " ".join(words)
        audio = self._engine.speak(text, voice, rate, pitch, pitch_range)
        loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > _SILENCE_LEVEL)
        if loud.size == 0:
            raise AsrError(f"eSpeak NG produced no audio for {text!r} with voice '{voice}'")
        return audio[loud[0] : loud[-1] + 1]

    def synthesize(
        self,
        text: str,
        voice: str = "en-us",
        rate: int = 175,
        pitch: int = 50,
        *,
        pitch_range: int = 50,
        pauses: Sequence[float] | None = None,
        lead: float = 0.0,
        trail: float = 0.0,
    ) -> Synthesized:
        """Speak the whitespace-separated words of ``text`` with ``pauses`` (seconds, default 0.08) between them."""
        words = text.split()
        if not words:
            raise AsrError("nothing to synthesise: the text is empty")
        clips = self.synthesize_words(words, voice, rate, pitch, pitch_range)
        if pauses is None:
            pauses = [0.08] * (len(words) - 1)
        return _assemble(words, clips, pauses, lead, trail, self.sample_rate)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise AsrError(f"eSpeak NG {name} must be between {low} and {high}, got {value}")


def _assemble(
    words: Sequence[str], clips: Sequence[np.ndarray], pauses: Sequence[float], lead: float, trail: float, rate: int
) -> Synthesized:
    if len(pauses) != len(words) - 1:
        raise AsrError(f"{len(words)} words need {len(words) - 1} pauses, got {len(pauses)}")
    gaps = [lead, *pauses, trail]
    if min(gaps) < 0:
        raise AsrError("pauses and silences must not be negative")
    pieces: list[np.ndarray] = []
    timings: list[tuple[str, float, float]] = []
    position = 0
    for i, (word, clip) in enumerate(zip(words, clips, strict=True)):
        silence = int(round(gaps[i] * rate))
        pieces.append(np.zeros(silence, dtype=np.int16))
        position += silence
        timings.append((word, position / rate, (position + len(clip)) / rate))
        pieces.append(clip)
        position += len(clip)
    pieces.append(np.zeros(int(round(trail * rate)), dtype=np.int16))
    samples = np.concatenate(pieces).astype(np.float32) / 32768.0
    return Synthesized(samples=samples, sample_rate=rate, words=timings)


# --- corpus generation -------------------------------------------------------------------------------------------


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


def _synthesize_jobs(jobs: list[tuple[tuple[str, ...], str, int, int, int, bool]]) -> list[list[np.ndarray]]:
    """The clips of each ``(words, voice, rate, pitch, range, connected)`` job: one per word, or one sentence."""
    synth = EspeakSynth()
    return [[synth.synthesize_sentence(*job[:5])] if job[5] else synth.synthesize_words(*job[:5]) for job in jobs]


def _worker_main() -> None:
    """Child-process loop: read pickled job lists on stdin, answer each with ``(ok, clips or error)``."""
    results = os.fdopen(os.dup(1), "wb")
    # Anything the C library or Python prints goes to stderr, so it cannot corrupt the pickle stream.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    jobs_in = sys.stdin.buffer
    while True:
        try:
            jobs = pickle.load(jobs_in)
        except EOFError:
            return
        try:
            answer: tuple = (True, _synthesize_jobs(jobs))
        except AsrError as exc:
            answer = (False, str(exc))
        pickle.dump(answer, results, protocol=pickle.HIGHEST_PROTOCOL)
        results.flush()


class _EspeakProcess:
    """eSpeak NG in a fresh child process, so that the audio depends only on the seed.

    eSpeak keeps hidden state between calls, so synthesising in this process would make the audio depend on
    whatever was spoken before. A plain subprocess rather than multiprocessing: spawning re-imports the
    caller's main script, which breaks scripts without an ``if __name__ == "__main__"`` guard.
    """

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parents[3])  # the folder holding asr/, installed or not
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-c", "from asr.data.corpora.demo import _worker_main; _worker_main()"]
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as exc:
            raise AsrError(f"cannot start the eSpeak NG worker process: {exc}") from None

    def run(self, plans: Sequence[_Plan]) -> list[list[np.ndarray]]:
        jobs = [(p.words, p.voice, p.rate, p.pitch, p.pitch_range, p.connected) for p in plans]
        try:
            pickle.dump(jobs, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
            ok, payload = pickle.load(self._process.stdout)
        except (BrokenPipeError, EOFError):
            raise AsrError("the eSpeak NG worker process died (its error is printed above)") from None
        if not ok:
            raise AsrError(payload)
        return payload

    def rendered(self, plans: Sequence[_Plan], render: _Renderer) -> Iterator[tuple[_Plan, np.ndarray, list]]:
        """``(plan, int16 samples, word times)`` for each plan, synthesised _CHUNK plans per round trip."""
        for first in range(0, len(plans), _CHUNK):
            chunk = plans[first : first + _CHUNK]
            for plan, clips in zip(chunk, self.run(chunk), strict=True):
                yield (plan, *render(plan, clips))

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()

    def __enter__(self) -> _EspeakProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
_CHUNK = 100  # utterances per round trip to the worker: bounds memory, keeps the pipe busy


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
