import csv
import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import load_bundle
from asr.config import load_config
from asr.data.dataset import ctc_min_frames
from asr.data.manifest import Utterance, read_manifest, write_manifest
from asr.errors import ConfigError
from asr.train import lr_lambda, prepare_data, train


def test_ctc_needs_a_blank_between_repeats():
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 8


def test_lr_warms_up_then_decays_to_the_floor():
    values = [lr_lambda(s, warmup=10, total=110, schedule="cosine", min_ratio=0.1) for s in range(111)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert values[110] == pytest.approx(0.1)
    assert lr_lambda(500, 10, 110, "constant", 0.1) == 1.0


@pytest.fixture
def tiny_corpus(tmp_path):
    rng = np.random.default_rng(0)
    utts = []
    texts = ["ab", "ba", "abba", "b a", "a"]
    for i in range(10):
        seconds = 0.6 + 0.1 * (i % 3)
        path = tmp_path / "wav" / f"u{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(8000 * seconds))).astype(np.float32), 8000)
        utts.append(Utterance(f"u{i}", str(path), seconds, texts[i % len(texts)].upper() + "!"))
    # 0.05 s -> 6 frames -> 2 after subsampling by 4: too short for "aaaa" (needs 7 frames with blanks).
    short = tmp_path / "wav" / "short.wav"
    sf.write(short, (0.1 * rng.standard_normal(400)).astype(np.float32), 8000)
    utts.append(Utterance("short", str(short), 0.05, "aaaa"))
    utts.append(Utterance("odd", str(short), 0.05, "ab@c"))  # '@' is stripped, 'c' unknown to the train vocab
    write_manifest(tmp_path / "train.jsonl", utts[:10] + utts[10:11])
    write_manifest(tmp_path / "dev.jsonl", utts[:3] + utts[11:])
    return tmp_path


def tiny_config(root, **extra):
    overrides = [
        f"data.train={root / 'train.jsonl'}", f"data.dev={root / 'dev.jsonl'}", f"trainer.exp_dir={root / 'exp'}",
        "features.sample_rate=8000", "features.n_mels=20", "model.hidden_size=16", "model.num_layers=1",
        "model.conv_channels=4", "model.input_dim=16", "trainer.max_epochs=2", "trainer.progress_bar=false",
        "optim.warmup_steps=2", "data.max_batch_seconds=3",
    ] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, overrides)


def test_prepare_filters_and_counts(tiny_corpus):
    data = prepare_data(tiny_config(tiny_corpus), cache_dir=tiny_corpus / "cache")
    assert len(data.train_set) == 10 and len(data.dev_set) == 3
    assert data.skipped == {"train_labels_exceed_frames": 1, "dev_unknown_chars": 1}
    assert data.tokenizer.symbols == ["<blank>", "|", "a", "b"]
    assert data.train_set.texts[0] == "ab"  # normalised: lower case, punctuation gone
    assert data.cmvn_stats()[0].shape == (20,) and bool((data.cmvn_stats()[1] > 0).all())
    assert list((tiny_corpus / "cache").glob("feats-*.pt")), "features are cached for the next run"


def test_speed_perturbation_adds_faster_and_slower_copies(tiny_corpus):
    plain = prepare_data(tiny_config(tiny_corpus), cache_dir=tiny_corpus / "cache")
    config = tiny_config(tiny_corpus, **{"data.speed_perturb": "[0.9,1.0,1.1]"})
    data = prepare_data(config, cache_dir=tiny_corpus / "cache")
    assert len(data.train_set) == 3 * len(plain.train_set) and len(data.dev_set) == len(plain.dev_set)
    frames = dict(zip(data.train_set.ids, (f.shape[0] for f in data.train_set.feats)))
    for uid in plain.train_set.ids:
        assert frames[f"{uid}-sp0.9"] > frames[uid] > frames[f"{uid}-sp1.1"]
        assert abs(frames[f"{uid}-sp0.9"] - frames[uid] / 0.9) <= 2
    assert sum(data.train_durations) == pytest.approx(sum(plain.train_durations) * (1 + 1 / 0.9 + 1 / 1.1))
    assert len(list((tiny_corpus / "cache").glob("feats-*.pt"))) == 4  # train x 3 speeds, dev
    with pytest.raises(ConfigError, match="speed_perturb"):
        prepare_data(tiny_config(tiny_corpus, **{"data.speed_perturb": "[3.0]"}), cache_dir=None)


