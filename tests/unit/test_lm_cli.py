import json

import numpy as np
import soundfile as sf
import torch

from asr.checkpoint import AsrBundle, load_bundle, save_bundle
from asr.cli import main
from asr.data.manifest import Utterance, write_manifest
from asr.decode import DecoderConfig
from asr.features import FeatureConfig
from asr.lm import ArpaModel
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer


def test_lm_build_from_text_and_manifest_normalises_like_the_model(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("Turn ON the light.\nturn off the light\n")
    out = tmp_path / "lm.arpa"
    assert main(["lm", "build", str(text), "--order", "2", "-o", str(out)]) == 0
    lm = ArpaModel.load(out)
    assert {"turn", "on", "off", "the", "light"} <= set(lm.vocab) and "ON" not in lm.vocab
    assert lm.score("light", ("the",)) > lm.score("turn", ("the",))
    manifest = tmp_path / "m.jsonl"
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(800, dtype=np.float32), 8000)
    write_manifest(manifest, [Utterance("u1", str(wav), 0.1, "Yes, No!")])
    out2 = tmp_path / "lm2.arpa"
    assert main(["lm", "build", str(manifest), "--order", "1", "-o", str(out2)]) == 0
    assert {"yes", "no"} <= set(ArpaModel.load(out2).vocab)
    assert "wrote" in capsys.readouterr().out


def _designed_emissions(symbols: list[str]) -> torch.Tensor:
    """CTC log-probs that spell "ab?ba" where the acoustics slightly prefer no word break at "?" ("abba").

    Only the LM (which knows "ab" and "ba", not "abba") together with a positive word score recovers
    "ab ba", so the grid points of `asr lm tune` differ in WER.
    """
    rows = [{"a": 0.97}, {"b": 0.97}, {"|": 0.3, "<blank>": 0.68}, {"b": 0.97}, {"a": 0.97}]
    probs = torch.tensor([[row.get(s, 1 - sum(row.values())) for s in symbols] for row in rows])
    probs = probs.clamp_min(1e-3)
    return (probs / probs.sum(1, keepdim=True)).log()


def test_lm_tune_picks_the_best_grid_point_and_writes_a_model_that_uses_it(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab"])
    features = FeatureConfig(sample_rate=8000, n_mels=8)
    model = CtcModel(ModelConfig(hidden_size=4, num_layers=1, conv_channels=2, input_dim=4), 8, len(tokenizer))
    # No charge for partial words outside the LM: with it, "abba" never survives and three points tie at 0%.
    model_path = save_bundle(AsrBundle(model.eval(), features, tokenizer, TextNormalizer(),
                                       DecoderConfig(unk_prefix_score=0.0)), tmp_path / "m.pt")
    emissions = _designed_emissions(tokenizer.symbols)

    def designed_forward(self, feats, lengths):  # every utterance gets the designed emissions
        return emissions.expand(feats.shape[0], -1, -1).clone(), torch.full((feats.shape[0],), emissions.shape[0])

    monkeypatch.setattr(CtcModel, "forward", designed_forward)
    wavs = []
    for i in range(2):
        wav = tmp_path / f"{i}.wav"
        sf.write(wav, (0.1 * np.random.default_rng(i).standard_normal(4000)).astype(np.float32), 8000)
        wavs.append(Utterance(f"u{i}", str(wav), 0.5, "ab ba"))
    manifest = write_manifest(tmp_path / "dev.jsonl", wavs)
    text = tmp_path / "t.txt"
    text.write_text("ab ba\nba ab\n")
    lm = tmp_path / "lm.arpa"
    assert main(["lm", "build", str(text), "--order", "2", "-o", str(lm)]) == 0
    settings, tuned = tmp_path / "best.json", tmp_path / "tuned.pt"
    capsys.readouterr()
    # The best point is in the middle of the grid (not its first or last), and "-1,0,1" follows its option plainly.
    assert main(["lm", "tune", str(model_path), str(manifest), "--lm", str(lm), "--lm-weights", "0.5,0",
                 "--word-scores", "-1,0,1", "--beam-size", "8", "-o", str(settings), "--write-model", str(tuned)]) == 0
    lines = capsys.readouterr().out.splitlines()
    points = [line for line in lines if line.startswith("lm_weight")]
    assert len(points) == 6  # every grid point is reported
    assert sum("WER   0.00%" in line for line in points) == 1 and sum("WER 100.00%" in line for line in points) == 5
    assert "best: lm_weight 0.5 word_score 1.0" in lines
    best = json.loads(settings.read_text())
    assert best["kind"] == "beam" and best["lm"] == str(lm.absolute())
    assert (best["lm_weight"], best["word_score"]) == (0.5, 1.0)
    stored = load_bundle(tuned).decoder
    assert stored == DecoderConfig(**best)
    # The written model decodes with the tuned settings by default; the model it came from does not.
    assert main(["test", str(tuned), str(manifest), "-o", str(tmp_path / "t1")]) == 0
    assert "WER 0.00%" in capsys.readouterr().out
    assert main(["test", str(model_path), str(manifest), "-o", str(tmp_path / "t0")]) == 0
    assert "WER 100.00%" in capsys.readouterr().out
    assert main(["transcribe", str(tuned), str(wavs[0].audio)]) == 0
    assert capsys.readouterr().out.strip() == "ab ba"
