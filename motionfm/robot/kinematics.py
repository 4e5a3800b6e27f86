"""Forward kinematics of the G1 in JAX: batched, jit-able, differentiable.

Two backends compute the same thing (both tested against plain MuJoCo's ``mj_kinematics``):

- ``"tree"`` (default): the kinematic tree one depth at a time (the G1's bodies at each depth in
  one batched step: quaternion products with the model's constant body offsets and joint axes).
  Faster than MJX on CPU, forward and backward, which matters in guidance (one FK and its
  gradient per guidance step) and in the tokenizer's FK loss. A floating base and centred hinges
  (all the G1 has).
- ``"mjx"``: ``mjx.kinematics`` under ``vmap``: any MuJoCo model, but it also computes geom, site
  and joint frames nobody here reads.
"""

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


def import_mjx():
    """Import ``mujoco.mjx`` without its import-time noise and return it.

    MJX tries its optional ``warp`` backend on import and ``print``s "Failed to import warp" when it
    is absent (it is, on purpose: we do not use it). Anything that imports MJX (directly or through
    brax) calls this first; once the module is loaded, later imports print nothing. The text is
    swallowed, not moved to stderr: a user should see only our own output."""
    import contextlib
    import io
    import logging

    logging.getLogger("mujoco.mjx").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        from mujoco import mjx

    return mjx


def make_fk(robot: RobotModel | None = None, backend: str = "tree") -> Callable[[jax.Array], FKResult]:
    """Build a jit-compiled FK function ``qpos (..., 36) -> FKResult`` for a G1 model.

    ``qpos`` is the motionfm layout: root xyz, root quaternion **wxyz**, 29 joints in
    :data:`~motionfm.robot.g1.G1_JOINT_NAMES` order. Any leading batch shape is accepted. The
    function is pure and differentiable (``jax.grad`` through it works), so guidance costs and
    tokenizer losses can use it.

    Args:
        robot: the model (default: the G1).
        backend: ``"tree"`` (default) or ``"mjx"`` (see the module docstring).
    """
    robot = robot or load_g1()
    if backend == "tree":
        flat = _tree_fk(robot)
    elif backend == "mjx":
        flat = _mjx_fk(robot)
    else:
        raise ValueError(f"unknown FK backend {backend!r} (use 'tree' or 'mjx')")

    @jax.jit
    def fk(qpos: jax.Array) -> FKResult:
        qpos = jnp.asarray(qpos, jnp.float32)
        if qpos.shape[-1] != QPOS_DIM:
            raise ValueError(f"qpos must end in {QPOS_DIM} values, got shape {qpos.shape}")
        lead = qpos.shape[:-1]
        out = flat(qpos.reshape(-1, QPOS_DIM))
        return jax.tree.map(lambda x: x.reshape(lead + x.shape[1:]), out)

    return fk


def _mjx_fk(robot: RobotModel) -> Callable[[jax.Array], FKResult]:
    """``qpos (N, 36) -> FKResult`` by ``mjx.kinematics`` under ``vmap``."""
    mjx = import_mjx()
    mx = mjx.put_model(robot.mj_model)
    data0 = mjx.make_data(mx)
    qpos0 = jnp.asarray(robot.mj_model.qpos0, jnp.float32)
    adr = jnp.asarray(robot.joint_qpos_adr)
    bids = jnp.asarray(robot.body_ids)

    def single(q: jax.Array) -> FKResult:
        full = qpos0.at[:7].set(q[:7]).at[adr].set(q[7:])
        d = mjx.kinematics(mx, data0.replace(qpos=full))
        return FKResult(d.xpos[bids], d.xquat[bids], d.xmat[bids].reshape(-1, 3, 3))

    return jax.vmap(single)


