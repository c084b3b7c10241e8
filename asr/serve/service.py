"""The transcription service behind ``asr serve``, apart from HTTP: limits, decode slots, uploaded files.

One model is loaded once; ``slots`` :class:`~asr.transcribe.Transcriber` objects share its weights, each
with its own decoder (a beam decoder keeps state while it decodes), so at most ``slots`` decodes run at
once. Requests beyond that wait in a queue of at most ``max_waiting``; past it they are refused with
:class:`Busy` (HTTP 503). Every refusal is a :class:`RequestError` carrying its HTTP status and one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from asr.audio import audio_info
from asr.checkpoint import load_bundle
from asr.decode import Hypothesis
from asr.errors import AsrError, ConfigError
from asr.transcribe import Transcriber

TEMP_PREFIX = "asr-serve-"
UPLOAD_LABEL = "<upload>"  # how messages name an upload that came without a file name (a raw body)


@dataclass(frozen=True)
class ServeLimits:
    """What one server accepts; every bound is checked before any decoding starts."""

    max_request_bytes: int = 25 * 1024 * 1024  # a request body (multipart overhead included)
    max_audio_seconds: float = 300.0  # one upload's audio, from its header
    slots: int = 2  # decodes at once (each on its own thread)
    max_waiting: int = 32  # requests waiting for a slot; more get 503

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1 or self.max_audio_seconds <= 0 or self.slots < 1 or self.max_waiting < 0:
            raise ConfigError(f"serve limits must be positive (waiting >= 0), got {self}")


class RequestError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, ``str(exc)`` the one-line reason."""

    status = 400


class TooLarge(RequestError):
    status = 413


class Busy(RequestError):
    status = 503


def upload_label(filename: str | None) -> str:
    """The name messages use for an upload: the client's file name without folders, never opened."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", (filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:100] or UPLOAD_LABEL


def _finite(value):
    """``value`` with NaN and infinities as None: JSON has neither (a decoder's unk_score is -inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@contextlib.contextmanager
def temporary_upload() -> Iterator[Path]:
    """A new empty temporary file for one upload (mode 0600, in the system's temporary folder), removed
    when the block ends, whatever happened in it."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


class TranscriptionService:
    """A model loaded once, ``limits.slots`` decoders over it, and the queue in front of them."""

    def __init__(self, model: str | os.PathLike, limits: ServeLimits | None = None,
                 decoder_overrides: dict | None = None, segmenter: str = "vad"):
        self.limits = limits or ServeLimits()
        self.model_path = Path(model)
        bundle = load_bundle(model)
        self.transcribers = [Transcriber(bundle, decoder_overrides=decoder_overrides, segmenter=segmenter)
                             for _ in range(self.limits.slots)]
        self._executor = ThreadPoolExecutor(max_workers=self.limits.slots, thread_name_prefix="asr-decode")
        self._free: asyncio.Queue[Transcriber] | None = None
        self._long_lock = threading.Lock()  # the VAD model of long recordings is one per process
        self.waiting = 0
        self.decoding = 0
        self.served = 0

    @property
    def transcriber(self) -> Transcriber:
        return self.transcribers[0]

    def check_admission(self) -> None:
        """Refuse at once (503) when the queue is full, before the client sends its audio."""
        if self._free is not None and self._free.empty() and self.waiting >= self.limits.max_waiting:
            raise Busy(f"server busy: {self.decoding} of {self.limits.slots} decode slots in use and "
                       f"{self.waiting} of {self.limits.max_waiting} queue places taken; try again shortly")

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[Transcriber]:
        if self._free is None:
            self._free = asyncio.Queue()
            for t in self.transcribers:
                self._free.put_nowait(t)
        self.check_admission()
        self.waiting += 1
        try:
            transcriber = await self._free.get()
        finally:
            self.waiting -= 1
        self.decoding += 1
        try:
            yield transcriber
        finally:
            self.decoding -= 1
            self._free.put_nowait(transcriber)

    def check_audio(self, path: Path, label: str) -> float:
        """The upload's duration; AudioError (400) for what is not audio, TooLarge (413) for too much of it."""
        try:
            duration = audio_info(path)[2]
        except AsrError as exc:
            raise RequestError(str(exc).replace(str(path), label)) from None
        if duration > self.limits.max_audio_seconds:
            raise TooLarge(f"{label}: {duration:.1f} s of audio; this server takes at most "
                           f"{self.limits.max_audio_seconds:g} s per request")
        return duration

    def _decode(self, transcriber: Transcriber, path: Path, label: str, duration: float) -> Hypothesis:
        try:
            if duration > transcriber.long_audio_seconds:
                with self._long_lock:
                    return transcriber.transcribe([path])[0]
            return transcriber.transcribe([path])[0]
        except AsrError as exc:  # the same line `asr transcribe` prints, naming the upload, not the temp file
            raise RequestError(str(exc).replace(str(path), label)) from None

    async def transcribe(self, path: Path, label: str) -> Hypothesis:
        """Check and decode one uploaded file, waiting for a free slot (or refused with Busy)."""
        loop = asyncio.get_running_loop()
        duration = await loop.run_in_executor(None, self.check_audio, path, label)
        async with self._slot() as transcriber:
            hyp = await loop.run_in_executor(self._executor, self._decode, transcriber, path, label, duration)
        self.served += 1
        return hyp

    def health(self) -> dict:
        return {"status": "ok", "slots": self.limits.slots, "decoding": self.decoding, "waiting": self.waiting,
                "served": self.served}

    def model_info(self) -> dict:
        """What the page and clients need to know about the model; file names only, never server paths."""
        t = self.transcriber
        bundle = t.bundle
        decoder = dataclasses.asdict(t.decoder_config)
        for key in ("lm", "lexicon"):
            if decoder[key] not in ("", "lm", "model"):
                decoder[key] = Path(decoder[key]).name
        decoder["hotwords"] = [h if not h.startswith("@") else "@" + Path(h[1:]).name for h in decoder["hotwords"]]
        tokenizer = bundle.tokenizer.to_dict()
        return {
            "model": self.model_path.name,
            "units": tokenizer.get("type", "char"),
            "symbols": tokenizer.get("symbols", []),
            "sample_rate": bundle.features.sample_rate,
            "features": dataclasses.asdict(bundle.features),
            "architecture": dataclasses.asdict(bundle.model.config),
            "parameters": sum(p.numel() for p in bundle.model.parameters()),
            "decoder": _finite(decoder),
            "segmenter": t.segmenter,
            "training": _finite(bundle.info),
            "limits": dataclasses.asdict(self.limits),
        }

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
