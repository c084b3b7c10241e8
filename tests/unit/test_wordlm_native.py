"""The compiled lexicon-free word-LM search (asr/decode/_wordlm.cpp through asr/decode/native.py)."""

import dataclasses
import itertools
import math

import pytest
import torch
from test_beam import ARPA, TOK, emissions, spelled

from asr.decode import DecoderConfig, native
from asr.decode.beam import BeamDecoder
from asr.lm.arpa import ArpaModel
from asr.lm.ngram import LmConfig, build_lm

pytestmark = pytest.mark.skipif(not native.available(), reason="extension not built")

SENTENCES = ["the cat sat on the mat", "a cat sat", "the dog sat on a log", "the cat ate", "a dog ate the log"]


@pytest.fixture
def lm_path(tmp_path):
    path = tmp_path / "lm.arpa"
    build_lm(SENTENCES, LmConfig(order=3)).write_arpa(path)
    return path


def test_ngram_scores_equal_the_arpa_reader_for_seen_backed_off_and_unknown_words(lm_path):
    arpa = ArpaModel.load(lm_path)
    compiled = native.ngram_lm(arpa)
    words = sorted({w for s in SENTENCES for w in s.split()}) + ["zebra", "<s>", "</s>"]
    checked = 0
    for context in itertools.chain([()], itertools.product(["<s>", "the", "cat", "zebra"], repeat=1),
                                   itertools.product(["<s>", "the", "cat", "zebra"], repeat=2)):
        for word in words:
            want = arpa.score(word, context)
            got = compiled.score(word, list(context))
            assert got == pytest.approx(want, abs=1e-9) or (want == got == -math.inf), (word, context)
            checked += 1
    assert checked > 200


def test_a_model_without_unk_gives_unknown_words_no_mass(tmp_path):
    path = tmp_path / "nounk.arpa"
    path.write_text(ARPA.replace("ngram 1=6", "ngram 1=5").replace("-1.0\t<unk>\t0\n", ""))
    compiled = native.ngram_lm(ArpaModel.load(path))
    assert compiled.score("zebra", ["<s>"]) == -math.inf
    # An unknown word in the history never matches an n-gram: the score backs off to the unigram.
    assert compiled.score("sat", ["zebra"]) == pytest.approx(ArpaModel.load(path).score("sat", ["zebra"]))


def _both(config, lp):
    compiled = BeamDecoder(config, TOK).decode(lp, 0.04)
    python = BeamDecoder(config, TOK, compiled=False).decode(lp, 0.04)
    return compiled, python


@pytest.mark.parametrize(("text", "want"), [("the cat sat", "the cat sat"), ("a dog ate the log", "a dog ate the log"),
                                            ("the kat sat on a mat", "the cat sat on a mat")])
def test_clear_speech_gives_the_python_searchs_words_times_and_score(lm_path, text, want):
    # No token pruning, so both searches see the same candidates ("kat" becomes "cat" through the LM).
    config = DecoderConfig(kind="beam", lm=str(lm_path), lm_weight=1.0, word_score=0.5, nbest=3, token_min_logp=-1000)
    compiled, python = _both(config, emissions(spelled(text, p=0.97)))
    assert compiled.text == python.text == want
    assert [(w.word, w.start, w.end) for w in compiled.words] == [(w.word, w.start, w.end) for w in python.words]
    # The sum of the paths is at least the best path, and only a little more when one path carries the mass.
    assert python.score - 1e-6 <= compiled.score < python.score + 0.1
    # The n-best are distinct transcripts, best first (flashlight's may repeat one in other alignments).
    texts, scores = zip(*compiled.nbest)
    assert texts[0] == want and len(set(texts)) == len(texts) == 3
    assert list(scores) == sorted(scores, reverse=True)


def test_hotwords_and_unknown_prefixes_score_as_in_the_python_search(lm_path):
    # "kat" is not an LM word: it pays the unknown-prefix charge, unless a hotword makes it welcome.
    lp = emissions([{"<blank>": 0.9}, {"k": 0.5, "c": 0.45}, {"<blank>": 0.9}] + spelled("at sat")[1:])
    config = DecoderConfig(kind="beam", lm=str(lm_path), lm_weight=1.0)
    for hotwords, want in (([], "cat sat"), (["kat:6"], "kat sat")):
        compiled, python = _both(dataclasses.replace(config, hotwords=hotwords), lp)
        assert compiled.text == python.text == want


