"""Fine-tuning end to end, a small version of recipes/finetune: a model trained briefly on one set of yesno
recordings is fine-tuned on other recordings, imported from a CSV table, and beats the same architecture
trained from scratch with the same steps on them."""

import csv
import json
import logging
from pathlib import Path

import pytest

from asr.cli import main

TINY = ["model.cell=gru", "model.hidden_size=32", "model.num_layers=1", "model.conv_channels=4",
        "model.input_dim=32", "model.subsampling=4", "model.dropout=0", "features.sample_rate=8000",
        "features.n_mels=40"]
COMMON = ["data.max_batch_seconds=20", "data.num_buckets=1", "specaugment=null", "trainer.progress_bar=false",
          "trainer.seed=0", "trainer.threads=1", "optim.warmup_steps=5"]


def dev_scores(exp: Path) -> list[tuple[float, float]]:
    """(dev loss, dev WER) per epoch from the run's CSV log."""
    rows = csv.DictReader(open(next(exp.glob("logs/version_*/metrics.csv"))))
    return [(float(r["val_loss"]), float(r["val_wer"])) for r in rows if r.get("val_loss")]


@pytest.mark.slow
def test_fine_tuning_beats_training_from_scratch_at_equal_steps(yesno_data, tmp_path, caplog):
    data = yesno_data
    # The source model: the yesno training recordings, a few epochs.
    src = tmp_path / "src"
    assert main(["train", f"data.train={data / 'train.jsonl'}", f"data.dev={data / 'dev.jsonl'}",
                 f"trainer.exp_dir={src}", "trainer.max_epochs=12", "optim.lr=0.005", *TINY, *COMMON]) == 0
    # The target: the test recordings, as a user's CSV table (audio,text), 20 to train on and 9 for dev.
    test = [json.loads(line) for line in open(data / "test.jsonl")]
    for name, rows in (("train", test[:20]), ("dev", test[20:])):
        with open(tmp_path / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["audio", "text"])
            writer.writerows([(str((data / r["audio"]).resolve()), r["text"]) for r in rows])
        assert main(["prepare", "csv", str(tmp_path / f"{name}.csv"), "-o", str(tmp_path / f"{name}.jsonl")]) == 0
    target = [f"data.train={tmp_path / 'train.jsonl'}", f"data.dev={tmp_path / 'dev.jsonl'}",
              "trainer.max_epochs=3", *COMMON]
    with caplog.at_level(logging.INFO, logger="asr.finetune"):
        assert main(["train", "--init", str(src / "model_best.pt"), f"trainer.exp_dir={tmp_path / 'ft'}",
                     "optim.lr=0.001", *target]) == 0
    init_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("init from")]
    assert len(init_lines) == 1 and "nothing frozen" in init_lines[0]
    assert main(["train", f"trainer.exp_dir={tmp_path / 'scratch'}", "optim.lr=0.005", *TINY, *target]) == 0
    ft, scratch = dev_scores(tmp_path / "ft"), dev_scores(tmp_path / "scratch")
    assert len(ft) == len(scratch) == 3
    # After every epoch (the same batches, the same steps) the fine-tuned model is ahead.
    for (ft_loss, ft_wer), (sc_loss, sc_wer) in zip(ft, scratch):
        assert ft_loss < sc_loss and ft_wer <= sc_wer
    assert ft[-1][1] < 0.5 and scratch[-1][1] == 1.0, (ft, scratch)  # the scratch model still writes nothing
