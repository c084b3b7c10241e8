import pytest
import torch

from asr.average import average_models, write_average
from asr.checkpoint import AsrBundle, load_bundle, save_bundle
from asr.cli import main
from asr.errors import CheckpointError
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer


def _model_file(path, seed: int, hidden: int = 8, epoch: int = 0):
    torch.manual_seed(seed)
    tokenizer = CharTokenizer.build(["ab ba"])
    model = CtcModel(ModelConfig(hidden_size=hidden, num_layers=1, conv_channels=2, input_dim=4), 10, len(tokenizer))
    model.cmvn.set_stats(torch.full((10,), 2.0), torch.full((10,), 3.0))
    bundle = AsrBundle(model, FeatureConfig(n_mels=10), tokenizer, TextNormalizer(), info={"epoch": epoch})
    return save_bundle(bundle, path)


def test_average_is_the_elementwise_mean(tmp_path):
    paths = [_model_file(tmp_path / f"m{i}.pt", seed=i, epoch=i) for i in range(3)]
    weights = [load_bundle(p).model.state_dict() for p in paths]
    averaged = average_models(paths)
    for key, value in averaged.model.state_dict().items():
        expected = sum(w[key] for w in weights) / 3
        assert torch.allclose(value, expected, atol=1e-6), key
    assert torch.equal(averaged.model.cmvn.mean, torch.full((10,), 2.0))  # equal buffers stay as they are
    assert averaged.info["epochs"] == [0, 1, 2]
    out = write_average(paths, tmp_path / "avg.pt")
    assert torch.allclose(load_bundle(out).model.head.weight, averaged.model.head.weight)


def test_models_of_different_shape_are_refused(tmp_path):
    a = _model_file(tmp_path / "a.pt", seed=0)
    b = _model_file(tmp_path / "b.pt", seed=1, hidden=12)
    with pytest.raises(CheckpointError, match=r"b\.pt: cannot be averaged .*different model"):
        average_models([a, b])


def test_average_command(tmp_path, capsys):
    paths = [str(_model_file(tmp_path / f"m{i}.pt", seed=i)) for i in range(2)]
    assert main(["average", *paths, "-o", str(tmp_path / "avg.pt")]) == 0
    assert "mean of 2 models" in capsys.readouterr().out
    assert main(["average", paths[0], str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
