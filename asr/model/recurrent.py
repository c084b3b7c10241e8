"""Run a stacked (bi)directional RNN/LSTM/GRU on a padded batch, one layer and direction at a time.

Why not ``pack_padded_sequence``: on the CPU a packed sequence sends every cell to torch's generic
step-by-step kernel, while a dense one reaches oneDNN's fused kernels: a training step of an LSTM stack
runs several times faster, GRU and plain RNN stacks about as fast or a little faster (measured with
tools/bench/rnn_step_bench.py; the speed-ups are in tools/bench/results/rnn_step.md). A dense
bidirectional call would let the backward direction start in the padding, so each direction runs on its
own and the backward one sees every sequence reversed within its own length: padding stays behind the
valid frames in both directions and never reaches a valid output.

The parameters stay those of the ``nn.RNN``/``nn.LSTM``/``nn.GRU`` module, so model files are unchanged.

On CUDA the dense per-direction calls are the wrong choice: cuDNN wants the module's weights as one flat
buffer and warns ("RNN module weights are not part of single contiguous chunk of memory") and re-packs them
at every call when handed separate tensors. There the module's own fused call runs on a packed sequence,
which cuDNN handles natively (``fused=True``; the default follows the input's device). Both paths give the
same outputs (tests/unit/test_recurrent_paths.py runs the packed one on the CPU).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.model.masking import length_mask


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` (batch, time, ...) over its first ``lengths[i]`` steps; padding stays put."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    source = lengths.to(x.device).unsqueeze(1) - 1 - steps
    source = torch.where(source >= 0, source, steps)
    index = source.view(*source.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def _kernel(rnn: nn.RNNBase):
    if isinstance(rnn, nn.LSTM):
        return torch.lstm
    if isinstance(rnn, nn.GRU):
        return torch.gru
    return torch.rnn_tanh if rnn.nonlinearity == "tanh" else torch.rnn_relu


def _one_direction(rnn: nn.RNNBase, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    params = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in names]
    h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
    hx = (h0, h0) if isinstance(rnn, nn.LSTM) else h0
    # One layer, one direction, no built-in dropout: the arguments after params are
    # has_biases, num_layers, dropout, train, bidirectional, batch_first.
    return _kernel(rnn)(x, hx, params, rnn.bias, 1, 0.0, rnn.training, False, True)[0]


def run_packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The module's own fused call on a packed sequence (cuDNN on CUDA); padding frames of the output are 0."""
    # pack_padded_sequence refuses empty sequences: one runs a single step, zeroed by the mask afterwards.
    packed = pack_padded_sequence(x, lengths.cpu().clamp_min(1), batch_first=True, enforce_sorted=False)
    out = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]
    return out * length_mask(lengths.to(x.device), x.shape[1]).unsqueeze(-1)


def run_recurrent(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, fused: bool | None = None) -> torch.Tensor:
    """Outputs of a batch-first ``rnn`` for padded input ``x`` (batch, time, features); padding frames are 0.

    Equal, up to float rounding, to running every sequence alone; ``lengths`` holds the valid steps.
    ``fused``: the module's packed call (default on CUDA) instead of the dense per-direction one (the CPU's).
    """
    if fused if fused is not None else x.is_cuda:
        _check_module(rnn)
        return run_packed(rnn, x, lengths)
    # Only the last layer's output is kept: inference holds one layer's activations at a time.
    return deque(layer_outputs(rnn, x, lengths), maxlen=1)[0]


def _check_module(rnn: nn.RNNBase) -> None:
    if not rnn.batch_first or getattr(rnn, "proj_size", 0):
        raise ValueError("run_recurrent needs a batch_first module without projections")


def layer_outputs(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> Iterator[torch.Tensor]:
    """The dense path of :func:`run_recurrent`, yielding each layer's output in turn (before inter-layer dropout).

    Intermediate CTC (asr.train) reads a middle layer; the fused packed call (cuDNN) cannot give one, so
    training with it runs this path on CUDA too, at the cost of the per-call weight compaction there.
    """
    _check_module(rnn)
    mask = length_mask(lengths.to(x.device), x.shape[1]).unsqueeze(-1)
    for layer in range(rnn.num_layers):
        outputs = [_one_direction(rnn, x, layer, "")]
        if rnn.bidirectional:
            backward = _one_direction(rnn, reverse_within_lengths(x, lengths), layer, "_reverse")
            outputs.append(reverse_within_lengths(backward, lengths))
        x = torch.cat(outputs, dim=-1) * mask
        yield x
        if layer < rnn.num_layers - 1 and rnn.dropout > 0:
            x = nn.functional.dropout(x, rnn.dropout, rnn.training)
