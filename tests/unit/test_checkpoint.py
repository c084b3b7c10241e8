import os
import pickle
import random

import pytest
import torch

from asr.checkpoint import FORMAT_VERSION, AsrBundle, load_bundle, save_bundle
from asr.decode import DecoderConfig
from asr.errors import CheckpointError
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, NormalizerConfig, TextNormalizer


@pytest.fixture
def bundle() -> AsrBundle:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["yes no"])
    features = FeatureConfig(sample_rate=8000, n_mels=20)
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=2, conv_channels=2, input_dim=6), 20,
                     len(tokenizer))
    model.cmvn.set_stats(torch.randn(20), torch.rand(20) + 1)
    normalizer = TextNormalizer(NormalizerConfig(lowercase=False))
    return AsrBundle(model.eval(), features, tokenizer, normalizer, DecoderConfig("greedy"), {"epoch": 3})


def test_round_trip_restores_everything(tmp_path, bundle):
    path = save_bundle(bundle, tmp_path / "m.pt")
    loaded = load_bundle(path)
    x = torch.randn(1, 50, 20)
    with torch.no_grad():
        assert torch.equal(bundle.model(x, torch.tensor([50]))[0], loaded.model(x, torch.tensor([50]))[0])
    assert torch.equal(loaded.model.cmvn.mean, bundle.model.cmvn.mean)
    assert loaded.features == bundle.features
    assert loaded.tokenizer.symbols == bundle.tokenizer.symbols
    assert loaded.normalizer.config == bundle.normalizer.config
    assert loaded.model.config == bundle.model.config
    assert loaded.info == {"epoch": 3}
    assert loaded.frame_shift == pytest.approx(0.04)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "meta": "{}", "state_dict": {}, "x": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_bundle(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError):
        load_bundle(raw)
    assert not marker.exists()


def test_truncated_and_random_files_give_clear_errors(tmp_path, bundle):
    good = save_bundle(bundle, tmp_path / "m.pt").read_bytes()
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good[: len(good) // 2])
    rng = random.Random(0)
    noise = []
    for i in range(30):  # raw bytes, and bytes behind a pickle header: the unpickler fails in many ways
        path = tmp_path / f"noise{i}.pt"
        body = bytes(rng.randrange(256) for _ in range(rng.choice([16, 512, 4096])))
        path.write_bytes(body if i % 2 else b"\x80\x02" + body)
        noise.append(path)
    for path in (truncated, *noise):
        with pytest.raises(CheckpointError) as info:
            load_bundle(path)
        assert str(path) in str(info.value) and "truncated or corrupt" in str(info.value)
    with pytest.raises(CheckpointError, match="not found"):
        load_bundle(tmp_path / "missing.pt")


def test_newer_format_asks_for_an_upgrade(tmp_path, bundle):
    path = save_bundle(bundle, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="upgrade"):
        load_bundle(path)
