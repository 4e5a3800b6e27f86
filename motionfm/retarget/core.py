"""Human motion -> G1 :class:`~motionfm.motion.Motion`: the retargeting pipeline end to end.

``keypoints -> trim bind pose -> zero-phase smoothing -> contacts and floor (human) -> IK targets
(human directions, G1 lengths, root scaled by the leg-length ratio) -> planted-foot pinning ->
per-frame IK (mink, warm-started, limits as constraints) -> ground, limits, speed caps -> wrists
zeroed and masked where the source has no fingers -> Motion``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Sequence

import numpy as np

from motionfm.motion import Motion
from motionfm.retarget.bvh import bvh_stem, read_bvh
from motionfm.retarget.cleanup import CleanupConfig, finish, pin_feet
from motionfm.retarget.contact import ContactConfig, analyse_human
from motionfm.retarget.ik import IKConfig, solve_ik
from motionfm.retarget.signal import lowpass
from motionfm.retarget.skeleton import HumanKeypoints, SkeletonMap, keypoints_from_bvh, keypoints_from_joints
from motionfm.retarget.targets import TARGET_BODIES, build_targets, g1_geometry
from motionfm.robot import G1_BODY_NAMES, G1_JOINT_NAMES, RobotModel, fk_mujoco, load_g1

WRIST_JOINTS = {side: tuple(f"{side}_wrist_{axis}_joint" for axis in ("roll", "pitch", "yaw")) for side in ("left", "right")}
"""The G1 wrist joints per side: unobserved when the source has no finger keypoints."""


@dataclasses.dataclass(frozen=True)
class RetargetConfig:
    """All settings of :func:`retarget_keypoints`.

    Attributes:
        contact: human foot-contact and floor detection.
        ik: IK task weights and solver settings.
        cleanup: physical clean-up (``CleanupConfig(enabled=False)`` for the raw IK).
        max_bind_frames: leading frames that may be a rig's bind pose (a T-pose frame before the
            take, as in CMU conversions); they are dropped when the pose then jumps.
        bind_jump_speed: a keypoint faster than this (m/s) between two frames is such a jump.
    """

    contact: ContactConfig = ContactConfig()
    ik: IKConfig = IKConfig()
    cleanup: CleanupConfig = CleanupConfig()
    max_bind_frames: int = 3
    bind_jump_speed: float = 8.0


@dataclasses.dataclass(frozen=True, eq=False)
class RetargetResult:
    """A retargeted clip and what was learnt on the way.

    Attributes:
        motion: the G1 motion (same fps as the source, minus dropped bind frames).
        contact: ``(T, 2)`` left/right foot contact found on the human.
        scale: leg-length ratio G1 / human.
        info: JSON-ready figures: frames, dropped frames, timings, root travel of human (scaled)
            and robot, IK residuals.
        missing_dofs: G1 joints the source does not determine (the wrists of a rig without
            finger keypoints); they are zero in ``motion`` and ``False`` in its ``joint_mask``.
    """

    motion: Motion
    contact: np.ndarray
    scale: float
    info: dict[str, Any]
    missing_dofs: tuple[str, ...] = ()


def trim_bind_pose(kp: HumanKeypoints, max_frames: int = 3, jump_speed: float = 8.0) -> tuple[HumanKeypoints, int]:
    """Drop leading bind-pose frames: those before a jump faster than ``jump_speed`` within the
    first ``max_frames`` transitions. Returns the clip and the number of frames dropped."""
    p = kp.positions[: max_frames + 1, : 17]
    speed = np.linalg.norm(np.diff(p, axis=0), axis=-1).max(-1) * kp.fps  # (max_frames,)
    jumps = np.flatnonzero(speed > jump_speed)
    if not len(jumps) or kp.num_frames - (jumps[-1] + 1) < 2:
        return kp, 0
    cut = int(jumps[-1]) + 1
    return dataclasses.replace(kp, positions=kp.positions[cut:]), cut


def _travel(xy: np.ndarray) -> tuple[float, float]:
    """Net displacement and path length (m) of a ``(T, 2)`` track."""
    return float(np.linalg.norm(xy[-1] - xy[0])), float(np.linalg.norm(np.diff(xy, axis=0), axis=-1).sum())


def retarget_keypoints(
    kp: HumanKeypoints,
    config: RetargetConfig = RetargetConfig(),
    robot: RobotModel | None = None,
    captions: Sequence[str] = (),
    name: str | None = None,
) -> RetargetResult:
    """Retarget human keypoints onto the G1.

    Args:
        kp: :class:`~motionfm.retarget.skeleton.HumanKeypoints` ``(T, K, 3)``, metres, Z up.
        config: settings.
        captions: text for the motion.
        name: motion name (default the keypoints' name).

    Returns:
        :class:`RetargetResult` whose ``motion`` has ``root_pos (T', 3)``, ``root_quat (T', 4)``
        and ``joint_pos (T', 29)`` within the G1's limits.
    """
    robot = robot or load_g1()
    name = name if name is not None else kp.name
    t0 = time.perf_counter()
    kp, dropped = trim_bind_pose(kp, config.max_bind_frames, config.bind_jump_speed)
    cleanup = config.cleanup
    if cleanup.enabled and cleanup.smooth_cutoff_hz > 0:
        kp = dataclasses.replace(kp, positions=lowpass(kp.positions, kp.fps, cleanup.smooth_cutoff_hz))
    human = analyse_human(kp, config.contact)
    geo = g1_geometry(robot)
    scale = geo.leg / human.leg_length
    flat = human.keypoints
    # Put the planted ankle at the height that, scaled, is the G1's flat-foot ankle height.
    ankles = np.stack([flat["left_ankle"][:, 2], flat["right_ankle"][:, 2]], -1)
    rest = float(np.median(ankles[human.contact])) if human.contact.any() else float(np.percentile(ankles, 5))
    pos = flat.positions.copy()
    pos[..., 2] += geo.ankle_height / scale - rest
    flat = dataclasses.replace(flat, positions=pos)

    targets = build_targets(flat, human.foot_pitch, human.leg_length, robot)
    weights = None
    if cleanup.enabled:
        targets, weights = pin_feet(targets, human.contact, geo, cleanup)
    t1 = time.perf_counter()
    qpos = solve_ik(targets, weights, config=config.ik, robot=robot, name=name or kp.source)
    t2 = time.perf_counter()
    if cleanup.enabled:
        qpos = finish(qpos, kp.fps, robot, cleanup)
    else:
        qpos[:, 7:] = np.clip(qpos[:, 7:], *robot.joint_limits.T)  # the QP keeps them; float noise aside
    # Without finger keypoints a hand has a position target only, and its wrist angles are
    # whatever the posture term left (near rest): not the human's. Zero-fill and mask them, as the
    # corpus does for sources without wrists, so training does not learn "wrists never move".
    missing = tuple(
        j for side, joints in WRIST_JOINTS.items()
        if not targets.has_rot[TARGET_BODIES.index(f"{side}_wrist_yaw_link")] for j in joints
    )
    mask = np.ones(len(G1_JOINT_NAMES), bool)
    for j in missing:
        col = G1_JOINT_NAMES.index(j)
        qpos[:, 7 + col], mask[col] = 0.0, False
    motion = Motion.from_qpos(qpos, kp.fps, name=name, captions=tuple(captions), joint_mask=mask)

    fk = fk_mujoco(qpos, robot)
    bid = [G1_BODY_NAMES.index(b) for b in TARGET_BODIES]
    resid = np.linalg.norm(fk.body_pos[:, bid] - targets.pos, axis=-1)  # (T, 10)
    human_xy = scale * 0.5 * (kp["left_hip"] + kp["right_hip"])[:, :2]
    h_net, h_path = _travel(lowpass(human_xy, kp.fps, 2.0))
    r_net, r_path = _travel(lowpass(qpos[:, :2], kp.fps, 2.0))
    info = {
        "frames": motion.num_frames,
        "dropped_bind_frames": dropped,
        "fps": kp.fps,
        "scale": round(scale, 4),
        "human_leg_m": round(human.leg_length, 4),
        "floor_range_m": round(float(np.ptp(human.floor)), 3),
        "contact_fraction": [round(float(c), 3) for c in human.contact.mean(0)],
        "human_travel_scaled_m": round(h_net, 3),
        "robot_travel_m": round(r_net, 3),
        "travel_ratio": round(r_net / h_net, 4) if h_net > 1e-3 else None,
        "path_ratio": round(r_path / h_path, 4) if h_path > 1e-3 else None,
        "ik_residual_cm": {b: round(float(resid[:, i].mean() * 100), 2) for i, b in enumerate(TARGET_BODIES)},
        "prep_s": round(t1 - t0, 3),
        "ik_s": round(t2 - t1, 3),
        "total_s": round(time.perf_counter() - t0, 3),
    }
    return RetargetResult(motion, human.contact, scale, info, missing)


def retarget_bvh(
    path: str | os.PathLike,
    skeleton: str | SkeletonMap | None = None,
    config: RetargetConfig = RetargetConfig(),
    robot: RobotModel | None = None,
    captions: Sequence[str] = (),
    units_to_m: float | None = None,
    up: str | None = None,
) -> RetargetResult:
    """Read a BVH file and retarget it (see :func:`retarget_keypoints`).

    Args:
        path: the ``.bvh`` or ``.bvh.gz`` file.
        skeleton: map name (``cmu_cc``, ``smpl``, ``bandai_namco``, ``cmu_cgspeed``, ...) or
            ``None`` to pick the map that fits.
        units_to_m, up: override the map's units and up axis.

    Raises:
        BvhError: unreadable file, or a joint the map needs is missing (naming the file).
        KeyError: unknown map name.
    """
    bvh = read_bvh(path)
    kp = keypoints_from_bvh(bvh, skeleton, units_to_m, up)
    return retarget_keypoints(kp, config, robot, captions, name=bvh_stem(path))


def retarget_joints(
    joints: np.ndarray,
    fps: float,
    skeleton: str | SkeletonMap = "smpl",
    up: str = "z",
    units_to_m: float = 1.0,
    joint_names: Sequence[str] | None = None,
    config: RetargetConfig = RetargetConfig(),
    robot: RobotModel | None = None,
    captions: Sequence[str] = (),
    name: str = "joints",
) -> RetargetResult:
    """Retarget a ``(T, J, 3)`` array of joint positions (SMPL/AMASS order by default).

    Args:
        joints: ``(T, J, 3)`` joint positions; ``J`` = 22 or 24 for SMPL order, or any set named
            by ``joint_names``.
        fps: frame rate.
        skeleton: map (default ``smpl``).
        up: ``"z"`` (AMASS world) or ``"y"`` (SMPL's own frame).
        units_to_m: metres per unit.

    Raises:
        ValueError: shape, joint or value problems (naming ``name``).
    """
    kp = keypoints_from_joints(joints, fps, skeleton, up, units_to_m, joint_names, name)
    return retarget_keypoints(kp, config, robot, captions, name=name)
