"""Hostile or broken model files: never run code, clear one-line errors, "upgrade the toolkit" for newer formats.

Both kinds of file are covered: model files (``asr transcribe`` / ``asr test``) and Lightning training
checkpoints (``asr train --resume``).
"""

from __future__ import annotations

import pickle
import random
import re
from pathlib import Path

import pytest
import torch

from asr.callbacks import AtomicCheckpointIO
from asr.checkpoint import FORMAT_VERSION, load_bundle
from asr.errors import CheckpointError


class _CreatesFile:
    """Unpickling this calls ``open(target, "w")``: the file appearing is proof that code ran."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "code-was-run"


def _hostile(path: Path, marker: Path, zip_format: bool = True) -> Path:
    payload = {"format_version": 1, "meta": "{}", "state_dict": {}, "global_step": 1, "x": _CreatesFile(marker)}
    if zip_format:
        torch.save(payload, path)
    else:  # a plain pickle, as torch.save wrote before PyTorch 1.6
        path.write_bytes(pickle.dumps(payload))
    return path


def test_the_payload_is_live(tmp_path: Path, marker: Path) -> None:
    """Loaded the unsafe way, the file really runs code: the refusals below are not vacuous."""
    torch.load(_hostile(tmp_path / "evil.pt", marker), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "zip_format, message",
    [(True, "refused to load: the file holds a pickled Python object (io.open)"),
     # torch's safe unpickler stops at protocol 4's framing before it reaches the object: unreadable, not run.
     (False, "not a readable model file")],
    ids=["torch zip", "plain pickle"],
)
def test_pickled_code_is_refused_and_never_runs(tmp_path: Path, marker: Path, tiny_corpus: Path, cli,
                                                zip_format: bool, message: str) -> None:
    evil = _hostile(tmp_path / "evil.pt", marker, zip_format)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_bundle(evil)
    for args in (["transcribe", evil, tiny_corpus / "wav" / "u0.wav"], ["test", evil, tiny_corpus / "dev.jsonl"]):
        line = cli(*args).error_line
        assert str(evil) in line and message in line
        assert "weights_only=False" not in line  # torch's advice to load it unsafely is not passed on
    assert not marker.exists()


def test_resume_from_a_hostile_checkpoint_is_refused(tiny_corpus: Path, marker: Path, overrides, cli) -> None:
    last = tiny_corpus / "exp" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    _hostile(last, marker)
    line = cli("train", "--resume", *overrides(tiny_corpus)).error_line
    assert str(last) in line and "refused to load" in line
    assert not marker.exists()
    assert not (tiny_corpus / "exp" / "cache").exists()  # refused before any feature was computed


def _broken(tmp_path: Path, tiny_model: Path) -> dict[str, Path]:
    good = tiny_model.read_bytes()
    files = {"truncated": good[: len(good) // 2], "random bytes": random.Random(7).randbytes(4096), "empty": b""}
    for name, data in files.items():
        (tmp_path / f"{name}.pt").write_bytes(data)
    return {name: tmp_path / f"{name}.pt" for name in files}


def test_truncated_random_and_empty_model_files(tmp_path: Path, tiny_model: Path, tiny_corpus: Path, cli) -> None:
    for name, path in _broken(tmp_path, tiny_model).items():
        with pytest.raises(CheckpointError, match="not a readable model file .truncated or corrupt"):
            load_bundle(path)
        line = cli("transcribe", path, tiny_corpus / "wav" / "u0.wav").error_line
        assert str(path) in line and "truncated or corrupt" in line, name
        assert "weights_only=False" not in line


def test_resume_from_a_truncated_checkpoint(tiny_corpus: Path, tiny_model: Path, overrides, cli) -> None:
    last = tiny_corpus / "exp" / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 3, "state_dict": {"w": torch.ones(1000)}}, last)
    last.write_bytes(last.read_bytes()[:700])
    line = cli("train", "--resume", *overrides(tiny_corpus)).error_line
    assert str(last) in line and "not a readable training checkpoint" in line


def test_newer_format_asks_for_an_upgrade(tmp_path: Path, tiny_model: Path, tiny_corpus: Path, cli) -> None:
    payload = torch.load(tiny_model, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    newer = tmp_path / "newer.pt"
    torch.save(payload, newer)
    line = cli("transcribe", newer, tiny_corpus / "wav" / "u0.wav").error_line
    assert str(newer) in line and f"version {FORMAT_VERSION + 1} is newer" in line and "upgrade the toolkit" in line


def test_training_checkpoint_given_as_a_model(tiny_corpus: Path, cli) -> None:
    last = tiny_corpus / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 3, "state_dict": {"w": torch.ones(3)}}, last)
    line = cli("transcribe", last, tiny_corpus / "wav" / "u0.wav").error_line
    assert "not a model file of this toolkit" in line and "model_best.pt" in line
