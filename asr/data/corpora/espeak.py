"""eSpeak NG through ctypes: the library, a word-by-word or whole-sentence synthesiser, and a worker process.

The library comes from the ``espeakng-loader`` wheel (bundled library and voices: nothing is downloaded).
:class:`EspeakSynth` speaks one word at a time, so every word's start and end are exact (eSpeak's own word
events merge pairs such as "on the"), or a whole sentence at once. :class:`_EspeakProcess` runs it in a fresh
child process, because the library keeps hidden state between calls: a fresh process with a fixed seed makes
the audio depend only on what is asked of it. The demo and synthetic corpora (demo.py, synthetic.py) plan
utterances and render them from the clips made here.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from asr.errors import AsrError

if TYPE_CHECKING:  # the plans and renderer of the corpora that use this process
    from asr.data.corpora.demo import _Plan, _Renderer

ESPEAK_SAMPLE_RATE = 22050
_CHUNK = 100  # utterances per round trip to the worker: bounds memory, keeps the pipe busy

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
        _check_voice_settings(rate, pitch, pitch_range)
        # A comma gives the non-final words a continuing intonation instead of a full stop on every word.
        return [self._audible(_PRONUNCIATIONS.get(word, word) + ("" if i == len(words) - 1 else ","), word, voice,
                              rate, pitch, pitch_range)
                for i, word in enumerate(words)]

    def synthesize_sentence(
        self, words: Sequence[str], voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> np.ndarray:
        """The words spoken as one sentence (eSpeak's own joins and intonation), cut to the audible part.

        Connected speech: words run into each other as in read speech, where :meth:`synthesize_words` speaks
        each in its citation form with exact boundaries. No per-word times.
        """
        _check_voice_settings(rate, pitch, pitch_range)
        text = " ".join(words)
        return self._audible(text, text, voice, rate, pitch, pitch_range)

    def _audible(self, text: str, shown: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """``text`` spoken, cut to its first and last audible sample (``shown`` names it in the error)."""
        audio = self._engine.speak(text, voice, rate, pitch, pitch_range)
        loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > _SILENCE_LEVEL)
        if loud.size == 0:
            raise AsrError(f"eSpeak NG produced no audio for {shown!r} with voice '{voice}'")
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


def _check_voice_settings(rate: int, pitch: int, pitch_range: int) -> None:
    _check_range("rate", rate, 80, 450)
    _check_range("pitch", pitch, 0, 99)
    _check_range("pitch_range", pitch_range, 0, 99)


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
        command = [sys.executable, "-c", "from asr.data.corpora.espeak import _worker_main; _worker_main()"]
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
