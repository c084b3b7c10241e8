"""The Transcriber API: paths and samples in memory alike, batches of several inputs, n-best, errors by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import AsrBundle
from asr.decode import DecoderConfig
from asr.errors import AsrError, AudioError
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer
from asr.transcribe import Transcriber

RATE = 8000


@pytest.fixture(scope="module")
def bundle() -> AsrBundle:
    """An untrained model pushed away from the blank, so it writes characters (which, depends on the input)."""
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab", "ba", "abba", "b a"])
    features = FeatureConfig(sample_rate=RATE, n_mels=20)
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6),
                     features.n_mels, len(tokenizer)).eval()
    with torch.no_grad():
        model.head.bias[0] -= 3.0
    return AsrBundle(model, features, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})


def noise(seconds: float, seed: int, rate: int = RATE) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def test_arrays_tensors_and_pairs_transcribe_like_the_file(bundle, tmp_path: Path):
    x = noise(3.0, 0)
    sf.write(tmp_path / "x.wav", x, RATE, subtype="FLOAT")
    sf.write(tmp_path / "x16.wav", noise(3.0, 0, 16000), 16000, subtype="FLOAT")
    transcriber = Transcriber(bundle)
    (from_file,) = transcriber.transcribe([tmp_path / "x.wav"])
    assert from_file.words and from_file.text == " ".join(w.word for w in from_file.words)
    assert transcriber.transcribe(x, sample_rate=RATE) == [from_file]  # one input: a list of one
    assert transcriber.transcribe([torch.from_numpy(x)], sample_rate=RATE) == [from_file]
    assert transcriber.transcribe([(x, RATE)]) == [from_file]
    # another rate is resampled to the model's, as a file at that rate is
    assert transcriber.transcribe((noise(3.0, 0, 16000), 16000)) == transcriber.transcribe(tmp_path / "x16.wav")
    pcm = np.round(x * 32767).astype(np.int16)
    assert transcriber.transcribe(pcm, sample_rate=RATE)[0].text == from_file.text


def test_words_times_confidences_and_nbest(bundle):
    x = noise(3.0, 1)
    (hyp,) = Transcriber(bundle, decoder_overrides={"kind": "beam", "nbest": 3}).transcribe(x, sample_rate=RATE)
    assert len(hyp.nbest) == 3 and hyp.nbest[0][0] == hyp.text
    assert [s for _, s in hyp.nbest] == sorted((s for _, s in hyp.nbest), reverse=True)
    assert hyp.words and all(0 <= w.start < w.end <= 3.05 and 0 < w.confidence <= 1 for w in hyp.words)


def test_short_inputs_share_model_batches_and_keep_their_order(bundle, monkeypatch):
    inputs = [noise(0.5 + 0.25 * k, k) for k in range(8)]
    transcriber = Transcriber(bundle)
    one_by_one = [transcriber.transcribe(x, sample_rate=RATE)[0] for x in inputs]
    calls = []
    forward = bundle.model.forward
    monkeypatch.setattr(bundle.model, "forward", lambda feats, lengths: calls.append(len(lengths)) or
                        forward(feats, lengths))
    assert transcriber.transcribe(inputs, sample_rate=RATE) == one_by_one
    assert calls == [8]  # all eight in one padded batch
    transcriber.max_batch_seconds = 2.0  # about two seconds of audio gathered before the model runs
    calls.clear()
    assert transcriber.transcribe(inputs, sample_rate=RATE) == one_by_one
    assert 1 < len(calls) < 8 and sum(calls) == 8


def test_long_arrays_are_cut_like_long_files(bundle, tmp_path: Path):
    x = np.concatenate([noise(2.0, k) if k % 2 == 0 else np.zeros(RATE, np.float32) for k in range(9)])
    sf.write(tmp_path / "long.wav", x, RATE, subtype="FLOAT")
    transcriber = Transcriber(bundle, long_audio_seconds=5.0, segment_seconds=3.0, segmenter="quiet")
    (from_array,) = transcriber.transcribe(x, sample_rate=RATE)
    assert from_array == transcriber.transcribe(tmp_path / "long.wav")[0]
    assert from_array.words[-1].end > 10.0  # times in the whole recording, not in a segment


def test_an_unreadable_input_is_named_after_the_ones_before_it_are_out(bundle, tmp_path: Path):
    good = tmp_path / "good.wav"
    sf.write(good, noise(1.0, 3), RATE)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    results = Transcriber(bundle).transcribe_iter([good, bad, good])
    assert next(results).text == Transcriber(bundle).transcribe(good)[0].text
    with pytest.raises(AsrError, match=f"^{bad}: "):
        next(results)


@pytest.mark.parametrize(("item", "rate", "message"), [
    (np.zeros(800, np.float32), None, "<array 0>: samples given without a sample rate (sample_rate=...)"),
    (np.zeros((2, 800), np.float32), RATE,
     "<array 0>: expected one channel of samples (a 1-D array), got shape (2, 800); mix the channels first "
     "(x.mean(axis=...))"),
    (np.zeros(0, np.float32), RATE, "<array 0>: holds no samples"),
    (np.full(800, np.nan, np.float32), RATE, "<array 0>: samples include NaN or infinite values"),
    (np.zeros(800, np.float32), 12, "<array 0>: sample rate must be an integer from 1000 to 768000 Hz, got 12"),
    (np.zeros(800, bool), RATE, "<array 0>: samples must be float (or int16/int32 PCM), got torch.bool"),
])
def test_arrays_that_cannot_be_audio_are_one_clear_error(bundle, item, rate, message):
    with pytest.raises(AudioError) as info:
        Transcriber(bundle).transcribe(item, sample_rate=rate)
    assert str(info.value) == message


def test_iterating_leaves_the_callers_gradient_mode_alone(bundle):
    results = Transcriber(bundle, max_batch_seconds=0.5).transcribe_iter([noise(1.0, k) for k in range(3)],
                                                                          sample_rate=RATE)
    next(results)
    assert torch.is_grad_enabled()  # the generator is suspended mid-way: the caller may be training
    assert len(list(results)) == 2
