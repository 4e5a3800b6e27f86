"""Observations, rewards and terminations of the tracker, written once for numpy and jax.numpy.

Every function takes the array module ``xp`` first, so the MJX training environment (``jnp``)
and the plain-MuJoCo rollout on the robot side (``np``) build bit-for-bit the same observation
layout from the same fields (``qpos``, ``qvel``, ``xpos``, ``xquat``, ``cvel``, ``subtree_com``).
Quaternions are **wxyz**.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from motionfm.robot import FOOT_BODIES
from motionfm.tracker.config import TRACKED_BODIES, RewardConfig

NOISE = {"anchor_pos": 0.25, "anchor_ori": 0.05, "joint_pos": 0.01, "joint_vel": 0.5, "gravity": 0.05, "lin_vel": 0.5,
         "ang_vel": 0.2}
"""Half-widths of the uniform observation noise at ``obs_noise = 1`` (BeyondMimic's levels)."""

FEET = np.array([TRACKED_BODIES.index(b) for b in FOOT_BODIES])
"""Rows of the feet in the tracked-body arrays ``(B, ...)``."""


# ---------------------------------------------------------------------- quaternion helpers
def quat_conj(xp: Any, q):
    """Conjugate ``(..., 4)``."""
    return q * xp.asarray([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def quat_mul(xp: Any, a, b):
    """Hamilton product ``a * b`` of ``(..., 4)`` quaternions."""
    aw, ax, ay, az = (a[..., i] for i in range(4))
    bw, bx, by, bz = (b[..., i] for i in range(4))
    return xp.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_apply(xp: Any, q, v):
    """Rotate ``v (..., 3)`` by ``q (..., 4)``."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * xp.cross(u, v)
    return v + w * t + xp.cross(u, t)


def quat_apply_inv(xp: Any, q, v):
    """Rotate ``v`` by the inverse of ``q``."""
    return quat_apply(xp, quat_conj(xp, q), v)


def yaw_quat(xp: Any, q):
    """The yaw-only part ``(..., 4)`` of ``q``."""
    w, x, y, z = (q[..., i] for i in range(4))
    yaw = xp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    zero = xp.zeros_like(yaw)
    return xp.stack([xp.cos(yaw / 2), zero, zero, xp.sin(yaw / 2)], axis=-1)


def quat_angle(xp: Any, a, b):
    """Rotation angle (rad) between ``a`` and ``b``, ``(...)``."""
    d = xp.abs(xp.sum(a * b, axis=-1))
    return 2.0 * xp.arccos(xp.clip(d, 0.0, 1.0 - 1e-7))


def rot6d(xp: Any, q):
    """First two columns of the rotation matrix of ``q``, flattened ``(..., 6)``."""
    ex = quat_apply(xp, q, xp.broadcast_to(xp.asarray([1.0, 0.0, 0.0], dtype=q.dtype), q.shape[:-1] + (3,)))
    ey = quat_apply(xp, q, xp.broadcast_to(xp.asarray([0.0, 1.0, 0.0], dtype=q.dtype), q.shape[:-1] + (3,)))
    return xp.concatenate([ex, ey], axis=-1)


# ---------------------------------------------------------------------- robot and reference frames
class RobotState(NamedTuple):
    """What the policy and rewards read from the simulator (one robot).

    Attributes:
        qpos: ``(36,)``; qvel: ``(35,)`` (root angular velocity in the root frame, MuJoCo's layout).
        body_pos: ``(B, 3)``, body_quat: ``(B, 4)`` of the tracked bodies (world).
        body_lin_vel: ``(B, 3)``, body_ang_vel: ``(B, 3)`` (world).
    """

    qpos: Any
    qvel: Any
    body_pos: Any
    body_quat: Any
    body_lin_vel: Any
    body_ang_vel: Any


class Reference(NamedTuple):
    """The reference the robot must reach this step (frame ``t+1``) and the look-ahead.

    Attributes:
        joint_pos: ``(K, 29)`` joint targets at the ``future_frames`` offsets; joint_vel: ``(K, 29)``.
        body_pos, body_quat, body_lin_vel, body_ang_vel: tracked bodies at frame ``t+1``.
    """

    joint_pos: Any
    joint_vel: Any
    body_pos: Any
    body_quat: Any
    body_lin_vel: Any
    body_ang_vel: Any


def robot_state(xp: Any, qpos, qvel, xpos, xquat, cvel, subtree_com, body_ids) -> RobotState:
    """Gather a :class:`RobotState` from MuJoCo/MJX data fields (``body_ids``: tracked bodies' ids).

    Body linear velocity is ``cvel``'s linear part moved from the tree's centre of mass to the
    body origin: ``v + w x (p - c)``.
    """
    w = cvel[body_ids, :3]
    v = cvel[body_ids, 3:] + xp.cross(w, xpos[body_ids] - subtree_com[1][None, :])
    return RobotState(qpos, qvel, xpos[body_ids], xquat[body_ids], v, w)


def align_reference(xp: Any, ref: Reference, robot: RobotState, anchor: int):
    """Reference bodies moved so the reference anchor sits at the robot's anchor (xy, yaw).

    Returns ``(pos (B,3), quat (B,4), lin_vel (B,3), ang_vel (B,3))``; heights are the reference's.
    """
    dyaw = quat_mul(xp, yaw_quat(xp, robot.body_quat[anchor]), quat_conj(xp, yaw_quat(xp, ref.body_quat[anchor])))
    origin = xp.concatenate([robot.body_pos[anchor, :2], ref.body_pos[anchor, 2:]])
    rel = ref.body_pos - ref.body_pos[anchor][None]
    pos = origin[None] + quat_apply(xp, dyaw[None], rel)
    quat = quat_mul(xp, xp.broadcast_to(dyaw, ref.body_quat.shape), ref.body_quat)
    return pos, quat, quat_apply(xp, dyaw[None], ref.body_lin_vel), quat_apply(xp, dyaw[None], ref.body_ang_vel)


def actor_obs(xp: Any, robot: RobotState, ref: Reference, last_action, default_joints, anchor: int, lin_vel: bool = True):
    """The policy's observation ``(D,)``: reference commands, anchor pose error, proprioception.

    Layout: ``ref joint pos (K*29), ref joint vel (K*29), ref anchor position in the robot anchor
    frame (3), relative anchor orientation 6D (6), joint pos - default (29), joint vel (29),
    projected gravity in the root frame (3), [root linear velocity in the root frame (3), with
    lin_vel: BeyondMimic's actor sees it; the robot estimates it], root angular velocity (3),
    last action (29)``. Noise (training only) is added to this vector by the environment
    (:func:`noise_levels`).
    """
    ra_q, ra_p = robot.body_quat[anchor], robot.body_pos[anchor]
    anchor_pos = quat_apply_inv(xp, ra_q, ref.body_pos[anchor] - ra_p)
    anchor_ori = rot6d(xp, quat_mul(xp, quat_conj(xp, ra_q), ref.body_quat[anchor]))
    root_q = robot.qpos[3:7]
    gravity = quat_apply_inv(xp, root_q, xp.asarray([0.0, 0.0, -1.0], dtype=root_q.dtype))
    vel = [quat_apply_inv(xp, root_q, robot.qvel[:3])] if lin_vel else []
    return xp.concatenate([
        ref.joint_pos.reshape(-1), ref.joint_vel.reshape(-1), anchor_pos, anchor_ori,
        robot.qpos[7:] - default_joints, robot.qvel[6:],
        gravity, *vel, robot.qvel[3:6], last_action,
    ])


def critic_obs(xp: Any, robot: RobotState, ref: Reference, clean_actor_obs, anchor: int):
    """The critic's privileged observation: the clean actor observation plus the root's linear
    velocity (root frame) and height, and robot and aligned-reference body positions in the robot
    anchor frame (``2*B*3``)."""
    ra_q, ra_p = robot.body_quat[anchor], robot.body_pos[anchor]
    apos, _, _, _ = align_reference(xp, ref, robot, anchor)
    rel = lambda p: quat_apply_inv(xp, ra_q[None], p - ra_p[None]).reshape(-1)  # noqa: E731
    return xp.concatenate([clean_actor_obs, quat_apply_inv(xp, robot.qpos[3:7], robot.qvel[:3]),
                           robot.qpos[2:3], rel(robot.body_pos), rel(apos)])


def reward_terms(xp: Any, robot: RobotState, ref: Reference, anchor: int, cfg: RewardConfig) -> dict:
    """Gaussian-kernel tracking terms, keyed by :data:`~motionfm.tracker.config.REWARD_TERMS` (each
    already weighted; all equal their weight when the robot is exactly on the reference)."""
    apos, aquat, avel, aang = align_reference(xp, ref, robot, anchor)
    k = lambda wsig, sq: wsig[0] * xp.exp(-sq / wsig[1] ** 2)  # noqa: E731
    anchor_sq = xp.sum((ref.body_pos[anchor] - robot.body_pos[anchor]) ** 2)
    return {
        "anchor_pos": k(cfg.anchor_pos, anchor_sq),
        "anchor_pos_fine": k(cfg.anchor_pos_fine, anchor_sq),
        "anchor_ori": k(cfg.anchor_ori, quat_angle(xp, ref.body_quat[anchor], robot.body_quat[anchor]) ** 2),
        "body_pos": k(cfg.body_pos, xp.mean(xp.sum((apos - robot.body_pos) ** 2, -1))),
        "body_ori": k(cfg.body_ori, xp.mean(quat_angle(xp, aquat, robot.body_quat) ** 2)),
        "body_lin_vel": k(cfg.body_lin_vel, xp.mean(xp.sum((avel - robot.body_lin_vel) ** 2, -1))),
        "body_ang_vel": k(cfg.body_ang_vel, xp.mean(xp.sum((aang - robot.body_ang_vel) ** 2, -1))),
        "feet_pos": k(cfg.feet_pos, xp.mean(xp.sum((ref.body_pos[FEET] - robot.body_pos[FEET]) ** 2, -1))),
    }


def failed(xp: Any, robot: RobotState, ref: Reference, anchor: int, ee: Any, height_limit: float,
           ori_limit: float, ee_limit: float):
    """BeyondMimic's terminations: anchor height, anchor tilt (projected-gravity z) or an end
    effector's height too far from the reference. Returns a bool scalar."""
    down = xp.asarray([0.0, 0.0, -1.0], dtype=robot.body_pos.dtype)
    gz_robot = quat_apply_inv(xp, robot.body_quat[anchor], down)[2]
    gz_ref = quat_apply_inv(xp, ref.body_quat[anchor], down)[2]
    return ((xp.abs(robot.body_pos[anchor, 2] - ref.body_pos[anchor, 2]) > height_limit)
            | (xp.abs(gz_robot - gz_ref) > ori_limit)
            | xp.any(xp.abs(robot.body_pos[ee, 2] - ref.body_pos[ee, 2]) > ee_limit))


def noise_levels(num_future: int, lin_vel: bool = True) -> np.ndarray:
    """``(D,)`` half-widths of uniform noise per actor-observation entry at ``obs_noise = 1``."""
    j = 29
    vel = [np.full(3, NOISE["lin_vel"])] if lin_vel else []
    return np.concatenate([np.zeros(2 * num_future * j), np.full(3, NOISE["anchor_pos"]), np.full(6, NOISE["anchor_ori"]),
                           np.full(j, NOISE["joint_pos"]), np.full(j, NOISE["joint_vel"]), np.full(3, NOISE["gravity"]),
                           *vel, np.full(3, NOISE["ang_vel"]), np.zeros(j)]).astype(np.float32)


def actor_obs_size(num_future: int, lin_vel: bool = True) -> int:
    """Length of :func:`actor_obs` for ``num_future`` look-ahead frames."""
    return 2 * num_future * 29 + 3 + 6 + 29 + 29 + 3 + 3 * lin_vel + 3 + 29
