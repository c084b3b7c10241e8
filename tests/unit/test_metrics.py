import pytest

from asr.metrics import error_report, format_report


def test_counts_and_rates_match_hand_computed_values():
    report = error_report(
        ["u1", "u2", "u3"],
        ["the cat sat", "one two three four", "yes"],
        ["the bat sat down", "one three four", "yes"],
    )
    # u1: 1 sub + 1 ins; u2: 1 del; u3: correct. 8 reference words.
    assert (report.substitutions, report.deletions, report.insertions, report.words) == (1, 1, 1, 8)
    assert report.wer == pytest.approx(3 / 8)
    assert report.sentence_errors == 2 and report.sentences == 3
    assert [uid for uid, _, _ in report.worst] == ["u1", "u2"]
    text = format_report(report)
    assert "WER 37.50%" in text and "REF: the cat sat" in text


def test_cer_and_empty_hypothesis():
    report = error_report(["a"], ["abc"], [""])
    assert report.cer == pytest.approx(1.0) and report.wer == pytest.approx(1.0)


def test_empty_reference_counts_insertions():
    report = error_report(["a", "b"], ["", "x y"], ["noise", "x y"])
    assert report.insertions == 1 and report.words == 2 and report.wer == pytest.approx(0.5)
