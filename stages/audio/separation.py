"""Keeping the infant's voice without ever hurting it: suppress what was detected, gate the rest.

A hard harmonic mask on the infant's F0 removes the breathy and unvoiced energy real cries and
laughter carry (a clean real laugh came out at -3 dB SI-SDR against itself), so the weight-free
path now changes a clip only where it has evidence:
1. Interferer suppression, only where adult speech or music was detected: frames with the
   interferer and without the infant are attenuated by `interferer_gain_db`, and so are frames
   beside the infant's bouts that Silero and YAMNet both hear as speech; inside the infant's
   bouts, near detected interference, a spectral-subtraction gain uses the interferer's own
   spectrum (measured on its frames outside the bouts), never goes below `interferer_floor_db`,
   and never touches the bands on the infant's harmonics.
2. Spectral subtraction of the clip's own background and noisereduce's stationary gate for room
   noise, their profile from frames with neither the infant nor an interferer; together they
   remove at most `max_noise_removed_db` of the clip's energy.
All of it is one gain on the STFT the detectors used, inverted once.
A clean infant source, with nothing detected but itself, passes through barely changed.
"""

from __future__ import annotations

import logging

import noisereduce
import numpy as np
from scipy import ndimage

from stages.audio.activity import FrameActivity
from stages.audio.config import AudioConfig
from stages.audio.music import infant_harmonics
from stages.audio.pitch import FRAME_RATE
from stages.audio.spectrum import N_FFT, Spectrum, analyse, synthesise

log = logging.getLogger(__name__)

# noisereduce's stationary defaults: threshold at mean + 1.5 std; its mask smoothing (500 Hz and
# 50 ms settings) is a triangle of half-width 16 of its bins (250 Hz) and 3 of its hops (48 ms).
GATE_STD = 1.5
GATE_SMOOTH_HZ = 250.0
GATE_SMOOTH_S = 0.05
MIN_NOISE_S = 0.25  # shorter noise profiles are unreliable: fall back to the quietest frames
MIN_INTERFERER_S = 0.2  # the interferer's own spectrum needs this much of it alone
NEAR_INTERFERER_S = 1.0  # the infant's frames this close to detected interference are cleaned
LOUD_MARGIN_DB = 3.0  # interferer-only frames are at least this far below the infant's median level
# Heard speech louder than the infant's median by this much is the clip's main sound: cutting it
# would remake the clip (a raw upload's 130 Hz voice at +11 dB: 19.1 -> 6.5 dB SI-SDR against
# itself); the gate judges such a clip.
HEARD_LOUD_MARGIN_DB = 6.0
RAMP_S = 0.03  # gain changes between frames are smoothed over this long (no clicks)
LOW_CUT = 0.7  # below 0.7 F0 there is no infant energy, only the interferer's


