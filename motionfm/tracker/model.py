"""The MuJoCo model the tracker simulates (plain MuJoCo; no MJX import, so CLI output stays clean)."""

from __future__ import annotations

import mujoco
import numpy as np

from motionfm.robot import G1_JOINT_NAMES, load_g1
from motionfm.tracker.config import EnvConfig


def physics_model(cfg: EnvConfig, variant: str | None = None, sim_dt: float | None = None) -> mujoco.MjModel:
    """A copy of the G1 variant (training one by default) at ``sim_dt`` (default ``cfg.sim_dt``).

    Actuators are checked to be the 29 joint servos in :data:`G1_JOINT_NAMES` order.
    """
    m = load_g1(variant or cfg.model).mj_model.__copy__()
    m.opt.timestep = sim_dt or cfg.sim_dt
    names = [m.joint(m.actuator_trnid[i, 0]).name for i in range(m.nu)]
    if tuple(names) != G1_JOINT_NAMES:
        raise ValueError(f"{variant or cfg.model}: actuators must drive the 29 G1 joints in order, got {names[:3]}...")
    return m


def joint_dof_adr(m: mujoco.MjModel) -> np.ndarray:
    """``(29,)`` qvel addresses of the G1 joints (in :data:`G1_JOINT_NAMES` order) in ``m``."""
    return np.array([m.jnt_dofadr[m.joint(n).id] for n in G1_JOINT_NAMES])
