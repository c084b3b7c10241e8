import math

import pytest
import torch

from asr.decode import DecoderConfig, build_decoder
from asr.decode.beam import blank_run_starts
from asr.decode.greedy import GreedyDecoder
from asr.decode.hotwords import HotwordError, parse_hotword, read_hotwords
from asr.decode.lexicon import read_lexicon
from asr.text import CharTokenizer

TOK = CharTokenizer.build(["abcdefghijklmnopqrstuvwxyz"])


def emissions(frames: list[dict[str, float]]) -> torch.Tensor:
    """Each frame: {symbol: probability}; the rest of the mass is spread over the other symbols."""
    out = torch.full((len(frames), len(TOK)), 1e-4)
    for i, frame in enumerate(frames):
        for sym, p in frame.items():
            out[i, TOK.symbols.index(sym)] = p
        rest = 1.0 - sum(frame.values())
        others = [j for j in range(len(TOK)) if TOK.symbols[j] not in frame]
        out[i, others] = max(rest, 1e-4 * len(others)) / len(others)
    out = out / out.sum(-1, keepdim=True)
    return out.log()


def spelled(text: str, p: float = 0.9) -> list[dict[str, float]]:
    frames = [{"<blank>": p}]
    for ch in text:
        frames += [{"|" if ch == " " else ch: p}, {"<blank>": p}]
    return frames


ARPA = """\\data\\
ngram 1=6
ngram 2=4

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.3
-0.7\t</s>\t0
-0.6\tcat\t-0.2
-2.5\tkat\t-0.2
-0.8\tsat\t-0.2

\\2-grams:
-0.2\t<s> cat
-0.3\tcat sat
-0.2\tsat </s>
-1.5\t<s> kat

\\end\\
"""


@pytest.fixture
def arpa(tmp_path):
    path = tmp_path / "lm.arpa"
    path.write_text(ARPA)
    return str(path)


def ambiguous_cat() -> torch.Tensor:
    # First letter: 'k' slightly ahead of 'c' acoustically; "sat" is clear.
    frames = [{"<blank>": 0.9}, {"k": 0.5, "c": 0.45}, {"<blank>": 0.9}] + spelled("at sat")[1:]
    return emissions(frames)


def test_beam_without_lm_agrees_with_greedy_on_clear_input():
    lp = emissions(spelled("the cat sat"))
    greedy = GreedyDecoder(TOK).decode(lp, 0.04)
    beam = build_decoder(DecoderConfig(kind="beam", beam_size=10), TOK).decode(lp, 0.04)
    assert beam.text == greedy.text == "the cat sat"
    assert [(w.start, w.end) for w in beam.words] == [(w.start, w.end) for w in greedy.words]
    assert all(0 < w.confidence <= 1 for w in beam.words)


def test_blank_runs_shrink_to_one_frame_and_change_neither_words_nor_times(arpa):
    # Peaky CTC output: each letter one frame, long confident blank runs between (and one between the two l's).
    symbols = ["<blank>"] * 6
    for ch in "hello cat":
        symbols += ["|" if ch == " " else ch] + ["<blank>"] * 5
    scores = torch.zeros(len(symbols), len(TOK))
    # Each frame sure of its symbol: p 0.99983.
    scores[torch.arange(len(symbols)), [TOK.symbols.index(s) for s in symbols]] = 12.0
    lp = scores.log_softmax(-1)
    kept = blank_run_starts(lp, TOK.blank_id, 0.999)
    assert len(kept) == 2 * len("hello cat") + 1 and kept[0] == 0 and kept[-1] == len(symbols) - 5
    assert torch.equal(blank_run_starts(lp, TOK.blank_id, 1.0), torch.arange(len(symbols)))
    assert len(blank_run_starts(lp, TOK.blank_id, 0.99999)) == len(symbols)  # no frame is that sure
    greedy = GreedyDecoder(TOK).decode(lp, 0.04)
    for extra in ({}, {"lm": arpa, "lm_weight": 1.0}, {"hotwords": ["cat:2"]}):
        hyps = [build_decoder(DecoderConfig(kind="beam", blank_skip=p, **extra), TOK).decode(lp, 0.04)
                for p in (0.999, 1.0)]
        assert hyps[0].text == hyps[1].text == greedy.text == "hello cat"
        assert [(w.start, w.end) for w in hyps[0].words] == [(w.start, w.end) for w in greedy.words]
        assert [round(w.confidence, 6) for w in hyps[0].words] == [round(w.confidence, 6) for w in hyps[1].words]


def test_lm_overrides_a_weak_acoustic_preference(arpa):
    lp = ambiguous_cat()
    assert build_decoder(DecoderConfig(kind="beam"), TOK).decode(lp, 0.04).text == "kat sat"
    with_lm = build_decoder(DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0), TOK).decode(lp, 0.04)
    assert with_lm.text == "cat sat"
    lexicon = build_decoder(DecoderConfig(kind="beam", lm=arpa, lexicon="lm", lm_weight=1.0), TOK)
    assert lexicon.decode(lp, 0.04).text == "cat sat"


