"""Human-side analysis before retargeting: foot contacts, the floor under the feet, leg length.

Contacts are found on the human (not the robot) because the human's feet carry the truth about
when a foot is planted; the robot's feet only inherit it. A foot is in contact when its *ground
point* (the lower of ankle and toe, each measured from its own resting height) is slow and close
to its own lowest point within a fraction of a second (so terrain under it does not matter).
The floor is then the height of the planted feet over time, so clips recorded on uneven terrain
or with a floor offset (CMU subject 3 walks over obstacles; the iClone conversions float 3-8 cm)
come out on the robot's flat floor at z = 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import minimum_filter1d

from motionfm.retarget.signal import clean_runs, lowpass
from motionfm.retarget.skeleton import HumanKeypoints

SIDES = ("left", "right")


@dataclasses.dataclass(frozen=True)
class ContactConfig:
    """Thresholds of human foot-contact detection (human scale, metres and seconds).

    Attributes:
        max_speed: a ground point slower than this (m/s, horizontal) may be planted.
        max_height: ... and no higher than this above the local floor (m).
        floor_window_s: half-width of the window in which a foot's lowest point is its local floor.
        min_contact_s: shorter contacts are dropped (glitches).
        min_gap_s: shorter gaps between contacts are filled (one planted foot that jitters).
        floor_cutoff_hz: low-pass of the floor height, so the floor follows terrain, not steps.
        follow_floor: subtract the floor from the clip (else only its median, a constant offset).
    """

    max_speed: float = 0.6
    max_height: float = 0.08
    floor_window_s: float = 0.4
    min_contact_s: float = 0.08
    min_gap_s: float = 0.06
    floor_cutoff_hz: float = 1.0
    follow_floor: bool = True


@dataclasses.dataclass(frozen=True, eq=False)
class HumanAnalysis:
    """What the retargeter needs to know about a human clip.

    Attributes:
        keypoints: the clip with the floor subtracted (planted feet at their resting heights).
        contact: ``(T, 2)`` left/right foot contact.
        floor: ``(T,)`` floor height that was subtracted (m).
        leg_length: hip-knee-ankle length (m), median over frames and sides.
        foot_pitch: ``(2,)`` median pitch (rad, toe down positive) of ankle->toe while planted:
            the pitch that means "foot flat" for this performer.
    """

    keypoints: HumanKeypoints
    contact: np.ndarray
    floor: np.ndarray
    leg_length: float
    foot_pitch: np.ndarray


def leg_length(kp: HumanKeypoints) -> float:
    """Hip-knee-ankle length (m): the median over frames of the mean of both legs."""
    total = 0.0
    for side in SIDES:
        hip, knee, ankle = kp[f"{side}_hip"], kp[f"{side}_knee"], kp[f"{side}_ankle"]
        total = total + np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee, axis=-1)
    return float(np.median(total / 2))


def _ground_points(kp: HumanKeypoints) -> tuple[np.ndarray, np.ndarray]:
    """Per foot, ``(T, 2)`` height of the ground point above its resting height, and ``(T, 2)`` its speed."""
    dt = 1.0 / kp.fps
    heights, speeds = [], []
    for side in SIDES:
        parts = []
        for name in ("ankle", "toe"):
            p = kp[f"{side}_{name}"]
            speed = np.linalg.norm(np.gradient(p[:, :2], dt, axis=0), axis=-1)
            # Resting height: the typical height of this point while it is still (heel or toe down).
            still = speed <= np.percentile(speed, 30)
            parts.append((p[:, 2] - np.median(p[still, 2]), speed))
        (ha, va), (ht, vt) = parts
        heights.append(np.minimum(ha, ht))
        speeds.append(np.where(ha <= ht, va, vt))
    return np.stack(heights, -1), np.stack(speeds, -1)


def analyse_human(kp: HumanKeypoints, config: ContactConfig = ContactConfig()) -> HumanAnalysis:
    """Contacts, floor and proportions of a human clip; see :class:`HumanAnalysis`."""
    fps = kp.fps
    height, speed = _ground_points(kp)  # (T, 2) each
    # Each foot against its own lowest point nearby: a planted foot is at its local minimum
    # whatever the terrain under it (a step, a rock), a lifted one is above it.
    window = max(1, int(round(2 * config.floor_window_s * fps)) + 1)
    own_floor = minimum_filter1d(height, window, axis=0, mode="nearest")
    contact = (speed < config.max_speed) & (height - own_floor < config.max_height)
    min_on, min_off = max(1, round(config.min_contact_s * fps)), max(1, round(config.min_gap_s * fps))
    contact = np.stack([clean_runs(contact[:, i], min_on, min_off) for i in range(2)], -1)

    # Floor: mean height of the planted ground points, interpolated through flight and swing.
    t = np.arange(kp.num_frames)
    planted = contact.any(-1)
    if planted.sum() >= 2:
        h = np.where(contact, height, np.nan)
        floor_at = np.nanmean(h[planted], axis=-1)
        floor = np.interp(t, t[planted], floor_at)
    else:  # never planted (a jump, a dive): keep the lowest point on the floor
        floor = np.full(kp.num_frames, height.min())
    floor = lowpass(floor, fps, config.floor_cutoff_hz) if config.follow_floor else np.full_like(floor, np.median(floor))
    pos = kp.positions.copy()
    pos[..., 2] -= floor[:, None]
    flat = dataclasses.replace(kp, positions=pos)

    pitch = []
    for i, side in enumerate(SIDES):
        d = flat[f"{side}_toe"] - flat[f"{side}_ankle"]
        angle = np.arctan2(-d[:, 2], np.linalg.norm(d[:, :2], axis=-1))
        pitch.append(float(np.median(angle[contact[:, i]])) if contact[:, i].any() else float(np.median(angle)))
    return HumanAnalysis(flat, contact, floor, leg_length(kp), np.array(pitch))
