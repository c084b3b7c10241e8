"""Corpora as WebDataset-style tar shards: audio bytes plus JSON metadata, read back from a folder or a URL.

A shard set is a folder (local, or any fsspec URL: s3://, gs://, https://, file://, memory://) holding

- ``shard-000000.tar``, ``shard-000001.tar``, ...: tar files of at most ``max_shard_bytes`` each (a single
  larger utterance gets a shard of its own); utterance ``k`` is two members, ``<k>.<ext>`` (the audio file's
  bytes, unchanged: wav, flac, ogg, mp3; a segment with an offset is cut out and stored as FLAC) and
  ``<k>.json`` (``id``, ``duration``, ``text``, optional ``speaker``). Keys are zero-padded indices, since
  WebDataset splits a member name at its first dot and utterance ids may hold dots.
- ``index.json``: the shards in order with their utterance counts, seconds and bytes;
- ``utterances.jsonl``: every utterance's metadata and shard, so a trainer builds its vocabulary and plans
  its epochs without reading any audio.

Any tar reader (``tar tf``, WebDataset, lhotse's ``LazyWebdatasetIterator``) reads the shards.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.audio import read_audio, resample
from asr.data.manifest import Utterance
from asr.errors import AsrError, AudioError, ManifestError
from asr.io_utils import atomic_write

log = logging.getLogger(__name__)

INDEX = "index.json"
METADATA = "utterances.jsonl"
FORMAT = "asr-shards-1"


@dataclass(frozen=True)
class ShardSample:
    """One utterance read from a shard: its metadata and the audio file's bytes."""

    id: str
    audio: bytes
    audio_name: str  # "<shard>/<member>", for error messages
    duration: float
    text: str
    speaker: str | None = None


