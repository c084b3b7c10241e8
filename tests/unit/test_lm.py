"""Modified Kneser-Ney n-gram estimation and ARPA files: hand-computed values, normalisation, KenLM agreement."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from pathlib import Path

import pytest

from asr.errors import ConfigError
from asr.lm import ArpaModel, LmConfig, LmError, NgramModel, build_lm, build_lm_from_file, mkn_discounts

# Padded: <s> c a </s> | <s> a a </s> | <s> a b </s> | <s> c c a </s> (twice)
TINY = ["c a", "a a", "a b", "c c a", "c c a"]


def _p(model: NgramModel, word: str, context: tuple[str, ...] = ()) -> float:
    return 10 ** model.logprob(word, context)


def _random_corpus(seed: int, sentences: int, words: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(words)]
    # Zipf-like weights so that counts of 1, 2, 3 and 4+ all occur and the closed-form discounts apply.
    weights = [1.0 / (i + 1) for i in range(words)]
    return [" ".join(rng.choices(vocab, weights, k=rng.randint(1, 8))) for _ in range(sentences)]


def _contexts(model: NgramModel) -> list[tuple[str, ...]]:
    """The empty context plus every stored n-gram below the highest order that can be followed by a word."""
    out: list[tuple[str, ...]] = [()]
    for k in range(1, model.order):
        for row in model.ngram_words(k).tolist():
            ngram = tuple(model.vocab[i] for i in row)
            if ngram[-1] != "</s>":
                out.append(ngram)
    return out


def _predictable(vocab) -> list[str]:
    return [w for w in vocab if w != "<s>"]


def test_discounts_follow_chen_goodman_and_reject_degenerate_counts():
    # n1..n4 = 3, 2, 2, 1: Y = 3 / (3 + 2*2) = 3/7.
    y = 3 / 7
    d = mkn_discounts(3, 2, 2, 1)
    assert d == pytest.approx((1 - 2 * y * 2 / 3, 2 - 3 * y * 2 / 2, 3 - 4 * y * 1 / 2))
    assert d == pytest.approx((3 / 7, 5 / 7, 15 / 7))
    assert mkn_discounts(0, 2, 2, 1) is None  # no singletons
    assert mkn_discounts(4, 2, 1, 2) is None  # D3+ = 3 - 4 * 0.5 * 2 = -1: out of range


def test_bigram_probabilities_match_hand_computation():
    model = build_lm(TINY, LmConfig(order=2))
    assert model.vocab[:3] == ("<unk>", "<s>", "</s>")
    assert sorted(model.vocab[3:]) == ["a", "b", "c"]

    # Unigram continuation counts (distinct left neighbours): a: {c, <s>, a} = 3, b: {a} = 1, c: {<s>, c} = 2,
    # </s>: {a, b} = 2; <s> and <unk> 0. Count-of-counts n1..n4 = 1, 2, 1, 0.
    y = 1 / (1 + 2 * 2)
    d1 = (1 - 2 * y * 2 / 1, 2 - 3 * y * 1 / 2, 3 - 4 * y * 0 / 1)  # = 0.2, 1.7, 3.0
    total = 3 + 1 + 2 + 2
    gamma0 = (d1[2] + d1[0] + d1[1] + d1[1]) / total  # a, b, c, </s>
    uniform = 1 / 5  # <unk>, </s>, a, b, c: every word but <s>
    p1 = {
        "a": (3 - d1[2]) / total + gamma0 * uniform,
        "b": (1 - d1[0]) / total + gamma0 * uniform,
        "c": (2 - d1[1]) / total + gamma0 * uniform,
        "</s>": (2 - d1[1]) / total + gamma0 * uniform,
        "<unk>": gamma0 * uniform,
    }
    assert p1["a"] == pytest.approx(0.165) and p1["b"] == pytest.approx(0.265)
    for word, expected in p1.items():
        assert _p(model, word) == pytest.approx(expected, abs=1e-12)

    # Bigram raw counts: <s> c 3, c a 3, a </s> 4, <s> a 2, c c 2, a a 1, a b 1, b </s> 1 -> n1..n4 = 3, 2, 2, 1.
    y = 3 / (3 + 2 * 2)
    d2 = (1 - 2 * y * 2 / 3, 2 - 3 * y * 2 / 2, 3 - 4 * y * 1 / 2)  # = 3/7, 5/7, 15/7
    assert model.discounts[1] == pytest.approx(d2)
    assert model.discounts[0] == pytest.approx(d1)
    # Context "a": a </s> 4, a a 1, a b 1.
    gamma_a = (d2[2] + d2[0] + d2[0]) / 6
    assert gamma_a == pytest.approx(0.5)
    assert _p(model, "</s>", ("a",)) == pytest.approx((4 - d2[2]) / 6 + gamma_a * p1["</s>"], abs=1e-12)
    assert _p(model, "b", ("a",)) == pytest.approx((1 - d2[0]) / 6 + gamma_a * p1["b"], abs=1e-12)
    assert _p(model, "c", ("a",)) == pytest.approx(gamma_a * p1["c"], abs=1e-12)  # unseen: backed off
    # Context "<s>": <s> c 3, <s> a 2.
    gamma_s = (d2[2] + d2[1]) / 5
    assert _p(model, "c", ("<s>",)) == pytest.approx((3 - d2[2]) / 5 + gamma_s * p1["c"], abs=1e-12)
    assert _p(model, "c", ("<s>",)) == pytest.approx(0.2871429, abs=1e-7)
    assert model.logprob("b", ("<s>",)) == pytest.approx(math.log10(gamma_s * p1["b"]), abs=1e-12)


def test_trigram_probabilities_match_hand_computation():
    model = build_lm(TINY, LmConfig(order=3))
    # Unigrams are as in the bigram test (continuation counts come from the same bigrams).
    p1 = {"a": 0.165, "b": 0.265, "c": 0.2025, "</s>": 0.2025}
    # Bigram adjusted counts: <s> c 3 and <s> a 2 are raw (nothing precedes <s>); the others count distinct left
    # words in trigrams: c a {<s>, c} 2, a </s> {c, a} 2, a a 1, a b 1, b </s> 1, c c 1 -> n1..n4 = 4, 3, 1, 0.
    y = 4 / (4 + 2 * 3)
    d2 = (1 - 2 * y * 3 / 4, 2 - 3 * y * 1 / 3, 3.0)  # = 0.4, 1.6, 3
    # Trigram raw counts: c a </s> 3, <s> c c 2, c c a 2, and five singletons -> n1..n4 = 5, 2, 1, 0.
    y = 5 / (5 + 2 * 2)
    d3 = (1 - 2 * y * 2 / 5, 2 - 3 * y * 1 / 2, 3.0)  # = 5/9, 7/6, 3
    assert model.discounts[1] == pytest.approx(d2)
    assert model.discounts[2] == pytest.approx(d3)

    # Bigram context "c": c a 2, c c 1.
    gamma_c = (d2[1] + d2[0]) / 3
    p2_c_c = (1 - d2[0]) / 3 + gamma_c * p1["c"]
    p2_a_c = (2 - d2[1]) / 3 + gamma_c * p1["a"]
    assert _p(model, "c", ("c",)) == pytest.approx(p2_c_c, abs=1e-12)
    # Trigram context "<s> c": <s> c c 2, <s> c a 1.
    gamma_sc = (d3[1] + d3[0]) / 3
    assert gamma_sc == pytest.approx(31 / 54)
    assert _p(model, "c", ("<s>", "c")) == pytest.approx((2 - d3[1]) / 3 + gamma_sc * p2_c_c, abs=1e-12)
    assert _p(model, "a", ("<s>", "c")) == pytest.approx((1 - d3[0]) / 3 + gamma_sc * p2_a_c, abs=1e-12)
    assert _p(model, "a", ("<s>", "c")) == pytest.approx(0.2878395, abs=1e-7)
    # Unseen after "<s> c": back off twice, "c </s>" is unseen too.
    assert _p(model, "</s>", ("<s>", "c")) == pytest.approx(gamma_sc * gamma_c * p1["</s>"], abs=1e-12)
    # A longer history is cut to the last two words.
    assert model.logprob("a", ("b", "<s>", "c")) == model.logprob("a", ("<s>", "c"))


# What KenLM's own estimator writes for TINY: `lmplz -o 3 --discount_fallback < tiny.txt` (kenlm 0.3.0, built from
# the PyPI sdist), as n-gram: (log10 p, log10 backoff). lmplz prints 0 for <s> where we print -99; it is never
# used, since <s> is not predicted.
LMPLZ_TINY_ORDER3 = {
    "<unk>": (-0.782516, 0.0),
    "<s>": (0.0, -0.03621219),
    "</s>": (-0.69357497, 0.0),
    "c": (-0.69357497, -0.17609124),
    "a": (-0.782516, -0.22184873),
    "b": (-0.5767541, -0.39794004),
    "a </s>": (-0.65462625, 0.0),
    "b </s>": (-0.16685289, 0.0),
    "<s> c": (-0.7297872, -0.2410321),
    "c c": (-0.4749552, -0.23408322),
    "<s> a": (-0.63488656, -0.25527254),
    "c a": (-0.6137984, 0.0),
    "a a": (-0.60380065, -0.25527254),
    "a b": (-0.5100415, -0.25527254),
    "c a </s>": (-0.65462625, 0.0),
    "a a </s>": (-0.2460341, 0.0),
    "a b </s>": (-0.08471746, 0.0),
    "<s> c c": (-0.3278166, 0.0),
    "<s> c a": (-0.54084957, 0.0),
    "c c a": (-0.2528904, 0.0),
    "<s> a a": (-0.4430278, 0.0),
    "<s> a b": (-0.40462628, 0.0),
}


def test_arpa_matches_kenlm_lmplz_output(tmp_path: Path):
    model = build_lm(TINY, LmConfig(order=3))
    model.write_arpa(tmp_path / "lm.arpa")
    ours = {}
    for line in (tmp_path / "lm.arpa").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            ours[fields[1]] = (float(fields[0]), float(fields[2]) if len(fields) == 3 else 0.0)
    assert set(ours) == set(LMPLZ_TINY_ORDER3)
    for ngram, (logprob, backoff) in LMPLZ_TINY_ORDER3.items():
        if ngram != "<s>":
            assert ours[ngram][0] == pytest.approx(logprob, abs=2e-7), ngram
        assert ours[ngram][1] == pytest.approx(backoff, abs=2e-7), ngram
    assert ours["<s>"][0] == -99


@pytest.mark.parametrize("order", [2, 3])
def test_every_context_sums_to_one(tmp_path: Path, order: int):
    model = build_lm(_random_corpus(seed=order, sentences=200, words=60), LmConfig(order=order))
    # Enough text for the closed-form discounts at every order (no fallback).
    assert model.discounts == [mkn_discounts(*n) for n in model.count_of_counts]
    words = _predictable(model.vocab)
    contexts = _contexts(model)
    assert len(contexts) > 20
    # Contexts the model has never seen must normalise too (pure backoff).
    contexts += [("w59", "w59"), ("nonsense",), ("<s>", "w0")]
    for context in contexts:
        assert sum(_p(model, w, context) for w in words) == pytest.approx(1.0, abs=1e-9), context
    model.write_arpa(tmp_path / "lm.arpa")
    arpa = ArpaModel.load(tmp_path / "lm.arpa")
    for context in contexts:
        assert sum(10 ** arpa.score(w, context) for w in words) == pytest.approx(1.0, abs=1e-6), context


def test_arpa_round_trip_and_layout(tmp_path: Path):
    model = build_lm(_random_corpus(seed=7, sentences=200, words=10), LmConfig(order=3))
    path = tmp_path / "lm.arpa"
    model.write_arpa(path)
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "\\data\\"
    assert lines[1:4] == [f"ngram {k}={n}" for k, n in enumerate(model.counts, 1)]
    assert lines[-1] == "\\end\\"
    assert "\\1-grams:" in lines and "\\2-grams:" in lines and "\\3-grams:" in lines
    assert any(line.startswith("-99\t<s>\t-") for line in lines)
    section = 0
    for line in lines[5:-1]:
        if line.startswith("\\"):
            section = int(line[1])
        elif line:
            fields = line.split("\t")
            # Lower orders always have a backoff column, the highest order never.
            assert len(fields) == (2 if section == 3 else 3), line
            assert len(fields[1].split(" ")) == section

    arpa = ArpaModel.load(path)
    assert arpa.order == 3 and arpa.counts == model.counts
    assert set(arpa.vocab) == set(model.vocab)
    for context in _contexts(model)[:60]:
        for word in model.vocab:
            assert arpa.score(word, context) == pytest.approx(model.logprob(word, context), abs=2e-6)
    sentence = "w0 w3 w1 unknownword w2"
    assert arpa.sentence_logprob(sentence) == pytest.approx(model.sentence_logprob(sentence), abs=1e-5)
    assert arpa.score("unknownword", ("w0",)) == arpa.score("<unk>", ("w0",))


def test_flashlight_kenlm_reproduces_scores(tmp_path: Path):
    kenlm_module = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    dictionary = pytest.importorskip("flashlight.lib.text.dictionary")
    sentences = _random_corpus(seed=11, sentences=300, words=15)
    model = build_lm(sentences, LmConfig(order=3))
    path = tmp_path / "lm.arpa"
    model.write_arpa(path)
    arpa = ArpaModel.load(path)

    words = [w for w in model.vocab if w not in ("<s>", "</s>", "<unk>")]
    word_dict = dictionary.Dictionary(words)
    kenlm = kenlm_module.KenLM(str(path), word_dict)
    tests = sentences[:20] + ["w14 w0 w0 w14", "w3", "w1 w2 w3 w4 w5 w6 w7 w8 w9"]
    for sentence in tests:
        state = kenlm.start(False)
        context = ["<s>"]
        total = 0.0
        for word in sentence.split():
            state, score = kenlm.score(state, word_dict.get_index(word))
            # Each step is one conditional log10 probability (KenLM's unit; flashlight does not convert).
            assert score == pytest.approx(arpa.score(word, context), abs=1e-5), (sentence, word)
            context.append(word)
            total += score
        state, score = kenlm.finish(state)
        assert score == pytest.approx(arpa.score("</s>", context), abs=1e-5), sentence
        total += score
        # KenLM keeps float32 values: a sentence sum agrees to about 1e-6.
        assert total == pytest.approx(arpa.sentence_logprob(sentence), abs=1e-4), sentence
        assert total == pytest.approx(model.sentence_logprob(sentence), abs=1e-4), sentence


def test_pruning_drops_rare_ngrams_and_keeps_normalisation(tmp_path: Path):
    sentences = _random_corpus(seed=3, sentences=300, words=12)
    full = build_lm(sentences, LmConfig(order=3))
    pruned = build_lm(sentences, LmConfig(order=3, prune=[0, 1, 1]))
    raw: Counter[tuple[str, ...]] = Counter()
    for sentence in sentences:
        padded = ["<s>", *sentence.split(), "</s>"]
        for k in (2, 3):
            raw.update(tuple(padded[i : i + k]) for i in range(len(padded) - k + 1))
    assert pruned.counts[0] == full.counts[0]
    for k in (2, 3):
        stored = {tuple(pruned.vocab[i] for i in row) for row in pruned.ngram_words(k).tolist()}
        expected = {g for g, n in raw.items() if len(g) == k and n > 1}
        assert stored == expected
        assert pruned.counts[k - 1] < full.counts[k - 1]
    # Discounts come from the unpruned counts, as lmplz does.
    assert pruned.discounts == full.discounts
    for context in _contexts(pruned) + [("w5", "w6")]:
        assert sum(_p(pruned, w, context) for w in _predictable(pruned.vocab)) == pytest.approx(1.0, abs=1e-9)
    pruned.write_arpa(tmp_path / "pruned.arpa")
    assert ArpaModel.load(tmp_path / "pruned.arpa").counts == pruned.counts


def test_vocab_limit_maps_rare_words_to_unk():
    sentences = ["a a a b b c", "a b d", "a e"]
    model = build_lm(sentences, LmConfig(order=2, vocab_limit=2))
    assert model.vocab == ("<unk>", "<s>", "</s>", "a", "b")
    # c, d and e became <unk>, so <unk> has real counts: after "b" it was seen twice ("b c", "b d").
    assert model.logprob("c", ("b",)) == model.logprob("<unk>", ("b",)) == model.logprob("zzz", ("b",))
    assert model.logprob("<unk>", ("b",)) > model.logprob("a", ("b",))
    for context in _contexts(model):
        assert sum(_p(model, w, context) for w in _predictable(model.vocab)) == pytest.approx(1.0, abs=1e-9)


def test_without_unk_the_vocabulary_is_closed():
    model = build_lm(TINY, LmConfig(order=2, unk=False))
    assert "<unk>" not in model.vocab
    assert model.logprob("zzz", ("a",)) == float("-inf")
    for context in _contexts(model):
        assert sum(_p(model, w, context) for w in _predictable(model.vocab)) == pytest.approx(1.0, abs=1e-9)


def test_build_from_file_streams_and_normalises(tmp_path: Path):
    text = tmp_path / "text.txt"
    text.write_text("C A\n\nA a\n  a B \nC C A\nC C A\n", encoding="utf-8")
    from_file = build_lm_from_file(text, LmConfig(order=3), normalizer=str.lower)
    direct = build_lm(TINY, LmConfig(order=3))
    assert from_file.vocab == direct.vocab and from_file.counts == direct.counts
    for context in _contexts(direct):
        assert from_file.logprob("a", context) == direct.logprob("a", context)
    with pytest.raises(LmError, match="empty"):
        build_lm(["", "  "], LmConfig())
    with pytest.raises(LmError, match="not found"):
        build_lm_from_file(tmp_path / "missing.txt", LmConfig())


@pytest.mark.parametrize(
    "config",
    [LmConfig(order=0), LmConfig(prune=[1]), LmConfig(prune=[0, 2, 1]), LmConfig(vocab_limit=5, unk=False)],
)
def test_invalid_config_is_rejected(config: LmConfig):
    with pytest.raises(ConfigError):
        build_lm(TINY, config)


def test_highest_order_discount_fallback_on_tiny_text(caplog: pytest.LogCaptureFixture):
    # One sentence has only singletons: the closed form needs n2 > 0, so both orders use the fallback.
    model = build_lm(["a b c d"], LmConfig(order=2, discount_fallback=(0.4, 0.9, 1.2)))
    assert model.discounts == [(0.4, 0.9, 1.2), (0.4, 0.9, 1.2)]
    assert "fallback" in caplog.text
    for context in _contexts(model):
        assert sum(_p(model, w, context) for w in _predictable(model.vocab)) == pytest.approx(1.0, abs=1e-9)


GOOD_ARPA = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.30103
-0.5\t</s>\t0
-0.4\ta\t-0.2

\\2-grams:
-0.2\t<s> a
-0.3\ta </s>

\\end\\
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    return path


def test_arpa_reader_scores_with_backoff(tmp_path: Path):
    arpa = ArpaModel.load(_write(tmp_path, GOOD_ARPA))
    assert arpa.score("a", ["<s>"]) == pytest.approx(-0.2)
    assert arpa.score("</s>", ["<s>"]) == pytest.approx(-0.30103 - 0.5)  # backoff(<s>) + p(</s>)
    assert arpa.score("zzz", ["a"]) == pytest.approx(-0.2 - 1.0)  # OOV is <unk>
    assert arpa.sentence_logprob("a") == pytest.approx(-0.2 - 0.3)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("ngram 2=2", "ngram 2:2", 3, "bad count line"),
        ("-0.4\ta\t-0.2", "-0.4\ta b\t-0.2\t7", 9, "wrong number of fields"),
        ("-0.2\t<s> a", "-0.2\t<s> a\t-0.1", 12, "wrong number of fields"),
        ("-0.3\ta </s>", "oops\ta </s>", 13, "not a number"),
        ("\\end\\\n", "", 14, "missing \\\\end\\\\"),
        ("ngram 1=4", "ngram 1=5", 5, "declares 5"),
    ],
)
def test_malformed_arpa_names_file_and_line(tmp_path: Path, old: str, new: str, line: int, message: str):
    assert old in GOOD_ARPA
    path = _write(tmp_path, GOOD_ARPA.replace(old, new))
    with pytest.raises(LmError, match=message) as error:
        ArpaModel.load(path)
    assert str(error.value).startswith(f"{path}:{line}: ")


def test_missing_arpa_file_is_an_lm_error(tmp_path: Path):
    with pytest.raises(LmError, match="not found"):
        ArpaModel.load(tmp_path / "nope.arpa")
    with pytest.raises(LmError, match="no \\\\data\\\\"):
        ArpaModel.load(_write(tmp_path, "just text\n"))


def test_sentence_markers_in_text_are_ignored():
    with_markers = build_lm(["<s> c a </s>", "a a", "a b", "c c a", "c </s> c a"], LmConfig(order=2))
    plain = build_lm(TINY, LmConfig(order=2))
    for word, context in itertools.product(plain.vocab, [(), ("a",), ("<s>",), ("c",)]):
        assert with_markers.logprob(word, context) == plain.logprob(word, context)
