"""Family 5: importers never write a manifest the reader rejects. NaN and infinite times from Kaldi
``segments`` or NeMo manifests, lone surrogates in NeMo text: refused at the line, or (for whatever reaches
the writer) refused by ``write_manifest`` naming the utterance; whatever is written reads back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.data.importers import import_kaldi_dir, import_nemo_manifest
from asr.data.manifest import Utterance, read_manifest, write_manifest
from asr.errors import ManifestError

RATE = 8000


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "rec.wav"
    sf.write(path, np.zeros(RATE * 3, np.float32), RATE)
    return path


def _kaldi(tmp_path: Path, recording: Path, start: str, end: str) -> Path:
    data = tmp_path / "kaldi"
    data.mkdir(exist_ok=True)
    (data / "wav.scp").write_text(f"rec {recording}\n")
    (data / "text").write_text("u1 hello\nu2 world\n")
    (data / "segments").write_text(f"u1 rec {start} {end}\nu2 rec 0.5 1.5\n")
    return data


@pytest.mark.parametrize("start, end", [("nan", "1.0"), ("0", "nan"), ("inf", "-1"), ("-inf", "1"),
                                        ("0", "inf"), ("1e999", "-1"), ("NaN", "-1")])
def test_kaldi_segments_with_non_finite_times(tmp_path: Path, recording: Path, start: str, end: str) -> None:
    data = _kaldi(tmp_path, recording, start, end)
    with pytest.raises(ManifestError, match=r"segments:1: invalid segment times"):
        import_kaldi_dir(data)


def test_kaldi_import_round_trips(tmp_path: Path, recording: Path) -> None:
    utts = import_kaldi_dir(_kaldi(tmp_path, recording, "0", "1.0"))
    back = read_manifest(write_manifest(tmp_path / "k.jsonl", utts))
    assert [(u.id, u.offset, u.duration) for u in back] == [("u1", 0.0, 1.0), ("u2", 0.5, 1.0)]


@pytest.mark.parametrize("field, value", [("duration", "NaN"), ("duration", "Infinity"), ("duration", "1e999"),
                                          ("offset", "NaN"), ("offset", "Infinity"), ("offset", "-Infinity"),
                                          ("duration", "-1"), ("offset", "-0.5")])
def test_nemo_non_finite_or_negative_numbers(tmp_path: Path, recording: Path, field: str, value: str) -> None:
    entry = {"audio_filepath": str(recording), "text": "hi", "duration": 1.0}
    line = json.dumps(entry)[:-1] + f', "{field}": {value}}}'  # raw JSON: NaN and Infinity as json.dumps writes them
    if field == "duration":
        line = line.replace('"duration": 1.0, ', "")
    manifest = tmp_path / "nemo.json"
    manifest.write_text(line + "\n")
    with pytest.raises(ManifestError, match=rf"nemo.json:1: .*{field}"):
        import_nemo_manifest(manifest)


def test_nemo_lone_surrogate_is_refused_by_the_writer(tmp_path: Path, recording: Path) -> None:
    manifest = tmp_path / "nemo.json"
    manifest.write_text(json.dumps({"audio_filepath": str(recording), "text": "caf\\ud800", "duration": 1.0})
                        .replace("\\\\ud800", "\\ud800") + "\n")
    utts = import_nemo_manifest(manifest)
    out = tmp_path / "out.jsonl"
    with pytest.raises(ManifestError, match="not valid Unicode"):
        write_manifest(out, utts)
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("duration, offset, message", [(math.nan, 0.0, "duration"), (math.inf, 0.0, "duration"),
                                                       (0.0, 0.0, "duration"), (1.0, math.nan, "offset"),
                                                       (1.0, -1.0, "offset")])
def test_write_manifest_refuses_what_the_reader_would(tmp_path: Path, duration: float, offset: float,
                                                      message: str) -> None:
    out = tmp_path / "m.jsonl"
    write_manifest(out, [Utterance("ok", "/a.wav", 1.0, "x")])
    with pytest.raises(ManifestError, match=f"cannot write utterance 'bad': {message}"):
        write_manifest(out, [Utterance("ok", "/a.wav", 1.0, "x"), Utterance("bad", "/b.wav", duration, "y",
                                                                            offset=offset)])
    assert [u.id for u in read_manifest(out)] == ["ok"]  # the previous file is intact
