"""Disk full while writing outputs: a clear error naming the file, the previous output intact, no temp file left."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest
import torch

from asr.callbacks import AtomicCheckpointIO
from asr.checkpoint import load_bundle, save_bundle
from asr.data.manifest import read_manifest, write_manifest
from asr.errors import AsrError, OutputError


def _only(folder: Path, *names: str) -> None:
    """The folder holds exactly these files: no half-written temporary file was left behind."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.mark.parametrize("at_fsync", [False, True], ids=["mid-write", "at fsync"])
def test_manifest(tiny_corpus: Path, disk_full, at_fsync: bool) -> None:
    utts = read_manifest(tiny_corpus / "train.jsonl")
    out = tiny_corpus / "out" / "m.jsonl"
    write_manifest(out, utts[:2])
    before = out.read_bytes()
    disk_full(100, at_fsync=at_fsync)
    with pytest.raises(OutputError) as info:
        write_manifest(out, utts)
    # An AsrError, so the CLI prints one line; still an OSError with its errno, for code that handles those.
    assert isinstance(info.value, AsrError) and info.value.errno == errno.ENOSPC
    assert str(info.value).startswith(f"{out}: cannot write (No space left on device)")
    assert out.read_bytes() == before
    _only(out.parent, "m.jsonl")


def test_manifest_through_the_cli(tiny_corpus: Path, disk_full, cli) -> None:
    source = tiny_corpus / "src"
    source.mkdir()
    for i in range(3):
        (tiny_corpus / "wav" / f"u{i}.wav").rename(source / f"u{i}.wav")
        (source / f"u{i}.txt").write_text("a b\n")
    out = tiny_corpus / "out.jsonl"
    out.write_text("previous\n")
    disk_full(50)
    line = cli("prepare", "folder", source, "-o", out).error_line
    assert line.startswith(f"asr: error: {out}: cannot write (No space left on device)")
    assert out.read_text() == "previous\n"
    assert not list(tiny_corpus.glob(".out.jsonl.*"))


def test_model_file(tiny_model: Path, disk_full) -> None:
    before = tiny_model.read_bytes()
    bundle = load_bundle(tiny_model)
    bundle.info["epoch"] = 1
    # torch.save reports a failed write as RuntimeError("unexpected pos ..."); it must still read as a full disk.
    disk_full(4096)
    with pytest.raises(OutputError, match=f"{tiny_model}: cannot write \\(No space left on device\\)"):
        save_bundle(bundle, tiny_model)
    assert tiny_model.read_bytes() == before and load_bundle(tiny_model).info["epoch"] == 0
    _only(tiny_model.parent, "model.pt")


def test_test_report(tiny_corpus: Path, tiny_model: Path, disk_full, cli) -> None:
    out = tiny_corpus / "report"
    assert cli("test", tiny_model, tiny_corpus / "dev.jsonl", "-o", out).code == 0
    assert {p.name for p in out.iterdir()} == {"hyps.jsonl", "report.txt"}
    for p in out.iterdir():  # a rerun would write the same bytes; marked, a replaced file cannot pass for intact
        p.write_text(f"previous {p.name}\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    disk_full(20)
    line = cli("test", tiny_model, tiny_corpus / "dev.jsonl", "-o", out).error_line
    assert line.startswith(f"asr: error: {out / 'hyps.jsonl'}: cannot write (No space left on device)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_training_checkpoint(tmp_path: Path, disk_full) -> None:
    io = AtomicCheckpointIO()
    last = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 5, "state_dict": {"w": torch.ones(3)}}, last)
    disk_full(1000)
    with pytest.raises(OutputError, match="last.ckpt: cannot write"):
        io.save_checkpoint({"global_step": 9, "state_dict": {"w": torch.zeros(10_000)}}, last)
    assert torch.load(last, weights_only=True)["global_step"] == 5
    _only(tmp_path, "last.ckpt")


def test_training_outputs_through_the_cli(tiny_corpus: Path, overrides, disk_full, cli) -> None:
    """The first large output of a run (the feature cache) hits the full disk: one line, no traceback."""
    disk_full(20_000)
    line = cli("train", *overrides(tiny_corpus)).error_line
    assert re.match(rf"asr: error: {re.escape(str(tiny_corpus / 'exp'))}/\S+: cannot write \(No space left", line)
    assert not list((tiny_corpus / "exp").rglob("*.tmp"))
