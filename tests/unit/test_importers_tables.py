"""CSV/TSV and Common Voice importers, on fixture files written in each format's true layout."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import soundfile as sf
from corpus_files import write_audio, write_lines

from asr.cli import main
from asr.data.importers import import_corpus
from asr.data.importers.tabular import import_common_voice, import_csv
from asr.data.manifest import read_manifest
from asr.errors import ManifestError

# The header of Common Voice 17's TSVs (validated.tsv, train.tsv, ...), and its clip_durations.tsv.
CV_HEADER = ("client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\t"
             "accents\tvariant\tlocale\tsegment")


def cv_row(client: str, clip: str, sentence: str) -> str:
    return f"{client}\t{clip}\t5f3a\t{sentence}\t\t2\t0\ttwenties\tmale_masculine\tUnited States English\t\ten\t"


@pytest.fixture
def common_voice(tmp_path: Path) -> Path:
    release = tmp_path / "cv-corpus-17.0/en"
    for name, seconds in (("common_voice_en_1.mp3", 0.5), ("common_voice_en_2.mp3", 0.7)):
        path = release / "clips" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path.with_suffix(".wav"), seconds, rate=16000)
        data, rate = sf.read(path.with_suffix(".wav"))
        sf.write(path, data, rate, format="MP3")  # Common Voice clips are MP3
        path.with_suffix(".wav").unlink()
    write_lines(release / "validated.tsv", CV_HEADER,
                cv_row("a1b2", "common_voice_en_1.mp3", 'He said "hello, world.'),  # a lone quote, unquoted
                cv_row("c3d4", "common_voice_en_2.mp3", "Good morning."),
                cv_row("c3d4", "common_voice_en_404.mp3", "Not downloaded."))
    return release


def test_common_voice_paths_speakers_and_unquoted_text(common_voice: Path, tmp_path: Path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)  # paths are relative to the TSV's folder, never the current one
    with caplog.at_level(logging.WARNING):
        utts = import_common_voice(common_voice)  # the release folder means its validated.tsv
    assert [u.id for u in utts] == ["common_voice_en_1", "common_voice_en_2"]
    assert Path(utts[0].audio) == common_voice / "clips/common_voice_en_1.mp3"
    assert utts[0].text == 'He said "hello, world.'
    assert [u.speaker for u in utts] == ["a1b2", "c3d4"]
    assert utts[0].duration == pytest.approx(0.5, abs=0.06)  # from the MP3 header (no clip_durations.tsv)
    assert "1 rows skipped" in caplog.text and "common_voice_en_404.mp3" in caplog.text


def test_common_voice_durations_come_from_clip_durations_tsv(common_voice: Path):
    write_lines(common_voice / "clip_durations.tsv", "clip\tduration[ms]", "common_voice_en_1.mp3\t512",
                "common_voice_en_2.mp3\t700")
    utts = import_common_voice(common_voice / "validated.tsv")
    assert [u.duration for u in utts] == [0.512, 0.7]


def test_common_voice_row_with_a_missing_field_names_file_and_line(common_voice: Path):
    tsv = common_voice / "validated.tsv"
    tsv.write_text(tsv.read_text() + "e5f6\tcommon_voice_en_2.mp3\tSentence only\n")
    with pytest.raises(ManifestError, match=re.escape(f"{tsv}:5: 3 fields, but the header has 13")):
        import_common_voice(tsv)


def test_common_voice_table_without_a_sentence_column(tmp_path: Path):
    tsv = write_lines(tmp_path / "train.tsv", "client_id\tpath\ttext", "a\tx.mp3\thi")
    with pytest.raises(ManifestError, match=re.escape(f"{tsv}:1: no 'sentence' column")):
        import_common_voice(tsv)


def test_generic_csv_with_quotes_ids_speakers_and_durations(tmp_path: Path, monkeypatch):
    write_audio(tmp_path / "data/wav/a.wav", 0.3)
    write_audio(tmp_path / "data/wav/b.wav", 0.6)
    table = write_lines(tmp_path / "data/list.csv", "audio,text,speaker", 'wav/a.wav,"yes, no",s1', "wav/b.wav,no,")
    monkeypatch.chdir(tmp_path)
    utts = import_csv(table)
    assert [(u.id, u.text, u.speaker) for u in utts] == [("a", "yes, no", "s1"), ("b", "no", None)]
    assert Path(utts[1].audio) == tmp_path / "data/wav/b.wav"
    assert [u.duration for u in utts] == pytest.approx([0.3, 0.6])


def test_generic_tsv_with_alias_columns_id_duration_and_offset(tmp_path: Path):
    write_audio(tmp_path / "long.wav", 2.0)
    table = write_lines(tmp_path / "segments.tsv", "id\tfile\ttranscript\toffset\tduration",
                        "u1\tlong.wav\tfirst half\t0\t1.0", "u2\tlong.wav\tsecond half\t1.0\t1.0")
    utts = import_csv(table)
    assert [(u.id, u.offset, u.duration, u.text) for u in utts] == [
        ("u1", 0.0, 1.0, "first half"), ("u2", 1.0, 1.0, "second half")]


@pytest.mark.parametrize(("lines", "message"), [
    (["audio,text", "a.wav,one", "b.wav,two,extra"], ":3: 3 fields, but the header has 2"),
    (["audio,text", ",empty path"], ":2: empty 'audio' field"),
    (["audio,text,duration", "a.wav,one,-1"], ":2: duration must be a positive number of seconds"),
    (["audio,text,duration", "a.wav,one,soon"], ":2: duration must be a number of seconds, got 'soon'"),
    (["audio,text", 'a.wav,"never closed'], ":2: not a readable CSV/TSV table row"),
    (["file_name,words", "a.wav,one"],
     ":1: no 'audio' or 'path' or 'file' or 'filename' or 'wav' or 'audio_filepath' column"),
    ([], ": empty CSV/TSV table"),
])
def test_bad_csv_rows_name_file_and_line(tmp_path: Path, lines: list[str], message: str):
    write_audio(tmp_path / "a.wav")
    table = write_lines(tmp_path / "list.csv", *lines)
    with pytest.raises(ManifestError, match=re.escape(f"{table}{message}")):
        import_csv(table)


def test_csv_that_is_not_utf8_names_the_line(tmp_path: Path):
    table = tmp_path / "list.csv"
    table.write_bytes(b"audio,text\na.wav,caf\xe9\n")
    with pytest.raises(ManifestError, match=re.escape(f"{table}:2: not valid UTF-8")):
        import_csv(table)


def test_asr_prepare_csv_writes_a_manifest_that_reads_back(tmp_path: Path, capsys):
    write_audio(tmp_path / "a.wav", 0.4)
    table = write_lines(tmp_path / "list.csv", "path,sentence", "a.wav,hello there")
    out = tmp_path / "out/train.jsonl"
    assert main(["prepare", "csv", str(table), "-o", str(out)]) == 0
    (utt,) = read_manifest(out)
    assert (utt.id, utt.text, Path(utt.audio), utt.duration) == ("a", "hello there", tmp_path / "a.wav",
                                                                 pytest.approx(0.4))
    assert import_corpus("csv", table)[0] == utt


def test_asr_prepare_bad_row_is_one_line_without_traceback(tmp_path: Path, capsys):
    table = write_lines(tmp_path / "list.csv", "audio,text", "a.wav,x,y")
    assert main(["prepare", "csv", str(table), "-o", str(tmp_path / "m.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err == f"asr: error: {table}:2: 3 fields, but the header has 2 (','-separated)\n"
