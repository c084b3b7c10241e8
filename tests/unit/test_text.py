import pytest

from asr.errors import TextError
from asr.text import BLANK, WORD_SEP, CharTokenizer, NormalizerConfig, TextNormalizer
from asr.units import count_unknown


def test_normaliser_lowercases_strips_punctuation_keeps_apostrophes():
    norm = TextNormalizer()
    assert norm("  Hello, WORLD!  Don't   stop.") == "hello world don't stop"


def test_normaliser_is_configurable():
    norm = TextNormalizer(NormalizerConfig(lowercase=False, strip_punctuation=False))
    assert norm("Hi,  There!") == "Hi, There!"


def test_tokenizer_round_trip_and_layout():
    texts = ["hello world", "one two three"]
    tok = CharTokenizer.build(texts)
    assert tok.symbols[0] == BLANK and tok.symbols[1] == WORD_SEP
    assert len(tok) == 2 + len(set("helloworldonetwothree"))
    for text in texts:
        ids = tok.encode(text)
        assert tok.blank_id not in ids
        assert ids.count(tok.word_sep_id) == text.count(" ")
        assert tok.decode(ids) == text


def test_unknown_characters_are_reported_not_dropped():
    tok = CharTokenizer.build(["abc"])
    with pytest.raises(TextError, match="'z'"):
        tok.encode("abz")
    assert count_unknown(tok, ["abz", "zzq"]) == {"z": 3, "q": 1}


def test_tokenizer_serialises():
    tok = CharTokenizer.build(["yes no"])
    again = CharTokenizer.from_dict(tok.to_dict())
    assert again.symbols == tok.symbols
    with pytest.raises(TextError):
        CharTokenizer(["a", "b"])
