"""Recurrent CTC model; every output is independent of batch padding (see asr.model.recurrent)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from asr.model.masking import length_mask
from asr.model.recurrent import layer_outputs, run_recurrent
from asr.model.subsampling import ConvSubsampling

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CMVN_MODES = ("global", "utterance", "speaker")


@dataclass
class ModelConfig:
    cell: str = "lstm"  # rnn | lstm | gru
    bidirectional: bool = True
    hidden_size: int = 256
    num_layers: int = 3
    dropout: float = 0.1
    subsampling: int = 4  # 1, 2 or 4
    conv_channels: int = 32
    input_dim: int = 256  # width of the projection between the convolutions and the RNN
    # "global": one mean/std over the training set; "utterance": each utterance's own mean is removed
    # first (cancels channel and speaker offsets), then the global std scales; "speaker": each speaker's mean
    # is removed before the model (the data module and asr.transcribe do it: asr.features.SpeakerMeans), then
    # the global mean and std.
    cmvn: str = "global"

    def validate(self) -> None:
        from asr.errors import ConfigError

        if self.cell not in _CELLS:
            raise ConfigError(f"model.cell must be one of {sorted(_CELLS)}, got {self.cell!r}")
        if self.subsampling not in (1, 2, 4):
            raise ConfigError(f"model.subsampling must be 1, 2 or 4, got {self.subsampling}")
        if self.hidden_size < 1 or self.num_layers < 1:
            raise ConfigError("model.hidden_size and model.num_layers must be positive")
        if self.cmvn not in CMVN_MODES:
            raise ConfigError(f"model.cmvn must be one of {', '.join(CMVN_MODES)}, got {self.cmvn!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


class GlobalCmvn(nn.Module):
    """Feature normalisation whose statistics travel inside the checkpoint as buffers."""

    def __init__(self, dim: int, per_utterance_mean: bool = False):
        super().__init__()
        self.per_utterance_mean = per_utterance_mean
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = length_mask(lengths, feats.shape[1])[:, :, None]
        if self.per_utterance_mean:
            feats = remove_utterance_mean(feats, mask)
        normed = (feats - self.mean) / self.std
        # Padding becomes exactly zero, the same value the convolutions pad with at the edges.
        return normed * mask


def remove_utterance_mean(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Subtract each utterance's mean over its valid frames; ``mask`` is (batch, frames, 1)."""
    mean = (feats * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1)
    return feats - mean


class CtcModel(nn.Module):
    def __init__(self, config: ModelConfig, n_mels: int, vocab_size: int):
        super().__init__()
        config.validate()
        self.config = config
        self.cmvn = GlobalCmvn(n_mels, per_utterance_mean=config.cmvn == "utterance")
        self.subsampling = ConvSubsampling(n_mels, config.subsampling, config.conv_channels, config.input_dim)
        self.rnn = _CELLS[config.cell](
            input_size=config.input_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            batch_first=True,
        )
        directions = 2 if config.bidirectional else 1
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size * directions, vocab_size)

    def normalize(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.cmvn(feats, lengths)

    def encode(self, normed: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features (batch, frames, bins) -> CTC log-probs (batch, frames', vocab) and lengths."""
        x, out_lengths = self.subsampling(normed, lengths)
        x = run_recurrent(self.rnn, x, out_lengths)
        logits = self.head(self.dropout(x))
        return logits.log_softmax(dim=-1), out_lengths

    def encode_with_intermediate(
        self, normed: torch.Tensor, lengths: torch.Tensor, layer: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`encode`'s log-probs, those of recurrent layer ``layer`` (1-based) through the same head, and lengths.

        Intermediate CTC (Lee & Watanabe 2021) shares the output layer, so model files stay unchanged.
        """
        if not 1 <= layer < self.config.num_layers:
            raise ValueError(f"intermediate layer must be in [1, {self.config.num_layers - 1}], got {layer}")
        x, out_lengths = self.subsampling(normed, lengths)
        for number, hidden in enumerate(layer_outputs(self.rnn, x, out_lengths), start=1):
            if number == layer:
                middle = hidden
        final, middle = (self.head(self.dropout(h)).log_softmax(dim=-1) for h in (hidden, middle))
        return final, middle, out_lengths

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(self.normalize(feats, lengths), lengths)
