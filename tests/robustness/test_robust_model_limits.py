"""Family 2: model files that cannot run code can still hurt. Their settings are checked like config values
and against the tensors the file holds before anything is allocated; paths stored in them are opened only
if they are regular files; zip entries that would expand far beyond the file are refused unread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from asr.checkpoint import load_bundle
from asr.errors import CheckpointError, ConfigError


def _rewrite(tiny_model: Path, out: Path, meta_edit: Callable[[dict], None] | None = None,
             state_edit: Callable[[dict], None] | None = None) -> Path:
    payload = torch.load(tiny_model, weights_only=True)
    meta = json.loads(payload["meta"])
    if meta_edit:
        meta_edit(meta)
    if state_edit:
        state_edit(payload["state_dict"])
    payload["meta"] = json.dumps(meta)
    torch.save(payload, out)
    return out


def _set(section: str, **values) -> Callable[[dict], None]:
    return lambda meta: meta[section].update(values)


# case -> (meta edit, state edit, what the message must say)
HOSTILE: dict[str, tuple] = {
    "148 GB of layers, no tensors": (_set("model", hidden_size=16384, num_layers=64, input_dim=16384),
                                lambda s: s.clear(), "more than the limit"),
    "width beyond the limit": (_set("model", hidden_size=10**9), None, "model.hidden_size: must be in"),
    "shape differs from the tensors": (_set("model", hidden_size=9), None, "has shape"),
    "tensor missing": (None, lambda s: s.pop("head.bias"), "tensors missing: head.bias"),
    "extra tensor": (None, lambda s: s.update(extra=torch.zeros(3)), "not expected: extra"),
    "NaN weights": (None, lambda s: s["head.weight"].fill_(float("nan")), "head.weight holds NaN or Inf"),
    "zero CMVN std": (None, lambda s: s["cmvn.std"].zero_(), "cmvn.std holds values <= 0"),
    "sample rate 1 Hz": (_set("features", sample_rate=1), None, "features.sample_rate: must be in"),
    "hop of zero": (_set("features", hop_ms=0), None, "features.hop_ms"),
    "huge FFT": (_set("features", n_fft=1 << 30), None, "features.n_fft"),
    "unknown cell": (_set("model", cell="transformer"), None, "model.cell: must be one of"),
    "string for a number": (_set("model", num_layers="3"), None, "model.num_layers: expected an integer"),
    "decoder beam 0": (_set("decoder", beam_size=0), None, "decoder.beam_size: must be in"),
    "decoder nbest huge": (_set("decoder", nbest=10**12), None, "decoder.nbest: must be in"),
    "decoder NaN weight": (_set("decoder", lm_weight=float("nan")), None, "decoder.lm_weight: expected a finite"),
    "decoder kind": (_set("decoder", kind="evil"), None, "decoder.kind: must be one of"),
    "decoder unknown key": (_set("decoder", shell="rm -rf /"), None, "unknown key(s) shell"),
    "tokenizer not strings": (_set("tokenizer", symbols=[1, 2, 3]), None, "tokenizer symbols must be a list"),
    "settings not an object": (lambda m: m.clear() or m.update(model=[]), None, "section 'model'"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_settings_are_refused_in_one_line(case: str, tmp_path: Path, tiny_model: Path, tiny_corpus: Path,
                                                  cli) -> None:
    meta_edit, state_edit, message = HOSTILE[case]
    path = _rewrite(tiny_model, tmp_path / "hostile.pt", meta_edit, state_edit)
    with pytest.raises(CheckpointError) as info:
        load_bundle(path)
    text = str(info.value)
    assert text.startswith(f"{path}: model file is inconsistent") and message in text, text
    assert "\n" not in text and len(text) < 500
    line = cli("transcribe", path, tiny_corpus / "wav" / "u0.wav").error_line
    assert str(path) in line


_PEAK = textwrap.dedent("""
    import resource, sys
    from asr.checkpoint import load_bundle
    from asr.errors import CheckpointError
    load_bundle(sys.argv[2])  # warm-up with a good file
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_bundle(sys.argv[1])
    except CheckpointError as exc:
        print("refused", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
""")


def test_a_small_file_cannot_ask_for_gigabytes(tmp_path: Path, tiny_model: Path) -> None:
    """Settings within every per-key limit, tensors that fit them in a few KB: the model is never built."""
    def edit(meta: dict) -> None:
        meta["model"].update(hidden_size=16384, num_layers=8, input_dim=16384, conv_channels=64)

    path = _rewrite(tiny_model, tmp_path / "big.pt", edit)
    assert path.stat().st_size < 20_000
    result = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(tiny_model)], capture_output=True,
                            text=True, timeout=300, check=True)
    verdict, growth = result.stdout.split()
    assert verdict == "refused" and int(growth) < 50e6, result.stdout  # building it: 3.7e10 weights, 148 GB


def test_expanding_zip_entries_are_refused_unread(tmp_path: Path, tiny_model: Path) -> None:
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(tiny_model) as good, zipfile.ZipFile(bomb, "w") as out:
        for info in good.infolist():
            out.writestr(info, good.read(info))
        out.writestr("model/data/999", b"\0" * 300_000_000, compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(CheckpointError, match="refused to load: the model file's entries expand to"):
        load_bundle(bomb)


# ---- paths stored in a model's decoder settings (or given on the command line) ----

def _special(tmp_path: Path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "missing.arpa")
    if kind == "FIFO":
        os.mkfifo(tmp_path / "fifo")
        return str(tmp_path / "fifo")
    if kind == "directory":
        return str(tmp_path)
    if kind == "symlink loop":
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
        return str(tmp_path / "loop")
    return "/dev/zero"


SPECIAL = {"missing": "not found", "FIFO": "is a FIFO", "directory": "is a directory",
           "symlink loop": "symbolic link loop", "char device": "is a character device"}


@pytest.mark.parametrize("setting", ["lm", "lexicon", "hotwords"])
@pytest.mark.parametrize("kind", list(SPECIAL))
def test_stored_paths_are_opened_only_if_regular(setting: str, kind: str, tmp_path: Path, tiny_model: Path,
                                                 tiny_corpus: Path, cli) -> None:
    target = _special(tmp_path, kind)
    value = [f"@{target}"] if setting == "hotwords" else target
    path = _rewrite(tiny_model, tmp_path / "paths.pt", _set("decoder", kind="beam", **{setting: value}))
    from asr.transcribe import Transcriber

    with pytest.raises(ConfigError) as info:
        Transcriber(path)  # would block forever on the FIFO, or read /dev/zero without end
    assert str(info.value).startswith(f"{target}: ") and SPECIAL[kind] in str(info.value)
    line = cli("transcribe", path, tiny_corpus / "wav" / "u0.wav").error_line
    assert SPECIAL[kind] in line and target in line
