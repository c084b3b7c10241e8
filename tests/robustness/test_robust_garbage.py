"""Family 4: inputs that used to give nonsense with exit code 0. Audio at absurd float scaling, LMs with
infinite backoffs and decoder settings whose scores overflow are refused with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import load_audio, stream_audio
from asr.errors import AudioError, ConfigError
from asr.lm.arpa import ArpaModel, LmError

RATE = 8000


@pytest.mark.parametrize("scale", [32768.0, 1e6, -1e9])
def test_float_audio_at_integer_scale_is_refused(tmp_path: Path, scale: float, tiny_model: Path, cli) -> None:
    path = tmp_path / "scaled.wav"
    t = np.arange(RATE) / RATE
    sf.write(path, (scale * np.sin(2 * np.pi * 300 * t)).astype(np.float32), RATE, subtype="FLOAT")
    for read in (lambda: load_audio(path, RATE), lambda: list(stream_audio(path, RATE, chunk_seconds=0.25))):
        with pytest.raises(AudioError, match="expected floats in \\[-1, 1\\]: the file is scaled wrongly"):
            read()
    line = cli("transcribe", tiny_model, path).error_line
    assert str(path) in line and "scaled wrongly" in line


def test_slight_clipping_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "hot.wav"
    signal = np.full(RATE, 0.5, np.float32)
    signal[::100] = 3.0  # float files may exceed 1 a little (clipping, resampling overshoot)
    sf.write(path, signal, RATE, subtype="FLOAT")
    assert float(load_audio(path, RATE).abs().max()) == pytest.approx(3.0)


_ARPA = """\\data\\
ngram 1=3
ngram 2=1

\\1-grams:
-1.0\t<s>\t{backoff}
-0.5\ta\t0
-0.5\t</s>

\\2-grams:
-0.1\t<s> a

\\end\\
"""


@pytest.mark.parametrize("backoff", ["-inf", "inf", "nan", "-Infinity"])
def test_arpa_with_infinite_backoff_is_refused(tmp_path: Path, backoff: str) -> None:
    path = tmp_path / "lm.arpa"
    path.write_text(_ARPA.format(backoff=backoff))
    with pytest.raises(LmError, match=r"lm.arpa:6: (backoff weight must be a finite number|log10 probability)"):
        ArpaModel.load(path)
    path.write_text(_ARPA.format(backoff="-0.3"))
    assert ArpaModel.load(path).order == 2


def test_arpa_messages_cut_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "lm.arpa"
    path.write_text(_ARPA.format(backoff="x" * 100_000))
    with pytest.raises(LmError) as info:
        ArpaModel.load(path)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("override, key", [("decoder.lm_weight=1.0e+300", "decoder.lm_weight"),
                                           ("decoder.word_score=-1.0e+300", "decoder.word_score"),
                                           ("decoder.unk_score=.inf", "decoder.unk_score"),
                                           ("decoder.hotword_boost=1.0e+308", "decoder.hotword_boost"),
                                           ("decoder.beam_threshold=1.0e+308", "decoder.beam_threshold")])
def test_decoder_settings_that_overflow_scores_are_refused(override: str, key: str) -> None:
    from asr.config import load_config

    with pytest.raises(ConfigError, match=key):
        load_config(None, [override])


class _Hyp:
    def __init__(self, score: float):
        self.score, self.tokens, self.timesteps, self.words = score, torch.zeros(0, dtype=torch.long), \
            torch.zeros(0, dtype=torch.long), []


@pytest.mark.parametrize("results, reason", [([], "no hypothesis survived"),
                                             ([_Hyp(float("-inf"))], "best score is -inf"),
                                             ([_Hyp(float("nan"))], "best score is nan")])
def test_an_empty_or_non_finite_beam_is_reported(tiny_model: Path, caplog, results, reason: str) -> None:
    """Whatever settings or LM lead there, the user is told why the transcript is empty or meaningless."""
    from asr.checkpoint import load_bundle
    from asr.decode import DecoderConfig, build_decoder

    bundle = load_bundle(tiny_model)
    decoder = build_decoder(DecoderConfig(kind="beam", beam_size=4), bundle.tokenizer, bundle.normalizer)
    decoder.decoder = lambda emissions: [results]
    with caplog.at_level("WARNING", logger="asr.decode.beam"):
        hyp = decoder.decode(torch.log_softmax(torch.randn(12, len(bundle.tokenizer)), dim=-1), 0.04)
    assert reason in caplog.text and "over 12 frames" in caplog.text and "beam_threshold" in caplog.text
    if not results:
        assert hyp.text == ""
