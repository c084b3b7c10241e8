"""lhotse manifests in and out, on fixture lines as lhotse 1.33 writes them (CutSet.to_file, RecordingSet,
SupervisionSet); with lhotse installed, a round trip through lhotse itself."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus_files import write_audio, write_lines

from asr.cli import main
from asr.data.importers import import_lhotse, write_lhotse_cuts
from asr.data.manifest import Utterance, read_manifest
from asr.errors import ManifestError

RECORDING = ('{"id": "r1", "sources": [{"type": "file", "channels": [0], "source": "audio/r1.wav"}], '
             '"sampling_rate": 8000, "num_samples": 16000, "duration": 2.0, "channel_ids": [0]}')
SUPERVISIONS = ['{"id": "s1", "recording_id": "r1", "start": 0.2, "duration": 0.8, "channel": 0, '
                '"text": "HELLO WORLD", "speaker": "spk1"}',
                '{"id": "s2", "recording_id": "r1", "start": 1.1, "duration": 0.6, "channel": 0, "text": "BYE", '
                '"speaker": "spk1"}']
# CutSet.from_manifests(...).trim_to_supervisions(): the cut starts where its supervision does.
CUTS = ['{"id": "s1", "start": 0.2, "duration": 0.8, "channel": 0, "supervisions": [{"id": "s1", "recording_id": '
        '"r1", "start": 0.0, "duration": 0.8, "channel": 0, "text": "HELLO WORLD", "speaker": "spk1"}], '
        f'"recording": {RECORDING}, "type": "MonoCut"}}',
        '{"id": "s2", "start": 1.1, "duration": 0.6, "channel": 0, "supervisions": [{"id": "s2", "recording_id": '
        '"r1", "start": 0.0, "duration": 0.6, "channel": 0, "text": "BYE", "speaker": "spk1"}], '
        f'"recording": {RECORDING}, "type": "MonoCut"}}']
EXPECTED = [("s1", 0.2, 0.8, "HELLO WORLD", "spk1"), ("s2", 1.1, 0.6, "BYE", "spk1")]


def summary(utts: list[Utterance]) -> list[tuple]:
    return [(u.id, u.offset, u.duration, u.text, u.speaker) for u in utts]


def write_gz(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode()))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    write_audio(tmp_path / "lh/audio/r1.wav", 2.0)
    return tmp_path / "lh"


def test_cuts_jsonl_gz(corpus: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    utts = import_lhotse(write_gz(corpus / "mini_cuts_dev.jsonl.gz", *CUTS))
    assert summary(utts) == EXPECTED
    assert all(Path(u.audio) == corpus / "audio/r1.wav" for u in utts)


def test_supervisions_find_their_recordings_and_the_reverse(corpus: Path):
    sups = write_gz(corpus / "mini_supervisions_dev.jsonl.gz", *SUPERVISIONS)
    recs = write_gz(corpus / "mini_recordings_dev.jsonl.gz", RECORDING)
    assert summary(import_lhotse(sups)) == EXPECTED
    assert summary(import_lhotse(recs)) == EXPECTED


def test_plain_jsonl_and_cut_offsets_add_up(corpus: Path):
    # A cut starting at 1.0 whose supervision starts 0.1 s into it: the utterance starts at 1.1 s in the file.
    cut = json.loads(CUTS[1])
    cut["start"], cut["supervisions"][0]["start"] = 1.0, 0.1
    (utt,) = import_lhotse(write_lines(corpus / "cuts.jsonl", json.dumps(cut)))
    assert utt.offset == pytest.approx(1.1)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c.update(type="MixedCut"), ":2: a 'MixedCut'; only MonoCut objects can be imported"),
    (lambda c: c["recording"]["sources"][0].update(type="url"), ":2: recording 'r1' has a source of type url"),
    (lambda c: c["supervisions"][0].update(duration="long"), ":2: 'duration' must be a number of seconds"),
    (lambda c: c.pop("recording"), ":2: missing or malformed 'recording'"),
])
def test_bad_cut_lines_name_file_and_line(corpus: Path, edit, message: str):
    cut = json.loads(CUTS[1])
    edit(cut)
    path = write_lines(corpus / "cuts.jsonl", CUTS[0], json.dumps(cut))
    with pytest.raises(ManifestError, match=re.escape(f"{path}{message}")):
        import_lhotse(path)


def test_broken_json_and_missing_partner_files(corpus: Path):
    path = write_lines(corpus / "cuts.jsonl", CUTS[0], '{"id": "s2", ')
    with pytest.raises(ManifestError, match=re.escape(f"{path}:2: not valid JSON")):
        import_lhotse(path)
    sups = write_lines(corpus / "x_supervisions_train.jsonl", *SUPERVISIONS)
    with pytest.raises(ManifestError, match="need their recordings: expected .*x_recordings_train.jsonl"):
        import_lhotse(sups)
    write_lines(corpus / "x_recordings_train.jsonl", RECORDING.replace('"r1"', '"r9"'))
    with pytest.raises(ManifestError, match=re.escape(f"{sups}:1: recording 'r1' is not in")):
        import_lhotse(sups)


def test_written_cuts_read_back_to_the_same_utterances(tmp_path: Path):
    write_audio(tmp_path / "a.wav", 1.5)
    utts = [Utterance("u1", str(tmp_path / "a.wav"), 0.5, "first", "spk", 0.0),
            Utterance("u2", str(tmp_path / "a.wav"), 0.7, "second", None, 0.6)]
    out = write_lhotse_cuts(tmp_path / "out/cuts.jsonl.gz", utts)
    lines = [json.loads(line) for line in gzip.open(out, "rt")]
    assert lines[0]["recording"] == {"id": "a", "sources": [{"type": "file", "channels": [0],
                                                             "source": str(tmp_path / "a.wav")}],
                                     "sampling_rate": 8000, "num_samples": 12000, "duration": 1.5, "channel_ids": [0]}
    assert lines[1]["start"] == 0.6 and lines[1]["supervisions"][0]["start"] == 0.0
    assert import_lhotse(out) == utts


def test_asr_prepare_converts_a_manifest_to_lhotse_and_back(tmp_path: Path, capsys):
    write_audio(tmp_path / "a.wav", 0.4)
    manifest = write_lines(tmp_path / "m.jsonl", '{"id": "u", "audio": "a.wav", "duration": 0.4, "text": "hi"}')
    cuts = tmp_path / "cuts.jsonl.gz"
    assert main(["prepare", "manifest", str(manifest), "-o", str(cuts), "--output-format", "lhotse"]) == 0
    back = tmp_path / "back.jsonl"
    assert main(["prepare", "lhotse", str(cuts), "-o", str(back)]) == 0
    assert read_manifest(back) == read_manifest(manifest)


def test_lhotse_itself_reads_what_we_write_and_we_read_what_it_writes(tmp_path: Path):
    lhotse = pytest.importorskip("lhotse")
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    sf.write(tmp_path / "r1.wav", samples, 8000, subtype="FLOAT")
    utts = [Utterance("u1", str(tmp_path / "r1.wav"), 0.5, "ONE", "spk", 0.25)]
    cuts = lhotse.CutSet.from_file(write_lhotse_cuts(tmp_path / "ours_cuts.jsonl.gz", utts))
    (cut,) = list(cuts)
    assert (cut.supervisions[0].text, cut.supervisions[0].speaker) == ("ONE", "spk")
    np.testing.assert_allclose(cut.load_audio()[0], samples[2000:6000], atol=1e-6)

    rec = lhotse.Recording.from_file(tmp_path / "r1.wav")
    sup = lhotse.SupervisionSegment("s1", rec.id, start=0.5, duration=0.75, text="TWO", speaker="b")
    theirs = lhotse.CutSet.from_manifests(recordings=lhotse.RecordingSet.from_recordings([rec]),
                                          supervisions=lhotse.SupervisionSet.from_segments([sup]))
    theirs.trim_to_supervisions().to_file(tmp_path / "theirs_cuts.jsonl.gz")
    (utt,) = import_lhotse(tmp_path / "theirs_cuts.jsonl.gz")
    assert (utt.id, utt.offset, utt.duration, utt.text, utt.speaker) == ("s1", 0.5, 0.75, "TWO", "b")


def test_a_named_corpus_is_converted_through_its_manifests(capsys):
    assert main(["prepare", "yesno", "somewhere", "--output-format", "lhotse"]) == 2
    assert capsys.readouterr().err == ("asr: error: asr prepare yesno: --output-format lhotse converts one manifest: "
                                       "prepare the corpus, then asr prepare manifest data/yesno/train.jsonl "
                                       "--output-format lhotse\n")