def _audio_bytes(utt: Utterance) -> tuple[bytes, str]:
    """The bytes to store and their extension: the file itself, or a segment re-encoded as FLAC."""
    if not utt.offset:
        path = Path(utt.audio)
        try:
            return path.read_bytes(), (path.suffix.lower().lstrip(".") or "wav")
        except OSError as exc:
            raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    samples, rate = read_audio(utt.audio, offset=utt.offset, duration=utt.duration)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC", subtype="PCM_24")
    return buffer.getvalue(), "flac"


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # the same corpus gives byte-identical shards
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_shards(utterances: Sequence[Utterance], out_dir: str | os.PathLike,
                 max_shard_bytes: int = 256 << 20) -> dict:
    """Write ``utterances`` (in order) as tar shards of at most ``max_shard_bytes`` into ``out_dir``;
    returns the index. Each shard is written to a temporary name and renamed once complete."""
    if max_shard_bytes < 1:
        raise AsrError(f"max shard size must be positive, got {max_shard_bytes}")
    if not utterances:
        raise ManifestError("no utterances to shard")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards: list[dict] = []
    meta_lines: list[str] = []
    tar = handle = current = None
    t0 = time.perf_counter()

    def close() -> None:
        tar.close()
        handle.close()
        os.replace(handle.name, out / current["name"])

    for key, utt in enumerate(utterances):
        data, ext = _audio_bytes(utt)
        meta = {"id": utt.id, "duration": round(float(utt.duration), 4), "text": utt.text}
        if utt.speaker is not None:
            meta["speaker"] = utt.speaker
        meta_bytes = json.dumps(meta, ensure_ascii=False).encode("utf-8")
        size = len(data) + len(meta_bytes) + 4 * 512  # two headers and, at most, two blocks of padding
        if current is not None and current["bytes"] + size > max_shard_bytes:
            close()
            current = None
        if current is None:
            current = {"name": f"shard-{len(shards):06d}.tar", "utterances": 0, "seconds": 0.0, "bytes": 1024}
            shards.append(current)
            handle = open(out / f".{current['name']}.tmp", "wb")
            tar = tarfile.open(fileobj=handle, mode="w", format=tarfile.USTAR_FORMAT)
        stem = f"{key:09d}"
        _add_member(tar, f"{stem}.{ext}", data)
        _add_member(tar, f"{stem}.json", meta_bytes)
        current["utterances"] += 1
        current["seconds"] = round(current["seconds"] + float(utt.duration), 3)
        current["bytes"] += size
        meta_lines.append(json.dumps({**meta, "shard": current["name"]}, ensure_ascii=False))
    close()
    for shard in shards:
        shard["bytes"] = (out / shard["name"]).stat().st_size
    index = {"format": FORMAT, "utterances": len(utterances),
             "seconds": round(sum(float(u.duration) for u in utterances), 3), "shards": shards}
    with atomic_write(out / METADATA) as meta_handle:
        meta_handle.write("\n".join(meta_lines) + "\n")
    with atomic_write(out / INDEX) as index_handle:
        json.dump(index, index_handle, indent=1)
    log.info("%d utterances in %d shards in %s (%.1fs)", len(utterances), len(shards), out, time.perf_counter() - t0)
    return index


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def read_index(location: str | os.PathLike) -> tuple[dict, list[str]]:
    """The index of the shard set at ``location`` (folder or fsspec URL) and its shards' URLs, in order."""
    import fsspec

    base = str(location)
    try:
        with fsspec.open(_join(base, INDEX), "rt", encoding="utf-8") as handle:
            index = json.load(handle)
    except FileNotFoundError:
        raise ManifestError(f"{base}: no {INDEX}: not a shard set (write one with 'asr shard')") from None
    except (OSError, ValueError, ImportError) as exc:  # ImportError: the URL's file system is not installed
        raise ManifestError(f"{_join(base, INDEX)}: cannot read ({exc})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not index.get("shards"):
        raise ManifestError(f"{_join(base, INDEX)}: not an index of {FORMAT} shards")
    return index, [_join(base, shard["name"]) for shard in index["shards"]]


def read_metadata(location: str | os.PathLike) -> list[dict]:
    """``utterances.jsonl`` of a shard set: id, duration, text, speaker, shard per utterance."""
    import fsspec

    url = _join(str(location), METADATA)
    try:
        with fsspec.open(url, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{url}: cannot read ({exc})") from None


def iter_shard(url: str) -> Iterator[ShardSample]:
    """The utterances of one shard, in order, streamed (the shard is never held whole in memory)."""
    import fsspec

    pending: dict[str, dict] = {}
    try:
        with fsspec.open(url, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                stem, _, ext = member.name.rpartition("/")[2].partition(".")
                data = tar.extractfile(member).read()
                parts = pending.setdefault(stem, {})
                parts["json" if ext == "json" else "audio"] = data
                if ext != "json":
                    parts["name"] = member.name
                if "json" in parts and "audio" in parts:
                    del pending[stem]
                    meta = json.loads(parts["json"])
                    yield ShardSample(meta["id"], parts["audio"], f"{url}:{parts['name']}", float(meta["duration"]),
                                      meta["text"], meta.get("speaker"))
    except (OSError, tarfile.TarError, EOFError, ValueError, KeyError) as exc:
        raise ManifestError(f"{url}: damaged shard ({type(exc).__name__}: {exc})") from None
    if pending:
        raise ManifestError(f"{url}: {len(pending)} utterance(s) lack their audio or metadata member")


def decode_sample(sample: ShardSample, sample_rate: int) -> torch.Tensor:
    """A sample's audio as mono float32 at ``sample_rate``: the samples ``load_audio`` gives for its file."""
    try:
        data, rate = sf.read(io.BytesIO(sample.audio), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{sample.audio_name}: cannot decode audio ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{sample.audio_name}: holds no samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise AudioError(f"{sample.audio_name}: contains NaN or Inf samples")
    return resample(torch.from_numpy(np.ascontiguousarray(mono)), rate, sample_rate)
