"""Corpus-specific preparation: fixture trees in each corpus's true layout, then the real corpora when present."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_files import write_audio, write_lines

from asr.data.corpora.fsdd import prepare_fsdd
from asr.data.corpora.speechocean762 import check_speechocean762_layout, prepare_speechocean762
from asr.data.corpora.yesno import prepare_yesno, yesno_transcript
from asr.data.manifest import read_manifest
from asr.errors import AsrError, ManifestError

# --- yesno -----------------------------------------------------------------------------------------


@pytest.fixture
def yesno_dir(tmp_path: Path) -> Path:
    for name in ("0_1_1_0", "0_0_0_0", "1_0_1_1"):
        write_audio(tmp_path / "yesno/waves_yesno" / f"{name}.wav", 0.4)
    return tmp_path / "yesno"


def test_yesno_transcript_from_name() -> None:
    assert yesno_transcript("0_1_1_0_0_1_0_1") == "no yes yes no no yes no yes"
    with pytest.raises(ManifestError):
        yesno_transcript("0_2_1")


@pytest.mark.parametrize("subdir", ["", "waves_yesno"])
def test_prepare_yesno_splits_by_first_label(yesno_dir: Path, tmp_path: Path, subdir: str) -> None:
    paths = prepare_yesno(yesno_dir / subdir, tmp_path / "out", dev_count=0)
    assert paths == {"train": tmp_path / "out/train.jsonl", "test": tmp_path / "out/test.jsonl"}
    train = {u.id: u for u in read_manifest(paths["train"])}
    test = {u.id: u for u in read_manifest(paths["test"])}
    assert set(train) == {"0_1_1_0", "0_0_0_0"}
    assert set(test) == {"1_0_1_1"}
    assert train["0_1_1_0"].text == "no yes yes no"
    assert test["1_0_1_1"].text == "yes no yes yes"
    assert Path(train["0_0_0_0"].audio) == yesno_dir / "waves_yesno/0_0_0_0.wav"
    assert train["0_0_0_0"].duration == pytest.approx(0.4)


def test_prepare_yesno_rejects_a_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a yesno corpus"):
        prepare_yesno(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- FSDD ------------------------------------------------------------------------------------------

SPEAKERS = ("ann", "bob", "cid")
TAKES = 10


@pytest.fixture
def fsdd_dir(tmp_path: Path) -> Path:
    for speaker in SPEAKERS:
        for digit in (3, 7):
            for take in range(TAKES):
                write_audio(tmp_path / "fsdd/recordings" / f"{digit}_{speaker}_{take}.wav", 0.1)
    return tmp_path / "fsdd"


def _ids(path: Path) -> set[str]:
    return {u.id for u in read_manifest(path)}


def test_prepare_fsdd_held_out_speaker_split(fsdd_dir: Path, tmp_path: Path) -> None:
    paths = prepare_fsdd(fsdd_dir, tmp_path / "out", held_out_speaker="bob", dev_fraction=0.25, seed=1)
    train, dev, test = (read_manifest(paths[f"speaker_{s}"]) for s in ("train", "dev", "test"))
    assert len(test) == 2 * TAKES and {u.speaker for u in test} == {"bob"}
    assert {u.speaker for u in train + dev} == {"ann", "cid"}
    assert len(dev) == round(0.25 * 4 * TAKES) and len(train) + len(dev) == 4 * TAKES
    assert not {u.id for u in train} & {u.id for u in dev}
    by_id = {u.id: u for u in train + dev + test}
    assert by_id["7_ann_3"].text == "seven" and by_id["3_bob_0"].text == "three"


def test_prepare_fsdd_official_split(fsdd_dir: Path, tmp_path: Path) -> None:
    paths = prepare_fsdd(fsdd_dir / "recordings", tmp_path / "out", held_out_speaker="ann", dev_fraction=0.2)
    test = read_manifest(paths["official_test"])
    train, dev = read_manifest(paths["official_train"]), read_manifest(paths["official_dev"])
    assert {int(u.id.rsplit("_", 1)[1]) for u in test} == set(range(5))
    assert len(test) == 3 * 2 * 5
    assert all(int(u.id.rsplit("_", 1)[1]) >= 5 for u in train + dev)
    assert len(dev) == round(0.2 * 30) and len(train) + len(dev) == 30
    assert not {u.id for u in train} & {u.id for u in dev}


def test_prepare_fsdd_dev_split_depends_only_on_the_seed(fsdd_dir: Path, tmp_path: Path) -> None:
    a = prepare_fsdd(fsdd_dir, tmp_path / "a", seed=3, held_out_speaker="cid")
    b = prepare_fsdd(fsdd_dir, tmp_path / "b", seed=3, held_out_speaker="cid")
    c = prepare_fsdd(fsdd_dir, tmp_path / "c", seed=4, held_out_speaker="cid")
    assert _ids(a["speaker_dev"]) == _ids(b["speaker_dev"])
    assert _ids(a["official_dev"]) == _ids(b["official_dev"])
    assert _ids(a["speaker_dev"]) != _ids(c["speaker_dev"])


def test_prepare_fsdd_dev_speaker_split_keeps_every_speaker_in_one_split(fsdd_dir: Path, tmp_path: Path) -> None:
    plain = prepare_fsdd(fsdd_dir, tmp_path / "plain", held_out_speaker="bob", dev_fraction=0.25)
    paths = prepare_fsdd(fsdd_dir, tmp_path / "out", held_out_speaker="bob", dev_fraction=0.25, dev_speaker="cid")
    assert set(paths) == set(plain) | {"select_train", "select_dev", "select_test"}
    for name in plain:  # the existing splits do not change with a dev speaker
        assert _ids(paths[name]) == _ids(plain[name])
    m = {name: read_manifest(path) for name, path in paths.items()}
    train_speakers = {u.speaker for u in m["select_train"] + m["select_dev"]}
    select_speakers = {u.speaker for u in m["select_test"]}
    held_out_speakers = {u.speaker for u in m["speaker_test"]}
    assert train_speakers == {"ann"} and select_speakers == {"cid"} and held_out_speakers == {"bob"}
    assert not train_speakers & select_speakers and not train_speakers & held_out_speakers
    assert not select_speakers & held_out_speakers
    assert len(m["select_test"]) == 2 * TAKES  # every file of the dev speaker
    assert len(m["select_train"]) + len(m["select_dev"]) == 2 * TAKES
    assert not _ids(paths["select_train"]) & _ids(paths["select_dev"])


def test_prepare_fsdd_rejects_a_bad_dev_speaker(fsdd_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="must differ from the held-out speaker"):
        prepare_fsdd(fsdd_dir, tmp_path / "out", held_out_speaker="bob", dev_speaker="bob")
    with pytest.raises(AsrError, match="dev speaker 'zed' is not in"):
        prepare_fsdd(fsdd_dir, tmp_path / "out", held_out_speaker="bob", dev_speaker="zed")


def test_prepare_fsdd_rejects_bad_arguments(fsdd_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="held-out speaker 'theo' is not in .*; speakers: ann, bob, cid"):
        prepare_fsdd(fsdd_dir, tmp_path / "out")
    with pytest.raises(AsrError, match="dev_fraction"):
        prepare_fsdd(fsdd_dir, tmp_path / "out", held_out_speaker="ann", dev_fraction=0.0)
    with pytest.raises(ManifestError, match="not an FSDD corpus"):
        prepare_fsdd(tmp_path / "empty", tmp_path / "out", held_out_speaker="ann")


# --- speechocean762 --------------------------------------------------------------------------------


def _so762_split(root: Path, split: str, utts: list[tuple[str, str, str]], wav_prefix: str) -> None:
    """utts: (utt id, speaker, transcript); the audio is written where wav.scp says."""
    write_lines(root / split / "wav.scp", *(f"{u} {wav_prefix}/SPEAKER{s}/{u}.wav" for u, s, _ in utts))
    write_lines(root / split / "text", *(f"{u} {t}" for u, _, t in utts))
    write_lines(root / split / "utt2spk", *(f"{u} {s}" for u, s, _ in utts))


@pytest.fixture
def so762_copy(tmp_path: Path) -> Path:
    """The shared copy's layout: train/ dev/ audio/, paths relative to the data directory."""
    root = tmp_path / "speechocean762"
    train = [("000010011", "0001", "WE CALL IT BEAR"), ("000010035", "0001", "ZERO THREE")]
    dev = [("000440005", "0044", "ANDY LIKES BROWN")]
    for utt, spk, _ in train + dev:
        write_audio(root / "audio" / f"SPEAKER{spk}" / f"{utt}.wav", 0.5)
    _so762_split(root, "train", train, "../audio")
    _so762_split(root, "dev", dev, "../audio")
    write_lines(root / "resource/lexicon.txt", "BEAR B EH R")
    return root


