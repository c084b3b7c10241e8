"""Tar shards: written from a manifest, read back from a folder or an fsspec URL, streamed as batches."""

import io
import json
import tarfile

import fsspec
import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import audio_info
from asr.data.corpora.fsdd import DIGIT_WORDS
from asr.data.dataset import extract_features
from asr.data.manifest import Utterance, write_manifest
from asr.data.shards import iter_shard, read_index, read_metadata, write_shards
from asr.data.stream import ShardStream, StreamSettings, examples, shard_part
from asr.errors import ManifestError
from asr.features import FeatureConfig
from asr.text import NormalizerConfig, TextNormalizer
from asr.units import TokenizerConfig, build_tokenizer


def fsdd_subset(corpora_dir, count=40):
    recordings = corpora_dir / "fsdd" / "recordings"
    if not recordings.is_dir():
        pytest.skip(f"FSDD not available: {recordings}")
    utts = []
    for wav in sorted(recordings.glob("*.wav"))[::75][:count]:  # spread over digits and speakers
        digit, speaker, _ = wav.stem.split("_")
        utts.append(Utterance(wav.stem, str(wav), audio_info(wav)[2], DIGIT_WORDS[int(digit)], speaker))
    return utts


def settings_for(texts, **extra):
    normalizer = TextNormalizer(NormalizerConfig())
    tokenizer = build_tokenizer(TokenizerConfig(), [normalizer(t) for t in texts])
    return StreamSettings(FeatureConfig(sample_rate=8000, n_mels=40), normalizer, tokenizer, 4, 5.0, **extra)


def test_fsdd_shards_read_back_as_the_manifest_utterances_and_features(corpora_dir, tmp_path):
    utts = fsdd_subset(corpora_dir)
    index = write_shards(utts, tmp_path / "shards", max_shard_bytes=120_000)
    assert len(index["shards"]) > 3 and sum(s["utterances"] for s in index["shards"]) == len(utts)
    assert all(s["bytes"] <= 120_000 for s in index["shards"] if s["utterances"] > 1)  # size-capped

    # Read back through a file:// URL, the way any fsspec file system is read.
    _, urls = read_index(f"file://{tmp_path / 'shards'}")
    samples = [s for url in urls for s in iter_shard(url)]
    assert [s.id for s in samples] == [u.id for u in utts]
    assert [(s.text, s.speaker, s.duration) for s in samples] == [(u.text, u.speaker, round(u.duration, 4))
                                                                 for u in utts]
    assert all(s.audio == open(u.audio, "rb").read() for s, u in zip(samples, utts))  # the bytes, unchanged

    settings = settings_for([u.text for u in utts])
    streamed = list(examples(iter(samples), settings))
    cached = extract_features(utts, settings.feature_config)
    assert [e.id for e in streamed] == [u.id for u in utts]
    for e, feats, u in zip(streamed, cached, utts):
        assert torch.equal(e.feats, feats)  # the same features as the manifest path, bit for bit
        assert e.target.tolist() == settings.tokenizer.encode(u.text)
    assert [m["id"] for m in read_metadata(tmp_path / "shards")] == [u.id for u in utts]


def test_shards_are_plain_tars_with_audio_and_json_members(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(800, np.float32), 8000)
    segment = Utterance("talk.part.2", str(wav), 0.05, "yes", offset=0.02)  # a segment: stored as FLAC
    write_shards([Utterance("u.1", str(wav), 0.1, "no"), segment], tmp_path / "s")
    with tarfile.open(tmp_path / "s" / "shard-000000.tar") as tar:
        assert tar.getnames() == ["000000000.wav", "000000000.json", "000000001.flac", "000000001.json"]
        assert json.load(tar.extractfile("000000001.json")) == {"id": "talk.part.2", "duration": 0.05, "text": "yes"}
        data = tar.extractfile("000000001.flac").read()
    assert sf.info(io.BytesIO(data)).frames == 400


def test_streaming_from_an_fsspec_memory_url(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(4000).astype(np.float32), 8000)
    write_shards([Utterance(f"u{i}", str(wav), 0.5, "ab") for i in range(6)], tmp_path / "s", max_shard_bytes=20_000)
    memory = fsspec.filesystem("memory")
    for path in (tmp_path / "s").iterdir():
        memory.pipe(f"/corpus/{path.name}", path.read_bytes())
    index, urls = read_index("memory://corpus")
    assert urls[0] == "memory://corpus/shard-000000.tar" and index["utterances"] == 6
    assert [s.id for url in urls for s in iter_shard(url)] == [f"u{i}" for i in range(6)]


