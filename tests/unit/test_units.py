from pathlib import Path

import pytest

from asr.decode import DecoderConfig, build_decoder
from asr.errors import TextError
from asr.pronounce import Pronouncer, PronunciationError, read_pronunciations
from asr.units import PhoneTokenizer, TokenizerConfig, build_tokenizer, count_unknown, tokenizer_from_dict


def phone_tokenizer(texts, lexicon=""):
    return build_tokenizer(TokenizerConfig(units="phone", lexicon=lexicon), texts)


def test_cmudict_pronunciations_without_stress():
    pron = Pronouncer()
    assert pron("hello") == ["HH", "AH", "L", "OW"]
    assert pron("don't") == ["D", "OW", "N", "T"]
    assert Pronouncer(stress=True)("hello") == ["HH", "AH0", "L", "OW1"]
    assert pron("qzxv") is None


def test_lexicon_file_comes_first_and_bad_lines_name_the_line(tmp_path):
    good = tmp_path / "lex.txt"
    good.write_text("HELLO\tHH EH1 L OW0\nSTEEVEN S T IY1 V AH0 N\n", encoding="utf-8")
    pron = Pronouncer([good])
    assert pron("hello") == ["HH", "EH", "L", "OW"] and pron("steeven") == ["S", "T", "IY", "V", "AH", "N"]
    bad = tmp_path / "bad.txt"
    bad.write_text("HELLO HH EH L OW\nWORLD W ER1 L DX\n", encoding="utf-8")
    with pytest.raises(PronunciationError, match=r"bad.txt:2: not ARPAbet phones: DX"):
        read_pronunciations(bad)
    with pytest.raises(PronunciationError, match="not found"):
        read_pronunciations(tmp_path / "missing.txt")


def test_phone_tokenizer_encodes_words_with_separators_and_decodes_back():
    tok = phone_tokenizer(["yes no", "no"])
    assert tok.symbols[:2] == ["<blank>", "|"] and len(tok.symbols) == 2 + 39
    ids = tok.encode("yes no")
    assert tok.unit_string(ids) == "Y EH S N OW"
    assert ids.count(tok.word_sep_id) == 1
    assert tok.decode(ids) == "yes no"
    # A phone group that spells no word comes out as its phones run together, one token.
    assert tok.decode([tok.symbols.index(p) for p in ("Z", "Z", "Z")]) == "zzz"
    # Homophones come out as the training word: "know" sounds like "no".
    assert tok.decode(tok.encode("know")) == "no"


def test_training_words_without_pronunciation_are_reported_and_unknown(caplog):
    tok = phone_tokenizer(["yes qzxv", "no"])
    assert "qzxv" in caplog.text and "no pronunciation" in caplog.text
    assert tok.unknown("yes qzxv") == {"qzxv"} and not tok.unknown("yes no")
    assert count_unknown(tok, ["qzxv yes qzxv"]) == {"qzxv": 2}
    with pytest.raises(TextError, match="qzxv"):
        tok.encode("qzxv")


def test_stored_tokenizer_round_trips_and_rejects_bad_entries():
    tok = phone_tokenizer(["yes no"])
    again = tokenizer_from_dict(tok.to_dict())
    assert isinstance(again, PhoneTokenizer) and again.symbols == tok.symbols and again.lexicon == tok.lexicon
    data = tok.to_dict()
    data["lexicon"] = {"yes": "Y EH S BOGUS"}
    with pytest.raises(TextError, match="bad lexicon entry"):
        tokenizer_from_dict(data)
    data = tok.to_dict()
    data["lexicon"] = {f"w{i}": "Y" for i in range(200_001)}
    with pytest.raises(TextError, match="exceed the limits"):
        tokenizer_from_dict(data)


def test_phone_model_decodes_words_through_its_lexicon():
    import torch

    tok = phone_tokenizer(["yes no", "no"])
    # Emissions that spell N OW | Y EH S with blanks between.
    path = ["N", "<blank>", "OW", "|", "Y", "<blank>", "EH", "S"]
    log_probs = torch.full((len(path), len(tok)), -20.0)
    for frame, sym in enumerate(path):
        log_probs[frame, tok.symbols.index(sym)] = 0.0
    log_probs = log_probs.log_softmax(-1)
    greedy = build_decoder(DecoderConfig(kind="greedy"), tok).decode(log_probs, 0.04)
    assert greedy.text == "no yes" and greedy.units == "N OW Y EH S"
    beam = build_decoder(DecoderConfig(kind="beam", lexicon="model"), tok).decode(log_probs, 0.04)
    assert beam.text == "no yes" and [w.word for w in beam.words] == ["no", "yes"]
    assert beam.words[0].start < beam.words[1].start
    with pytest.raises(Exception, match="phone models"):
        build_decoder(DecoderConfig(kind="beam", lexicon="model"), build_tokenizer(TokenizerConfig(), ["ab"]))


def test_phone_decoding_vocabulary_is_training_words_plus_lm_words(tmp_path):
    from asr.decode.beam import BeamDecoder
    from asr.lm import LmConfig, build_lm

    build_lm(["yes go", "no stop"], LmConfig(order=2)).write_arpa(tmp_path / "lm.arpa")
    tok = phone_tokenizer(["yes no"])
    default = BeamDecoder(DecoderConfig(kind="beam", lm=str(tmp_path / "lm.arpa")), tok)
    assert set(default.lexicon) == {"yes", "no", "go", "stop"}
    assert default.lexicon["go"] == ["G", "OW"]
    only_model = BeamDecoder(DecoderConfig(kind="beam", lm=str(tmp_path / "lm.arpa"), lexicon="model"), tok)
    assert set(only_model.lexicon) == {"yes", "no"}


def test_cli_keeps_the_named_lexicons_as_names(tmp_path):
    from asr.cli import _decoder_overrides, build_parser

    for name in ("model", "lm", ""):
        args = build_parser().parse_args(["test", "m.pt", "dev.jsonl", "--lexicon", name])
        assert _decoder_overrides(args)["lexicon"] == name
    args = build_parser().parse_args(["test", "m.pt", "dev.jsonl", "--lexicon", "words.txt"])
    assert _decoder_overrides(args)["lexicon"] == str((Path.cwd() / "words.txt").absolute())
