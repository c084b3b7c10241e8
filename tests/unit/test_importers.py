"""Kaldi, NeMo and folder importers, on small fixture trees written in each format's true layout."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from corpus_files import write_audio, write_lines

from asr.data.importers import IMPORTERS, import_corpus
from asr.data.importers.folder import import_audio_folder
from asr.data.importers.kaldi import import_kaldi_dir
from asr.data.importers.nemo import import_nemo_manifest
from asr.errors import AsrError, ManifestError

# --- Kaldi -----------------------------------------------------------------------------------------


@pytest.fixture
def kaldi_corpus(tmp_path: Path) -> Path:
    """speechocean762-like: corpus/train/{wav.scp,text,utt2spk} with '../audio/...' paths, plus one absolute path."""
    write_audio(tmp_path / "corpus/audio/S1/u1.wav", 0.3)
    absolute = write_audio(tmp_path / "elsewhere/u2.wav", 0.5)
    data = tmp_path / "corpus/train"
    write_lines(data / "wav.scp", "u1 ../audio/S1/u1.wav", f"u2 {absolute}")
    write_lines(data / "text", "u1 HELLO WORLD", "u2 GOOD  MORNING")
    write_lines(data / "utt2spk", "u1 S1", "u2 S2")
    return data


def test_kaldi_resolves_relative_paths_against_the_data_dir(kaldi_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path / "elsewhere")  # a cwd-relative resolution would point into the wrong folder
    utts = {u.id: u for u in import_kaldi_dir(kaldi_corpus)}
    assert set(utts) == {"u1", "u2"}
    assert Path(utts["u1"].audio) == tmp_path / "corpus/audio/S1/u1.wav"
    assert Path(utts["u2"].audio) == tmp_path / "elsewhere/u2.wav"
    assert utts["u1"].duration == pytest.approx(0.3)
    assert utts["u2"].duration == pytest.approx(0.5)
    assert utts["u1"].text == "HELLO WORLD"
    assert utts["u2"].text == "GOOD  MORNING"  # kept as is: normalising is the text normaliser's job
    assert (utts["u1"].speaker, utts["u2"].speaker) == ("S1", "S2")
    assert utts["u1"].offset == 0.0


def test_kaldi_keeps_the_order_of_text(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_audio(tmp_path / f"{name}.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav", "b b.wav", "c c.wav")
    write_lines(tmp_path / "text", "c three", "a one", "b two")
    assert [u.id for u in import_kaldi_dir(tmp_path)] == ["c", "a", "b"]
    assert all(u.speaker is None for u in import_kaldi_dir(tmp_path))  # no utt2spk


def test_kaldi_audio_root_overrides_the_base_of_relative_paths(tmp_path: Path) -> None:
    write_audio(tmp_path / "WAVE/S1/u1.WAV")
    write_lines(tmp_path / "train/wav.scp", "u1 WAVE/S1/u1.WAV")
    write_lines(tmp_path / "train/text", "u1 HI")
    with pytest.raises(ManifestError, match="no usable utterances"):
        import_kaldi_dir(tmp_path / "train")  # relative to train/: the file is not there
    (utt,) = import_kaldi_dir(tmp_path / "train", audio_root=tmp_path)
    assert Path(utt.audio) == tmp_path / "WAVE/S1/u1.WAV"


def test_kaldi_segments_give_offset_and_duration(tmp_path: Path) -> None:
    write_audio(tmp_path / "rec.wav", 2.0)
    write_lines(tmp_path / "wav.scp", "rec rec.wav")
    write_lines(
        tmp_path / "segments",
        "s1 rec 0.0 0.8",
        "s2 rec 0.8 -1",  # -1: to the end of the recording
        "s3 rec 1.5 2.02",  # overshoots by rounding: clipped
        "s4 rec 2.5 3.0",  # entirely past the end: skipped
    )
    write_lines(tmp_path / "text", "s1 one", "s2 two", "s3 three", "s4 four")
    utts = {u.id: u for u in import_kaldi_dir(tmp_path)}
    assert set(utts) == {"s1", "s2", "s3"}
    assert (utts["s1"].offset, utts["s1"].duration) == pytest.approx((0.0, 0.8))
    assert (utts["s2"].offset, utts["s2"].duration) == pytest.approx((0.8, 1.2))
    assert (utts["s3"].offset, utts["s3"].duration) == pytest.approx((1.5, 0.5))
    assert all(Path(u.audio) == tmp_path / "rec.wav" for u in utts.values())


def test_kaldi_segments_with_bad_times_name_the_line(tmp_path: Path) -> None:
    write_audio(tmp_path / "rec.wav", 1.0)
    write_lines(tmp_path / "wav.scp", "rec rec.wav")
    write_lines(tmp_path / "segments", "s1 rec 0.0 0.5", "s2 rec 0.7 0.2")
    write_lines(tmp_path / "text", "s1 a", "s2 b")
    with pytest.raises(ManifestError, match=r"segments:2: invalid segment times"):
        import_kaldi_dir(tmp_path)


def test_kaldi_piped_wav_scp_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav", "b sox b.flac -t wav - |")
    write_lines(tmp_path / "text", "a one", "b two")
    with pytest.raises(ManifestError) as err:
        import_kaldi_dir(tmp_path)
    assert f"{tmp_path / 'wav.scp'}:2" in str(err.value)
    assert "piped commands" in str(err.value) and "unsupported" in str(err.value)


def test_kaldi_ark_offsets_are_rejected(tmp_path: Path) -> None:
    write_lines(tmp_path / "wav.scp", "a data/wav.ark:1234")
    write_lines(tmp_path / "text", "a one")
    with pytest.raises(ManifestError, match=r"wav\.scp:1: archive offsets"):
        import_kaldi_dir(tmp_path)


def test_kaldi_mismatched_wav_scp_and_text_skips_and_counts(tmp_path: Path, caplog) -> None:
    for name in ("a", "b", "d", "e"):
        write_audio(tmp_path / f"{name}.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav", "b b.wav", "d d.wav", "e e.wav")
    write_lines(tmp_path / "text", "a one", "b two", "c three")
    with caplog.at_level(logging.WARNING):
        utts = import_kaldi_dir(tmp_path)
    assert [u.id for u in utts] == ["a", "b"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    missing_audio = [m for m in messages if "in text are missing from wav.scp" in m]
    missing_text = [m for m in messages if "have no transcript" in m]
    assert len(missing_audio) == 1 and "1 utterances" in missing_audio[0] and "c" in missing_audio[0]
    assert len(missing_text) == 1 and "2 utterances" in missing_text[0] and "d, e" in missing_text[0]


def test_kaldi_with_nothing_in_common_is_an_error(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav")
    write_lines(tmp_path / "text", "b two")
    with pytest.raises(ManifestError, match="no usable utterances.*1 without audio entry, 1 without transcript"):
        import_kaldi_dir(tmp_path)


def test_kaldi_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav")
    write_lines(tmp_path / "text", "a one", "", "a again")
    with pytest.raises(ManifestError, match=r"text:3: duplicate id 'a' \(first on line 1\)"):
        import_kaldi_dir(tmp_path)


def test_kaldi_malformed_wav_scp_line_names_the_line(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav", "b")
    write_lines(tmp_path / "text", "a one", "b two")
    with pytest.raises(ManifestError, match=r"wav\.scp:2: malformed line"):
        import_kaldi_dir(tmp_path)


def test_kaldi_empty_transcript_is_kept(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    write_lines(tmp_path / "wav.scp", "a a.wav")
    write_lines(tmp_path / "text", "a")
    (utt,) = import_kaldi_dir(tmp_path)
    assert utt.text == ""


def test_kaldi_unreadable_audio_is_a_counted_skip(tmp_path: Path, caplog) -> None:
    write_audio(tmp_path / "good.wav")
    (tmp_path / "bad.wav").write_bytes(b"not audio at all" * 10)
    write_lines(tmp_path / "wav.scp", "good good.wav", "bad bad.wav", "gone gone.wav")
    write_lines(tmp_path / "text", "good one", "bad two", "gone three")
    with caplog.at_level(logging.WARNING):
        utts = import_kaldi_dir(tmp_path)
    assert [u.id for u in utts] == ["good"]
    text = caplog.text
    assert "bad.wav" in text and "gone.wav" in text
    assert "2 utterances skipped because their audio is unreadable" in text


def test_kaldi_missing_required_file(tmp_path: Path) -> None:
    write_lines(tmp_path / "wav.scp", "a a.wav")
    with pytest.raises(ManifestError, match="missing 'text'"):
        import_kaldi_dir(tmp_path)
    with pytest.raises(ManifestError, match="not found"):
        import_kaldi_dir(tmp_path / "nope")


# --- NeMo ------------------------------------------------------------------------------------------


def write_jsonl(path: Path, *entries: dict | str) -> Path:
    return write_lines(path, *(e if isinstance(e, str) else json.dumps(e) for e in entries))


def test_nemo_paths_ids_offsets_and_speakers(tmp_path: Path, monkeypatch) -> None:
    write_audio(tmp_path / "m/audio/a/x.wav", 2.0)
    write_audio(tmp_path / "m/audio/b/x.wav", 0.4)
    absolute = write_audio(tmp_path / "abs/y.flac", 0.3)
    manifest = write_jsonl(
        tmp_path / "m/train.json",
        {"audio_filepath": "audio/a/x.wav", "duration": 1.0, "text": "first half", "speaker": "alice"},
        {"audio_filepath": "audio/a/x.wav", "duration": 1.0, "offset": 1.0, "text": "second half", "spk": 7},
        {"audio_filepath": "audio/b/x.wav", "duration": 0.4, "text": "same stem"},
        {"audio_filepath": str(absolute), "duration": 0.3, "text": "absolute"},
    )
    monkeypatch.chdir(tmp_path / "abs")
    utts = import_nemo_manifest(manifest)
    assert [u.id for u in utts] == ["x", "x-1000", "x-2", "y"]
    assert Path(utts[0].audio) == tmp_path / "m/audio/a/x.wav"
    assert Path(utts[2].audio) == tmp_path / "m/audio/b/x.wav"
    assert Path(utts[3].audio) == absolute
    assert (utts[1].offset, utts[1].duration) == (1.0, 1.0)
    assert [u.speaker for u in utts] == ["alice", "7", None, None]
    assert utts[1].text == "second half"


def test_nemo_broken_json_names_file_and_line(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    manifest = write_jsonl(
        tmp_path / "m.json", {"audio_filepath": "a.wav", "duration": 0.3, "text": "ok"}, '{"audio_filepath": "a.wav",'
    )
    with pytest.raises(ManifestError, match=re.escape(f"{tmp_path / 'm.json'}:2: not valid JSON")):
        import_nemo_manifest(manifest)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"duration": 0.3, "text": "x"}, "missing field 'audio_filepath'"),
        ({"audio_filepath": "a.wav", "duration": 0.3}, "missing field 'text'"),
        ({"audio_filepath": "a.wav", "duration": "0.3", "text": "x"}, "'duration' must be a number"),
        ({"audio_filepath": "a.wav", "duration": -1, "text": "x"}, "duration must be positive"),
        ({"audio_filepath": "a.wav", "duration": 0.3, "offset": -2, "text": "x"}, "offset must not be negative"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_nemo_invalid_entries_name_the_line(tmp_path: Path, entry, message: str) -> None:
    write_audio(tmp_path / "a.wav")
    manifest = write_jsonl(tmp_path / "m.json", json.dumps(entry))
    with pytest.raises(ManifestError, match=rf"m\.json:1: .*{message}"):
        import_nemo_manifest(manifest)


def test_nemo_missing_duration_is_read_from_the_header(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", 1.0)
    manifest = write_jsonl(tmp_path / "m.json", {"audio_filepath": "a.wav", "offset": 0.25, "text": "x"})
    (utt,) = import_nemo_manifest(manifest)
    assert utt.duration == pytest.approx(0.75)


def test_nemo_missing_audio_is_a_counted_skip(tmp_path: Path, caplog) -> None:
    write_audio(tmp_path / "a.wav")
    manifest = write_jsonl(
        tmp_path / "m.json",
        {"audio_filepath": "a.wav", "duration": 0.3, "text": "x"},
        {"audio_filepath": "gone.wav", "duration": 0.3, "text": "y"},
    )
    with caplog.at_level(logging.WARNING):
        utts = import_nemo_manifest(manifest)
    assert [u.id for u in utts] == ["a"]
    assert "1 utterances skipped" in caplog.text and "gone.wav" in caplog.text
    only_missing = write_jsonl(tmp_path / "n.json", {"audio_filepath": "gone.wav", "duration": 0.3, "text": "y"})
    with pytest.raises(ManifestError, match="no usable utterances"):
        import_nemo_manifest(only_missing)


# --- folder ----------------------------------------------------------------------------------------


def test_folder_import_nested_flat_and_untranscribed(tmp_path: Path, caplog) -> None:
    root = tmp_path / "corpus"
    write_audio(root / "top.wav", 0.3)
    write_lines(root / "top.txt", "flat file")
    write_audio(root / "alice/001.flac", 0.5)
    write_lines(root / "alice/001.txt", "hello", "  there ")  # wrapped over two lines: one utterance
    write_audio(root / "alice/002.wav")  # no transcript
    write_audio(root / "bob/s1/001.ogg", 0.4)
    write_lines(root / "bob/s1/001.txt", "nested deeper")
    write_lines(root / "notes.txt", "a transcript without audio is ignored")
    with caplog.at_level(logging.WARNING):
        utts = {u.id: u for u in import_audio_folder(root)}
    assert set(utts) == {"top", "alice-001", "bob-s1-001"}
    assert utts["top"].speaker is None
    assert utts["alice-001"].speaker == "alice"
    assert utts["bob-s1-001"].speaker == "s1"
    assert utts["alice-001"].text == "hello there"
    assert utts["alice-001"].duration == pytest.approx(0.5)
    assert Path(utts["bob-s1-001"].audio) == root / "bob/s1/001.ogg"
    assert "1 audio files without a .txt transcript" in caplog.text
    assert "002.wav" in caplog.text


def test_folder_two_files_with_one_id_is_an_error(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    write_audio(tmp_path / "a.flac")
    write_lines(tmp_path / "a.txt", "which one")
    with pytest.raises(ManifestError, match="id 'a' is also the id of"):
        import_audio_folder(tmp_path)


def test_folder_without_usable_audio_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no audio files"):
        import_audio_folder(tmp_path)
    write_audio(tmp_path / "a.wav")
    with pytest.raises(ManifestError, match="1 without transcript"):
        import_audio_folder(tmp_path)


# --- registry --------------------------------------------------------------------------------------


def test_import_corpus_dispatches_by_kind(kaldi_corpus: Path) -> None:
    assert set(IMPORTERS) == {"kaldi", "nemo", "folder", "csv", "commonvoice", "lhotse", "manifest"}
    assert [u.id for u in import_corpus("kaldi", kaldi_corpus)] == ["u1", "u2"]
    assert [u.id for u in import_corpus("kaldi", str(kaldi_corpus))] == ["u1", "u2"]


def test_import_corpus_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(AsrError, match="unknown corpus format 'librispeech'; known formats: commonvoice, csv, folder, "
                       "kaldi, lhotse, manifest, nemo"):
        import_corpus("librispeech", "/nowhere")
