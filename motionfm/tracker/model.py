"""The MuJoCo model the tracker simulates, and the policy's action -> PD target map.

Both physics backends (:mod:`motionfm.tracker.physics`), ``motionfm track``, ``eval tracker`` and
the demo build their model here, so gains, armature, effort limits and unclamped targets are the
same everywhere (plain MuJoCo only; no MJX import, so CLI output stays clean).
"""

from __future__ import annotations

import mujoco
import numpy as np

from motionfm.robot import G1_JOINT_NAMES, load_g1
from motionfm.robot.actuation import apply_actuation, load_actuation
from motionfm.tracker.config import EnvConfig

INTEGRATORS = {"euler": mujoco.mjtIntegrator.mjINT_EULER, "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST}


def physics_model(cfg: EnvConfig, variant: str | None = None, sim_dt: float | None = None) -> mujoco.MjModel:
    """A copy of the G1 variant (training one by default) at ``sim_dt`` (default ``cfg.sim_dt``).

    With ``cfg.actuation == "armature"`` the joint drives are :func:`~motionfm.robot.actuation.load_actuation`'s
    (deployment gains, effort limits, no target clamping, no passive damping); ``"model"`` keeps
    the MJCF's own servos (the first shipped policies were trained so). Actuators are checked to
    be the 29 joint servos in :data:`G1_JOINT_NAMES` order.
    """
    m = load_g1(variant or cfg.model).mj_model.__copy__()
    m.opt.timestep = sim_dt or cfg.sim_dt
    names = [m.joint(m.actuator_trnid[i, 0]).name for i in range(m.nu)]
    if tuple(names) != G1_JOINT_NAMES:
        raise ValueError(f"{variant or cfg.model}: actuators must drive the 29 G1 joints in order, got {names[:3]}...")
    if cfg.actuation == "armature":
        apply_actuation(m, load_actuation())
    elif cfg.actuation != "model":
        raise ValueError(f"unknown actuation {cfg.actuation!r}: use 'armature' or 'model'")
    if cfg.integrator not in INTEGRATORS:
        raise ValueError(f"unknown integrator {cfg.integrator!r}: use one of {sorted(INTEGRATORS)}")
    m.opt.integrator = INTEGRATORS[cfg.integrator]
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_SENSOR  # nobody reads the MJCF's sensors; ~4% of step time
    return m


def action_scale(cfg: EnvConfig) -> np.ndarray:
    """``(29,)`` rad of PD target per unit action.

    ``"armature"`` actuation: ``cfg.action_scale * effort_limit / kp`` per joint (BeyondMimic's
    scale: a unit action asks for that fraction of the motor's peak torque, so weak wrists move
    little and strong hips a lot). ``"model"``: ``cfg.action_scale`` rad on every joint.
    """
    if cfg.actuation == "armature":
        act = load_actuation()
        return (cfg.action_scale * act.effort_limit / act.kp).astype(np.float32)
    return np.full(len(G1_JOINT_NAMES), cfg.action_scale, np.float32)


def targets(xp, cfg: EnvConfig, action, reference_joints, default_joints, scale, lo=None, hi=None):
    """PD targets ``(..., 29)`` for a policy ``action``: ``base + scale * action``.

    ``base`` is the reference's next joint angles (``action_base="reference"``: a residual, so a
    zero action replays the reference and learning starts from open-loop playback) or the
    standing pose (``"default"``, BeyondMimic). Targets are clamped to ``[lo, hi]`` only with the
    ``"model"`` actuation (its MJCF clamps them anyway); deployment actuation never clamps.
    """
    base = reference_joints if cfg.action_base == "reference" else default_joints
    out = base + scale * action
    if cfg.actuation == "model" and lo is not None:
        out = xp.clip(out, lo, hi)
    return out


def joint_dof_adr(m: mujoco.MjModel) -> np.ndarray:
    """``(29,)`` qvel addresses of the G1 joints (in :data:`G1_JOINT_NAMES` order) in ``m``."""
    return np.array([m.jnt_dofadr[m.joint(n).id] for n in G1_JOINT_NAMES])
