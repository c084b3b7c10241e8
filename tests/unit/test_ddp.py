"""Data-parallel training for real: two CPU processes (gloo) started by Lightning's own launcher.

The training script runs in a subprocess (Lightning re-runs it for rank 1), records what each rank saw,
and the test checks the ranks' parts of every epoch and of the dev set, and resuming under DDP.
"""

import json
import subprocess
import sys
import textwrap
from unittest.mock import MagicMock

import numpy as np
import pytest
import soundfile as sf

from asr.callbacks import ExportModel
from asr.checkpoint import load_bundle
from asr.config import load_config
from asr.data.manifest import Utterance, read_manifest, write_manifest
from asr.data.shards import read_index, write_shards
from asr.errors import ConfigError
from asr.train import _make_trainer

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import lightning as L
    from asr.config import load_config
    from asr.train import train

    class Record(L.Callback):
        def __init__(self, out):
            self.out, self.seen = Path(out), {"train": {}, "dev": {}, "val_loss": {}, "val_wer": {}}
        def on_train_batch_start(self, trainer, task, batch, i):
            self.seen["train"].setdefault(str(trainer.current_epoch), []).append(batch.ids)
        def on_validation_batch_start(self, trainer, task, batch, i, dl=0):
            self.seen["dev"].setdefault(str(trainer.current_epoch), []).extend(batch.ids)
        def on_validation_end(self, trainer, task):
            for key in ("val_loss", "val_wer"):
                self.seen[key][str(trainer.current_epoch)] = float(trainer.callback_metrics[key])
        def on_train_end(self, trainer, task):
            self.seen["world"] = trainer.world_size
            (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.seen))

    out, resume, overrides = sys.argv[1], sys.argv[2] == "resume", sys.argv[3:]
    Path(out).mkdir(parents=True, exist_ok=True)
    train(load_config(None, overrides), resume=resume, callbacks=[Record(out)])