def test_training_writes_models_logs_and_resumes(tiny_corpus):
    best = train(tiny_config(tiny_corpus))
    exp = tiny_corpus / "exp"
    assert best == exp / "model_best.pt" and best.is_file() and (exp / "model_last.pt").is_file()
    assert (exp / "checkpoints" / "last.ckpt").is_file()
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    rows = list(csv.DictReader(open(exp / "logs" / "version_0" / "metrics.csv")))
    assert any(r.get("train_loss") for r in rows) and any(r.get("val_wer") for r in rows)
    bundle = load_bundle(exp / "model_last.pt")
    assert bundle.info["epoch"] == 1 and bundle.tokenizer.symbols == ["<blank>", "|", "a", "b"]
    assert math.isfinite(bundle.info["loss"])

    train(tiny_config(tiny_corpus, **{"trainer.max_epochs": 4}), resume=True)
    first = list(csv.DictReader(open(exp / "logs" / "version_0" / "metrics.csv")))
    resumed = list(csv.DictReader(open(exp / "logs" / "version_1" / "metrics.csv")))
    assert {int(r["epoch"]) for r in first} == {0, 1}  # the first run's log is kept
    last_step = max(int(r["step"]) for r in first)
    # Resumed after the saved step and went on through epochs 2 and 3, never restarting from step 0.
    assert min(int(r["step"]) for r in resumed) >= last_step
    assert {2, 3} <= {int(r["epoch"]) for r in resumed if r.get("train_loss")}
    assert load_bundle(exp / "model_last.pt").info["epoch"] == 3


def test_average_last_keeps_epoch_models_and_writes_their_mean(tiny_corpus):
    train(tiny_config(tiny_corpus, **{"trainer.max_epochs": 4, "trainer.average_last": 3}))
    exp = tiny_corpus / "exp"
    kept = sorted(p.name for p in exp.glob("model_epoch*.pt"))
    assert kept == ["model_epoch001.pt", "model_epoch002.pt", "model_epoch003.pt"]  # epoch 0 pruned
    weights = [load_bundle(exp / name).model.head.weight for name in kept]
    averaged = load_bundle(exp / "model_avg.pt")
    assert torch.allclose(averaged.model.head.weight, sum(weights) / 3, atol=1e-6)
    assert averaged.info["epochs"] == [1, 2, 3]


