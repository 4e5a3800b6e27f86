"""Per-frame inverse kinematics of the G1 with ``mink`` (differential IK as a QP on MuJoCo kinematics).

Why mink rather than an optax solve through the project's JAX FK. Both are affordable here (a
gradient of the MJX FK over 200 frames takes ~1 ms on 2 cores, plus ~15 s of compile per clip
length), but mink fits the problem better:

- each step is a Levenberg-Marquardt (Gauss-Newton) step solved as a 35-variable QP in which the
  joint limits are hard inequality constraints, so every frame is within limits by construction,
  not by projection or penalty, and there is no learning rate to tune;
- warm-started from the previous frame, a frame converges in 2-6 steps (~1.2 ms a frame, the 18
  CMU clips in ~4 s), with no recompilation for each clip length;
- Jacobians come from MuJoCo on the same MJCF as the project's FK (MJX is tested against
  ``mj_kinematics``), so there is one kinematic truth; mink is maintained and is what the GMR
  retargeter uses for human-to-G1 retargeting. It installs from PyPI with its QP solver
  (``mink``, ``qpsolvers``, ``daqp``: small wheels; the pinned MuJoCo is left as it is).

What per-frame IK cannot see (contacts across frames, smoothness) is handled explicitly by the
clean-up (:mod:`motionfm.retarget.cleanup`), which shapes the targets before IK and checks the
result after.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from motionfm.retarget.targets import TARGET_BODIES, Targets
from motionfm.robot import QPOS_DIM, RobotModel, load_g1


class RetargetError(RuntimeError):
    """Retargeting failed (e.g. the QP found no solution); the message names the clip and frame."""


@dataclasses.dataclass(frozen=True)
class IKConfig:
    """Task weights and solver settings of the per-frame IK.

    Weights are mink task costs: position costs per metre, orientation costs per radian. Feet
    dominate (they carry the contacts), the pelvis follows the human's path, and the rest shapes
    the pose. The pelvis height is weighted low so that, when a planted foot and the human's hip
    height disagree, the hips give way rather than the foot.

    Attributes:
        costs: ``{body: (position_cost, orientation_cost)}`` for the target bodies.
        pelvis_height_cost: position cost of the pelvis along its own z axis.
        posture_cost: pull toward the rest posture (regularises wrists and waist when unconstrained).
        knee_bend: knee angle (rad) of the rest posture and of the first frame's start; a straight
            knee is a singularity from which a Jacobian step cannot bend it.
        damping: Levenberg-Marquardt damping of every step.
        iterations: most IK steps per frame (warm-started frames converge in 2-4).
        first_frame_iterations: most steps for the first frame (started from the zero pose).
        tolerance: stop a frame once a step moves the configuration less than this (rad or m).
        solver: qpsolvers backend.
    """

    costs: tuple[tuple[str, float, float], ...] = (
        ("pelvis", 10.0, 5.0),
        ("torso_link", 0.0, 3.0),
        ("left_knee_link", 3.0, 0.0),
        ("right_knee_link", 3.0, 0.0),
        ("left_ankle_roll_link", 30.0, 8.0),
        ("right_ankle_roll_link", 30.0, 8.0),
        ("left_elbow_link", 2.0, 0.0),
        ("right_elbow_link", 2.0, 0.0),
        ("left_wrist_yaw_link", 3.0, 0.5),
        ("right_wrist_yaw_link", 3.0, 0.5),
    )
    pelvis_height_cost: float = 2.0
    posture_cost: float = 0.02
    knee_bend: float = 0.3
    damping: float = 1e-3
    iterations: int = 6
    first_frame_iterations: int = 300
    tolerance: float = 1e-4
    solver: str = "daqp"


def solve_ik(
    targets: Targets,
    weights: np.ndarray | None = None,
    init_qpos: np.ndarray | None = None,
    config: IKConfig = IKConfig(),
    robot: RobotModel | None = None,
    name: str = "clip",
) -> np.ndarray:
    """Solve IK frame by frame, each frame warm-started from the previous solution.

    Args:
        targets: :class:`~motionfm.retarget.targets.Targets` for ``T`` frames.
        weights: ``(T, 10)`` optional per-frame multipliers of the position costs (e.g. to make
            a planted foot stiffer); default ones.
        init_qpos: ``(36,)`` start of the first frame; default the rest posture (zero pose, knees
            bent) at the pelvis target.
        config: weights and solver settings.

    Returns:
        ``(T, 36)`` qpos (root xyz, root quaternion wxyz, 29 joints), joints within limits.

    Raises:
        RetargetError: the QP solver failed (naming ``name`` and the frame).
    """
    try:
        import mink
    except ImportError as e:  # a clear message beats a bare ModuleNotFoundError deep in a run
        raise ImportError("motionfm.retarget needs mink and its QP solver: pip install mink==1.3.0") from e

    robot = robot or load_g1()
    model = robot.mj_model
    t_len = targets.pos.shape[0]
    costs = {b: (p, o) for b, p, o in config.costs}
    tasks = []
    for i, body in enumerate(TARGET_BODIES):
        p, o = costs.get(body, (0.0, 0.0))
        o = o if targets.has_rot[i] else 0.0
        pc = np.array([p, p, config.pelvis_height_cost if body == "pelvis" else p])
        tasks.append(mink.FrameTask(body, "body", position_cost=pc, orientation_cost=o, lm_damping=1.0))
    base_pos_cost = [np.array(t.position_cost, float) for t in tasks]
    posture = mink.PostureTask(model, cost=config.posture_cost)
    limits = [mink.ConfigurationLimit(model)]

    rest = model.qpos0.copy()
    for joint in ("left_knee_joint", "right_knee_joint"):
        rest[robot.joint_qpos_adr[robot.joint_names.index(joint)]] = config.knee_bend
    full = rest.copy()
    if init_qpos is None:
        full[:3] = targets.pos[0, TARGET_BODIES.index("pelvis")]
    else:
        full[:7] = init_qpos[:7]
        full[robot.joint_qpos_adr] = init_qpos[7:]
    conf = mink.Configuration(model, full)
    posture.set_target(rest)
    out = np.zeros((t_len, QPOS_DIM))
    for t in range(t_len):
        for i, task in enumerate(tasks):
            task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(targets.rot[t, i]), targets.pos[t, i]))
            if weights is not None:
                task.set_position_cost(base_pos_cost[i] * weights[t, i])
        for _ in range(config.first_frame_iterations if t == 0 else config.iterations):
            try:
                v = mink.solve_ik(conf, [*tasks, posture], 1.0, config.solver, damping=config.damping, limits=limits)
            except mink.NoSolutionFound as e:
                raise RetargetError(f"{name}: IK found no solution at frame {t} ({e})") from None
            conf.integrate_inplace(v, 1.0)
            if np.abs(v).max() < config.tolerance:
                break
        q = conf.q
        out[t, :7] = q[:7]
        out[t, 7:] = q[robot.joint_qpos_adr]
    return out
