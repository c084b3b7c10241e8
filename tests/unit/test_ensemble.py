"""Posterior averaging of several models (``Transcriber(..., ensemble=...)``, ``asr test/transcribe/lm tune
--ensemble``): the mean of the probabilities per frame, and members that cannot be averaged refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import AsrBundle, save_bundle
from asr.cli import main
from asr.decode import DecoderConfig
from asr.errors import ConfigError
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer
from asr.transcribe import Transcriber

RATE = 8000
TEXTS = ["ab", "ba", "abba", "b a"]


def make_bundle(seed: int, texts=TEXTS, n_mels: int = 20, subsampling: int = 2, cmvn: str = "global") -> AsrBundle:
    torch.manual_seed(seed)
    tokenizer = CharTokenizer.build(texts)
    features = FeatureConfig(sample_rate=RATE, n_mels=n_mels)
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6,
                                 subsampling=subsampling, cmvn=cmvn), features.n_mels, len(tokenizer)).eval()
    with torch.no_grad():
        model.head.weight.mul_(4.0)  # outputs that follow the input
        model.head.bias[0] -= 3.0  # away from the blank, so the models write (different) characters
    return AsrBundle(model, features, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})


def feats(transcriber: Transcriber) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    with torch.no_grad():
        return [transcriber.logmel(torch.from_numpy((0.2 * rng.standard_normal(n)).astype(np.float32)))
                for n in (RATE, 2 * RATE, 3 * RATE)]


def test_the_ensemble_emits_the_mean_of_the_members_probabilities():
    a, b = make_bundle(0), make_bundle(1)
    alone_a, alone_b = Transcriber(a), Transcriber(b)
    inputs = feats(alone_a)
    both = Transcriber(a, ensemble=[b]).emissions(inputs)
    for mixed, ea, eb in zip(both, alone_a.emissions(inputs), alone_b.emissions(inputs)):
        assert not torch.allclose(ea, eb, atol=1e-3)  # two different models
        torch.testing.assert_close(mixed.exp(), (ea.exp() + eb.exp()) / 2, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(mixed.exp().sum(-1), torch.ones(mixed.shape[0]))  # still distributions
    # A model averaged with itself is the model.
    for mixed, ea in zip(Transcriber(a, ensemble=[a]).emissions(inputs), alone_a.emissions(inputs)):
        torch.testing.assert_close(mixed, ea, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("other, what", [
    (lambda: make_bundle(1, texts=["xy"]), "output units"),
    (lambda: make_bundle(1, n_mels=24), "features"),
    (lambda: make_bundle(1, subsampling=4), "subsampling"),
    # A speaker-normalised model would be handed features it was not trained on (or another model would).
    (lambda: make_bundle(1, cmvn="speaker"), r"normalisation \(model.cmvn\) differ \(speaker against global\)"),
])
def test_a_member_that_cannot_be_averaged_is_refused_by_name(tmp_path: Path, other, what):
    path = save_bundle(other(), tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=f"other.pt: cannot be averaged with the first model: its {what}"):
        Transcriber(make_bundle(0), ensemble=[path])


@pytest.fixture
def models_and_manifest(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(2)
    lines = []
    for k in range(3):
        audio = tmp_path / f"u{k}.wav"
        sf.write(audio, (0.2 * rng.standard_normal(RATE * (k + 1))).astype(np.float32), RATE)
        lines.append(json.dumps({"id": f"u{k}", "audio": str(audio), "duration": k + 1.0, "text": "ab ba"}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return (save_bundle(make_bundle(0), tmp_path / "a.pt"), save_bundle(make_bundle(1), tmp_path / "b.pt"),
            manifest)


def hyps(out: Path) -> list[str]:
    return [json.loads(line)["hyp"] for line in open(out / "hyps.jsonl")]


def test_asr_test_decodes_the_average(models_and_manifest, tmp_path: Path, capsys):
    a, b, manifest = models_and_manifest
    assert main(["test", str(a), str(manifest), "-o", str(tmp_path / "a")]) == 0
    assert main(["test", str(a), str(manifest), "-o", str(tmp_path / "ab"), "--ensemble", str(b)]) == 0
    report = (tmp_path / "ab" / "report.txt").read_text()
    assert report.startswith(f"models (posteriors averaged): {a}, {b}\n")
    # What the Python API decodes from the averaged posteriors, file by file.
    expected = [h.text for h in Transcriber(a, ensemble=[b]).transcribe(
        [json.loads(line)["audio"] for line in open(manifest)])]
    assert hyps(tmp_path / "ab") == expected != hyps(tmp_path / "a")


def test_lm_tune_refuses_to_write_one_model_file_for_an_ensemble(models_and_manifest, tmp_path: Path, capsys):
    a, b, manifest = models_and_manifest
    code = main(["lm", "tune", str(a), str(manifest), "--ensemble", str(b), "--write-model", str(tmp_path / "t.pt")])
    assert code == 2 and "cannot hold an ensemble" in capsys.readouterr().err
    assert not (tmp_path / "t.pt").exists()
