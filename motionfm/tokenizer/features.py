"""Per-frame, heading-invariant motion features for the tokenizer, and their exact inverse (JAX).

For a ``(T, 36)`` qpos clip at a fixed fps, frame ``t`` is described by ``D = 67`` channels:

====================  ====  ===========================================================
``root_height``        1    pelvis z (m)
``root_vel``           3    pelvis velocity ``(p[t+1] - p[t]) * fps`` in the heading frame of ``t``
``yaw_rate``           1    ``wrap(yaw[t+1] - yaw[t]) * fps`` (rad/s)
``root_tilt``          4    pelvis orientation with the heading removed, ``Rz(-yaw) * q``, wxyz, w >= 0
``joint_pos``         29    joint angles (rad)
``joint_vel``         29    ``(q[t+1] - q[t]) * fps``
====================  ====  ===========================================================

The last frame repeats the previous frame's differences. Forward differences make the inverse
exact: :func:`features_to_qpos` integrates yaw and planar velocity from a start pose, so
``features_to_qpos(qpos_to_features(q)) == q`` up to float error when started at ``q[0]``. Heading
is the yaw of the pelvis x-axis. Everything is pure JAX (jit, vmap, grad), so tokenizer losses can
run the decoded features through the forward kinematics.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from motionfm.robot.g1 import NUM_JOINTS
from motionfm.robot.kinematics import import_mjx

import_mjx()  # brax imports MJX, which prints "Failed to import warp" on first import
from brax import math as bm  # noqa: E402

FEATURE_SLICES: dict[str, slice] = {
    "root_height": slice(0, 1),
    "root_vel": slice(1, 4),
    "yaw_rate": slice(4, 5),
    "root_tilt": slice(5, 9),
    "joint_pos": slice(9, 9 + NUM_JOINTS),
    "joint_vel": slice(9 + NUM_JOINTS, 9 + 2 * NUM_JOINTS),
}
FEATURE_DIM = 9 + 2 * NUM_JOINTS  # 67
_Z = jnp.array([0.0, 0.0, 1.0])


def heading(quat: jax.Array) -> jax.Array:
    """``(...)`` heading of wxyz quaternions ``(..., 4)``: yaw of the rotated x-axis (as the features use it)."""
    x = jax.vmap(bm.rotate, (None, 0))(jnp.array([1.0, 0.0, 0.0]), quat.reshape(-1, 4)).reshape(quat.shape[:-1] + (3,))
    return jnp.arctan2(x[..., 1], x[..., 0])


def _yaw_quat(yaw: jax.Array) -> jax.Array:
    """``(..., 4)`` wxyz rotations about z by ``yaw`` ``(...)``."""
    half = 0.5 * yaw
    zero = jnp.zeros_like(half)
    return jnp.stack([jnp.cos(half), zero, zero, jnp.sin(half)], axis=-1)


def _rotate_z(v: jax.Array, yaw: jax.Array) -> jax.Array:
    """Rotate vectors ``(..., 3)`` about z by ``yaw`` ``(...)``."""
    c, s = jnp.cos(yaw), jnp.sin(yaw)
    return jnp.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1], v[..., 2]], axis=-1)


def _wrap(a: jax.Array) -> jax.Array:
    return (a + jnp.pi) % (2 * jnp.pi) - jnp.pi


def _forward_diff(x: jax.Array, fps: float) -> jax.Array:
    d = (x[1:] - x[:-1]) * fps
    return jnp.concatenate([d, d[-1:]], axis=0)


def heading_velocity(pos: jax.Array, yaw: jax.Array, fps: float) -> jax.Array:
    """The ``root_vel`` channels ``(T, 3)``: forward differences of ``pos (T, 3)`` (the last one
    repeated) in the heading frame of each frame, ``yaw (T,)``. Linear in ``pos``, so guidance adds
    the velocity of a shift of the path to the features (``GuidanceConfig.plant_feet``)."""
    return _rotate_z(_forward_diff(pos, fps), -yaw)


def qpos_to_features(qpos: jax.Array, fps: float) -> jax.Array:
    """Features ``(T, 67)`` of a clip ``qpos (T, 36)`` (root quaternion wxyz), ``T >= 2``."""
    qpos = jnp.asarray(qpos, jnp.float32)
    pos, quat, joints = qpos[:, :3], qpos[:, 3:7], qpos[:, 7:]
    yaw = heading(quat)
    vel = heading_velocity(pos, yaw, fps)
    dyaw = _wrap(yaw[1:] - yaw[:-1]) * fps
    yaw_rate = jnp.concatenate([dyaw, dyaw[-1:]])[:, None]
    tilt = jax.vmap(bm.quat_mul)(_yaw_quat(-yaw), quat)
    tilt = tilt * jnp.where(tilt[:, :1] < 0, -1.0, 1.0)  # q and -q agree: pick w >= 0
    return jnp.concatenate([pos[:, 2:3], vel, yaw_rate, tilt, joints, _forward_diff(joints, fps)], axis=-1)


def features_to_qpos(
    feats: jax.Array, fps: float, start_xy: jax.Array | None = None, start_yaw: jax.Array | float = 0.0
) -> jax.Array:
    """Invert :func:`qpos_to_features`: ``(T, 67) -> (T, 36)``, integrating from a start pose.

    Args:
        feats: features ``(T, 67)`` (unnormalised).
        fps: their frame rate.
        start_xy: pelvis ``(2,)`` position at frame 0 (default the origin).
        start_yaw: heading at frame 0 (default 0: facing +x, as canonicalised windows start).

    Joint angles are taken from ``joint_pos`` (``joint_vel`` is redundant and ignored here); the
    root tilt is renormalised, so any decoder output maps to a valid configuration.
    """
    feats = jnp.asarray(feats, jnp.float32)
    s = FEATURE_SLICES
    start_xy = jnp.zeros(2) if start_xy is None else jnp.asarray(start_xy, jnp.float32)
    yaw_rate = feats[:, s["yaw_rate"]][:, 0]
    yaw = start_yaw + jnp.concatenate([jnp.zeros(1), jnp.cumsum(yaw_rate[:-1]) / fps])
    world_vel = _rotate_z(feats[:, s["root_vel"]], yaw)
    xy = start_xy + jnp.concatenate([jnp.zeros((1, 2)), jnp.cumsum(world_vel[:-1, :2], axis=0) / fps])
    tilt = feats[:, s["root_tilt"]]
    tilt = tilt / jnp.maximum(jnp.linalg.norm(tilt, axis=-1, keepdims=True), 1e-6)
    quat = jax.vmap(bm.quat_mul)(_yaw_quat(yaw), tilt)
    return jnp.concatenate([xy, feats[:, s["root_height"]], quat, feats[:, s["joint_pos"]]], axis=-1)


def feature_mask(joint_mask: np.ndarray | jax.Array) -> jax.Array:
    """Channel mask ``(..., 67)`` from a joint mask ``(..., 29)``: joint channels of missing joints off."""
    joint_mask = jnp.asarray(joint_mask, jnp.float32)
    root = jnp.ones(joint_mask.shape[:-1] + (9,), jnp.float32)
    return jnp.concatenate([root, joint_mask, joint_mask], axis=-1)


def start_pose(qpos: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(start_xy (2,), start_yaw ())`` of a clip's first frame, for :func:`features_to_qpos`."""
    return qpos[0, :2], heading(qpos[0, 3:7])



@struct.dataclass
class FeatureStats:
    """Normalisation of the 67 feature channels: ``mean``, ``std`` ``(67,)`` (a JAX pytree)."""

    mean: jax.Array
    std: jax.Array

    def normalize(self, x: jax.Array) -> jax.Array:
        """``(x - mean) / std`` over the last axis ``(..., 67)``."""
        return (x - self.mean) / self.std

    def denormalize(self, x: jax.Array) -> jax.Array:
        """Inverse of :meth:`normalize`."""
        return x * self.std + self.mean
