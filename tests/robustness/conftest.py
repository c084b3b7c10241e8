"""Fixtures shared by the robustness suite: small audio, a tiny corpus and model, the CLI, a full disk."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import AsrBundle, save_bundle
from asr.cli import main
from asr.data.manifest import Utterance, write_manifest
from asr.decode import DecoderConfig
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer

RATE = 8000  # the tiny corpus and model run at 8 kHz: a quarter of the work of 16 kHz


def make_tone(rate: int = RATE, seconds: float = 0.5, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """A sine (one frequency per channel, so a wrong channel mix is visible); (samples,) or (samples, channels)."""
    t = np.arange(int(rate * seconds)) / rate
    columns = [0.4 * np.sin(2 * np.pi * freq * (1 + 0.5 * c) * t) for c in range(channels)]
    signal = np.stack(columns, axis=1).astype(np.float32)
    return signal[:, 0] if channels == 1 else signal


@pytest.fixture
def tone() -> Callable[..., np.ndarray]:
    return make_tone


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The single ``asr: error:`` line a user error must produce (asserted, not assumed)."""
        lines = self.err.strip().splitlines()
        assert self.code == 2, f"expected exit code 2, got {self.code}: {self.err}"
        assert len(lines) == 1 and lines[0].startswith("asr: error: "), f"expected one error line, got: {self.err}"
        return lines[0]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``asr ...`` in this process, as a user would type it."""

    def run(*args: str | os.PathLike) -> CliResult:
        capsys.readouterr()  # forget earlier output
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        # Lightning and the logging module also write to stderr; only our error lines matter here.
        err = "\n".join(line for line in captured.err.splitlines() if line.startswith("asr: "))
        return CliResult(code, captured.out, err)

    return run


TEXTS = ["ab", "ba", "abba", "b a", "a"]


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Ten 8 kHz noise utterances with texts over {a, b}: train.jsonl and dev.jsonl (the first three)."""
    rng = np.random.default_rng(0)
    utts = []
    for i in range(10):
        seconds = 0.6 + 0.1 * (i % 3)
        path = tmp_path / "wav" / f"u{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(RATE * seconds))).astype(np.float32), RATE)
        utts.append(Utterance(f"u{i}", str(path), seconds, TEXTS[i % len(TEXTS)]))
    write_manifest(tmp_path / "train.jsonl", utts)
    write_manifest(tmp_path / "dev.jsonl", utts[:3])
    return tmp_path


def tiny_overrides(root: Path, **extra: object) -> list[str]:
    """Config overrides for a model that trains an epoch of the tiny corpus in well under a second."""
    overrides = {
        "data.train": root / "train.jsonl", "data.dev": root / "dev.jsonl", "trainer.exp_dir": root / "exp",
        "features.sample_rate": RATE, "features.n_mels": 20, "model.hidden_size": 16, "model.num_layers": 1,
        "model.conv_channels": 4, "model.input_dim": 16, "trainer.max_epochs": 2, "trainer.progress_bar": "false",
        "optim.warmup_steps": 2, "data.max_batch_seconds": 3, "trainer.threads": 1,
    }
    overrides.update(extra)
    return [f"{k}={v}" for k, v in overrides.items()]


@pytest.fixture
def overrides() -> Callable[..., list[str]]:
    return tiny_overrides


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """An untrained model file over the tiny corpus's characters: enough to exercise loading and scoring."""
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(TEXTS)
    features = FeatureConfig(sample_rate=RATE, n_mels=20)
    config = ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6)
    model = CtcModel(config, features.n_mels, len(tokenizer)).eval()
    bundle = AsrBundle(model, features, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})
    return save_bundle(bundle, tmp_path / "model.pt")


class _FullDisk(io.RawIOBase):
    """A file that accepts ``budget`` bytes (or characters) and then fails as a full disk does."""

    def __init__(self, inner: io.IOBase, budget: int):
        self.inner, self.budget = inner, budget

    def write(self, data) -> int:
        if len(data) > self.budget:
            self.inner.write(data[: self.budget])  # a partial write reaches the disk first, as in reality
            self.budget = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.budget -= len(data)
        return self.inner.write(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def close(self) -> None:
        super().close()  # flushes through self.flush while the inner file is still open
        self.inner.close()


class _OsWithFullDisk:
    """``os`` as ``asr.io_utils`` sees it, but with a disk that fills up after ``budget`` bytes.

    ``at_fsync``: the writes succeed and ``fsync`` reports the full disk, as file systems with delayed
    allocation do.
    """

    def __init__(self, budget: int, at_fsync: bool):
        self.budget, self.at_fsync = budget, at_fsync

    def fdopen(self, fd: int, *args, **kwargs) -> io.IOBase:
        handle = os.fdopen(fd, *args, **kwargs)
        return handle if self.at_fsync else _FullDisk(handle, self.budget)

    def fsync(self, fd: int) -> None:
        if self.at_fsync:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)

    def __getattr__(self, name: str):
        return getattr(os, name)


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``disk_full(n)``: from now on, every file written through ``atomic_write`` fails with ENOSPC after n bytes.

    ``disk_full(at_fsync=True)`` fails at the final fsync instead. Only ``asr.io_utils`` is affected, so
    pytest and the rest of the process keep a working disk.
    """

    def install(budget: int = 0, at_fsync: bool = False) -> None:
        monkeypatch.setattr("asr.io_utils.os", _OsWithFullDisk(budget, at_fsync))

    return install
