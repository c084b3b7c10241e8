"""Convolutional front end that shortens the frame sequence by 2 or 4 before the recurrent layers."""

from __future__ import annotations

import torch
from torch import nn

from asr.features import subsampled_length
from asr.model.masking import length_mask


class ConvSubsampling(nn.Module):
    """Stride-2 3x3 Conv2d layers over (time, mel); each output is re-masked so padding never leaks in."""

    def __init__(self, in_bins: int, factor: int, channels: int, out_dim: int):
        super().__init__()
        if factor not in (1, 2, 4):
            raise ValueError(f"subsampling factor must be 1, 2 or 4, got {factor}")
        self.layers = {1: 0, 2: 1, 4: 2}[factor]
        convs = []
        bins = in_bins
        in_ch = 1
        for _ in range(self.layers):
            convs.append(nn.Conv2d(in_ch, channels, kernel_size=3, stride=2, padding=1))
            in_ch = channels
            bins = (bins + 1) // 2
        self.convs = nn.ModuleList(convs)
        self.out = nn.Linear(in_ch * bins, out_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = feats.unsqueeze(1)  # (batch, 1, time, bins)
        for conv in self.convs:
            x = torch.relu(conv(x))
            lengths = subsampled_length(lengths, 2)
            x = x * length_mask(lengths, x.shape[2])[:, None, :, None]
        batch, ch, time, bins = x.shape
        x = self.out(x.permute(0, 2, 1, 3).reshape(batch, time, ch * bins))
        return x, lengths
