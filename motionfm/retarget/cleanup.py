"""Physical clean-up of retargeted motion: planted feet, no ground penetration, limits.

Two places act, because IK alone cannot couple frames:

1. Before IK (:func:`pin_feet`): while the human's foot is planted, the robot's foot target is
   frozen at one pose per contact — flat on the floor (sole points at z = 0), at the median
   position and mean heading of that contact — except that it may roll on its heel at heel
   strike and on its toes at push-off, as the human's does, about sole points that stay put.
   Swings are re-timed so the foot rises and lands
   vertically and clears the floor in between, following the human's foot path from one planted
   spot to the next. The IK weights planted feet more, so the hips absorb any mismatch and the
   foot does not skate.
2. After IK (:func:`finish`): the root is lifted where a sole point still dips below the floor,
   joints are clipped to the G1's limits, and joint and root speeds are capped (a forward and a
   backward clamp averaged, so nothing lags).

Smoothing is zero-phase (``filtfilt``) and is applied to the human keypoints before any of this
(:func:`motionfm.retarget.signal.lowpass`), so the pinned contacts are not smeared afterwards.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

from motionfm.retarget.signal import limit_velocity, runs
from motionfm.retarget.targets import TARGET_BODIES, G1Geometry, Targets
from motionfm.robot import FOOT_SOLE_POINTS, RobotModel, fk_mujoco, foot_points

FEET = ("left_ankle_roll_link", "right_ankle_roll_link")


@dataclasses.dataclass(frozen=True)
class CleanupConfig:
    """Settings of the physical clean-up.

    Attributes:
        enabled: ``False`` gives the raw IK of the human targets (for before/after comparisons).
        smooth_cutoff_hz: zero-phase low-pass of the human keypoints before IK (0: off).
        lift_fraction: share of a swing, at each end, in which the foot only rises or sinks.
        swing_height: least height (m) of the lowest sole point at mid-swing.
        max_roll: largest heel-strike / push-off roll (rad) of a planted foot about its heel or toes.
        roll_deadband: foot pitch (rad) below which a planted foot stays flat.
        planted_weight: multiplier of a planted foot's position cost.
        max_joint_vel: joint speed cap (rad/s); the quality report flags > 30 rad/s as a glitch.
        max_root_speed: root linear speed cap (m/s).
        clearance: height (m) the sole points are kept above the floor (0: touching).
    """

    enabled: bool = True
    smooth_cutoff_hz: float = 6.0
    lift_fraction: float = 0.15
    max_roll: float = 0.5
    roll_deadband: float = 0.05
    swing_height: float = 0.06
    planted_weight: float = 4.0
    max_joint_vel: float = 20.0
    max_root_speed: float = 8.0
    clearance: float = 0.0


def _yaw_only(r: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` -> the heading of each frame's x axis as a rotation about z."""
    yaw = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.zeros(r.shape)
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1], out[..., 2, 2] = c, -s, s, c, 1.0
    return out