# ------------------------------------------------------------------ the level-wise tree (backend "tree")
def _quat_product_tensor() -> np.ndarray:
    """``E (4, 4, 4)`` with ``(a ⊗ b)_k = Σ a_i b_j E_ijk`` (wxyz)."""
    e = np.zeros((4, 4, 4), np.float32)
    table = [  # (i, j, k, sign) of the Hamilton product
        (0, 0, 0, 1), (1, 1, 0, -1), (2, 2, 0, -1), (3, 3, 0, -1),
        (0, 1, 1, 1), (1, 0, 1, 1), (2, 3, 1, 1), (3, 2, 1, -1),
        (0, 2, 2, 1), (1, 3, 2, -1), (2, 0, 2, 1), (3, 1, 2, 1),
        (0, 3, 3, 1), (1, 2, 3, 1), (2, 1, 3, -1), (3, 0, 3, 1),
    ]
    for i, j, k, sign in table:
        e[i, j, k] = sign
    return e


def _quat_to_mat(q: jax.Array) -> jax.Array:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions ``(..., 4)`` (as ``mju_quat2Mat``)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return jnp.stack(rows, -1).reshape(q.shape[:-1] + (3, 3))


def _tree_fk(robot: RobotModel) -> Callable[[jax.Array], FKResult]:
    """``qpos (N, 36) -> FKResult`` by the kinematic tree, one batched step per tree depth.

    Bodies of one depth are computed together (``(N, bodies, ...)`` arrays); parents are picked
    and the output ordered by small one-hot products (a gather's gradient is a scatter, slow on
    CPU). Each body's local rotation is ``body_quat ⊗ (cos θ/2, sin θ/2 axis)`` = ``cos θ/2 A +
    sin θ/2 B`` with constant ``A, B``, as MuJoCo's ``mj_kinematics`` composes it.
    """
    import mujoco

    m = robot.mj_model
    column = {int(a): 7 + i for i, a in enumerate(robot.joint_qpos_adr)}  # mj qpos address -> our column
    e = _quat_product_tensor()
    depth = np.zeros(m.nbody, int)
    for b in range(1, m.nbody):  # MuJoCo orders bodies parents first
        depth[b] = depth[m.body_parentid[b]] + 1
    free = [b for b in range(1, m.nbody) if m.body_jntnum[b] and m.jnt_type[m.body_jntadr[b]] == mujoco.mjtJoint.mjJNT_FREE]
    if len(free) != 1 or depth[free[0]] != 1 or m.body_jntnum[free[0]] != 1 or m.jnt_qposadr[m.body_jntadr[free[0]]] != 0:
        raise ValueError("tree FK needs one floating base (a free joint at qpos 0 on a child of the world); use backend='mjx'")
    root = free[0]
    levels = []  # per depth >= 2: bodies, parent one-hot over the previous depth, A, B, qpos column
    prev = [root]
    for d in range(2, depth.max() + 1):
        bodies = [b for b in range(1, m.nbody) if depth[b] == d]
        parent = np.zeros((len(bodies), len(prev)), np.float32)
        a = np.zeros((len(bodies), 4), np.float32)
        bq = np.zeros((len(bodies), 4), np.float32)
        cols = np.zeros(len(bodies), int)  # 0: a constant zero angle
        for i, b in enumerate(bodies):
            parent[i, prev.index(int(m.body_parentid[b]))] = 1
            a[i] = m.body_quat[b]
            if m.body_jntnum[b] > 1:
                raise ValueError(f"tree FK: body {m.body(b).name!r} has {m.body_jntnum[b]} joints; use backend='mjx'")
            if m.body_jntnum[b]:
                j = m.body_jntadr[b]
                if m.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or np.any(m.jnt_pos[j] != 0) or m.qpos0[m.jnt_qposadr[j]] != 0:
                    raise ValueError(f"tree FK supports centred hinges at zero reference angle only (body {m.body(b).name!r}); use backend='mjx'")
                bq[i] = np.einsum("i,j,ijk->k", m.body_quat[b], np.array([0.0, *m.jnt_axis[j]]), e)
                cols[i] = column.get(int(m.jnt_qposadr[j]), 0)
        levels.append((bodies, parent, a, bq, cols, m.body_pos[bodies].astype(np.float32)))
        prev = bodies
    order = [root] + [b for lv in levels for b in lv[0]]
    out = np.zeros((len(robot.body_ids), len(order)), np.float32)
    for i, b in enumerate(robot.body_ids):
        out[i, order.index(int(b))] = 1

    def fk(qpos: jax.Array) -> FKResult:
        quat = qpos[:, 3:7] / jnp.linalg.norm(qpos[:, 3:7], axis=-1, keepdims=True)
        pos, quat = qpos[:, None, :3], quat[:, None]  # (N, 1, ·): the root
        rot = _quat_to_mat(quat)
        all_pos, all_quat, all_rot = [pos], [quat], [rot]
        for bodies, parent, a, bq, cols, offset in levels:
            half = 0.5 * jnp.where(cols > 0, qpos[:, cols], 0.0)  # (N, n)
            local = jnp.cos(half)[..., None] * a + jnp.sin(half)[..., None] * bq  # (N, n, 4)
            p_pos = jnp.einsum("cp,npi->nci", parent, pos)
            p_quat = jnp.einsum("cp,npi->nci", parent, quat)
            p_rot = jnp.einsum("cp,npij->ncij", parent, rot)
            pos = p_pos + jnp.einsum("ncij,cj->nci", p_rot, offset)
            quat = jnp.einsum("nci,ncj,ijk->nck", p_quat, local, e)
            rot = _quat_to_mat(quat)
            all_pos.append(pos), all_quat.append(quat), all_rot.append(rot)
        pick = lambda xs, spec: jnp.einsum(spec, out, jnp.concatenate(xs, axis=1))  # noqa: E731
        return FKResult(pick(all_pos, "bo,noi->nbi"), pick(all_quat, "bo,noi->nbi"), pick(all_rot, "bo,noij->nbij"))

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


