"""Bad transcripts and manifests: skipped and counted in training, ManifestError naming file:line otherwise."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.config import load_config
from asr.data.importers.kaldi import import_kaldi_dir
from asr.data.importers.nemo import import_nemo_manifest
from asr.data.manifest import Utterance, read_manifest, write_manifest
from asr.errors import ManifestError
from asr.train import prepare_data

RATE = 8000


def _line(**fields: object) -> str:
    return json.dumps({"id": "u", "audio": "wav/u0.wav", "duration": 0.6, "text": "ab", **fields})


def test_bad_transcripts_are_skipped_and_counted_in_training(tiny_corpus: Path, overrides, caplog) -> None:
    wav = tiny_corpus / "wav"
    utts = read_manifest(tiny_corpus / "train.jsonl")
    extra_train = [
        Utterance("empty", str(wav / "u0.wav"), 0.6, "?!"),  # nothing left once punctuation is stripped
        # 0.6 s = 60 frames = 15 after subsampling by 4; 20 labels cannot fit.
        Utterance("long", str(wav / "u1.wav"), 0.6, "ab" * 10),
    ]
    write_manifest(tiny_corpus / "train.jsonl", utts + extra_train)
    # The vocabulary comes from the training transcripts: only dev can hold characters it does not know.
    write_manifest(tiny_corpus / "dev.jsonl", utts[:3] + [Utterance("odd", str(wav / "u2.wav"), 0.6, "abc")])
    config = load_config(None, overrides(tiny_corpus))
    with caplog.at_level(logging.WARNING, logger="asr.data.datamodule"):
        data = prepare_data(config, cache_dir=None)
    assert data.skipped == {"train_empty_text": 1, "train_labels_exceed_frames": 1, "dev_unknown_chars": 1}
    assert len(data.train_set) == len(utts) and len(data.dev_set) == 3
    assert "dev: characters (or words) the tokenizer cannot encode" in caplog.text and "'c' x1" in caplog.text
    assert "train_empty_text=1" in caplog.text  # the counts reach the log, not only the return value


def test_unknown_reference_characters_are_scored_by_asr_test(tiny_corpus: Path, tiny_model: Path, cli) -> None:
    """The utterance is kept and counts as errors; the run does not fail on it."""
    wav = tiny_corpus / "wav"
    write_manifest(tiny_corpus / "test.jsonl", [Utterance("odd", str(wav / "u0.wav"), 0.6, "abc xyz")])
    result = cli("test", tiny_model, tiny_corpus / "test.jsonl", "-o", tiny_corpus / "out")
    assert result.code == 0
    (hyp,) = [json.loads(line) for line in (tiny_corpus / "out" / "hyps.jsonl").read_text().splitlines()]
    assert hyp["ref"] == "abc xyz"


def test_unknown_reference_characters_are_reported_by_asr_test(tiny_corpus: Path, tiny_model: Path, cli,
                                                                 caplog) -> None:
    wav = tiny_corpus / "wav"
    write_manifest(tiny_corpus / "test.jsonl", [Utterance("odd", str(wav / "u0.wav"), 0.6, "abc xyz")])
    with caplog.at_level(logging.WARNING):
        cli("test", tiny_model, tiny_corpus / "test.jsonl", "-o", tiny_corpus / "out")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("'c'" in m and "'z'" in m for m in warnings), warnings  # the characters the model cannot write


# Each bad manifest line and the message its ManifestError must carry (after "<file>:<line>: ").
BAD_LINES = {
    "broken JSON": ('{"id": "u", "audio": ', "not valid JSON"),
    "not an object": ("[1, 2]", "expected a JSON object"),
    "missing field": (json.dumps({"id": "u", "audio": "a.wav", "duration": 1.0}), "missing field 'text'"),
    "wrong type": (_line(duration="0.6"), "field 'duration' has the wrong type (str)"),
    "boolean for a number": (_line(duration=True), "field 'duration' has the wrong type (bool)"),
    "NaN duration": (_line().replace("0.6", "NaN"), "duration must be a positive number"),
    "infinite duration": (_line().replace("0.6", "Infinity"), "duration must be a positive number"),
    "negative offset": (_line(offset=-1.0), "offset must be a number of seconds >= 0"),
    "empty id": (_line(id=" "), "field 'id' is empty"),
    "invalid UTF-8": (_line(text="cafe").encode().replace(b"cafe", b"caf\xe9"), "not valid UTF-8"),  # Latin-1 é
}


def _write_with_bad_line(path: Path, bad: str | bytes) -> None:
    good = _line(id="first").encode()
    path.write_bytes(good + b"\n\n" + (bad if isinstance(bad, bytes) else bad.encode()) + b"\n")


@pytest.mark.parametrize("bad, message", BAD_LINES.values(), ids=list(BAD_LINES))
def test_bad_manifest_lines_name_file_and_line(tiny_corpus: Path, tiny_model: Path, cli, bad: str | bytes,
                                               message: str) -> None:
    manifest = tiny_corpus / "bad.jsonl"
    _write_with_bad_line(manifest, bad)
    where = f"{manifest}:3: "  # line 3: the empty line 2 still counts
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    assert str(info.value).startswith(where) and message in str(info.value)
    assert cli("test", tiny_model, manifest).error_line == f"asr: error: {info.value}"


def test_byte_order_mark_is_accepted(tiny_corpus: Path) -> None:
    manifest = tiny_corpus / "bom.jsonl"
    manifest.write_bytes(b"\xef\xbb\xbf" + _line().encode() + b"\n")  # as Windows Notepad saves it
    (utt,) = read_manifest(manifest)
    assert utt.id == "u" and utt.audio == str(tiny_corpus / "wav" / "u0.wav")


def test_duplicate_ids_are_errors_naming_both_lines(tiny_corpus: Path, tiny_model: Path, cli) -> None:
    manifest = tiny_corpus / "dup.jsonl"
    manifest.write_text("\n".join([_line(id="a"), _line(id="b"), _line(id="a")]) + "\n")
    message = f"{manifest}:3: duplicate id 'a' (first on line 1)"
    with pytest.raises(ManifestError, match=re.escape(message)):
        read_manifest(manifest)
    assert cli("test", tiny_model, manifest).error_line == f"asr: error: {message}"
    # Kaldi tables: the same rule, the same message shape.
    (tiny_corpus / "wav.scp").write_text("a wav/u0.wav\nb wav/u1.wav\na wav/u2.wav\n")
    (tiny_corpus / "text").write_text("a x\nb y\n")
    with pytest.raises(ManifestError, match=re.escape(f"{tiny_corpus / 'wav.scp'}:3: duplicate id 'a'")):
        import_kaldi_dir(tiny_corpus)


def test_kaldi_dir_whose_wav_scp_and_text_disagree_is_a_counted_skip(tiny_corpus: Path, caplog) -> None:
    (tiny_corpus / "wav.scp").write_text("u0 wav/u0.wav\nu1 wav/u1.wav\nu2 wav/u2.wav\n")
    (tiny_corpus / "text").write_text("u0 a b\nu1 b a\nu9 lost\n")
    with caplog.at_level(logging.WARNING):
        utts = import_kaldi_dir(tiny_corpus)
    assert [u.id for u in utts] == ["u0", "u1"]
    assert "1 utterances in text are missing from wav.scp, skipped (first: u9)" in caplog.text
    assert "1 utterances in wav.scp have no transcript in text, skipped (first: u2)" in caplog.text


def test_relative_paths_resolve_against_the_manifest_folder(tiny_corpus: Path, tmp_path_factory, tiny_model: Path,
                                                             monkeypatch, cli) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    # A decoy: resolving against the current folder would find this silent file instead of failing.
    (elsewhere / "wav").mkdir()
    sf.write(elsewhere / "wav" / "u0.wav", np.zeros(RATE, np.float32), RATE)
    monkeypatch.chdir(elsewhere)
    manifest = tiny_corpus / "rel.jsonl"
    manifest.write_text(_line() + "\n")
    (utt,) = read_manifest(manifest)
    assert utt.audio == str(tiny_corpus / "wav" / "u0.wav")
    # Written back, the path is relative to the new manifest's own folder.
    sub = tiny_corpus / "sub" / "copy.jsonl"
    write_manifest(sub, [utt])
    assert json.loads(sub.read_text())["audio"] == "../wav/u0.wav"
    assert read_manifest(sub)[0].audio == utt.audio
    nemo = tiny_corpus / "nemo.json"
    nemo.write_text(json.dumps({"audio_filepath": "wav/u1.wav", "duration": 0.7, "text": "x"}) + "\n")
    assert import_nemo_manifest(nemo)[0].audio == str(tiny_corpus / "wav" / "u1.wav")
    (tiny_corpus / "wav.scp").write_text("u2 wav/u2.wav\n")
    (tiny_corpus / "text").write_text("u2 x\n")
    assert import_kaldi_dir(tiny_corpus)[0].audio == str(tiny_corpus / "wav" / "u2.wav")
    assert cli("test", tiny_model, manifest, "-o", tiny_corpus / "out").code == 0