""")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(0)
    utts = []
    for i in range(23):  # odd: the batches do not split evenly by themselves
        seconds = 0.5 + 0.1 * (i % 5)
        path = root / "wav" / f"u{i:02d}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(8000 * seconds))).astype(np.float32), 8000)
        utts.append(Utterance(f"u{i:02d}", str(path), seconds, ["ab", "ba", "abba", "b a"][i % 4]))
    write_manifest(root / "train.jsonl", utts[:18])
    write_manifest(root / "dev.jsonl", utts[18:])  # 5 dev utterances over 2 ranks
    (root / "run.py").write_text(SCRIPT)
    return root


def _run(root, out, epochs, resume=False, train=None, exp="exp"):
    overrides = [
        train or f"data.train={root / 'train.jsonl'}", f"data.dev={root / 'dev.jsonl'}",
        f"trainer.exp_dir={root / exp}",
        "features.sample_rate=8000", "features.n_mels=20", "model.hidden_size=16", "model.num_layers=1",
        "model.conv_channels=4", "model.input_dim=16", "trainer.progress_bar=false", "optim.warmup_steps=2",
        "data.max_batch_seconds=2.5", "data.num_buckets=2", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.strategy=ddp", "trainer.threads=1", f"trainer.max_epochs={epochs}", "data.num_workers=1",
        "data.shuffle_buffer=4", "data.cmvn_utterances=8",
    ]
    proc = subprocess.run([sys.executable, str(root / "run.py"), str(out), "resume" if resume else "fresh",
                           *overrides], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)], proc


@pytest.mark.slow
def test_two_process_ddp_splits_each_epoch_and_the_dev_set_and_resumes(corpus):
    train_ids = sorted(u.id for u in read_manifest(corpus / "train.jsonl"))
    dev_ids = sorted(u.id for u in read_manifest(corpus / "dev.jsonl"))
    ranks, proc = _run(corpus, corpus / "run1", epochs=2)
    assert [r["world"] for r in ranks] == [2, 2]
    orders = []
    for epoch in ("0", "1"):
        batches = [r["train"][epoch] for r in ranks]
        assert len(batches[0]) == len(batches[1]) > 1  # the same number of steps on both ranks
        seen = [[u for b in part for u in b] for part in batches]
        assert not set(seen[0]) & set(seen[1])
        assert sorted(seen[0] + seen[1]) == train_ids  # every utterance exactly once per epoch
        orders.append(seen)
        dev = [r["dev"][epoch] for r in ranks]
        assert dev[0] and dev[1] and not set(dev[0]) & set(dev[1]) and sorted(dev[0] + dev[1]) == dev_ids
        # Scored over the gathered dev set: the same numbers on both ranks, though each decoded its part.
        assert ranks[0]["val_loss"][epoch] == ranks[1]["val_loss"][epoch]
        assert ranks[0]["val_wer"][epoch] == ranks[1]["val_wer"][epoch]
    assert orders[0] != orders[1]  # reshuffled per epoch
    assert proc.stdout.count("best model:") == 0  # the script prints nothing; train() itself prints no result
    exp = corpus / "exp"
    assert load_bundle(exp / "model_last.pt").info["epoch"] == 1
    assert load_bundle(exp / "model_last.pt").info["loss"] == pytest.approx(ranks[0]["val_loss"]["1"], rel=1e-6)
    assert (exp / "checkpoints" / "last.ckpt").is_file() and (exp / "config.json").is_file()

    # --resume under DDP: both ranks restart from last.ckpt and train epoch 2 only, with epoch 2's batches.
    resumed, _ = _run(corpus, corpus / "run2", epochs=3, resume=True)
    assert [sorted(r["train"]) for r in resumed] == [["2"], ["2"]]
    seen = [[u for b in r["train"]["2"] for u in b] for r in resumed]
    assert sorted(seen[0] + seen[1]) == train_ids
    assert load_bundle(exp / "model_last.pt").info["epoch"] == 2


@pytest.mark.slow
def test_two_process_ddp_streams_disjoint_shards_with_equal_batch_counts(corpus):
    write_shards(read_manifest(corpus / "train.jsonl"), corpus / "shards", max_shard_bytes=30_000)
    assert len(read_index(corpus / "shards")[1]) >= 4
    ranks, _ = _run(corpus, corpus / "run_stream", epochs=1, exp="exp_stream",
                    train=f"data.train_shards={corpus / 'shards'}")
    batches = [r["train"]["0"] for r in ranks]
    assert len(batches[0]) == len(batches[1]) >= 1  # the planned count on both ranks
    seen = [{u for b in part for u in b} for part in batches]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert ranks[0]["val_loss"]["0"] == ranks[1]["val_loss"]["0"]


def test_only_rank_zero_exports_model_files(tmp_path):
    written = []
    export = ExportModel(tmp_path, lambda task, **info: written.append(info) or None)
    for rank_zero in (False, True):
        trainer = MagicMock(sanity_checking=False, is_global_zero=rank_zero, current_epoch=0, global_step=3,
                            callback_metrics={"val_wer": 0.5, "val_loss": 1.0})
        if rank_zero:
            with pytest.raises(AttributeError):  # the fake bundle is None: reaching save_bundle is the point
                export.on_validation_end(trainer, object())
        else:
            export.on_validation_end(trainer, object())
    assert len(written) == 1  # rank 1 built no bundle and wrote nothing


def test_distributed_switches_are_checked_where_read():
    config = load_config(None, ["trainer.strategy=ddp", "trainer.num_nodes=2", "trainer.accumulate_grad_batches=4",
                                "trainer.precision=bf16-mixed", "trainer.devices=8"])
    assert (config.trainer.strategy, config.trainer.num_nodes, config.trainer.devices) == ("ddp", 2, "8")
    with pytest.raises(ConfigError, match="trainer.strategy: must be one of 'auto', 'ddp'"):
        load_config(None, ["trainer.strategy=horovod"])
    with pytest.raises(ConfigError, match="trainer.accumulate_grad_batches: must be in"):
        load_config(None, ["trainer.accumulate_grad_batches=0"])
    with pytest.raises(ConfigError, match="trainer.precision: must be one of"):
        load_config(None, ["trainer.precision=16"])


def test_devices_lightning_rejects_are_one_line():
    with pytest.raises(ConfigError, match="trainer settings rejected by Lightning") as err:
        _make_trainer(accelerator="cpu", devices="two", logger=False)
    assert "\n" not in str(err.value)


def test_single_process_training_reshuffles_every_epoch_and_sees_each_utterance_once(corpus):
    """Lightning never calls set_epoch on a batch sampler: before the loader was rebuilt per epoch, every
    epoch repeated epoch 0's batches."""
    import lightning as L

    from asr.train import train

    class Record(L.Callback):
        def __init__(self):
            self.epochs: dict[int, list[list[str]]] = {}

        def on_train_batch_start(self, trainer, task, batch, i):
            self.epochs.setdefault(trainer.current_epoch, []).append(batch.ids)

    record = Record()
    overrides = [
        f"data.train={corpus / 'train.jsonl'}", f"data.dev={corpus / 'dev.jsonl'}",
        f"trainer.exp_dir={corpus / 'exp_single'}", "features.sample_rate=8000", "features.n_mels=20",
        "model.hidden_size=16", "model.num_layers=1", "model.conv_channels=4", "model.input_dim=16",
        "trainer.progress_bar=false", "data.max_batch_seconds=2.5", "data.num_buckets=2", "trainer.max_epochs=3",
    ]
    train(load_config(None, overrides), callbacks=[record])
    train_ids = sorted(u.id for u in read_manifest(corpus / "train.jsonl"))
    orders = [[u for b in record.epochs[e] for u in b] for e in range(3)]
    assert all(sorted(order) == train_ids for order in orders)
    assert orders[0] != orders[1] and orders[1] != orders[2]
