import math

import librosa
import numpy as np
import pytest
import torch

from asr.features import (
    FeatureConfig,
    LogMel,
    SpecAugmentConfig,
    compute_cmvn,
    spec_augment,
    warp_frequencies,
    warp_sources,
)


def test_logmel_matches_librosa_reference():
    config = FeatureConfig(sample_rate=16000, n_mels=40, win_ms=25, hop_ms=10, f_min=20.0)
    rng = np.random.default_rng(0)
    signal = rng.standard_normal(16000).astype(np.float32) * 0.1
    ours = LogMel(config)(torch.from_numpy(signal)).numpy()
    ref = librosa.feature.melspectrogram(
        y=signal, sr=16000, n_fft=config.fft_size, win_length=config.win_length, hop_length=config.hop_length,
        window="hann", center=True, pad_mode="reflect", power=2.0, n_mels=40, fmin=20.0, fmax=8000.0,
        htk=False, norm="slaney",
    )
    ref = np.log(ref + 1e-6).T
    assert ours.shape == ref.shape == (16000 // 160 + 1, 40)  # centered STFT: one frame per hop, plus one
    # The filters are built in float64 as librosa's are (in float32 the difference was 2.4e-4).
    assert np.max(np.abs(ours - ref)) < 1e-4


def test_frame_geometry_follows_config():
    config = FeatureConfig(sample_rate=8000, n_mels=23, win_ms=20, hop_ms=5)
    assert (config.win_length, config.hop_length, config.fft_size) == (160, 40, 256)
    feats = LogMel(config)(torch.zeros(8000) + 0.01)
    assert feats.shape == (8000 // 40 + 1, 23)


def test_a_tone_lights_up_the_right_mel_bin():
    config = FeatureConfig(sample_rate=16000, n_mels=80)
    t = torch.arange(16000) / 16000
    low = LogMel(config)(torch.sin(2 * torch.pi * 300 * t)).mean(0)
    high = LogMel(config)(torch.sin(2 * torch.pi * 3000 * t)).mean(0)
    assert int(low.argmax()) < int(high.argmax())


def test_cmvn_normalises_to_zero_mean_unit_variance():
    rng = torch.Generator().manual_seed(0)
    feats = [torch.randn(50 + 10 * i, 4, generator=rng) * 3 + 7 for i in range(5)]
    stats = compute_cmvn(feats)
    all_frames = torch.cat(feats)
    assert torch.allclose(stats.mean, all_frames.mean(0), atol=1e-4)
    normed = (all_frames - stats.mean) / stats.std
    assert torch.allclose(normed.mean(0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(normed.std(0, unbiased=False), torch.ones(4), atol=1e-3)


def test_specaugment_masks_only_inside_valid_frames():
    feats = torch.ones(2, 100, 20)
    lengths = torch.tensor([100, 60])
    config = SpecAugmentConfig(freq_masks=2, freq_width=5, time_masks=2, time_width=30, max_time_ratio=0.2)
    out = spec_augment(feats, lengths, config, torch.Generator().manual_seed(3))
    assert (out == 0).any()
    assert torch.equal(out[1, 60:], feats[1, 60:])  # padding untouched
    for b, length in enumerate(lengths.tolist()):
        masked_frames = (out[b, :length] == 0).all(dim=1).sum()
        assert masked_frames <= 2 * int(length * 0.2)
    assert torch.equal(feats, torch.ones(2, 100, 20))  # input not modified in place
    again = spec_augment(feats, lengths, config, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_model_files_written_with_the_removed_dither_setting_still_load(tmp_path):
    """features.dither never did anything (LogMel runs in eval mode) and is gone; old files carry it."""
    import json

    from asr.checkpoint import AsrBundle, load_bundle, save_bundle
    from asr.model import CtcModel, ModelConfig
    from asr.text import CharTokenizer, TextNormalizer

    tokenizer = CharTokenizer.build(["ab"])
    config = FeatureConfig(sample_rate=8000, n_mels=8)
    model = CtcModel(ModelConfig(hidden_size=4, num_layers=1, conv_channels=2, input_dim=4), 8, len(tokenizer))
    path = save_bundle(AsrBundle(model.eval(), config, tokenizer, TextNormalizer()), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    meta = json.loads(payload["meta"])
    meta["features"]["dither"] = 0.0
    payload["meta"] = json.dumps(meta)
    torch.save(payload, path)
    assert load_bundle(path).features == config


def test_relative_floor_makes_features_independent_of_recording_level():
    """With features.floor_db the log-mel of a quiet copy is the loud one's shifted by log(gain^2) everywhere,
    soft frames included; the fixed 1e-6 floor flattens the quiet copy's soft frames instead."""
    torch.manual_seed(0)
    t = torch.arange(16000) / 16000
    loud = 0.5 * torch.sin(2 * torch.pi * 440 * t) * (t < 0.5) + 1e-3 * torch.randn(16000)
    gain = 10 ** (-30 / 20)  # 30 dB quieter
    shift = math.log(gain**2)
    relative = LogMel(FeatureConfig(sample_rate=16000, n_mels=40, floor_db=60))
    assert torch.allclose(relative(gain * loud), relative(loud) + shift, atol=1e-3)
    fixed = LogMel(FeatureConfig(sample_rate=16000, n_mels=40))
    assert (fixed(gain * loud) - fixed(loud) - shift).abs().max() > 1.0


def test_relative_floor_is_per_utterance_in_a_batch():
    """In a padded batch each row's floor comes from its own loudest bin, not the batch's."""
    quiet, loud = 0.01 * torch.randn(8000), torch.randn(8000)
    logmel = LogMel(FeatureConfig(sample_rate=16000, n_mels=40, floor_db=40))
    batch = logmel(torch.stack([quiet, loud]))
    assert torch.allclose(batch[0], logmel(quiet), atol=1e-4)
    assert torch.allclose(batch[1], logmel(loud), atol=1e-4)


def _tone_features(config: FeatureConfig, hz: float) -> torch.Tensor:
    t = torch.arange(config.sample_rate) / config.sample_rate
    return LogMel(config)(torch.sin(2 * torch.pi * hz * t))


def test_frequency_warp_moves_a_tone_as_scaling_its_frequency_would():
    # VTLP: warping the features of a 1 kHz tone by 1.15 should look like the features of a 1.15 kHz tone.
    config = FeatureConfig(sample_rate=16000, n_mels=80)
    tone = _tone_features(config, 1000.0)[None]
    for factor in (0.87, 1.15):
        warped = warp_frequencies(tone, warp_sources(config, torch.tensor([factor])))
        target = _tone_features(config, 1000.0 * factor)
        assert abs(int(warped[0].mean(0).argmax()) - int(target.mean(0).argmax())) <= 1
        assert int(warped[0].mean(0).argmax()) != int(tone[0].mean(0).argmax())
    same = warp_frequencies(tone, warp_sources(config, torch.tensor([1.0])))
    assert torch.allclose(same, tone, atol=1e-5)


def test_frequency_warp_keeps_the_band_edges_and_is_monotonic():
    config = FeatureConfig(sample_rate=8000, n_mels=23, f_min=20.0)
    sources = warp_sources(config, torch.tensor([0.9, 1.0, 1.1]))
    assert sources.shape == (3, 23)
    assert (sources[:, 1:] >= sources[:, :-1]).all()  # no band folds over another
    assert torch.allclose(sources[1], torch.arange(23.0), atol=1e-4)
    # The top frequency stays where it is, so the last bin (just under it) moves by less than half a bin.
    assert (sources[:, -1] > 21.5).all()
    assert (sources[2, 1:15] < sources[1, 1:15]).all()  # > 1: each low bin reads a lower one (formants rise)
    assert (sources[0, 1:15] > sources[1, 1:15]).all()


def test_specaugment_warps_per_utterance_only_when_asked():
    config = FeatureConfig(sample_rate=16000, n_mels=80)
    feats = torch.cat([_tone_features(config, 1000.0)[None]] * 4)
    lengths = torch.full((4,), feats.shape[1])
    no_masks = SpecAugmentConfig(freq_masks=0, time_masks=0)
    # freq_warp 0 draws nothing more: the masks of a seed are those it gave before the option existed.
    assert torch.equal(spec_augment(feats, lengths, no_masks, torch.Generator().manual_seed(1)), feats)
    warp = SpecAugmentConfig(freq_masks=0, time_masks=0, freq_warp=0.2)
    out = spec_augment(feats, lengths, warp, torch.Generator().manual_seed(1), features=config)
    peaks = {int(out[b].mean(0).argmax()) for b in range(4)}
    assert len(peaks) > 1  # a factor per utterance
    again = spec_augment(feats, lengths, warp, torch.Generator().manual_seed(1), features=config)
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="needs the feature config"):
        spec_augment(feats, lengths, warp)
