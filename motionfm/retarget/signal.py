"""Small signal tools for clean-up: zero-phase low-pass, velocity limits, boolean run clean-up."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, filtfilt


def lowpass(x: np.ndarray, fps: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (``filtfilt``: no lag, edges padded by reflection).

    Args:
        x: ``(T, ...)`` signal.
        fps: sample rate (Hz).
        cutoff_hz: -3 dB frequency of each pass; ``<= 0`` or ``>= fps / 2`` returns ``x`` unchanged.

    Returns:
        ``(T, ...)`` filtered copy (``x`` itself when it is too short to filter).
    """
    x = np.asarray(x, np.float64)
    if cutoff_hz <= 0 or cutoff_hz >= fps / 2 or len(x) < 4:
        return x
    b, a = butter(order, cutoff_hz / (fps / 2))
    pad = min(3 * max(len(a), len(b)), len(x) - 1)
    return filtfilt(b, a, x, axis=0, padlen=pad, padtype="odd")


def limit_velocity(x: np.ndarray, max_step: np.ndarray | float) -> np.ndarray:
    """Clamp per-frame changes of ``x`` ``(T, D)`` to ``max_step`` ``(D,)`` without adding lag.

    A forward pass clamps each step; a backward pass does the same from the other end; the two
    are averaged (each alone would shift spikes one way in time). The average of two trajectories
    that both respect the bound respects it too. Where no step exceeds the bound ``x`` is unchanged.
    """
    x = np.asarray(x, np.float64)
    step = np.broadcast_to(np.asarray(max_step, np.float64), x.shape[1:])
    if len(x) < 2 or not (np.abs(np.diff(x, axis=0)) > step).any():
        return x

    def one_way(y: np.ndarray) -> np.ndarray:
        out = y.copy()
        for t in range(1, len(y)):
            out[t] = out[t - 1] + np.clip(y[t] - out[t - 1], -step, step)
        return out

    return 0.5 * (one_way(x) + one_way(x[::-1])[::-1])


def clean_runs(mask: np.ndarray, min_on: int, min_off: int) -> np.ndarray:
    """Fill ``False`` gaps shorter than ``min_off`` frames, then drop ``True`` runs shorter than ``min_on``.

    Args:
        mask: ``(T,)`` booleans (e.g. foot contact).

    Returns:
        ``(T,)`` cleaned copy. Gaps at the clip's ends are kept (they are not bounded by contact).
    """
    m = np.asarray(mask, bool).copy()
    for value, shortest in ((False, min_off), (True, min_on)):
        for start, stop in runs(m, value):
            inner = start > 0 and stop < len(m)
            if stop - start < shortest and (value or inner):
                m[start:stop] = not value
    return m


def runs(mask: np.ndarray, value: bool = True) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` half-open frame ranges where ``mask == value``."""
    m = np.r_[False, np.asarray(mask, bool) == value, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
