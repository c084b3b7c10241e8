"""Log-mel filterbanks, global CMVN statistics and SpecAugment. Pure functions on tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 0  # 0: the next power of two above the window
    f_min: float = 20.0
    f_max: float = 0.0  # 0: Nyquist
    # 0: log(mel + 1e-6), a fixed floor, so a quiet recording loses its soft sounds under it (FSDD's
    # quietest speaker sits 25 dB below the loudest, recipes/fsdd/RESULTS.md). > 0: the floor sits this many
    # dB below the utterance's loudest mel bin, so the features of a*x are those of x shifted by log(a^2)
    # and the utterance mean removes even that.
    floor_db: float = 0.0

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def fft_size(self) -> int:
        if self.n_fft:
            return self.n_fft
        return 1 << (self.win_length - 1).bit_length()

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length


@dataclass
class SpecAugmentConfig:
    freq_masks: int = 2
    freq_width: int = 15
    time_masks: int = 2
    time_width: int = 40
    # Time masks never cover more than this share of an utterance, so short ones keep their content.
    max_time_ratio: float = 0.2
    # Vocal tract length perturbation (Jaitly & Hinton 2013) on the mel axis: each utterance's frequencies
    # scaled by a factor drawn from [1 - freq_warp, 1 + freq_warp] (0: off), formants moved without the
    # tempo change of speed perturbation. For children's and adults' voices in one corpus.
    freq_warp: float = 0.0


class LogMel(torch.nn.Module):
    """Waveform (samples,) or (batch, samples) -> log-mel (frames, n_mels) or (batch, frames, n_mels)."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        # Librosa's Slaney filters built in float64: torchaudio builds them in float32, up to 1e-3 (relative) off,
        # which moved log-mel values by up to 2.4e-4 (tools/bench/results/features.md). Buffers, not parameters:
        # they follow the module to a device and are never trained (nor saved in model files).
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)
        self.register_buffer("fb", slaney_mel_filters(config.sample_rate, config.fft_size, config.n_mels,
                                                      config.f_min, config.f_max or config.sample_rate / 2),
                             persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        # The STFT pads each end by half an FFT by reflection, which needs more samples than that: a clip
        # shorter than a window (a click, a cut-off file) is padded with silence to one frame's worth.
        short = self.config.fft_size // 2 + 1 - waveform.shape[-1]
        if short > 0:
            waveform = torch.nn.functional.pad(waveform, (0, short))
        # torchaudio's MelSpectrogram (centred STFT, Hann window, power 2), with the power as X * conj(X) rather
        # than its |X|^2 (a square root fewer per bin, the same values to float rounding) and the filterbank
        # applied in the (frames, bins) layout the model reads.
        cfg = self.config
        stft = torch.stft(waveform, cfg.fft_size, hop_length=cfg.hop_length, win_length=cfg.win_length,
                          window=self.window, center=True, pad_mode="reflect", normalized=False, onesided=True,
                          return_complex=True)
        power = (stft * stft.conj()).real
        mel = torch.matmul(power.transpose(-1, -2), self.fb)
        return torch.log(mel + mel_floor(mel, self.config.floor_db))


_F_SP, _MIN_LOG_HZ = 200.0 / 3, 1000.0
_MIN_LOG_MEL, _LOGSTEP = _MIN_LOG_HZ / _F_SP, math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    return torch.where(hz >= _MIN_LOG_HZ, _MIN_LOG_MEL + torch.log(hz.clamp(min=1e-10) / _MIN_LOG_HZ) / _LOGSTEP,
                       hz / _F_SP)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return torch.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * torch.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), mel * _F_SP)