def plant_shift(soles, contact_height: float = 0.08, softness: float = 0.01, sharpness: float = 0.01):
    """Root shift ``(..., T, 2)`` that keeps supporting sole points ``soles (..., T, 8, 3)`` from sliding.

    Each frame-to-frame step, the planar displacement of the sole points (both feet, 8 points) is
    averaged with weights ``softmin(height / softness)``, so the lowest points (the ones carrying
    the robot) count, and scaled by a contact gate ``sigmoid((contact_height - lowest) /
    sharpness)`` that is ~0 in flight; the shift is minus that, accumulated from 0 at frame 0.
    numpy in, numpy out; jax arrays give a differentiable shift (the gate and the weights' baseline
    held constant), which is what guidance uses (:class:`motionfm.guidance.GuidanceConfig`).
    """
    xp = np if isinstance(soles, np.ndarray) else jnp
    h = 0.5 * (soles[..., 1:, :, 2] + soles[..., :-1, :, 2])  # (..., T-1, 8) height over each step
    low = h.min(-1, keepdims=True)
    if xp is jnp:
        low = jax.lax.stop_gradient(low)
    w = xp.exp(-(h - low) / softness)
    w = w / w.sum(-1, keepdims=True)
    gate = 0.5 * (1.0 + xp.tanh(0.5 * (contact_height - low[..., 0]) / sharpness))  # the logistic sigmoid, overflow-free
    slide = (w[..., None] * (soles[..., 1:, :, :2] - soles[..., :-1, :, :2])).sum(-2)  # (..., T-1, 2)
    shift = -xp.cumsum(gate[..., None] * slide, axis=-2)
    return xp.concatenate([xp.zeros_like(shift[..., :1, :]), shift], axis=-2)


def plant_feet(qpos: np.ndarray, robot: RobotModel | None = None, **kw) -> np.ndarray:
    """``qpos (T, 36)`` with the root's planar path moved so that supporting feet do not slide.

    The root moves by :func:`plant_shift` (``kw``: its settings), so a planted foot stays where it
    landed and the body travels as far as its steps carry it (a motion whose root glides faster
    than its legs step is slowed to its steps; a foot rolling heel to toe keeps its lowest point in
    place). Frame 0, heights, orientations and joints are unchanged; numpy, via :func:`fk_mujoco`
    (~10 us a frame).
    """
    robot = robot or load_g1()
    q = np.array(qpos, np.float64).reshape(-1, QPOS_DIM)
    if len(q) < 2:
        return q
    soles = np.asarray(foot_points(fk_mujoco(q, robot), robot)).reshape(len(q), -1, 3)  # (T, 8, 3)
    q[:, :2] += plant_shift(soles, **kw)
    return q
