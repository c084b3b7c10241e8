"""Transcript formats: exact text of each format for a hand-made hypothesis, cue splitting, SRT/VTT read back."""

import json
import re

import pytest

from asr.decode import Hypothesis, Word
from asr.formats import CueOptions, format_name, render, split_cues, timestamp, to_srt, to_tsv, to_vtt, write_transcript

WORDS = [
    Word("hello", 0.5, 0.9, 0.9),
    Word("world", 1.0, 1.5, 0.8123),
    # 0.7 s pause: a new cue
    Word("this", 2.2, 2.4, 1.0),
    Word("is", 2.45, 2.55, 0.5),
    Word("a", 2.6, 2.65, 0.25),
    Word("test", 2.7, 3.1, 0.99),
]
HYP = Hypothesis(text="hello world this is a test", words=WORDS, nbest=[("hello world this is a test", -1.23456),
                                                                        ("hello word this is a test", -2.5)])


def test_srt_exact():
    assert to_srt(HYP) == (
        "1\n00:00:00,500 --> 00:00:01,500\nhello world\n"
        "\n"
        "2\n00:00:02,200 --> 00:00:03,100\nthis is a test\n"
    )


def test_vtt_exact():
    assert to_vtt(HYP) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.500 --> 00:00:01.500\nhello world\n"
        "\n"
        "00:00:02.200 --> 00:00:03.100\nthis is a test\n"
    )


def test_tsv_exact():
    assert to_tsv(HYP) == (
        "start\tend\tword\tconfidence\n"
        "0.500\t0.900\thello\t0.9000\n"
        "1.000\t1.500\tworld\t0.8123\n"
        "2.200\t2.400\tthis\t1.0000\n"
        "2.450\t2.550\tis\t0.5000\n"
        "2.600\t2.650\ta\t0.2500\n"
        "2.700\t3.100\ttest\t0.9900\n"
    )