def suppress_interferers(spec: Spectrum, activity: FrameActivity,
                         cfg: AudioConfig) -> tuple[np.ndarray, dict[str, float | None]]:
    """The gain (F, T) that removes detected speech and music, and what it did.

    Returns:
        The gain (ones where nothing was detected) and metrics: the share of frames attenuated,
        the share of frames spectrally cleaned, and the predicted removal (`predict_removal`).
    """
    n = min(spec.n_frames, activity.n_frames)
    gain = np.ones((len(spec.freqs), spec.n_frames))
    interferer = activity.interferer[:n]
    region = activity.infant_region[:n]
    alone = interferer & ~region & ~activity.maybe_infant[:n]
    if activity.infant.any():
        # A frame "without the infant" as loud as the infant's own voice is more likely the infant
        # (an unvoiced onset, a scream the pitch tracker misses) than the interferer: cutting it
        # by 30 dB cost a real cry-in-music mixture 2.7 dB; it stays.
        voice_db = float(np.median(activity.level_db[activity.infant]))
        alone &= activity.level_db[:n] < voice_db - LOUD_MARGIN_DB
    # Speech both detectors hear (`heard_adult`) goes too, however near the infant: `alone`
    # kept most of it (the infant-range periodicity an adult voice has, or its level): real
    # words 0.8 s before a real cry, where detected, came out 0.8 dB down against the cry
    # (median; now 7.5 dB, bench.audio_real).
    # It is not `alone`: the interferer's spectrum and the gate's predicted removal are still
    # measured only where no infant can be.
    heard = np.zeros(n, bool) if activity.heard_adult is None else activity.heard_adult[:n]
    heard &= ~region
    if activity.infant.any():
        heard &= activity.level_db[:n] < voice_db + HEARD_LOUD_MARGIN_DB
    if not interferer.any():
        return gain, {"interferer_attenuated_ratio": 0.0, "interferer_cleaned_ratio": 0.0,
                      "interferer_removed_db": None, "interferer_left_db": None}
    # 1. Frames with only the interferer: attenuated, with ramps.
    cut = alone | heard
    frame_gain = np.where(cut, 10 ** (cfg.interferer_gain_db / 20), 1.0)
    ramp = max(1, round(RAMP_S * FRAME_RATE))
    frame_gain = ndimage.uniform_filter1d(ndimage.minimum_filter1d(frame_gain, 2 * ramp + 1),
                                          2 * ramp + 1)
    frame_gain = np.where(region | (activity.maybe_infant[:n] & ~heard), 1.0, frame_gain)
    gain[:, :n] = frame_gain[None, :]
    # 2. Inside the infant's bouts near the interferer: subtract the interferer's spectrum.
    near = ndimage.binary_dilation(interferer, np.ones(2 * round(NEAR_INTERFERER_S
                                                                 * FRAME_RATE) + 1))
    cleaned = region & near & activity.active[:n]
    if alone.sum() >= MIN_INTERFERER_S * FRAME_RATE and cleaned.any():
        power = spec.power()[:, :n]  # (F, T)
        noise = power[:, alone].mean(axis=1, keepdims=True)  # (F, 1)
        p = power[:, cleaned]  # (F, C)
        floor = 10 ** (cfg.interferer_floor_db / 20)
        subtract = np.sqrt(np.clip(1 - noise / np.maximum(p, 1e-18), floor**2, 1.0))  # (F, C)
        f0 = activity.infant_f0[:n][cleaned]  # (C,)
        bin_hz = float(spec.freqs[1])
        own = infant_harmonics(spec.freqs, f0, bin_hz).T  # (F, C)
        voiced = f0 > 0
        below = spec.freqs[:, None] < LOW_CUT * np.where(voiced, f0, 0.0)[None, :]  # (F, C)
        local = np.where(own, 1.0, subtract)
        local = np.where(below & voiced[None, :], floor, local)
        gain[:, np.flatnonzero(cleaned)] = local
    metrics: dict[str, float | None] = {
        "interferer_attenuated_ratio": round(float(cut.mean()), 4),
        "interferer_cleaned_ratio": round(float(cleaned.mean()), 4)}
    return gain, {**metrics, **predict_removal(spec, activity, gain, alone)}


def predict_removal(spec: Spectrum, activity: FrameActivity, gain: np.ndarray,
                    alone: np.ndarray) -> dict[str, float | None]:
    """How much of the detected interferer the cleaning removes, from the clip alone.

    Single-channel cleaning takes the interferer out where it is alone (-30 dB) but only
    partly inside the infant's bouts, so under a long cry a continuous music or speech bed
    mostly stays: its improvement is about -10 log10 of the share of its energy left. The
    interferer's spectrum is measured on its frames alone and assumed present at that level
    (or the frame's own level, if lower) on every active frame; what `gain` leaves of it, plus
    what `gain` takes from the infant's estimated energy in its bouts, is the error after.

    Returns:
        `interferer_removed_db` (predicted SI-SDR improvement) and `interferer_left_db` (the
        interferer left, against the infant's energy); None when the interferer is not heard
        alone long enough to be measured.
    """
    n = len(alone)
    if alone.sum() < MIN_INTERFERER_S * FRAME_RATE:
        return {"interferer_removed_db": None, "interferer_left_db": None}
    power = spec.power()[:, :n]  # (F, T)
    present = activity.active[:n] | activity.interferer[:n]  # (T,)
    noise = power[:, alone].mean(axis=1, keepdims=True)  # (F, 1)
    other = np.where(alone[None, :], power, np.minimum(power, noise)) * present[None, :]  # (F, T)
    infant = np.maximum(power - other, 0.0) * activity.infant_region[:n][None, :]  # (F, T)
    kept = float((other * gain[:, :n] ** 2).sum())
    hurt = float((infant * (1 - gain[:, :n]) ** 2).sum())
    removed = 10 * np.log10(max(float(other.sum()), 1e-20) / max(kept + hurt, 1e-20))
    left = 10 * np.log10(max(kept, 1e-20) / max(float(infant.sum()), 1e-20))
    return {"interferer_removed_db": round(float(removed), 2),
            "interferer_left_db": round(float(left), 2)}


