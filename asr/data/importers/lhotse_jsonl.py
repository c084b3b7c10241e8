"""lhotse manifests, read and written as JSON lines without lhotse itself.

Reading (``asr prepare lhotse FILE``): a CutSet (``*cuts*.jsonl[.gz]``: ``MonoCut`` objects with their
``recording`` and ``supervisions`` inside), or a SupervisionSet with its RecordingSet (give either file;
the other is found by swapping ``supervisions`` and ``recordings`` in its name, lhotse's naming:
``librispeech_supervisions_dev-clean.jsonl.gz`` + ``librispeech_recordings_dev-clean.jsonl.gz``). Every
supervision with text becomes one utterance: its id, text and speaker; its audio the recording's ``file``
source; its offset the supervision's start in the recording (a cut's start plus the supervision's start
within the cut). Relative source paths are tried against the manifest's folder, then the current folder
(where lhotse resolves them). Sources that are not files (``url``, ``command``, ``memory``, ``shar``),
``MixedCut`` objects and malformed lines are errors naming the file and line.

Writing (:func:`write_lhotse_cuts`, ``asr prepare ... --output-format lhotse``): one ``MonoCut`` per
utterance with its recording (absolute path, rate and length from the file's header) and one supervision,
the layout ``CutSet.to_jsonl`` writes and ``CutSet.from_jsonl`` / ``load_manifest`` read.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

from asr.audio import audio_info
from asr.data.manifest import Utterance, parse_json_object
from asr.errors import AudioError, ManifestError
from asr.io_utils import atomic_write
from asr.limits import MAX_SECONDS, check_regular_file, short


def _lines(path: Path, what: str) -> Iterator[tuple[str, dict]]:
    """``(file:line, object)`` for each non-empty line of a JSONL file, gzipped or not."""
    check_regular_file(path, what, ManifestError)
    try:
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        opener = gzip.open if gz else open
        with opener(path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                where = f"{path}:{line_no}"
                try:
                    text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise ManifestError(f"{where}: not valid UTF-8 ({exc.reason})") from None
                if text.strip():
                    yield where, parse_json_object(text, where)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ManifestError(f"{path}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from None


def _field(obj: dict, key: str, kind, where: str, default=None):
    value = obj.get(key, default)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0 or value > MAX_SECONDS:
            raise ManifestError(f"{where}: '{key}' must be a number of seconds >= 0, got {short(value)}")
        return float(value)
    if not isinstance(value, kind):
        raise ManifestError(f"{where}: missing or malformed '{key}' (got {short(value)})")
    return value


def _audio_path(recording: dict, where: str, folder: Path) -> str:
    sources = _field(recording, "sources", list, where)
    if not sources or not isinstance(sources[0], dict):
        raise ManifestError(f"{where}: recording {short(recording.get('id'))} has no sources")
    kinds = {s.get("type") for s in sources if isinstance(s, dict)}
    if kinds != {"file"}:
        raise ManifestError(f"{where}: recording {short(recording.get('id'))} has a source of type "
                            f"{', '.join(sorted(map(str, kinds - {'file'})))}; only 'file' sources can be imported")
    if len({s.get("source") for s in sources}) > 1:
        raise ManifestError(f"{where}: recording {short(recording.get('id'))} has one file per channel; "
                            "only recordings in one file can be imported")
    source = _field(sources[0], "source", str, where)
    path = Path(source)
    if not path.is_absolute():
        path = folder / source if (folder / source).exists() else Path(source).absolute()
    return os.path.normpath(path)


def _utterance(sup: dict, recording: dict, base: float, where: str, folder: Path) -> Utterance | None:
    text = sup.get("text")
    if text is None:
        return None  # a supervision without text (speaker diarisation, VAD) is no training data
    if not isinstance(text, str):
        raise ManifestError(f"{where}: supervision text must be a string, got {short(text)}")
    duration = _field(sup, "duration", float, where)
    if duration <= 0:
        raise ManifestError(f"{where}: supervision {short(sup.get('id'))} has duration {duration}")
    speaker = sup.get("speaker")
    return Utterance(id=_field(sup, "id", str, where), audio=_audio_path(recording, where, folder),
                     duration=duration, text=text, speaker=None if speaker is None else str(speaker),
                     offset=round(base + _field(sup, "start", float, where, 0.0), 6))


def _from_cuts(path: Path) -> list[Utterance]:
    out = []
    for where, cut in _lines(path, "lhotse cuts"):
        kind = cut.get("type", "MonoCut")
        if kind != "MonoCut":
            raise ManifestError(f"{where}: a {short(kind)}; only MonoCut objects can be imported")
        recording = _field(cut, "recording", dict, where)
        start = _field(cut, "start", float, where, 0.0)
        for sup in _field(cut, "supervisions", list, where):
            if not isinstance(sup, dict):
                raise ManifestError(f"{where}: a supervision is not an object")
            utt = _utterance(sup, recording, start, where, path.parent)
            if utt is not None:
                out.append(utt)
    return out


def _partner(path: Path, kind: str) -> Path:
    """The recordings file beside a supervisions file, or the reverse (lhotse's naming)."""
    other = {"supervisions": "recordings", "recordings": "supervisions"}[kind]
    name, count = re.subn(kind, other, path.name)
    if count != 1 or not (path.parent / name).is_file():
        raise ManifestError(f"{path}: lhotse {kind} need their {other}: expected {path.parent / name}")
    return path.parent / name


def _from_supervisions(sup_path: Path, rec_path: Path) -> list[Utterance]:
    recordings = {}
    for where, rec in _lines(rec_path, "lhotse recordings"):
        recordings[_field(rec, "id", str, where)] = (rec, where)
    out = []
    for where, sup in _lines(sup_path, "lhotse supervisions"):
        rec_id = _field(sup, "recording_id", str, where)
        if rec_id not in recordings:
            raise ManifestError(f"{where}: recording {short(rec_id)} is not in {rec_path}")
        utt = _utterance(sup, recordings[rec_id][0], 0.0, where, rec_path.parent)
        if utt is not None:
            out.append(utt)
    return out


def import_lhotse(path: str | os.PathLike) -> list[Utterance]:
    """Utterances of a lhotse CutSet, or of a SupervisionSet and its RecordingSet (either file given)."""
    path = Path(path).absolute()
    first = next(_lines(path, "lhotse manifest"), None)
    if first is None:
        raise ManifestError(f"{path}: empty lhotse manifest")
    where, obj = first
    if "supervisions" in obj or "tracks" in obj or "type" in obj:
        utts = _from_cuts(path)
    elif "recording_id" in obj:
        utts = _from_supervisions(path, _partner(path, "supervisions"))
    elif "sources" in obj:
        utts = _from_supervisions(_partner(path, "recordings"), path)
    else:
        raise ManifestError(f"{where}: not a lhotse cut, supervision or recording (keys: {short(sorted(obj))})")
    seen: set[str] = set()
    for utt in utts:
        if utt.id in seen:
            raise ManifestError(f"{path}: supervision id {short(utt.id)} occurs twice")
        seen.add(utt.id)
    if not utts:
        raise ManifestError(f"{path}: no supervision with text")
    return utts


def cut_dict(utt: Utterance, recording_id: str, header: tuple[int, int, int]) -> dict:
    """The lhotse ``MonoCut`` (with its recording and one supervision) of one utterance."""
    rate, frames, channels = header
    recording = {"id": recording_id,
                 "sources": [{"type": "file", "channels": list(range(channels)), "source": utt.audio}],
                 "sampling_rate": rate, "num_samples": frames, "duration": frames / rate,
                 "channel_ids": list(range(channels))}
    supervision = {"id": utt.id, "recording_id": recording_id, "start": 0.0, "duration": utt.duration,
                   "channel": 0, "text": utt.text}
    if utt.speaker is not None:
        supervision["speaker"] = utt.speaker
    return {"id": utt.id, "start": utt.offset, "duration": utt.duration, "channel": 0,
            "supervisions": [supervision], "recording": recording, "type": "MonoCut"}


def _header(audio: str) -> tuple[int, int, int]:
    import soundfile as sf

    rate, frames, _ = audio_info(audio, verify=False)
    try:
        channels = sf.info(audio).channels
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{audio}: cannot read audio header ({exc})") from None
    return rate, frames, channels


def write_lhotse_cuts(path: str | os.PathLike, utterances: list[Utterance]) -> Path:
    """A lhotse CutSet JSONL (gzipped when ``path`` ends in ``.gz``), written atomically; audio paths absolute."""
    path = Path(path).absolute()
    recording_ids: dict[str, str] = {}
    headers: dict[str, tuple[int, int, int]] = {}
    lines = []
    for utt in utterances:
        audio = str(Path(utt.audio).absolute())
        if audio not in recording_ids:
            stem = Path(audio).stem
            taken = set(recording_ids.values())
            recording_ids[audio] = stem if stem not in taken else f"{stem}-{len(taken)}"
            headers[audio] = _header(audio)
        utt = Utterance(utt.id, audio, utt.duration, utt.text, utt.speaker, utt.offset)
        lines.append(json.dumps(cut_dict(utt, recording_ids[audio], headers[audio]), ensure_ascii=False) + "\n")
    data = "".join(lines).encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return path