def test_paths_of_one_prefix_add_up():
    # "b" has one strong alignment (frame 1); "a" is spread over three frames whose paths together outweigh it.
    # A best-path search (flashlight's) says "b"; the prefix search sums a's alignments and says "a".
    frames = [{"a": 0.3, "b": 0.4, "<blank>": 0.3}, {"a": 0.3, "b": 0.05, "<blank>": 0.65},
              {"a": 0.3, "b": 0.05, "<blank>": 0.65}]
    lp = emissions(frames)
    path_b = max(lp[0, TOK.symbols.index("b")] + lp[1:, 0].sum(), lp[:2, 0].sum() + lp[2, TOK.symbols.index("b")])
    config = DecoderConfig(kind="beam", hotwords=["zz:0"], beam_size=20, beam_size_token=0, token_min_logp=-1000,
                           blank_skip=1.0)
    compiled, python = _both(config, lp)
    assert python.text == "b"
    assert compiled.text == "a"
    assert compiled.score > float(path_b)


def test_tokens_below_token_min_logp_are_never_tried(lm_path):
    # Acoustically "kat" by far, "cat" at 1e-3 (log -6.9): a heavy LM weight wants "cat".
    lp = emissions([{"<blank>": 0.9}, {"k": 0.99, "c": 0.001}, {"<blank>": 0.9}] + spelled("at sat")[1:])
    config = DecoderConfig(kind="beam", lm=str(lm_path), lm_weight=5.0)
    assert BeamDecoder(dataclasses.replace(config, token_min_logp=-1000), TOK).decode(lp, 0.04).text == "cat sat"
    assert BeamDecoder(dataclasses.replace(config, token_min_logp=-5), TOK).decode(lp, 0.04).text.startswith("kat")


def test_the_compiled_search_is_used_only_where_it_applies(lm_path, tmp_path):
    lm = str(lm_path)
    assert isinstance(BeamDecoder(DecoderConfig(kind="beam", lm=lm), TOK).decoder, native.NativeWordLmSearch)
    assert isinstance(BeamDecoder(DecoderConfig(kind="beam", hotwords=["cat"]), TOK).decoder,
                      native.NativeWordLmSearch)
    # A character model's lexicon of plain spellings too; another spelling goes to flashlight.
    assert isinstance(BeamDecoder(DecoderConfig(kind="beam", lm=lm, lexicon="lm"), TOK).decoder,
                      native.NativeWordLmSearch)
    odd = tmp_path / "odd.txt"
    odd.write_text("cat\tk a t\nsat\n")
    assert isinstance(BeamDecoder(DecoderConfig(kind="beam"), TOK).decoder, native.NativeWordLmSearch)
    # compiled=False keeps flashlight and the Python LM.
    cases = ((DecoderConfig(kind="beam"), False), (DecoderConfig(kind="beam", lm=lm, lexicon=str(odd)), True),
             (DecoderConfig(kind="beam", lm=lm), False), (DecoderConfig(kind="beam", lm=lm, lexicon="lm"), False))
    for config, compiled in cases:
        assert not isinstance(BeamDecoder(config, TOK, compiled=compiled).decoder, native.NativeWordLmSearch)


def test_an_empty_utterance_and_a_single_frame_decode(lm_path):
    decoder = BeamDecoder(DecoderConfig(kind="beam", lm=str(lm_path)), TOK)
    assert decoder.decode(torch.empty(0, len(TOK)), 0.04).text == ""
    assert decoder.decode(emissions([{"a": 0.99}]), 0.04).text == "a"


@pytest.mark.parametrize("text", ["the cat sat", "a dgo ate the lg", "th kat sat on a mat"])
def test_lexicon_mode_writes_the_words_flashlights_lexicon_search_writes(lm_path, text):
    config = DecoderConfig(kind="beam", lm=str(lm_path), lm_weight=1.0, word_score=0.5, lexicon="lm")
    compiled, flashlight = _both(config, emissions(spelled(text, p=0.8)))
    assert isinstance(BeamDecoder(config, TOK).decoder, native.NativeWordLmSearch)
    words = {w for s in SENTENCES for w in s.split()}
    assert compiled.text == flashlight.text
    assert set(compiled.text.split()) <= words


def test_a_finite_unk_score_lets_a_lexicon_search_write_other_words(tmp_path):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("cat\nsat\n")
    lp = emissions(spelled("dog sat", p=0.95))
    config = DecoderConfig(kind="beam", lexicon=str(lexicon))
    assert BeamDecoder(config, TOK).decode(lp, 0.04).text == "sat"  # as flashlight's lexicon search
    # unk_score as DecoderConfig documents it (flashlight applies it only to an <unk> lexicon entry).
    assert BeamDecoder(dataclasses.replace(config, unk_score=-1.0), TOK).decode(lp, 0.04).text == "dog sat"