def test_prepare_speechocean762_shared_copy(so762_copy: Path, tmp_path: Path) -> None:
    paths = prepare_speechocean762(so762_copy, tmp_path / "out")
    assert set(paths) == {"train", "dev"}
    train, dev = read_manifest(paths["train"]), read_manifest(paths["dev"])
    assert [u.id for u in train] == ["000010011", "000010035"]
    assert train[0].text == "WE CALL IT BEAR"  # upper case kept: normalisation comes later
    assert train[0].speaker == "0001"
    assert Path(dev[0].audio) == so762_copy / "audio/SPEAKER0044/000440005.wav"
    assert dev[0].duration == pytest.approx(0.5)


def test_prepare_speechocean762_accepts_the_parent_folder(so762_copy: Path, tmp_path: Path) -> None:
    paths = prepare_speechocean762(so762_copy.parent, tmp_path / "out")
    assert len(read_manifest(paths["train"])) == 2


def test_prepare_speechocean762_original_layout(tmp_path: Path) -> None:
    """The original release: train/ test/ WAVE/, wav.scp paths relative to the corpus root."""
    root = tmp_path / "speechocean762"
    train = [("000010011", "0001", "WE CALL IT BEAR")]
    test = [("000030012", "0003", "I LIKE IT")]
    for utt, spk, _ in train + test:
        write_audio(root / "WAVE" / f"SPEAKER{spk}" / f"{utt}.wav", 0.5)
    _so762_split(root, "train", train, "WAVE")
    _so762_split(root, "test", test, "WAVE")
    paths = prepare_speechocean762(root, tmp_path / "out")
    assert set(paths) == {"train", "test"}
    (utt,) = read_manifest(paths["test"])
    assert Path(utt.audio) == root / "WAVE/SPEAKER0003/000030012.wav"


