"""Mel-frequency cepstral coefficients with deltas, NumPy + scipy only (HTK-style conventions).

``features(x, rate)`` turns a mono waveform into 39-d frames: 13 MFCCs
(c0..c12) then their first and second differences. Steps: pre-emphasis
``x[n] - 0.97 x[n-1]``; 25 ms Hamming windows every 10 ms (400 / 160 samples
at 16 kHz); power spectrum ``|rfft|^2 / nfft`` with ``nfft = 512``; 26
triangular filters equally spaced on the mel scale
``2595 log10(1 + f / 700)`` from 0 Hz to ``rate / 2``; natural log (floored
at machine epsilon); orthonormal DCT-II, first 13 coefficients; deltas by
linear regression over +-2 frames with edge frames repeated.
"""

from __future__ import annotations

import numpy as np

N_CEPS = 13
N_FILTERS = 26
NFFT = 512
PREEMPHASIS = 0.97
DELTA_N = 2


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(rate: int, n_filters: int = N_FILTERS, nfft: int = NFFT) -> np.ndarray:
    """Triangular filters, shape (n_filters, nfft // 2 + 1), from 0 Hz to ``rate / 2``."""
    mels = np.linspace(0.0, float(hz_to_mel(rate / 2.0)), n_filters + 2)
    bins = np.floor((nfft + 1) * mel_to_hz(mels) / rate).astype(int)
    fb = np.zeros((n_filters, nfft // 2 + 1))
    for k in range(n_filters):
        lo, mid, hi = bins[k], bins[k + 1], bins[k + 2]
        if mid > lo:
            fb[k, lo:mid] = (np.arange(lo, mid) - lo) / (mid - lo)
        if hi > mid:
            fb[k, mid:hi] = (hi - np.arange(mid, hi)) / (hi - mid)
    return fb


def frame_signal(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """(n_frames, win) windows every ``hop`` samples; a short signal is zero-padded to one frame."""
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    n = 1 + (x.size - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def mfcc(x: np.ndarray, rate: int, win_s: float = 0.025, hop_s: float = 0.010) -> np.ndarray:
    """13 MFCCs per frame, shape (n_frames, 13); see the module docstring."""
    from scipy.fft import dct

    x = np.asarray(x, dtype=np.float64)
    x = np.append(x[:1], x[1:] - PREEMPHASIS * x[:-1])
    win, hop = int(round(win_s * rate)), int(round(hop_s * rate))
    frames = frame_signal(x, win, hop) * np.hamming(win)
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    energies = power @ mel_filterbank(rate).T
    logs = np.log(np.maximum(energies, np.finfo(np.float64).eps))
    return dct(logs, type=2, axis=1, norm="ortho")[:, :N_CEPS]


def deltas(c: np.ndarray, n: int = DELTA_N) -> np.ndarray:
    """Regression deltas ``sum_k k (c[t+k] - c[t-k]) / (2 sum_k k^2)``, edges repeated."""
    padded = np.pad(c, ((n, n), (0, 0)), mode="edge")
    T = c.shape[0]
    num = sum(k * (padded[n + k : n + k + T] - padded[n - k : n - k + T]) for k in range(1, n + 1))
    return num / (2.0 * sum(k * k for k in range(1, n + 1)))


def features(x: np.ndarray, rate: int) -> np.ndarray:
    """39-d frames ``[mfcc, delta, delta-delta]``, shape (n_frames, 39), float64."""
    c = mfcc(x, rate)
    d = deltas(c)
    return np.concatenate([c, d, deltas(d)], axis=1)