@pytest.mark.parametrize("compiled", [True, False])
def test_a_word_that_ends_as_a_mere_prefix_of_lm_words_pays_the_unknown_charge_once(lm_path, compiled):
    # "ca" starts "cat" all the way, so nothing is charged while it is spelled; it is still no LM word.
    lp = emissions(spelled("ca sat", p=0.99))
    scores = {}
    for unk in (0.0, -5.0):
        config = DecoderConfig(kind="beam", lm=str(lm_path), lm_weight=1.0, unk_prefix_score=unk, token_min_logp=-1000)
        hyp = BeamDecoder(config, TOK, compiled=compiled).decode(lp, 0.04)
        assert hyp.text == "ca sat"
        scores[unk] = hyp.score
    assert scores[-5.0] - scores[0.0] == pytest.approx(-5.0, abs=1e-3)


def test_a_letter_repeated_after_a_blank_reads_back_as_two_letters():
    # "to" mostly ends in "o o" at frame 2, but "too" can only come through its blank ("o _ o"): the path read
    # back for "too" must be that one, or its tokens (and the n-best text) would say "to" again.
    lp = emissions([{"t": 0.9}, {"o": 0.9}, {"o": 0.6, "<blank>": 0.39}, {"o": 0.9}])
    hyp = BeamDecoder(DecoderConfig(kind="beam", nbest=4, token_min_logp=-1000, blank_skip=1.0), TOK).decode(lp, 0.04)
    texts = [t for t, _ in hyp.nbest]
    assert texts[:2] == ["to", "too"] and len(set(texts)) == len(texts)


def test_random_emissions_never_crash_and_every_hypothesis_reads_back(tmp_path, lm_path):
    # A hypothesis reached only through blank-ending paths once gave its token-ending part a back-pointer to
    # nothing, and reading the path back crashed the process (a speechocean762 utterance, lexicon mode).
    words = tmp_path / "words.txt"
    words.write_text("cat\nsat\nmat\nthe\non\na\n")
    gen = torch.Generator().manual_seed(0)
    configs = [DecoderConfig(kind="beam", lm=str(lm_path), lexicon=str(words), nbest=5, beam_size=8),
               DecoderConfig(kind="beam", lm=str(lm_path), nbest=5, beam_size=8),
               DecoderConfig(kind="beam", nbest=5, beam_size=8, token_min_logp=-1000)]
    decoders = [BeamDecoder(c, TOK) for c in configs]
    for _ in range(60):
        frames = int(torch.randint(1, 40, (1,), generator=gen))
        logits = torch.randn(frames, len(TOK), generator=gen) * 4
        logits[:, 0] += 3  # blank-heavy, as CTC output is
        lp = logits.log_softmax(-1)
        for decoder in decoders:
            hyp = decoder.decode(lp, 0.04)
            assert all(math.isfinite(score) for _, score in hyp.nbest)
            texts = [t for t, _ in hyp.nbest]
            assert len(set(texts)) == len(texts) and (not texts or texts[0] == hyp.text)


def test_non_finite_emissions_give_an_empty_or_partial_transcript_not_a_crash(lm_path, caplog):
    decoder = BeamDecoder(DecoderConfig(kind="beam", lm=str(lm_path)), TOK)
    lp = emissions(spelled("cat sat", p=0.97))
    lp[3] = float("nan")
    lp[5, 4] = float("inf")
    hyp = decoder.decode(lp, 0.04)
    assert isinstance(hyp.text, str)
    everything_nan = torch.full((6, len(TOK)), float("nan"))
    assert decoder.decode(everything_nan, 0.04).text == ""
    assert "no hypothesis survived" in caplog.text


def test_an_lm_of_absurd_order_is_refused_in_one_line(tmp_path):
    from asr.lm.arpa import LmError

    order = native.MAX_ORDER + 1
    lines = ["\\data\\", "ngram 1=2"] + [f"ngram {k}=1" for k in range(2, order + 1)] + ["", "\\1-grams:",
             "-1.0\t<s>\t0", "-1.0\ta\t0"]
    for k in range(2, order + 1):
        lines += ["", f"\\{k}-grams:", "-0.5\t" + " ".join(["<s>"] + ["a"] * (k - 1)) + ("\t0" if k < order else "")]
    path = tmp_path / "deep.arpa"
    path.write_text("\n".join(lines + ["", "\\end\\", ""]))
    with pytest.raises(LmError, match="deep.arpa: a 64-gram model"):
        BeamDecoder(DecoderConfig(kind="beam", lm=str(path)), TOK)
