import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.model.recurrent import reverse_within_lengths, run_recurrent

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def test_reverse_within_lengths_keeps_padding_in_place():
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]])
    lengths = torch.tensor([4, 2, 1])
    assert reverse_within_lengths(x, lengths).tolist() == [[4, 3, 2, 1], [6, 5, 0, 0], [7, 0, 0, 0]]
    features = torch.randn(3, 4, 5)
    assert torch.equal(reverse_within_lengths(reverse_within_lengths(features, lengths), lengths), features)


def _packed_reference(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("bidirectional", [True, False])
def test_outputs_and_gradients_match_packed_sequences(cell, bidirectional):
    torch.manual_seed(3)
    rnn = CELLS[cell](6, 8, num_layers=3, bidirectional=bidirectional, batch_first=True)
    lengths = torch.tensor([9, 4, 7, 1])
    x = torch.randn(4, 9, 6)
    x[1, 4:] = 50.0  # padding content must not matter
    x[3, 1:] = -50.0

    ours = run_recurrent(rnn, x, lengths)
    ours.pow(2).sum().backward()
    our_grads = [p.grad.clone() for p in rnn.parameters()]
    rnn.zero_grad()
    reference = _packed_reference(rnn, x, lengths)
    reference.pow(2).sum().backward()

    assert torch.allclose(ours, reference, atol=1e-5)
    assert ours[1, 4:].abs().max() == 0 and ours[3, 1:].abs().max() == 0
    for mine, theirs in zip(our_grads, (p.grad for p in rnn.parameters())):
        assert torch.allclose(mine, theirs, atol=1e-4)


def test_dropout_between_layers_only_while_training():
    torch.manual_seed(4)
    rnn = nn.LSTM(5, 6, num_layers=2, bidirectional=True, batch_first=True, dropout=0.5)
    x, lengths = torch.randn(2, 7, 5), torch.tensor([7, 5])
    rnn.eval()
    assert torch.allclose(run_recurrent(rnn, x, lengths), _packed_reference(rnn, x, lengths), atol=1e-5)
    rnn.train()
    assert not torch.allclose(run_recurrent(rnn, x, lengths), run_recurrent(rnn, x, lengths))