def subtract_background(spec: Spectrum, activity: FrameActivity,
                        cfg: AudioConfig) -> np.ndarray:
    """Spectral subtraction of the clip's own background, measured where nothing vocalises.

    The infant's harmonics are never touched; where the background is far below the frame (a
    clean recording) the gain stays at 1, so a clean source passes through unchanged.
    """
    n = min(spec.n_frames, activity.n_frames)
    gain = np.ones((len(spec.freqs), spec.n_frames))
    vocal = activity.infant_region | activity.maybe_infant | activity.interferer
    background = ~ndimage.binary_dilation(vocal[:n], np.ones(11))
    if background.sum() < MIN_NOISE_S * FRAME_RATE:
        return gain
    power = spec.power()[:, :n]  # (F, T)
    noise = np.median(power[:, background], axis=1, keepdims=True)  # (F, 1)
    floor = 10 ** (cfg.background_floor_db / 20)
    local = np.maximum(power, 1e-18)  # (F, T), then in place
    np.divide(noise, local, out=local)
    np.subtract(1, local, out=local)
    np.sqrt(np.clip(local, floor**2, 1.0, out=local), out=local)
    own = infant_harmonics(spec.freqs, activity.infant_f0[:n], float(spec.freqs[1])).T
    gain[:, :n] = np.where(own, 1.0, local)
    return gain


def clean(x: np.ndarray, sr: int, spec: Spectrum, activity: FrameActivity,
          cfg: AudioConfig) -> tuple[np.ndarray, dict[str, float | None]]:
    """Interferer suppression, background subtraction and the stationary gate, as one gain on
    the shared transform; returns the waveform and what was done."""
    gain, metrics = suppress_interferers(spec, activity, cfg)
    noise = np.ones_like(gain)
    if cfg.background_floor_db < 0:
        noise *= subtract_background(spec, activity, cfg)
    if cfg.denoise == "stationary":
        noise *= stationary_gate(spec, gain * noise, activity, cfg)
    gain *= within_budget(spec, gain, noise, cfg.max_noise_removed_db)
    y = synthesise(spec, gain) if (gain != 1.0).any() else x
    if cfg.denoise == "nonstationary":
        y = denoise(y, sr, activity, cfg)
    return y, metrics


def within_budget(spec: Spectrum, gain: np.ndarray, noise: np.ndarray,
                  budget_db: float) -> np.ndarray:
    """The noise gain (F, T), eased towards 1 so that what it removes (after `gain`) is at most
    `budget_db` of the clip's energy (Parseval on the shared transform).

    Noise within a few dB of a faint cry is most of what a phone recorded: removing it all
    remade the clip (7.7 dB SI-SDR against itself, donateacry cecd525b). Such a clip is judged
    by the gate's SNR check; the cleaning may take its noise down, not rewrite it.
    """
    power = spec.power()
    removed = float(np.sum(power * (gain * (1.0 - noise)) ** 2))
    allowed = 10 ** (budget_db / 10) * float(np.sum(power))
    if removed <= allowed:
        return noise
    return 1.0 - np.sqrt(allowed / removed) * (1.0 - noise)