@pytest.mark.parametrize(
    ("remove", "message"),
    [("train", "missing train/"), ("dev", "missing dev/ and test/"), ("audio", "missing audio/ or WAVE/")],
)
def test_speechocean762_layout_errors_name_the_missing_folder(so762_copy: Path, remove: str, message: str) -> None:
    import shutil

    shutil.rmtree(so762_copy / remove)
    with pytest.raises(ManifestError, match=message):
        check_speechocean762_layout(so762_copy)


def test_speechocean762_layout_error_for_a_missing_text(so762_copy: Path) -> None:
    (so762_copy / "dev/text").unlink()
    with pytest.raises(ManifestError, match=r"dev: missing text"):
        check_speechocean762_layout(so762_copy)


# --- the real corpora ------------------------------------------------------------------------------


def _real(corpora_dir: Path, name: str) -> Path:
    path = corpora_dir / name
    if not path.is_dir():
        pytest.skip(f"real corpus not available: {path} does not exist")
    return path


def test_real_yesno(corpora_dir: Path, tmp_path: Path) -> None:
    paths = prepare_yesno(_real(corpora_dir, "yesno"), tmp_path)
    train, test = read_manifest(paths["train_all"]), read_manifest(paths["test"])
    assert (len(train), len(test)) == (31, 29)
    dev_ids = {u.id for u in read_manifest(paths["dev"])}
    assert len(dev_ids) == 5 and not dev_ids & {u.id for u in read_manifest(paths["train"])}
    assert dev_ids < {u.id for u in train}
    # The README's example name 0_1_1_0_0_1_0_1 is not among the 60 files; this one is.
    assert {u.id: u.text for u in train}["0_1_1_0_0_1_1_0"] == "no yes yes no no yes yes no"
    assert all(u.id.startswith("1") for u in test)


def test_real_fsdd(corpora_dir: Path, tmp_path: Path) -> None:
    paths = prepare_fsdd(_real(corpora_dir, "fsdd"), tmp_path, dev_speaker="jackson")
    m = {name: read_manifest(path) for name, path in paths.items()}
    assert len(m["official_test"]) == 300
    assert len(m["official_train"]) + len(m["official_dev"]) == 2700
    assert len(m["official_dev"]) == 270
    assert len(m["speaker_test"]) == 500 and {u.speaker for u in m["speaker_test"]} == {"theo"}
    assert len(m["speaker_train"]) + len(m["speaker_dev"]) == 2500
    assert "theo" not in {u.speaker for u in m["speaker_train"] + m["speaker_dev"]}
    assert len(m["select_test"]) == 500 and {u.speaker for u in m["select_test"]} == {"jackson"}
    assert len(m["select_train"]) + len(m["select_dev"]) == 2000
    assert not {"theo", "jackson"} & {u.speaker for u in m["select_train"] + m["select_dev"]}
    assert {u.text for u in m["official_test"]} == {
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    }  # fmt: skip


def test_real_speechocean762(corpora_dir: Path, tmp_path: Path) -> None:
    paths = prepare_speechocean762(_real(corpora_dir, "speechocean762"), tmp_path)
    train, dev = read_manifest(paths["train"]), read_manifest(paths["dev"])
    assert (len(train), len(dev)) == (2500, 820)
    assert all(u.duration > 0 and Path(u.audio).is_file() for u in train + dev)
    assert not {u.speaker for u in train} & {u.speaker for u in dev}
    assert train[0].text == "WE CALL IT BEAR"
