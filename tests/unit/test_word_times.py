"""Word times from the decoders against the exact word boundaries of a synthesised utterance."""

import pytest
import torch

from asr.data.corpora.espeak import EspeakSynth
from asr.decode import DecoderConfig, build_decoder
from asr.features import FeatureConfig
from asr.text import CharTokenizer

FRAME_SHIFT = FeatureConfig().hop_length / FeatureConfig().sample_rate * 4  # 10 ms hop x subsampling 4


def oracle_log_probs(words: list[tuple[str, float, float]], duration: float, tokenizer: CharTokenizer) -> torch.Tensor:
    """CTC posteriors of an ideal model: each word's letters spread evenly over its true span."""
    frames = int(duration / FRAME_SHIFT) + 1
    probs = torch.full((frames, len(tokenizer)), 0.01)
    probs[:, tokenizer.blank_id] = 1.0
    for k, (word, start, end) in enumerate(words):
        first, last = round(start / FRAME_SHIFT), round(end / FRAME_SHIFT) - 1
        ids = tokenizer.encode(word)
        for i, tok in enumerate(ids):
            frame = first + round(i * (last - first) / max(1, len(ids) - 1))
            probs[frame] = 0.01
            probs[frame, tok] = 1.0
        if k + 1 < len(words):  # the separator falls in the pause after the word
            gap = round((end + words[k + 1][1]) / 2 / FRAME_SHIFT)
            probs[gap] = 0.01
            probs[gap, tokenizer.word_sep_id] = 1.0
    return (probs / probs.sum(-1, keepdim=True)).log()


@pytest.mark.parametrize("kind", ["greedy", "beam"])
def test_word_times_match_synthesised_boundaries(kind):
    spoken = EspeakSynth().synthesize("set the timer for seven minutes", voice="en-us+m3", lead=0.3, trail=0.2)
    tokenizer = CharTokenizer.build(["set the timer for seven minutes"])
    log_probs = oracle_log_probs(spoken.words, spoken.duration, tokenizer)
    hyp = build_decoder(DecoderConfig(kind=kind), tokenizer).decode(log_probs, FRAME_SHIFT)
    assert [w.word for w in hyp.words] == [w for w, _, _ in spoken.words]
    for got, (_, start, end) in zip(hyp.words, spoken.words):
        # Within half an output frame of the truth at both ends (times are rounded to milliseconds).
        assert abs(got.start - start) <= FRAME_SHIFT / 2 + 1e-3
        assert abs(got.end - end) <= FRAME_SHIFT / 2 + 1e-3
        assert 0.8 < got.confidence <= 1.0  # the oracle gives its token 1 / (1 + 0.01 x 28)