def _lowest_sole_offset(r: np.ndarray) -> np.ndarray:
    """``(T,)`` depth of the lowest sole point below the ankle-roll origin, for orientations ``(T, 3, 3)``."""
    return -np.einsum("tij,pj->tpi", r, FOOT_SOLE_POINTS)[..., 2].min(-1)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _slerp(r0: np.ndarray, r1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-frame slerp ``(T, 3, 3)`` from ``r0`` to ``r1`` ``(T, 3, 3)`` by ``w`` ``(T,)``."""
    rel = Rotation.from_matrix(np.swapaxes(r0, -1, -2) @ r1).as_rotvec()
    return r0 @ Rotation.from_rotvec(rel * np.asarray(w)[:, None]).as_matrix()


def _flat_pose(free_p: np.ndarray, free_r: np.ndarray, ankle_z: float) -> tuple[np.ndarray, np.ndarray]:
    """One planted pose for a contact: median position on the floor, mean heading, foot flat."""
    u, _, vt = np.linalg.svd(_yaw_only(free_r).mean(0))  # nearest rotation to the mean heading
    return np.array([*np.median(free_p[:, :2], axis=0), ankle_z]), u @ vt


def _roll_on_sole(
    p_pin: np.ndarray, r_pin: np.ndarray, free_r: np.ndarray, config: CleanupConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Poses ``(n, 3)``, ``(n, 3, 3)`` of a planted foot that may roll on its heel or toes.

    The human's foot pitch relative to the planted (flat) frame, less a dead band and capped at
    ``max_roll``, tilts the foot about the heel's sole points (toes up, at heel strike) or the
    toes' (heel up, at push-off) in the first or second half of the contact. Those points stay
    where the flat foot put them, so the foot rolls without sliding, and the legs keep the reach
    that a flat foot would take from them (which otherwise drops the hips in double support).
    """
    n = len(free_r)
    rel = np.swapaxes(r_pin, -1, -2)[None] @ free_r
    pitch = np.arctan2(rel[:, 0, 2], rel[:, 2, 2])  # > 0: toes down (heel up)
    pitch = np.sign(pitch) * np.clip(np.abs(pitch) - config.roll_deadband, 0.0, config.max_roll)
    half = np.arange(n) < n / 2
    pitch = np.where(half, np.minimum(pitch, 0.0), np.maximum(pitch, 0.0))  # heel first, toes last
    heel = FOOT_SOLE_POINTS[FOOT_SOLE_POINTS[:, 0] < 0].mean(0)
    toe = FOOT_SOLE_POINTS[FOOT_SOLE_POINTS[:, 0] > 0].mean(0)
    pivot = np.where((pitch > 0)[:, None], toe, heel)  # (n, 3) in the foot frame
    c, s = np.cos(pitch), np.sin(pitch)
    ry = np.zeros((n, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = c, s, 1.0, -s, c
    rot = r_pin[None] @ ry
    pos = p_pin + np.einsum("ij,nj->ni", r_pin, pivot) - np.einsum("nij,nj->ni", rot, pivot)
    return pos, rot


def pin_feet(
    targets: Targets, contact: np.ndarray, geometry: G1Geometry, config: CleanupConfig = CleanupConfig()
) -> tuple[Targets, np.ndarray]:
    """Plan the feet: frozen while planted, lifted clear between contacts (see the module docstring).

    A swing between two contacts is re-timed: for the first and last ``lift_fraction`` of it the
    foot only rises or sinks above its planted spot (so it never slides while near the floor),
    and in between it follows the human's foot path from one planted spot to the next, its lowest
    sole point at least ``swing_height * sin(pi u)`` above the floor (``u`` = swing phase).

    Args:
        targets: free IK targets for ``T`` frames.
        contact: ``(T, 2)`` left/right human foot contact.
        geometry: the G1's proportions (flat-foot ankle height).

    Returns:
        ``(targets, weights)``: new targets and ``(T, 10)`` position-cost multipliers for
        :func:`~motionfm.retarget.ik.solve_ik`.
    """
    pos, rot = targets.pos.copy(), targets.rot.copy()
    t_len = pos.shape[0]
    frames = np.arange(t_len, dtype=float)
    weights = np.ones((t_len, len(TARGET_BODIES)))
    ankle_z = geometry.ankle_height + config.clearance
    delta = config.lift_fraction
    for side, body in enumerate(FEET):
        i = TARGET_BODIES.index(body)
        free_p, free_r = pos[:, i].copy(), rot[:, i].copy()
        free_h = free_p[:, 2] - _lowest_sole_offset(free_r)  # height of the lowest sole point
        out_p, out_r = free_p.copy(), free_r.copy()
        out_h = np.maximum(free_h, 0.0)
        stiff = np.zeros(t_len)  # 1 where the foot must hold its target (planted, lifting, landing)
        contacts = runs(contact[:, side])
        pins = [_flat_pose(free_p[a:b], free_r[a:b], ankle_z) for a, b in contacts]
        ends = []  # (first, last) pose of each contact, for the swings to start and end on
        for (a, b), (p_pin, r_pin) in zip(contacts, pins):
            out_p[a:b], out_r[a:b] = _roll_on_sole(p_pin, r_pin, free_r[a:b], config)
            out_h[a:b], stiff[a:b] = 0.0, 1.0
            ends.append(((out_p[a], out_r[a]), (out_p[b - 1], out_r[b - 1])))
        # Swings: between two contacts, and before the first / after the last one (taken as the
        # second / first half of a swing whose other end lies outside the clip).
        swings = [(contacts[k][1], contacts[k + 1][0], ends[k][1], ends[k + 1][0]) for k in range(len(contacts) - 1)]
        if contacts:
            swings = [(0, contacts[0][0], None, ends[0][0]), *swings, (contacts[-1][1], t_len, ends[-1][1], None)]
        for a, b, pin0, pin1 in swings:
            if b <= a:
                continue
            # u: phase of the whole swing in (0, 1); sigma: progress along the human's path, held
            # at 0 / 1 while the foot lifts / lands. An edge swing is the second (first) half of a
            # swing whose start (end) lies before (after) the clip.
            v = (frames[a:b] - a + 1) / (b - a + 1)
            if pin0 is not None and pin1 is not None:
                u, sigma = v, _smoothstep((v - delta) / max(1 - 2 * delta, 1e-6))
            elif pin1 is not None:
                u, sigma = 0.5 + 0.5 * v, np.clip(v / (1 - 2 * delta), 0, 1)
            else:
                u, sigma = 0.5 * v, np.clip((v - 2 * delta) / (1 - 2 * delta), 0, 1)
            warp = np.clip((a - 1) + sigma * (b - a + 1), 0, t_len - 1)  # re-timed human frame
            path = np.stack([np.interp(warp, frames, free_p[:, d]) for d in range(2)], -1)
            # Shift the path to start at the first pin and end at the second; an edge swing takes
            # its one pin's shift whole (there is nothing on the other side to stay continuous with).
            if pin0 is None:
                shift = np.broadcast_to(pin1[0][:2] - free_p[b, :2], (b - a, 2))
            elif pin1 is None:
                shift = np.broadcast_to(pin0[0][:2] - free_p[a - 1, :2], (b - a, 2))
            else:
                shift = (1 - sigma)[:, None] * (pin0[0][:2] - free_p[a - 1, :2]) + sigma[:, None] * (pin1[0][:2] - free_p[b, :2])
            out_p[a:b, :2] = path + shift
            r0 = (pin0 or pin1)[1]
            r1 = (pin1 or pin0)[1]
            mid = np.minimum(_smoothstep((u - delta) / delta), _smoothstep((1 - delta - u) / delta))
            base = _slerp(np.broadcast_to(r0, (b - a, 3, 3)), np.broadcast_to(r1, (b - a, 3, 3)), sigma)
            out_r[a:b] = _slerp(base, free_r[np.round(warp).astype(int)], mid)
            # The human's foot height above the line joining its two contact heights (the chain
            # targets need not touch z = 0 while planted), kept at least on the swing profile.
            h0 = free_h[a - 1] if pin0 is not None else free_h[b]
            h1 = free_h[b] if pin1 is not None else free_h[a - 1]
            lift = np.interp(warp, frames, free_h) - ((1 - sigma) * h0 + sigma * h1)
            out_h[a:b] = np.maximum(lift, config.swing_height * np.sin(np.pi * u))
            stiff[a:b] = 1 - mid
        out_p[:, 2] = out_h + _lowest_sole_offset(out_r) + config.clearance
        pos[:, i], rot[:, i] = out_p, out_r
        weights[:, i] = 1 + (config.planted_weight - 1) * stiff
    return dataclasses.replace(targets, pos=pos, rot=rot), weights


def ground(qpos: np.ndarray, robot: RobotModel, clearance: float = 0.0) -> np.ndarray:
    """Lift the root of ``qpos`` ``(T, 36)`` wherever a sole point is below ``clearance``; returns a copy."""
    soles = foot_points(fk_mujoco(qpos, robot), robot)  # (T, 2, 4, 3)
    lowest = soles[..., 2].min(axis=(-1, -2))
    out = qpos.copy()
    out[:, 2] += np.maximum(clearance - lowest, 0.0)
    return out


def _continuous_wxyz(q: np.ndarray) -> np.ndarray:
    q = q.copy()
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return q


def finish(qpos: np.ndarray, fps: float, robot: RobotModel, config: CleanupConfig = CleanupConfig()) -> np.ndarray:
    """Limits, speed caps and ground contact of IK output ``(T, 36)``; returns a new ``(T, 36)``."""
    q = qpos.copy()
    lo, hi = robot.joint_limits.T
    dt = 1.0 / fps
    q[:, 7:] = limit_velocity(np.clip(q[:, 7:], lo, hi), config.max_joint_vel * dt)
    q[:, :3] = limit_velocity(q[:, :3], config.max_root_speed * dt)
    q[:, 3:7] = _continuous_wxyz(q[:, 3:7] / np.linalg.norm(q[:, 3:7], axis=-1, keepdims=True))
    q[:, 7:] = np.clip(q[:, 7:], lo, hi)
    return ground(q, robot, config.clearance)
