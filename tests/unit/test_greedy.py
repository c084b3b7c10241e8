import torch

from asr.decode import DecoderConfig, build_decoder
from asr.decode.greedy import GreedyDecoder, collapse
from asr.text import CharTokenizer


def one_hot_log_probs(path: list[int], vocab: int, p: float = 0.9) -> torch.Tensor:
    probs = torch.full((len(path), vocab), (1 - p) / (vocab - 1))
    probs[torch.arange(len(path)), torch.tensor(path)] = p
    return probs.log()


def test_collapse_merges_repeats_and_drops_blanks():
    assert collapse([0, 3, 3, 0, 3, 4, 4, 0], blank=0) == [(3, 1), (3, 4), (4, 5)]


def test_words_text_times_and_confidences():
    tok = CharTokenizer.build(["no yes"])
    n, o, y, e, s, sep = (tok.symbols.index(c) for c in "noyes|")
    # frames:     0  1  2  3  4    5  6  7  8  9
    path = [0, n, o, o, sep, 0, y, e, s, 0]
    lp = one_hot_log_probs(path, len(tok))
    lp[8] = one_hot_log_probs([s], len(tok), p=0.5)[0]
    hyp = GreedyDecoder(tok).decode(lp, frame_shift=0.04)
    assert hyp.text == "no yes"
    assert [w.word for w in hyp.words] == ["no", "yes"]
    assert (hyp.words[0].start, hyp.words[0].end) == (0.04, 0.12)
    assert (hyp.words[1].start, hyp.words[1].end) == (0.24, 0.36)
    assert hyp.words[0].confidence == 0.9 and hyp.words[1].confidence == 0.5


def test_batch_decoding_respects_lengths_and_factory():
    tok = CharTokenizer.build(["ab"])
    a = tok.symbols.index("a")
    lp = one_hot_log_probs([a, 0, a, a], len(tok)).unsqueeze(0).repeat(2, 1, 1)
    decoder = build_decoder(DecoderConfig("greedy"), tok)
    hyps = decoder.decode_batch(lp, torch.tensor([4, 2]), 0.01)
    assert [h.text for h in hyps] == ["aa", "a"]
