"""Two physics backends for one tracking task: MJX (GPUs) and plain MuJoCo (CPUs).

:class:`~motionfm.tracker.env.TrackingEnv` defines the task once (observations, rewards,
terminations, resets, pushes) as pure JAX; a backend only places the robot, advances physics
under held PD targets and reports the tracked bodies' state:

- :class:`MjxPhysics`: ``pipeline_state`` is an ``mjx.Data``; substeps are ``mjx.step`` inside
  the jitted graph. Fast with thousands of environments on a GPU; on a 2-core CPU it manages
  ~1-1.5 k env steps/s.
- :class:`MujocoPhysics`: ``pipeline_state`` is ``{"qpos": (nq,), "qvel": (nv,)}``; substeps run
  in plain MuJoCo through ``mujoco.rollout`` (C, one thread per core) from a
  ``jax.pure_callback`` that receives the whole batch at once (``vmap_method="expand_dims"``).
  Body poses come from the JAX tree FK of the same model and body velocities from its
  Jacobian-vector product with ``qvel``, so the task reads the same quantities as in MJX. Brax's
  PPO drives it unchanged; roughly 5-8x MJX's throughput on the same CPU.

Both simulate the same ``MjModel`` (:func:`~motionfm.tracker.model.physics_model`: the G1 with the
deployment actuation of :mod:`motionfm.robot.actuation`).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from motionfm.robot import G1_BODY_NAMES, import_mjx, make_fk, robot_from_model
from motionfm.tracker import obs as O
from motionfm.tracker.config import TRACKED_BODIES
from motionfm.tracker.model import joint_dof_adr

BACKENDS = ("mjx", "mujoco")


class MjxPhysics:
    """MJX backend: ``pipeline_state`` is ``mjx.Data`` (see the module docstring)."""

    name = "mjx"

    def __init__(self, mj_model: mujoco.MjModel, n_substeps: int):
        mjx = import_mjx()
        self._mjx = mjx
        self.mj_model = mj_model
        self.n_substeps = n_substeps
        self.sys = mjx.put_model(mj_model)  # brax's name: DomainRandomization swaps it
        self._data0 = mjx.make_data(self.sys)
        robot = robot_from_model(mj_model)
        self._body_ids = jnp.asarray([robot.body_ids[robot.body_names.index(b)] for b in TRACKED_BODIES])
        self._qadr = jnp.asarray(robot.joint_qpos_adr)
        self._vadr = jnp.asarray(joint_dof_adr(mj_model))

    def init(self, qpos36: jax.Array, qvel35: jax.Array, ctrl: jax.Array):
        """The robot placed at a motionfm ``qpos (36,)``/``qvel (35,)`` with PD targets ``ctrl (29,)``."""
        qpos = self._data0.qpos.at[:7].set(qpos36[:7]).at[self._qadr].set(qpos36[7:])
        qvel = self._data0.qvel.at[:6].set(qvel35[:6]).at[self._vadr].set(qvel35[6:])
        return self._mjx.forward(self.sys, self._data0.replace(qpos=qpos, qvel=qvel, ctrl=ctrl))

    def step(self, data, ctrl: jax.Array):
        """``n_substeps`` physics steps holding the PD targets ``ctrl (29,)``."""
        data = data.replace(ctrl=ctrl)
        return jax.lax.fori_loop(0, self.n_substeps, lambda _, d: self._mjx.step(self.sys, d), data)

    def kick(self, data, dv_xy: jax.Array):
        """Add ``dv_xy (2,)`` (m/s) to the root's horizontal velocity."""
        return data.replace(qvel=data.qvel.at[:2].add(dv_xy))

    def robot(self, data) -> O.RobotState:
        """The tracked bodies' state (motionfm layouts)."""
        qpos = jnp.concatenate([data.qpos[:7], data.qpos[self._qadr]])
        qvel = jnp.concatenate([data.qvel[:6], data.qvel[self._vadr]])
        return O.robot_state(jnp, qpos, qvel, data.xpos, data.xquat, data.cvel, data.subtree_com, self._body_ids)

    def finite(self, data) -> jax.Array:
        return jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))


