"""The two recurrent paths (dense per-direction kernels for the CPU, the module's packed call for CUDA) agree."""

import warnings

import pytest
import torch
from torch import nn

from asr.model import CtcModel, ModelConfig
from asr.model.recurrent import run_recurrent

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("bidirectional", [True, False])
def test_packed_path_gives_the_dense_paths_outputs_and_gradients(cell, bidirectional):
    torch.manual_seed(5)
    rnn = CELLS[cell](6, 8, num_layers=2, bidirectional=bidirectional, batch_first=True).train()
    lengths = torch.tensor([9, 4, 7, 0])  # an empty sequence too: all-zero output either way
    x = torch.randn(4, 9, 6, requires_grad=True)
    with torch.no_grad():
        x[1, 4:] = 50.0  # padding content must not matter on either path
        x[3] = -50.0

    outputs, grads = [], []
    for fused in (False, True):
        out = run_recurrent(rnn, x, lengths, fused=fused)
        out.pow(2).sum().backward()
        outputs.append(out.detach())
        grads.append([x.grad.clone()] + [p.grad.clone() for p in rnn.parameters()])
        x.grad = None
        rnn.zero_grad()

    dense, packed = outputs
    assert torch.allclose(dense, packed, atol=1e-5)
    assert packed[1, 4:].abs().max() == 0 and packed[3].abs().max() == 0
    assert dense.abs().max() > 0.1  # not trivially equal
    for mine, theirs in zip(*grads):
        assert torch.allclose(mine, theirs, atol=1e-4)


def test_cpu_default_is_the_dense_path():
    rnn = nn.GRU(3, 4, batch_first=True, bidirectional=True)

    def refuse(*args, **kwargs):
        raise AssertionError("the module's own forward ran on the CPU")

    rnn.forward = refuse
    out = run_recurrent(rnn, torch.randn(2, 5, 3), torch.tensor([5, 3]))
    assert out.shape == (2, 5, 8)
    with pytest.raises(AssertionError, match="own forward"):
        run_recurrent(rnn, torch.randn(2, 5, 3), torch.tensor([5, 3]), fused=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_step_has_no_weight_compaction_warning():
    model = CtcModel(ModelConfig(cell="lstm", hidden_size=32, num_layers=2), n_mels=20, vocab_size=10).cuda().train()
    feats, lengths = torch.randn(3, 50, 20, device="cuda"), torch.tensor([50, 40, 20], device="cuda")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log_probs, out_lengths = model(feats, lengths)
        log_probs.sum().backward()
    assert not [w for w in caught if "contiguous chunk of memory" in str(w.message)]
    cpu = CtcModel(ModelConfig(cell="lstm", hidden_size=32, num_layers=2), n_mels=20, vocab_size=10).eval()
    cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(feats, lengths)[0].cpu(), cpu(feats.cpu(), lengths.cpu())[0], atol=1e-4)