def _stream_corpus(tmp_path, count=48, shards=8):
    rng = np.random.default_rng(1)
    utts = []
    for i in range(count):
        wav = tmp_path / "wav" / f"u{i:02d}.wav"
        wav.parent.mkdir(exist_ok=True)
        seconds = 0.3 + 0.1 * (i % 4)
        sf.write(wav, 0.1 * rng.standard_normal(int(8000 * seconds)).astype(np.float32), 8000)
        utts.append(Utterance(f"u{i:02d}", str(wav), seconds, ["ab", "ba"][i % 2]))
    per_shard = wav.stat().st_size * count // shards + 3000
    index = write_shards(utts, tmp_path / "s", max_shard_bytes=per_shard)
    return utts, [str(tmp_path / "s" / s["name"]) for s in index["shards"]]


def test_ranks_and_workers_read_disjoint_shards_and_yield_the_same_number_of_batches(tmp_path):
    utts, urls = _stream_corpus(tmp_path)
    assert len(urls) >= 4
    settings = settings_for(["ab", "ba"], shuffle_buffer=4)
    parts = [shard_part(urls, 0, 0, reader, 4) for reader in range(4)]
    assert sorted(u for p in parts for u in p) == sorted(urls)  # each shard read by one reader per pass

    seen = []
    for rank in range(2):
        stream = ShardStream(urls, settings, batches_per_epoch=3, num_replicas=2, rank=rank)
        batches = list(stream)
        assert len(batches) == len(stream) == 3
        seen.append({uid for b in batches for uid in b.ids})
        assert all(b.feats.shape[0] == len(b.ids) for b in batches)
    assert seen[0] and seen[1] and not seen[0] & seen[1]  # the ranks never share an utterance within a pass

    again = [b.ids for b in ShardStream(urls, settings, 3, 2, 0)]
    other = ShardStream(urls, settings, 3, 2, 0)
    other.set_epoch(1)
    assert again == [b.ids for b in ShardStream(urls, settings, 3, 2, 0)]  # reproducible from the seed
    assert again != [b.ids for b in other]


def test_a_quota_beyond_the_shards_starts_another_pass(tmp_path):
    utts, urls = _stream_corpus(tmp_path, count=8, shards=2)
    stream = ShardStream(urls, settings_for(["ab", "ba"], shuffle_buffer=2), batches_per_epoch=10)
    ids = [uid for b in stream for uid in b.ids]
    assert len(list(stream)) == 10 and len(ids) > len(utts) and set(ids) == {u.id for u in utts}


def test_missing_index_and_damaged_shards_are_one_line_errors(tmp_path):
    with pytest.raises(ManifestError, match="no index.json: not a shard set"):
        read_index(tmp_path)
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ManifestError, match="damaged shard"):
        list(iter_shard(str(bad)))


@pytest.mark.slow
def test_training_streams_from_shards_written_by_the_cli(tmp_path, capsys):
    from asr.checkpoint import load_bundle
    from asr.cli import main

    utts, _ = _stream_corpus(tmp_path, count=24, shards=4)
    write_manifest(tmp_path / "train.jsonl", utts)
    write_manifest(tmp_path / "dev.jsonl", utts[:4])
    assert main(["shard", str(tmp_path / "train.jsonl"), "-o", str(tmp_path / "cli_shards"), "--max-mb", "0.05"]) == 0
    assert "train with data.train_shards=" in capsys.readouterr().out
    exp = tmp_path / "exp"
    assert main(["train", f"data.train_shards=file://{tmp_path / 'cli_shards'}", f"data.dev={tmp_path / 'dev.jsonl'}",
                 f"trainer.exp_dir={exp}", "features.sample_rate=8000", "features.n_mels=20", "model.hidden_size=16",
                 "model.num_layers=1", "model.conv_channels=4", "model.input_dim=16", "trainer.max_epochs=2",
                 "trainer.progress_bar=false", "data.max_batch_seconds=3", "data.num_workers=1",
                 "data.shuffle_buffer=8", "data.cmvn_utterances=10"]) == 0
    bundle = load_bundle(exp / "model_last.pt")
    assert bundle.info["epoch"] == 1 and bundle.tokenizer.symbols == ["<blank>", "|", "a", "b"]
    assert main(["train", f"data.train_shards={tmp_path / 'cli_shards'}", f"data.train={tmp_path / 'train.jsonl'}",
                 f"data.dev={tmp_path / 'dev.jsonl'}"]) == 2
    assert "not both" in capsys.readouterr().err