def denoise(x: np.ndarray, sr: int, activity: FrameActivity, cfg: AudioConfig) -> np.ndarray:
    """Spectral gating alone (the separated source of the pyannote path)."""
    if cfg.denoise == "off" or cfg.prop_decrease == 0:
        return x
    if cfg.denoise == "nonstationary":
        return noisereduce.reduce_noise(y=x, sr=sr, stationary=False,
                                        prop_decrease=cfg.prop_decrease, n_fft=N_FFT)
    spec = analyse(x, sr)
    return synthesise(spec, stationary_gate(spec, np.ones((len(spec.freqs), spec.n_frames)),
                                            activity, cfg))


def stationary_gate(spec: Spectrum, gain: np.ndarray, activity: FrameActivity,
                    cfg: AudioConfig) -> np.ndarray:
    """noisereduce's stationary spectral gate (its `SpectralGateStationary`, same threshold,
    same smoothing), computed on the shared transform after `gain`: noisereduce's own call took
    a fifth of the stage's time on its own two transforms.

    Bins below the background's mean + 1.5 standard deviations (in dB, per frequency, over
    background frames) go down by `prop_decrease`; the mask is smoothed over +-250 Hz, +-50 ms.
    """
    if cfg.prop_decrease == 0:
        return np.ones_like(gain)
    n = min(spec.n_frames, activity.n_frames)
    power = gain[:, :n] ** 2  # (F, T), then in place
    power *= spec.power()[:, :n]
    power += 1e-20
    quiet = background_frames(activity)[:n]
    level = 10 * np.log10(power[:, quiet])  # (F, Q) dB
    threshold = level.mean(axis=1) + GATE_STD * level.std(axis=1)  # (F,)
    mask = np.where(_above_db(power, threshold), 1.0, 1.0 - cfg.prop_decrease)  # (F, T)
    # The 2-D triangle, separably. Across frequency zero beyond the edges, as noisereduce's
    # `fftconvolve(..., mode="same")`: the mask falls off within 250 Hz of 0 Hz, where the infant
    # has nothing and rooms rumble (1.5 dB of the separation in pink noise); in time the edges
    # are held, so a clip's first and last 30 ms are not faded.
    for axis, half, mode in ((0, round(GATE_SMOOTH_HZ / float(spec.freqs[1])), "constant"),
                             (1, round(GATE_SMOOTH_S * FRAME_RATE), "nearest")):
        kernel = _triangle(half)
        mask = ndimage.convolve1d(mask, kernel / kernel.sum(), axis=axis, mode=mode)
    out = np.ones_like(gain)
    out[:, :n] = mask
    return out


def _above_db(power: np.ndarray, threshold_db: np.ndarray) -> np.ndarray:
    """`10 log10(power) > threshold_db[:, None]`, (F, T), the logarithm taken only within a
    billionth of the threshold: elsewhere comparing powers gives the same answer, and the
    logarithm of every bin was a tenth of the stage's time."""
    limit = 10 ** (threshold_db[:, None] / 10)  # (F, 1)
    above = power > limit * (1 + 1e-9)
    near = ~above & (power >= limit * (1 - 1e-9))
    rows = np.nonzero(near)[0]
    above[near] = 10 * np.log10(power[near]) > threshold_db[rows]
    return above


def _triangle(half: int) -> np.ndarray:
    """A triangular window rising over `half` steps and falling back (noisereduce's smoothing)."""
    return np.concatenate([np.linspace(0, 1, half + 1, endpoint=False),
                           np.linspace(1, 0, half + 2)])[1:-1]


def background_frames(activity: FrameActivity) -> np.ndarray:
    """Frames with neither the infant nor an interferer: the background.

    A clip that is vocal throughout gives too few such frames; its quietest 20 % stand in.
    """
    vocal = activity.infant_region | activity.interferer | activity.other_voice
    # Keep 50 ms clear of vocalisation on each side: onsets and tails are not noise.
    quiet = ~(np.convolve(vocal, np.ones(11), mode="same") > 0)
    if quiet.sum() < MIN_NOISE_S * FRAME_RATE:
        quiet = activity.level_db <= np.percentile(activity.level_db, 20)
    return quiet
