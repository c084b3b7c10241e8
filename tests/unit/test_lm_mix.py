import gzip
import math
import subprocess
import sys

import pytest

from asr.lm import LmConfig, LmError, build_lm, build_lm_from_file
from asr.lm.arpa import ArpaModel
from asr.lm.mix import interpolate, mixed_prob, model_perplexity, tune_weights

TEXT_A = ["the cat sat on the mat", "the dog sat", "a cat ran", "the cat sat"]
TEXT_B = ["the bird flew", "a dog ran on the road", "the cat flew", "a bird sang on the road"]


@pytest.fixture
def two_lms(tmp_path):
    paths = []
    for name, text in (("a", TEXT_A), ("b", TEXT_B)):
        build_lm(text, LmConfig(order=3)).write_arpa(tmp_path / f"{name}.arpa")
        paths.append(tmp_path / f"{name}.arpa")
    return tmp_path, [ArpaModel.load(p) for p in paths]


def test_mixture_is_normalised_and_exact_on_stored_ngrams(two_lms):
    root, (a, b) = two_lms
    counts = interpolate([a, b], [0.3, 0.7], root / "mix.arpa")
    mix = ArpaModel.load(root / "mix.arpa")
    assert counts == mix.counts
    assert set(a.vocab) | set(b.vocab) <= set(mix.vocab)
    words = [w for w in mix.vocab if w != "<s>"]
    for context in [(), ("<s>",), ("the",), ("<s>", "the"), ("the", "cat"), ("on", "the"), ("unseen",)]:
        assert sum(10 ** mix.score(w, context) for w in words) == pytest.approx(1.0, abs=1e-5), context
    # Stored n-grams carry the exact mixture: 0.3 p_a + 0.7 p_b (a word one model lacks counts 0 there).
    for word, context in [("cat", ("<s>", "the")), ("bird", ("the",)), ("road", ("on", "the")), ("sat", ())]:
        expected = 0.3 * (10 ** a.score(word, context) if word in a.vocab else 0.0) + \
            0.7 * (10 ** b.score(word, context) if word in b.vocab else 0.0)
        assert 10 ** mix.score(word, context) == pytest.approx(expected, rel=1e-5)
        assert mixed_prob([a, b], [0.3, 0.7], word, context) == pytest.approx(expected, rel=1e-9)


def test_weights_follow_the_text_and_reject_bad_input(two_lms):
    root, (a, b) = two_lms
    (wa, _), ppl_a = tune_weights([a, b], ["the cat sat on the mat"])
    (wb, _), ppl_b = tune_weights([a, b], ["a bird sang on the road"])
    assert wa > 0.5 > wb
    with pytest.raises(LmError, match="sum to 1"):
        interpolate([a, b], [0.5, 0.6], root / "bad.arpa")
    with pytest.raises(LmError, match="sum to 1"):
        interpolate([a, b], [math.nan, 1.0], root / "bad.arpa")


def test_perplexity_skips_and_counts_oov_words(two_lms):
    _, (a, _) = two_lms
    result = model_perplexity(a, ["the cat sat", "the zebra sat"])
    assert result.words == 6 and result.oov == 1 and result.tokens == 7  # 5 words + 2 </s>
    # After the OOV word the context restarts at <s> (SRILM's convention).
    log10_total = a.sentence_logprob("the cat sat") + a.score("the", ["<s>"]) + a.sentence_logprob("sat")
    assert result.perplexity == pytest.approx(10 ** (-log10_total / 7), rel=1e-9)


def test_lm_build_reads_gzip_text(tmp_path):
    with gzip.open(tmp_path / "text.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(TEXT_A) + "\n")
    (tmp_path / "text.txt").write_text("\n".join(TEXT_A) + "\n", encoding="utf-8")
    zipped = build_lm_from_file(tmp_path / "text.txt.gz", LmConfig(order=2))
    plain = build_lm_from_file(tmp_path / "text.txt", LmConfig(order=2))
    assert zipped.counts == plain.counts and zipped.logprob("cat", ["the"]) == plain.logprob("cat", ["the"])


def test_cli_eval_and_mix(two_lms):
    root, _ = two_lms
    (root / "dev.txt").write_text("The cat sat on the road!\n", encoding="utf-8")
    run = [sys.executable, "-m", "asr.cli"]
    mix = ["lm", "mix", str(root / "a.arpa"), str(root / "b.arpa"), "--tune", str(root / "dev.txt")]
    out = subprocess.run(run + mix + ["-o", str(root / "m.arpa")], capture_output=True, text=True, check=True).stdout
    assert "weights tuned on" in out and (root / "m.arpa").is_file()
    out = subprocess.run(run + ["lm", "eval", str(root / "a.arpa"), str(root / "m.arpa"), str(root / "dev.txt")],
                         capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "OOV 16.67% (1 of 6 words)" in lines[0] and "OOV 0.00%" in lines[1]
    bad = subprocess.run(run + ["lm", "mix", str(root / "a.arpa"), str(root / "b.arpa"), "-o", str(root / "x.arpa")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "give --weights or --tune" in bad.stderr and "Traceback" not in bad.stderr
