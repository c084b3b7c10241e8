"""Bounds on inputs that would otherwise let a small file or a typo ask for unbounded memory or time.

Each bound is far beyond any real use; inputs outside it are refused with one line that names the
file or the option, values in messages cut with :func:`short`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

# Audio sample rates a file or a model may use (telephone 8 kHz ... studio 384 kHz, with room).
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
# Float audio holds samples in [-1, 1]; a little above is clipping, this far above a scaling mistake.
MAX_ABS_SAMPLE = 1_000.0
# Floats in torchaudio's resampling filter bank (about new x orig of the reduced ratio); above this
# (rates that share no factor with the target, such as 44,101 Hz) a polyphase resampler of bounded
# memory computes the same filter on the fly.
MAX_RESAMPLE_KERNEL = 4_000_000

# Durations and offsets in manifests (seconds): a year; beyond, arithmetic on them overflows or loses meaning.
MAX_SECONDS = 3.2e7

# Model files: a 2 KB file must not be able to ask for a 14 GB layer.
MAX_MODEL_WIDTH = 16_384  # hidden size, conv channels, input dim, mel bins
MAX_MODEL_LAYERS = 64
MAX_VOCAB = 1_000_000
MAX_MODEL_PARAMS = 2_000_000_000  # elements, summed over the tensors a file's settings would create
MAX_FFT = 1 << 16
MAX_META_CHARS = 64_000_000  # the JSON settings (a phone model stores its training words' pronunciations)
MAX_MODEL_BYTES = 8 << 30  # a model file's zip entries, expanded

# Decoding and LM building.
MAX_BEAM = 100_000
MAX_NBEST = 10_000
MAX_LM_ORDER = 10
MAX_TRIALS = 1_000_000


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters: a huge value never floods an error line."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"<an integer of {value.bit_length()} bits>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def file_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it is not a regular file ("not found", "a FIFO", ...); None for a regular file.

    Uses ``os.stat`` only, so a FIFO or a device is never opened (opening a FIFO blocks until a writer
    comes; a device such as /dev/zero reads forever).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found" if not os.path.islink(path) else "a broken symbolic link"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "a symbolic link loop"
        if exc.errno == 36:  # ENAMETOOLONG
            return "a path too long for the file system"
        if exc.errno == 20:  # ENOTDIR
            return "not found (a part of the path is not a folder)"
        return f"not accessible ({exc.strerror or exc})"
    except ValueError:  # an embedded NUL byte
        return "not a valid path"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular_file(path: str | os.PathLike, what: str, error: type[Exception]) -> Path:
    """``path`` if it is a regular file, else ``error("<path>: <what> is <kind>, expected a regular file")``."""
    kind = file_kind(path)
    if kind is None:
        return Path(path)
    if kind.startswith("not found"):
        raise error(f"{path}: {what} {kind}")
    raise error(f"{path}: {what} is {kind}, expected a regular file")


def check_decoder_paths(config: Any) -> None:
    """The files a beam search's settings name (LM, lexicon, ``@file`` hotwords), from the command line or a
    model file, must be regular files: a FIFO would block the decoder forever, a device read without end."""
    from asr.errors import ConfigError

    if getattr(config, "kind", None) != "beam":
        return
    named = []
    if config.lm:
        named.append((config.lm, "LM (decoder.lm)"))
    if config.lexicon not in ("", "lm", "model"):
        named.append((config.lexicon, "lexicon (decoder.lexicon)"))
    named += [(h[1:], "hotword file (decoder.hotwords)") for h in config.hotwords
              if isinstance(h, str) and h.startswith("@")]
    for path, what in named:
        check_regular_file(path, what, ConfigError)
