import pytest
import torch

from asr.errors import ConfigError
from asr.features import subsampled_length
from asr.model import CtcModel, ModelConfig


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("subsampling", [1, 2, 4])
def test_padding_never_changes_posteriors(cell, bidirectional, subsampling):
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, bidirectional=bidirectional, hidden_size=16, num_layers=2,
                         dropout=0.0, subsampling=subsampling, conv_channels=4, input_dim=12)
    model = CtcModel(config, n_mels=10, vocab_size=7).eval()
    model.cmvn.set_stats(torch.randn(10), torch.rand(10) + 0.5)
    short = torch.randn(37, 10)
    long = torch.randn(61, 10)
    with torch.no_grad():
        alone, alone_len = model(short[None], torch.tensor([37]))
        batch = torch.zeros(2, 61, 10)
        batch[0, :37] = short
        batch[1] = long
        padded, padded_len = model(batch, torch.tensor([37, 61]))
    assert int(alone_len[0]) == int(padded_len[0])
    n = int(alone_len[0])
    assert torch.allclose(alone[0, :n], padded[0, :n], atol=1e-5)
    # Log-probabilities: each frame is a distribution.
    assert torch.allclose(alone[0].exp().sum(-1), torch.ones(n), atol=1e-5)


def test_padding_content_is_ignored():
    torch.manual_seed(1)
    model = CtcModel(ModelConfig(hidden_size=8, num_layers=1, conv_channels=4, input_dim=8, dropout=0.0), 6, 5).eval()
    x = torch.randn(1, 40, 6)
    with torch.no_grad():
        a, _ = model(torch.cat([x, torch.zeros(1, 20, 6)], 1), torch.tensor([40]))
        b, _ = model(torch.cat([x, 100 * torch.randn(1, 20, 6)], 1), torch.tensor([40]))
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-5)


@pytest.mark.parametrize("factor, frames, expected", [(1, 37, 37), (2, 37, 19), (4, 37, 10), (4, 40, 10), (4, 41, 11)])
def test_output_lengths(factor, frames, expected):
    assert int(subsampled_length(torch.tensor([frames]), factor)[0]) == subsampled_length(frames, factor) == expected
    model = CtcModel(ModelConfig(hidden_size=8, num_layers=1, subsampling=factor, conv_channels=2, input_dim=4), 8, 3)
    out, lengths = model(torch.randn(1, frames, 8), torch.tensor([frames]))
    assert out.shape[1] == int(lengths[0]) == expected


def test_invalid_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="cell"):
        CtcModel(ModelConfig(cell="transformer"), 8, 3)
    with pytest.raises(ConfigError, match="subsampling"):
        CtcModel(ModelConfig(subsampling=3), 8, 3)


def test_bidirectional_doubles_head_input():
    uni = CtcModel(ModelConfig(hidden_size=8, bidirectional=False), 8, 3)
    bi = CtcModel(ModelConfig(hidden_size=8, bidirectional=True), 8, 3)
    assert uni.head.in_features == 8 and bi.head.in_features == 16


def test_utterance_cmvn_cancels_a_constant_channel_offset():
    torch.manual_seed(2)
    model = CtcModel(ModelConfig(hidden_size=8, num_layers=1, conv_channels=2, input_dim=4, cmvn="utterance"), 6, 3)
    model.eval()
    x = torch.randn(1, 30, 6)
    with torch.no_grad():
        a, _ = model(x, torch.tensor([30]))
        b, _ = model(x + 5.0, torch.tensor([30]))  # e.g. a louder microphone: log-mel shifts by a constant
    assert torch.allclose(a, b, atol=1e-5)
    with torch.no_grad():
        model.cmvn.per_utterance_mean = False
        c, _ = model(x + 5.0, torch.tensor([30]))
    assert not torch.allclose(a, c, atol=1e-3)
