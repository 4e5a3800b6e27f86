"""The G1's joint drives as data: armature, PD gains, effort limits, action scale.

One definition for every simulator the tracker runs on (MJX for GPUs, plain MuJoCo for CPUs and
sim-to-sim checks): :func:`load_actuation` reads ``g1_actuators.json`` (motor type per joint, the
motors' armature and peak torque) and derives the gains BeyondMimic uses on the real robot,
``kp = armature * w^2`` and ``kd = 2 * zeta * armature * w`` (``w = 2 pi f``, f = 10 Hz, zeta = 2):
a servo tuned to the motor's own reflected inertia, stiff where the motor is strong. :func:`apply_actuation`
writes them into an ``MjModel``, with the effort limits as actuator force limits, **no clamping
of targets** (``ctrllimited`` off: a policy may aim past a joint limit to press against it) and
zero passive joint damping (the PD damps).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import mujoco
import numpy as np

from motionfm.robot.g1 import G1_JOINT_NAMES

ACTUATORS_FILE = Path(__file__).with_name("g1_actuators.json")


@dataclasses.dataclass(frozen=True, eq=False)
class Actuation:
    """Per-joint drive constants, :data:`G1_JOINT_NAMES` order.

    Attributes:
        motor: ``(29,)`` motor type names.
        armature: ``(29,)`` reflected rotor inertia (kg m^2).
        kp: ``(29,)`` stiffness (N m / rad).
        kd: ``(29,)`` damping (N m s / rad).
        effort_limit: ``(29,)`` peak torque (N m).
        velocity_limit: ``(29,)`` (rad/s), informational.
        action_scale: ``(29,)`` rad per unit policy action: ``fraction * effort_limit / kp``
            (BeyondMimic), so a unit action asks for a quarter of the motor's peak torque.
        passive_damping: joint damping (N m s / rad) besides the PD's.
        frictionloss: dry joint friction (N m), or None to keep the model's.
        source: the file read.
    """

    motor: tuple[str, ...]
    armature: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    effort_limit: np.ndarray
    velocity_limit: np.ndarray
    action_scale: np.ndarray
    passive_damping: float
    frictionloss: float | None
    source: Path

    def summary(self) -> dict:
        """JSON-able record of the constants (for checkpoint metadata)."""
        r = lambda a: [round(float(x), 6) for x in a]  # noqa: E731
        return {"file": self.source.name, "kp": r(self.kp), "kd": r(self.kd), "armature": r(self.armature),
                "effort_limit": r(self.effort_limit), "action_scale": r(self.action_scale),
                "passive_damping": self.passive_damping, "frictionloss": self.frictionloss, "targets_clamped": False}


@functools.lru_cache(maxsize=4)
def load_actuation(path: str | os.PathLike | None = None) -> Actuation:
    """Read the drive table (default: the shipped ``g1_actuators.json``) and derive the gains.

    Raises:
        ValueError: naming the file and the fault (a joint without a motor, an unknown motor, a
            non-positive armature or effort limit, a missing field).
    """
    path = Path(path) if path is not None else ACTUATORS_FILE
    try:
        spec = json.loads(path.read_text())
        w = 2.0 * np.pi * float(spec["natural_frequency_hz"])
        zeta, frac = float(spec["damping_ratio"]), float(spec["action_scale_fraction"])
        motors, joints = spec["motors"], spec["joints"]
        passive = float(spec.get("passive_damping", 0.0))
        friction = None if spec.get("joint_frictionloss") is None else float(spec["joint_frictionloss"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a G1 actuator table ({type(e).__name__}: {e})") from e
    missing = [j for j in G1_JOINT_NAMES if j not in joints]
    if missing:
        raise ValueError(f"{path}: no motor given for joints {missing}")
    unknown = sorted({joints[j] for j in G1_JOINT_NAMES} - set(motors))
    if unknown:
        raise ValueError(f"{path}: joints use motors {unknown} that the 'motors' table does not define")
    motor = tuple(joints[j] for j in G1_JOINT_NAMES)
    col = lambda k: np.array([float(motors[m][k]) for m in motor])  # noqa: E731
    try:
        arm, effort = col("armature"), col("effort_limit")
        vel = np.array([float(motors[m].get("velocity_limit", np.inf)) for m in motor])
    except KeyError as e:
        raise ValueError(f"{path}: a motor lacks the field {e.args[0]!r}") from e
    if np.any(arm <= 0) or np.any(effort <= 0) or w <= 0 or zeta <= 0 or frac <= 0:
        raise ValueError(f"{path}: armature, effort limits, frequency, damping ratio and action fraction must be positive")
    kp, kd = arm * w**2, 2.0 * zeta * arm * w
    return Actuation(motor, arm, kp, kd, effort, vel, frac * effort / kp, passive, friction, path)


def apply_actuation(model: mujoco.MjModel, act: Actuation, joint_names: tuple[str, ...] = G1_JOINT_NAMES) -> mujoco.MjModel:
    """Write ``act`` into ``model`` in place (and return it).

    ``model``'s actuator ``i`` must be a position servo on ``joint_names[i]`` (checked). Sets the
    PD gains (``gainprm``/``biasprm``), actuator force limits to ``±effort_limit``, the joint's
    actuator-force range likewise, armature, passive damping, dry friction (when the table gives
    it), and turns target clamping off.
    """
    if model.nu != len(joint_names):
        raise ValueError(f"model has {model.nu} actuators, expected {len(joint_names)}")
    for i, name in enumerate(joint_names):
        j = model.actuator_trnid[i, 0]
        if model.joint(j).name != name:
            raise ValueError(f"actuator {i} drives {model.joint(j).name!r}, expected {name!r}")
        dof = model.jnt_dofadr[j]
        model.actuator_gaintype[i] = mujoco.mjtGain.mjGAIN_FIXED
        model.actuator_biastype[i] = mujoco.mjtBias.mjBIAS_AFFINE
        model.actuator_gainprm[i, :] = 0.0
        model.actuator_gainprm[i, 0] = act.kp[i]
        model.actuator_biasprm[i, :] = 0.0
        model.actuator_biasprm[i, 1:3] = (-act.kp[i], -act.kd[i])
        model.actuator_ctrllimited[i] = 0
        model.actuator_forcelimited[i] = 1
        model.actuator_forcerange[i] = (-act.effort_limit[i], act.effort_limit[i])
        model.jnt_actfrclimited[j] = 1
        model.jnt_actfrcrange[j] = (-act.effort_limit[i], act.effort_limit[i])
        model.dof_armature[dof] = act.armature[i]
        model.dof_damping[dof] = act.passive_damping
        if act.frictionloss is not None:
            model.dof_frictionloss[dof] = act.frictionloss
    return model
