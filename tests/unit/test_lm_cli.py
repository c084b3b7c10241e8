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


def test_lm_tune_writes_settings_and_a_model_that_uses_them(tmp_path, capsys):
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab"])
    features = FeatureConfig(sample_rate=8000, n_mels=8)
    model = CtcModel(ModelConfig(hidden_size=4, num_layers=1, conv_channels=2, input_dim=4), 8, len(tokenizer))
    model_path = save_bundle(AsrBundle(model.eval(), features, tokenizer, TextNormalizer()), tmp_path / "m.pt")
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
    assert main(["lm", "tune", str(model_path), str(manifest), "--lm", str(lm), "--lm-weights", "0,1",
                 "--word-scores", "0,2", "--beam-size", "4", "-o", str(settings), "--write-model", str(tuned)]) == 0
    out = capsys.readouterr().out
    assert out.count("lm_weight") >= 4  # every grid point is reported
    best = json.loads(settings.read_text())
    assert best["kind"] == "beam" and best["lm"] == str(lm.absolute())
    assert best["lm_weight"] in (0.0, 1.0) and best["word_score"] in (0.0, 2.0)
    stored = load_bundle(tuned).decoder
    assert stored == DecoderConfig(**best)
    assert main(["transcribe", str(tuned), str(wavs[0].audio)]) == 0  # uses the stored beam + LM settings