def test_lexicon_free_lm_decoding_charges_partial_words_that_start_no_lm_word(arpa):
    # "cqt" is acoustically ahead of "cat" by more than the LM's <unk> price; only the prefix charge,
    # paid when "cq" leaves every LM word, turns it back into the word.
    lp = emissions([{"<blank>": 0.9}, {"c": 0.9}, {"<blank>": 0.9}, {"q": 0.8, "a": 0.15}, {"<blank>": 0.9}]
                   + spelled("t sat")[1:])
    free = DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0, unk_prefix_score=0.0)
    assert build_decoder(free, TOK).decode(lp, 0.04).text == "cqt sat"
    charged = DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0)
    assert charged.unk_prefix_score < 0 and build_decoder(charged, TOK).decode(lp, 0.04).text == "cat sat"
    # A hotword's prefixes are words too: the charge does not stop it.
    hot = DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0, hotwords=["cqt:2"])
    assert build_decoder(hot, TOK).decode(lp, 0.04).text == "cqt sat"


def test_hotword_wins_back_a_word_and_leaves_others_alone(arpa):
    lp = ambiguous_cat()
    plain = DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0)
    assert build_decoder(plain, TOK).decode(lp, 0.04).text == "cat sat"
    boosted = DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0, hotwords=["kat:3"])
    assert build_decoder(boosted, TOK).decode(lp, 0.04).text == "kat sat"
    lexicon = DecoderConfig(kind="beam", lm=arpa, lm_weight=1.0, lexicon="lm", hotwords=["kat:3"])
    assert build_decoder(lexicon, TOK).decode(lp, 0.04).text == "kat sat"
    # The same hotword must not turn a clear "cat" into "kat".
    clear = emissions(spelled("cat sat"))
    assert build_decoder(boosted, TOK).decode(clear, 0.04).text == "cat sat"


def test_lexicon_constrains_output(tmp_path):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("cat\nsat\nmat\n")
    lp = emissions(spelled("cqt sat"))
    free = build_decoder(DecoderConfig(kind="beam"), TOK).decode(lp, 0.04)
    constrained = build_decoder(DecoderConfig(kind="beam", lexicon=str(lexicon)), TOK).decode(lp, 0.04)
    assert free.text == "cqt sat"
    assert constrained.text in {"cat sat", "mat sat"}


def test_nbest_is_ordered():
    lp = ambiguous_cat()
    hyp = build_decoder(DecoderConfig(kind="beam", nbest=3), TOK).decode(lp, 0.04)
    texts, scores = zip(*hyp.nbest)
    # Distinct transcripts (kat, cat; a third would need a letter below token_min_logp), best first.
    assert texts[:2] == ("kat sat", "cat sat") and len(set(texts)) == len(texts)
    assert list(scores) == sorted(scores, reverse=True) and texts[0] == hyp.text


def test_bad_lexicon_lines_are_reported_with_file_and_line(tmp_path, caplog):
    lexicon = tmp_path / "lex.txt"
    lexicon.write_text("cat c a t |\nsnow s n 0 w |\ncafé\n")
    entries = read_lexicon(lexicon, TOK)
    assert list(entries) == ["cat"]
    assert f"{lexicon}:2" in caplog.text and f"{lexicon}:3" in caplog.text


def test_hotword_parsing(tmp_path):
    assert parse_hotword("kat:2.5", 1.0).boost == 2.5
    assert parse_hotword("new york", 1.0).words == ("new", "york")
    with pytest.raises(HotwordError, match="not a number"):
        parse_hotword("kat:lots", 1.0)
    empty = tmp_path / "hw.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(HotwordError, match=str(empty)):
        read_hotwords(empty, 1.0)
    assert math.isclose(parse_hotword("x", 4.0).boost, 4.0)


def test_lexicon_decoding_keeps_the_last_character_of_the_last_word(tmp_path, arpa):
    # No blank or separator after the final letter: the model never emits '|' after the last word.
    lp = emissions(spelled("cat sat")[:-1])
    words = tmp_path / "words.txt"
    words.write_text("cat\nsat\nsa\n")
    assert build_decoder(DecoderConfig(kind="beam", lexicon=str(words)), TOK).decode(lp, 0.04).text == "cat sat"
    with_lm = DecoderConfig(kind="beam", lexicon="lm", lm=arpa, lm_weight=1.0)
    assert build_decoder(with_lm, TOK).decode(lp, 0.04).text == "cat sat"


def test_lexicon_that_does_not_match_the_lm_is_reported(tmp_path, arpa, caplog):
    from asr.decode.lexicon import LexiconError

    partly = tmp_path / "partly.txt"
    partly.write_text("cat\ndog\n")
    build_decoder(DecoderConfig(kind="beam", lexicon=str(partly), lm=arpa), TOK)
    assert f"{partly}: 1 of 2 words are not in the LM vocabulary" in caplog.text
    unrelated = tmp_path / "unrelated.txt"
    unrelated.write_text("dog\nbird\n")
    with pytest.raises(LexiconError, match="none of its 2 words"):
        build_decoder(DecoderConfig(kind="beam", lexicon=str(unrelated), lm=arpa), TOK)


def test_malformed_arpa_is_an_error_naming_file_and_line(tmp_path):
    from asr.lm.arpa import LmError

    broken = tmp_path / "broken.arpa"
    broken.write_text(ARPA.replace("-0.3\tcat sat", "-0.3\tcat"))  # a 2-gram with one word
    with pytest.raises(LmError, match=f"{broken}:"):
        build_decoder(DecoderConfig(kind="beam", lm=str(broken)), TOK)