def test_lightning_messages_print_once_under_a_configured_root_logger() -> None:
    script = (
        "import logging; logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "import asr.train\n"
        "asr.train._single_lightning_console()\n"
        "logging.getLogger('lightning.pytorch.utilities.rank_zero').info('GPU available: False')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stderr.count("GPU available: False") == 1, result.stderr


def test_lightning_adverts_and_its_own_deprecations_stay_out_of_the_training_log() -> None:
    script = (
        "import logging, warnings; logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "import asr.train\n"
        "asr.train._quiet_lightning_noise(); asr.train._quiet_lightning_noise()\n"
        "log = logging.getLogger('lightning.pytorch.utilities.rank_zero')\n"
        "log.info('Tip: For seamless cloud logging, try installing [litlogger](https://pypi.org/project/litlogger/)')\n"
        "log.info('GPU available: False')\n"
        "warnings.warn('`isinstance(treespec, LeafSpec)` is deprecated, use something else')\n"
        "warnings.warn('a warning the user should see')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "litlogger" not in result.stderr and "LeafSpec" not in result.stderr, result.stderr
    assert "GPU available: False" in result.stderr and "a warning the user should see" in result.stderr


def _dev_rows(exp):
    rows = list(csv.DictReader(open(exp / "logs" / "version_0" / "metrics.csv")))
    return {int(r["epoch"]): r for r in rows if r.get("val_wer")}


def test_one_epoch_writes_a_model_with_that_epochs_scores(tiny_corpus):
    best = train(tiny_config(tiny_corpus, **{"trainer.max_epochs": 1}))
    assert best.is_file(), "a 1-epoch run must write model_best.pt"
    row = _dev_rows(tiny_corpus / "exp")[0]
    info = load_bundle(best).info
    assert info["epoch"] == 0
    assert info["wer"] == pytest.approx(float(row["val_wer"])) and info["cer"] == pytest.approx(float(row["val_cer"]))


def test_model_files_record_their_own_epoch_and_best_is_the_best_epoch(tiny_corpus):
    # lr 0.05 moves the dev scores between epochs, so a one-epoch lag would show.
    train(tiny_config(tiny_corpus, **{"trainer.max_epochs": 4, "trainer.average_last": 4, "optim.lr": 0.05,
                                      "trainer.select_by": "cer"}))
    exp = tiny_corpus / "exp"
    rows = _dev_rows(exp)
    assert sorted(rows) == [0, 1, 2, 3]
    for epoch, row in rows.items():
        info = load_bundle(exp / f"model_epoch{epoch:03d}.pt").info
        assert info["epoch"] == epoch
        assert info["cer"] == pytest.approx(float(row["val_cer"]))
        assert info["wer"] == pytest.approx(float(row["val_wer"]))
    best_epoch = min(rows, key=lambda e: (float(rows[e]["val_cer"]), float(rows[e]["val_loss"])))
    assert load_bundle(exp / "model_best.pt").info["epoch"] == best_epoch
    assert load_bundle(exp / "model_last.pt").info["epoch"] == 3


def test_phone_model_trains_selects_by_per_and_scores_words(tiny_corpus):
    from asr.evaluate import evaluate
    from asr.units import PhoneTokenizer

    for name in ("train", "dev"):
        path = tiny_corpus / f"{name}.jsonl"
        utts = [u for u in read_manifest(path) if u.duration > 0.5]
        words = ["yes", "no", "yes no"]
        write_manifest(path, [dataclasses.replace(u, text=words[i % 3]) for i, u in enumerate(utts)])
    best = train(tiny_config(tiny_corpus, **{"tokenizer.units": "phone", "trainer.select_by": "per"}))
    bundle = load_bundle(best)
    assert isinstance(bundle.tokenizer, PhoneTokenizer) and set(bundle.tokenizer.lexicon) == {"yes", "no"}
    assert bundle.decoder.kind == "beam" and bundle.decoder.lexicon == ""
    assert 0.0 <= bundle.info["per"] <= 1.0 and "cer" not in bundle.info
    report = evaluate(best, tiny_corpus / "dev.jsonl", tiny_corpus / "test")
    assert report.per is not None and "PER" in (tiny_corpus / "test" / "report.txt").read_text()
    # Whatever the untrained model says, a lexicon decoder can only write training words.
    hyps = [json.loads(line)["hyp"] for line in open(tiny_corpus / "test" / "hyps.jsonl")]
    assert set(" ".join(hyps).split()) <= {"yes", "no"}


def test_redirected_training_log_has_one_line_per_epoch_and_no_bar(tiny_corpus):
    args = [f"data.train={tiny_corpus / 'train.jsonl'}", f"data.dev={tiny_corpus / 'dev.jsonl'}",
            f"trainer.exp_dir={tiny_corpus / 'exp'}", "features.sample_rate=8000", "features.n_mels=20",
            "model.hidden_size=16", "model.num_layers=1", "model.conv_channels=4", "model.input_dim=16",
            "trainer.max_epochs=2", "optim.warmup_steps=2", "data.max_batch_seconds=3"]
    result = subprocess.run([sys.executable, "-m", "asr.cli", "train", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "\r" not in output  # no progress bar updates in a redirected log
    summaries = [line for line in output.splitlines() if "val_wer" in line and "epoch" in line]
    assert len(summaries) == 2 and "epoch 0/1" in summaries[0] and "epoch 1/1" in summaries[1]


def test_the_optimiser_is_the_fused_adamw_on_cpu_and_frozen_parameters_stay_out():
    from asr.model import CtcModel
    from asr.text import CharTokenizer
    from asr.train import CtcTask

    config = load_config(None, ["model.hidden_size=16", "model.num_layers=1", "model.input_dim=16"])
    model = CtcModel(config.model, config.features.n_mels, 5)
    model.head.weight.requires_grad_(False)
    task = CtcTask(model, CharTokenizer(["<blank>", "|", "a", "b", "c"]), config, total_steps=10)
    optimizer = task.configure_optimizers()["optimizer"]
    # One fused kernel per step: the per-tensor default cost 6-15 ms a step on these models (README, "Speed and
    # benchmarks").
    assert optimizer.defaults["fused"] is True
    (params,) = [group["params"] for group in optimizer.param_groups]
    assert all(p is not model.head.weight for p in params)
    assert len(params) == sum(p.requires_grad for p in model.parameters())


def test_frame_entropy_sums_each_utterances_valid_frames():
    from asr.train import frame_entropy

    uniform = torch.full((2, 4, 5), -math.log(5))
    one_hot = torch.full((2, 4, 5), -1e4).scatter(2, torch.zeros(2, 4, 1, dtype=torch.long), 0.0)
    torch.testing.assert_close(frame_entropy(uniform, torch.tensor([4, 2])), torch.tensor([4, 2]) * math.log(5))
    torch.testing.assert_close(frame_entropy(one_hot, torch.tensor([4, 2])), torch.zeros(2))


def _tiny_task_and_batch(overrides: list[str]):
    """A CtcTask of a small untrained model without dropout or SpecAugment, and a two-utterance batch."""
    from asr.data.dataset import Batch
    from asr.model import CtcModel
    from asr.text import CharTokenizer
    from asr.train import CtcTask

    config = load_config(None, ["model.hidden_size=16", "model.input_dim=16", "model.dropout=0",
                                "specaugment.freq_masks=0", "specaugment.time_masks=0", *overrides])
    torch.manual_seed(0)
    model = CtcModel(config.model, config.features.n_mels, 5)
    task = CtcTask(model, CharTokenizer(["<blank>", "|", "a", "b", "c"]), config, total_steps=10)
    lengths = torch.tensor([120, 80])
    batch = Batch(["u0", "u1"], torch.randn(2, 120, config.features.n_mels), lengths,
                  torch.tensor([[2, 3, 4], [3, 2, 0]]), torch.tensor([3, 2]), ["abc", "ba"])
    return task, batch


@pytest.mark.parametrize("penalty", [0.0, 0.3])
def test_the_confidence_penalty_subtracts_the_weighted_entropy_from_the_training_loss(penalty):
    from asr.train import frame_entropy

    task, batch = _tiny_task_and_batch(["model.num_layers=1", f"optim.confidence_penalty={penalty}"])
    losses, log_probs, out_lengths = task._loss(batch, augment=False)
    expected = (losses - penalty * frame_entropy(log_probs, out_lengths)).mean()
    assert float(frame_entropy(log_probs, out_lengths).detach().min()) > 1.0  # untrained: far from confident
    torch.testing.assert_close(task.training_step(batch, 0), expected)


def test_intermediate_ctc_mixes_the_middle_layers_loss_into_training_only():
    from asr.model.recurrent import run_recurrent


    weight = 0.4
    task, batch = _tiny_task_and_batch(["model.num_layers=3", f"optim.inter_ctc_weight={weight}",
                                        "optim.inter_ctc_layer=2"])
    model, lengths = task.model, batch.feat_lengths
    normed = model.normalize(batch.feats, lengths)
    final, middle, out_lengths = model.encode_with_intermediate(normed, lengths, 2)
    # The last layer's log-probs are encode()'s: inference is untouched by the option.
    torch.testing.assert_close(final, model.encode(normed, lengths)[0])
    # The second layer's output through the same head: a model cut after two layers gives it.
    two_layers = torch.nn.LSTM(16, 16, num_layers=2, bidirectional=True, batch_first=True)
    two_layers.load_state_dict({k: v for k, v in model.rnn.state_dict().items() if "_l2" not in k})
    hidden = run_recurrent(two_layers, *model.subsampling(normed, lengths))
    torch.testing.assert_close(middle, model.head(hidden).log_softmax(-1))

    def ctc(log_probs):
        return task.ctc(log_probs.transpose(0, 1), batch.targets, out_lengths, batch.target_lengths)

    expected = ((1 - weight) * ctc(final) + weight * ctc(middle)).mean()
    assert abs(float((ctc(middle).mean() - ctc(final).mean()).detach())) > 1e-3  # the two losses differ: the mix shows
    torch.testing.assert_close(task.training_step(batch, 0), expected)
    # Validation reports the last layer's loss alone, comparable with runs without the option.
    torch.testing.assert_close(task._loss(batch, augment=False)[0], ctc(final))


@pytest.mark.parametrize("layers, layer", [(1, 0), (3, 3), (2, 5)])
def test_intermediate_ctc_refuses_a_layer_that_is_not_below_the_last(layers, layer):
    from asr.model import CtcModel
    from asr.text import CharTokenizer
    from asr.train import CtcTask

    config = load_config(None, ["model.hidden_size=8", f"model.num_layers={layers}", "model.input_dim=8",
                                "optim.inter_ctc_weight=0.3", f"optim.inter_ctc_layer={layer}"])
    model = CtcModel(config.model, config.features.n_mels, 5)
    with pytest.raises(ConfigError, match="optim.inter_ctc_layer"):
        CtcTask(model, CharTokenizer(["<blank>", "|", "a", "b", "c"]), config, total_steps=10)