class _Stepper:
    """Host side of :class:`MujocoPhysics`: ``mujoco.rollout`` over a batch, one thread per core.

    One instance per model; rollout ``MjData`` scratch objects are made once per thread count.
    """

    def __init__(self, mj_model: mujoco.MjModel, n_substeps: int, nthread: int):
        self.model = mj_model
        self.n_substeps = n_substeps
        self.nthread = nthread
        self.spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.nstate = mujoco.mj_stateSize(mj_model, self.spec)
        self._lock = threading.Lock()
        self._rollout = None
        self._datas: list[mujoco.MjData] = []

    def __call__(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import mujoco.rollout

        lead = qpos.shape[:-1]
        nq, nv = self.model.nq, self.model.nv
        qpos = np.asarray(qpos, np.float64).reshape(-1, nq)
        qvel = np.asarray(qvel, np.float64).reshape(-1, nv)
        n = len(qpos)
        state = np.zeros((n, self.nstate))
        state[:, 1 : 1 + nq] = qpos
        state[:, 1 + nq : 1 + nq + nv] = qvel
        control = np.ascontiguousarray(np.repeat(np.asarray(ctrl, np.float64).reshape(n, 1, -1), self.n_substeps, axis=1))
        out = np.empty((n, self.n_substeps, self.nstate))
        with self._lock:  # one rollout at a time: its thread pool and scratch data are shared
            if self._rollout is None:
                self._rollout = mujoco.rollout.Rollout(nthread=self.nthread)
                self._datas = [mujoco.MjData(self.model) for _ in range(max(1, self.nthread))]
            # skip_checks: the shapes are built right here; saves the wrapper's per-call checks.
            self._rollout.rollout([self.model] * n, self._datas, state, control, skip_checks=True,
                                  nstep=self.n_substeps, control_spec=mujoco.mjtState.mjSTATE_CTRL.value, state=out)
        last = out[:, -1]
        return (last[:, 1 : 1 + nq].astype(np.float32).reshape(lead + (nq,)),
                last[:, 1 + nq : 1 + nq + nv].astype(np.float32).reshape(lead + (nv,)))


class MujocoPhysics:
    """Plain-MuJoCo backend: ``pipeline_state = {"qpos", "qvel"}`` (see the module docstring).

    Args:
        mj_model: the model to simulate (its ``opt.timestep`` is the substep).
        n_substeps: physics steps per control step.
        nthread: rollout threads (default: all cores).
    """

    name = "mujoco"

    def __init__(self, mj_model: mujoco.MjModel, n_substeps: int, nthread: int | None = None):
        self.mj_model = mj_model
        self.n_substeps = n_substeps
        self.sys = None  # no model-level randomisation in this backend (brax's randomization_fn needs MJX)
        robot = robot_from_model(mj_model)
        self._qadr = jnp.asarray(robot.joint_qpos_adr)
        self._vadr = jnp.asarray(joint_dof_adr(mj_model))
        self._qpos0 = jnp.asarray(mj_model.qpos0, jnp.float32)
        self._fk = make_fk(robot)
        self._tracked = np.array([G1_BODY_NAMES.index(b) for b in TRACKED_BODIES])
        self._stepper = _Stepper(mj_model, n_substeps, nthread or os.cpu_count() or 1)

    def init(self, qpos36: jax.Array, qvel35: jax.Array, ctrl: jax.Array) -> dict[str, jax.Array]:
        qpos = self._qpos0.at[:7].set(qpos36[:7]).at[self._qadr].set(qpos36[7:])
        qvel = jnp.zeros(self.mj_model.nv, jnp.float32).at[:6].set(qvel35[:6]).at[self._vadr].set(qvel35[6:])
        return {"qpos": qpos, "qvel": qvel}

    def step(self, ps: dict[str, jax.Array], ctrl: jax.Array) -> dict[str, jax.Array]:
        shapes = (jax.ShapeDtypeStruct(ps["qpos"].shape, jnp.float32), jax.ShapeDtypeStruct(ps["qvel"].shape, jnp.float32))
        qpos, qvel = jax.pure_callback(self._stepper, shapes, ps["qpos"], ps["qvel"], ctrl.astype(jnp.float32),
                                       vmap_method="expand_dims")
        return {"qpos": qpos, "qvel": qvel}

    def kick(self, ps: dict[str, jax.Array], dv_xy: jax.Array) -> dict[str, jax.Array]:
        return {**ps, "qvel": ps["qvel"].at[:2].add(dv_xy)}

    def robot(self, ps: dict[str, jax.Array]) -> O.RobotState:
        """Tracked bodies from the tree FK; their velocities are FK's JVP along ``qvel``.

        The free joint's ``qvel`` is (world linear, root-frame angular) velocity, so the root
        quaternion's rate is ``q ⊗ (0, w) / 2``; a body's world angular velocity is the vector
        part of ``2 q̇ ⊗ q*``.
        """
        qpos = jnp.concatenate([ps["qpos"][:7], ps["qpos"][self._qadr]])
        qvel = jnp.concatenate([ps["qvel"][:6], ps["qvel"][self._vadr]])
        quat = qpos[3:7]
        dquat = 0.5 * O.quat_mul(jnp, quat, jnp.concatenate([jnp.zeros(1, quat.dtype), qvel[3:6]]))
        qdot = jnp.concatenate([qvel[:3], dquat, qvel[6:]])

        def poses(q):
            r = self._fk(q)
            return r.body_pos[self._tracked], r.body_quat[self._tracked]

        (pos, bq), (dpos, dbq) = jax.jvp(poses, (qpos,), (qdot,))
        ang = 2.0 * O.quat_mul(jnp, dbq, O.quat_conj(jnp, bq))[..., 1:]
        return O.RobotState(qpos, qvel, pos, bq, dpos, ang)

    def finite(self, ps: dict[str, jax.Array]) -> jax.Array:
        return jnp.all(jnp.isfinite(ps["qpos"])) & jnp.all(jnp.isfinite(ps["qvel"]))


def make_physics(backend: str, mj_model: mujoco.MjModel, n_substeps: int, nthread: int | None = None) -> Any:
    """The backend called ``backend`` (``"mjx"`` or ``"mujoco"``) for ``mj_model``."""
    if backend == "mjx":
        return MjxPhysics(mj_model, n_substeps)
    if backend == "mujoco":
        return MujocoPhysics(mj_model, n_substeps, nthread)
    raise ValueError(f"unknown physics backend {backend!r}: use one of {BACKENDS}")