def mel_points(f_min: float, f_max: float, n_mels: int) -> torch.Tensor:
    """The n_mels + 2 filter edges in mel, evenly spaced from f_min to f_max (float64); filter k peaks at k + 1."""
    f64 = torch.float64
    return torch.linspace(float(hz_to_mel(torch.tensor(f_min, dtype=f64))),
                          float(hz_to_mel(torch.tensor(f_max, dtype=f64))), n_mels + 2, dtype=f64)


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular mel filters on the Slaney scale with Slaney area normalisation, (n_fft // 2 + 1, n_mels),
    computed in float64 (librosa.filters.mel's definition, torchaudio's layout), returned as float32."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(mel_points(f_min, f_max, n_mels))
    widths = edges[1:] - edges[:-1]
    slopes = edges.unsqueeze(0) - freqs.unsqueeze(1)  # (freqs, n_mels + 2)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = torch.clamp(torch.minimum(down, up), min=0.0)
    filters *= 2.0 / (edges[2:] - edges[:-2])  # equal area per filter
    return filters.float()


def mel_floor(mel: torch.Tensor, floor_db: float) -> torch.Tensor | float:
    """What is added to mel power (..., bins, frames) before the log: a constant, or per utterance relative."""
    if floor_db <= 0:
        return 1e-6
    # Padding in a batch has zero power, so the maximum is the utterance's own; digital silence keeps a
    # tiny absolute floor so the log stays finite.
    loudest = mel.amax(dim=(-2, -1), keepdim=True)
    return (loudest * 10 ** (-floor_db / 10)).clamp_min(1e-10)


@dataclass
class CmvnStats:
    mean: torch.Tensor
    std: torch.Tensor


def compute_cmvn(features: list[torch.Tensor], floor: float = 1e-3) -> CmvnStats:
    """Global per-bin mean and standard deviation over every frame of every utterance (float64 sums)."""
    if not features:
        raise ValueError("no features to compute statistics from")
    dim = features[0].shape[-1]
    total = torch.zeros(dim, dtype=torch.float64)
    total_sq = torch.zeros(dim, dtype=torch.float64)
    count = 0
    for feats in features:
        f = feats.to(torch.float64)
        total += f.sum(0)
        total_sq += (f * f).sum(0)
        count += f.shape[0]
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(floor * floor)
    return CmvnStats(mean=mean.float(), std=var.sqrt().float())


class SpeakerMeans:
    """Per-bin log-mel means of speakers, accumulated utterance by utterance (float64 sums, memory per speaker).

    Speaker mean normalisation (``model.cmvn: speaker``, Kaldi's per-speaker CMN) removes a speaker's and
    channel's average spectrum but, unlike an utterance's own mean, not the average spectrum of the words said:
    over one short word the utterance mean is mostly that word's vowel.
    """

    def __init__(self) -> None:
        self._sums: dict[object, torch.Tensor] = {}
        self._frames: dict[object, int] = {}

    def add(self, speaker: object, feats: torch.Tensor) -> None:
        total = self._sums.get(speaker)
        frame_sum = feats.to(torch.float64).sum(0)
        self._sums[speaker] = frame_sum if total is None else total + frame_sum
        self._frames[speaker] = self._frames.get(speaker, 0) + feats.shape[0]

    def mean(self, speaker: object) -> torch.Tensor:
        return (self._sums[speaker] / max(1, self._frames[speaker])).float()


def speaker_keys(speakers: Sequence[str | None]) -> list[object]:
    """Grouping keys: the speaker's name, or (for an utterance without one) the utterance alone."""
    return [("speaker", s) if s else ("utterance", i) for i, s in enumerate(speakers)]


def remove_speaker_means(features: Sequence[torch.Tensor], speakers: Sequence[str | None]) -> list[torch.Tensor]:
    """Each utterance minus the mean over every frame of its speaker's utterances in ``features``; an
    utterance whose speaker is ``None`` is its own speaker (its own mean is removed)."""
    keys = speaker_keys(speakers)
    means = SpeakerMeans()
    for key, feats in zip(keys, features):
        means.add(key, feats)
    return [feats - means.mean(key) for key, feats in zip(keys, features)]


def spec_augment(
    feats: torch.Tensor, lengths: torch.Tensor, config: SpecAugmentConfig, generator: torch.Generator | None = None,
    features: FeatureConfig | None = None,
) -> torch.Tensor:
    """Zero random frequency bands and time spans of a normalised (batch, frames, bins) tensor.

    Masks are drawn per utterance and only inside its valid length; zero is the mean after CMVN. With
    ``config.freq_warp`` the bins are first warped (VTLP), which needs the ``features`` config of the mel axis.
    """
    batch, _, bins = feats.shape
    if config.freq_warp > 0:
        if features is None:
            raise ValueError("specaugment.freq_warp needs the feature config (the mel axis)")
        factors = 1 + config.freq_warp * (2 * torch.rand(batch, generator=generator) - 1)
        out = warp_frequencies(feats, warp_sources(features, factors).to(feats.device))
    else:
        out = feats.clone()
    for b in range(batch):
        length = int(lengths[b])
        for _ in range(config.freq_masks):
            width = int(torch.randint(0, config.freq_width + 1, (1,), generator=generator))
            if width and width < bins:
                start = int(torch.randint(0, bins - width + 1, (1,), generator=generator))
                out[b, :length, start : start + width] = 0.0
        max_width = min(config.time_width, int(length * config.max_time_ratio))
        for _ in range(config.time_masks):
            if max_width < 1:
                break
            width = int(torch.randint(0, max_width + 1, (1,), generator=generator))
            if width:
                start = int(torch.randint(0, length - width + 1, (1,), generator=generator))
                out[b, start : start + width, :] = 0.0
    return out


def warp_sources(config: FeatureConfig, factors: torch.Tensor) -> torch.Tensor:
    """(batch, n_mels) fractional mel-bin positions each output bin reads, for frequency scale ``factors``.

    VTLP's piecewise-linear warp: below a boundary (80% of the top frequency, times the factor when it is
    under 1) frequency f comes from f / factor; above it a straight line keeps the top frequency in place, so
    no band is lost off the edge or invented past it.
    """
    top = config.f_max or config.sample_rate / 2
    points = mel_points(config.f_min, top, config.n_mels)
    step = float(points[1] - points[0])
    centres = mel_to_hz(points[1:-1])[None, :]
    alpha = factors.to(torch.float64)[:, None]
    bound = 0.8 * top * alpha.clamp(max=1.0)
    below = centres / alpha
    above = bound / alpha + (centres - bound) * (top - bound / alpha) / (top - bound)
    source_hz = torch.where(centres <= bound, below, above)
    return ((hz_to_mel(source_hz) - float(points[1])) / step).clamp(0, config.n_mels - 1).float()


def warp_frequencies(feats: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Resample each utterance's (frames, bins) along the bins at ``sources`` (batch, bins), linearly."""
    low = sources.floor().long()
    high = (low + 1).clamp(max=feats.shape[-1] - 1)
    frac = (sources - low)[:, None, :]
    shape = (feats.shape[0], feats.shape[1], feats.shape[2])
    return (feats.gather(2, low[:, None, :].expand(shape)) * (1 - frac)
            + feats.gather(2, high[:, None, :].expand(shape)) * frac)


def subsampled_length(frames, factor: int):
    """Frames left after the front end's stride-2 convolutions (kernel 3, padding 1: ceil(L / 2) each).

    Works on ints and on length tensors; the one place the output-length rule lives (the model runs it on
    batches, the data module on utterances to drop those too short for their labels).
    """
    layers = {1: 0, 2: 1, 4: 2}[factor]
    for _ in range(layers):
        frames = (frames + 1) // 2
    return frames
