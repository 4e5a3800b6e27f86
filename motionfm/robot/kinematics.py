"""Forward kinematics of the G1 in JAX, through MJX: batched, jit-able, differentiable."""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from motionfm.robot.g1 import FOOT_SOLE_POINTS, QPOS_DIM, RobotModel, load_g1


class FKResult(NamedTuple):
    """World-frame body poses, bodies in :data:`~motionfm.robot.g1.G1_BODY_NAMES` order.

    Attributes:
        body_pos: ``(..., 30, 3)`` positions (m).
        body_quat: ``(..., 30, 4)`` orientations, quaternion **wxyz** (MuJoCo's convention).
        body_rot: ``(..., 30, 3, 3)`` rotation matrices (body frame to world).
    """

    body_pos: jax.Array
    body_quat: jax.Array
    body_rot: jax.Array


def _mjx():
    # Importing MJX logs that the optional `warp` backend is missing; that is expected here.
    import logging

    logging.getLogger("mujoco.mjx").setLevel(logging.ERROR)
    from mujoco import mjx

    return mjx


def make_fk(robot: RobotModel | None = None) -> Callable[[jax.Array], FKResult]:
    """Build a jit-compiled FK function ``qpos (..., 36) -> FKResult`` for a G1 model.

    ``qpos`` is the motionfm layout: root xyz, root quaternion **wxyz**, 29 joints in
    :data:`~motionfm.robot.g1.G1_JOINT_NAMES` order. Any leading batch shape is accepted. The
    function is pure and differentiable (``jax.grad`` through it works), so guidance costs and
    tokenizer losses can use it.
    """
    robot = robot or load_g1()
    mjx = _mjx()
    mx = mjx.put_model(robot.mj_model)
    data0 = mjx.make_data(mx)
    qpos0 = jnp.asarray(robot.mj_model.qpos0, jnp.float32)
    adr = jnp.asarray(robot.joint_qpos_adr)
    bids = jnp.asarray(robot.body_ids)

    def single(q: jax.Array) -> FKResult:
        full = qpos0.at[:7].set(q[:7]).at[adr].set(q[7:])
        d = mjx.kinematics(mx, data0.replace(qpos=full))
        return FKResult(d.xpos[bids], d.xquat[bids], d.xmat[bids].reshape(-1, 3, 3))

    batched = jax.vmap(single)

    @jax.jit
    def fk(qpos: jax.Array) -> FKResult:
        qpos = jnp.asarray(qpos, jnp.float32)
        if qpos.shape[-1] != QPOS_DIM:
            raise ValueError(f"qpos must end in {QPOS_DIM} values, got shape {qpos.shape}")
        lead = qpos.shape[:-1]
        out = batched(qpos.reshape(-1, QPOS_DIM))
        return jax.tree.map(lambda x: x.reshape(lead + x.shape[1:]), out)

    return fk


@functools.lru_cache(maxsize=4)
def default_fk(variant: str = "g1_mjx") -> Callable[[jax.Array], FKResult]:
    """A cached :func:`make_fk` for a named variant, so repeated calls share one compiled function."""
    return make_fk(load_g1(variant))


def foot_points(fk: FKResult, robot: RobotModel) -> jax.Array:
    """World positions ``(..., 2, 4, 3)`` of the sole points of the left and right feet.

    The sole points (:data:`~motionfm.robot.g1.FOOT_SOLE_POINTS`) are the lowest points of the
    feet's collision spheres, so ``z < 0`` means ground penetration.
    """
    xp = np if isinstance(fk.body_pos, np.ndarray) else jnp  # numpy in, numpy out
    idx = robot.foot_body_index
    pos = fk.body_pos[..., idx, :]  # (..., 2, 3)
    rot = fk.body_rot[..., idx, :, :]  # (..., 2, 3, 3)
    pts = xp.asarray(FOOT_SOLE_POINTS, pos.dtype)
    return pos[..., None, :] + xp.einsum("...ij,pj->...pi", rot, pts)


def fk_mujoco(qpos: np.ndarray, robot: RobotModel | None = None) -> FKResult:
    """Host FK of a ``(T, 36)`` qpos array with plain MuJoCo (``mj_kinematics``), as numpy.

    No compile and ~10 us a frame: the right tool for reports over whole corpora. Agrees with
    :func:`make_fk` to float32 precision (tested).
    """
    import mujoco

    robot = robot or load_g1()
    model, data = robot.mj_model, mujoco.MjData(robot.mj_model)
    qpos = np.asarray(qpos, np.float64).reshape(-1, QPOS_DIM)
    pos = np.empty((len(qpos), len(robot.body_ids), 3))
    quat = np.empty((len(qpos), len(robot.body_ids), 4))
    rot = np.empty((len(qpos), len(robot.body_ids), 3, 3))
    full = model.qpos0.copy()
    for t, q in enumerate(qpos):
        full[:7] = q[:7]
        full[robot.joint_qpos_adr] = q[7:]
        data.qpos[:] = full
        mujoco.mj_kinematics(model, data)
        pos[t] = data.xpos[robot.body_ids]
        quat[t] = data.xquat[robot.body_ids]
        rot[t] = data.xmat[robot.body_ids].reshape(-1, 3, 3)
    return FKResult(pos, quat, rot)