def test_txt_and_json():
    assert render(HYP, "txt") == "hello world this is a test\n"
    assert render(HYP, "text") == render(HYP, "txt")  # the old name of the format
    entry = json.loads(render(HYP, "json", source="a.wav"))
    assert entry == {
        "file": "a.wav",
        "text": "hello world this is a test",
        "words": [{"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence} for w in WORDS],
        "nbest": [{"text": "hello world this is a test", "score": -1.2346},
                  {"text": "hello word this is a test", "score": -2.5}],
    }
    assert render(HYP, "json").count("\n") == 1  # one line: JSON lines on stdout


def test_empty_hypothesis():
    empty = Hypothesis(text="")
    assert (to_srt(empty), to_vtt(empty), to_tsv(empty), render(empty, "txt")) == (
        "", "WEBVTT\n", "start\tend\tword\tconfidence\n", "\n")


def test_timestamps():
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(3725.25, ",") == "01:02:05,250"
    assert timestamp(59.9996) == "00:01:00.000"  # rounding carries into the minutes
    assert timestamp(100 * 3600 + 0.001) == "100:00:00.001"


def words_at(names: str, step: float = 0.3, length: float = 0.25) -> list[Word]:
    """Evenly spaced words with short gaps (below the pause threshold)."""
    return [Word(w, round(i * step, 3), round(i * step + length, 3), 1.0) for i, w in enumerate(names.split())]


def test_cues_cut_at_the_line_length():
    words = words_at("one two three four five six")
    one_line = split_cues(words, CueOptions(max_chars=9, max_lines=1))
    assert [c.lines for c in one_line] == [("one two",), ("three",), ("four five",), ("six",)]
    two_lines = split_cues(words, CueOptions(max_chars=9, max_lines=2))
    assert [c.lines for c in two_lines] == [("one two", "three"), ("four five", "six")]
    assert (two_lines[1].start, two_lines[1].end) == (0.9, 1.75)  # first word's start to last word's end
    assert all(len(line) <= 9 for c in two_lines for line in c.lines)
    assert to_srt(Hypothesis("x", words), CueOptions(max_chars=9)).split("\n")[:4] == [
        "1", "00:00:00,000 --> 00:00:00,850", "one two", "three"]


def test_a_word_longer_than_a_line_gets_a_cue_of_its_own():
    words = words_at("a supercalifragilistic b")
    assert [c.lines for c in split_cues(words, CueOptions(max_chars=5, max_lines=1))] == [
        ("a",), ("supercalifragilistic",), ("b",)]


def test_cues_cut_at_pauses_and_the_maximum_duration():
    words = [Word("a", 0.0, 0.2, 1), Word("b", 0.69, 0.8, 1), Word("c", 1.3, 1.4, 1)]
    # gap a-b 0.49 < 0.5 stays; gap b-c exactly 0.5 cuts
    assert [c.text for c in split_cues(words)] == ["a b", "c"]
    assert [c.text for c in split_cues(words, CueOptions(min_gap=0.4))] == ["a", "b", "c"]
    long_run = words_at(" ".join(["w"] * 10), step=1.0, length=0.9)  # w at 0, 1, ..., 9 s; gaps of 0.1 s
    cues = split_cues(long_run, CueOptions(max_duration=3.0))
    assert [(c.start, c.end) for c in cues] == [(0.0, 2.9), (3.0, 5.9), (6.0, 8.9), (9.0, 9.9)]
    with pytest.raises(ValueError):
        CueOptions(max_chars=0)


SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n((?:[^\n]+\n)+)")
VTT_CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n((?:[^\n]+\n)+)")


def _seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """A strict SubRip reader: numbered blocks separated by one blank line, nothing else."""
    blocks = text.split("\n\n") if text else []
    cues = []
    for number, block in enumerate(blocks, 1):
        block = block if block.endswith("\n") else block + "\n"
        match = SRT_CUE.fullmatch(block)
        assert match and int(match.group(1)) == number, f"not an SRT cue: {block!r}"
        cues.append((_seconds(*match.group(2, 3, 4, 5)), _seconds(*match.group(6, 7, 8, 9)), match.group(10).strip()))
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    header, _, body = text.partition("\n\n")
    assert header == "WEBVTT\n".rstrip("\n")
    cues = []
    for block in filter(None, body.split("\n\n")):
        block = block if block.endswith("\n") else block + "\n"
        match = VTT_CUE.fullmatch(block)
        assert match, f"not a WebVTT cue: {block!r}"
        cues.append((_seconds(*match.group(1, 2, 3, 4)), _seconds(*match.group(5, 6, 7, 8)), match.group(9).strip()))
    return cues


def test_srt_and_vtt_read_back_to_the_words():
    words = words_at("the quick brown fox jumps over the lazy dog and keeps running far away", step=0.41)
    words += [Word("later", 4000.123, 4000.5, 0.7)]  # past an hour, after a long pause
    hyp = Hypothesis(" ".join(w.word for w in words), words)
    options = CueOptions(max_chars=16, max_lines=2, max_duration=3.0)
    expected = [(c.start, c.end, c.text) for c in split_cues(words, options)]
    assert len(expected) >= 4 and expected[-1] == (4000.123, 4000.5, "later")
    for parsed in (parse_srt(to_srt(hyp, options)), parse_vtt(to_vtt(hyp, options))):
        assert parsed == expected
        # every word once, in order, and cues in time order without overlap
        assert " ".join(text.replace("\n", " ") for _, _, text in parsed).split() == [w.word for w in words]
        assert all(a[1] <= b[0] for a, b in zip(parsed, parsed[1:]))


def test_write_transcript_picks_the_format_from_the_extension(tmp_path):
    assert write_transcript(HYP, tmp_path / "out" / "a.srt").read_text() == to_srt(HYP)
    assert write_transcript(HYP, tmp_path / "a.tsv").read_text() == to_tsv(HYP)
    assert json.loads((write_transcript(HYP, tmp_path / "b.json", source="b.wav")).read_text())["file"] == "b.wav"
    with pytest.raises(ValueError):
        write_transcript(HYP, tmp_path / "a.doc")
    assert format_name("vtt") == "vtt"
    with pytest.raises(ValueError):
        format_name("docx")
