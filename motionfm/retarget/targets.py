"""IK targets for the G1 from human keypoints: directions from the human, lengths from the robot.

Positions are not scaled copies of the human's joints. The pelvis follows the human's hip centre
scaled by the leg-length ratio ``s = L_G1 / L_human`` (so root travel scales by ``s``), and every
limb is rebuilt outward from the robot's own hip and shoulder positions with the human's bone
*directions* and the robot's bone *lengths*. That keeps the targets reachable (the G1's hips are
relatively wider and its arms shorter than a scaled human's), so the IK spends its effort on
pose, not on compromise. Orientations come from frames built on keypoint triads (pelvis from the
hips and spine, torso from the shoulders and neck, feet from ankle->toe and the shin, hands from
wrist->middle finger and index->pinky), defined so that they equal the G1's body frames in its
zero pose (legs straight, feet flat, forearms forward, palms facing in).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from motionfm.retarget.skeleton import HumanKeypoints
from motionfm.robot import FOOT_SOLE_POINTS, G1_BODY_NAMES, RobotModel, fk_mujoco, load_g1

TARGET_BODIES: tuple[str, ...] = (
    "pelvis", "torso_link",
    "left_knee_link", "right_knee_link", "left_ankle_roll_link", "right_ankle_roll_link",
    "left_elbow_link", "right_elbow_link", "left_wrist_yaw_link", "right_wrist_yaw_link",
)
"""G1 bodies that get targets, in the order of :class:`Targets`' arrays."""

SIDES = ("left", "right")


@dataclasses.dataclass(frozen=True, eq=False)
class G1Geometry:
    """The G1's proportions at its zero pose, taken from the model (not hard-coded).

    Attributes:
        hip: ``(2, 3)`` hip centres (``*_hip_roll_link`` origins) in the pelvis frame.
        waist: ``(3,)`` ``torso_link`` origin in the pelvis frame.
        shoulder: ``(2, 3)`` shoulder centres (``*_shoulder_roll_link`` origins) in the torso frame.
        thigh, shank, upper_arm, forearm: bone lengths (m), hip->knee->ankle-roll link,
            shoulder->elbow->wrist-yaw link.
        ankle_height: height of the ankle-roll link above the sole points when the foot is flat.
        rest_rot: ``(10, 3, 3)`` zero-pose rotations of :data:`TARGET_BODIES` (target frames
            are built to coincide with these).
    """

    hip: np.ndarray
    waist: np.ndarray
    shoulder: np.ndarray
    thigh: float
    shank: float
    upper_arm: float
    forearm: float
    ankle_height: float
    rest_rot: np.ndarray

    @property
    def leg(self) -> float:
        """Hip-knee-ankle length (m)."""
        return self.thigh + self.shank


@functools.lru_cache(maxsize=4)
def _geometry(robot: RobotModel) -> G1Geometry:
    q = robot.default_qpos.copy()
    q[3:7] = [1, 0, 0, 0]
    q[7:] = 0.0
    fk = fk_mujoco(q[None], robot)
    pos, rot = fk.body_pos[0], fk.body_rot[0]
    b = {n: i for i, n in enumerate(G1_BODY_NAMES)}
    p = lambda name: pos[b[name]]  # noqa: E731
    in_frame = lambda frame, x: rot[b[frame]].T @ (x - pos[b[frame]])  # noqa: E731
    hip = np.stack([in_frame("pelvis", p(f"{s}_hip_roll_link")) for s in SIDES])
    shoulder = np.stack([in_frame("torso_link", p(f"{s}_shoulder_roll_link")) for s in SIDES])
    length = lambda a, c: float(np.mean([np.linalg.norm(p(f"{s}_{c}") - p(f"{s}_{a}")) for s in SIDES]))  # noqa: E731
    return G1Geometry(
        hip=hip,
        waist=in_frame("pelvis", p("torso_link")),
        shoulder=shoulder,
        thigh=length("hip_roll_link", "knee_link"),
        shank=length("knee_link", "ankle_roll_link"),
        upper_arm=length("shoulder_roll_link", "elbow_link"),
        forearm=length("elbow_link", "wrist_yaw_link"),
        ankle_height=float(-FOOT_SOLE_POINTS[:, 2].min()),
        rest_rot=np.stack([rot[b[n]] for n in TARGET_BODIES]),
    )


def g1_geometry(robot: RobotModel | None = None) -> G1Geometry:
    """The :class:`G1Geometry` of a model (default: :func:`~motionfm.robot.load_g1`)."""
    return _geometry(robot or load_g1())


@dataclasses.dataclass(frozen=True, eq=False)
class Targets:
    """World-frame IK targets for :data:`TARGET_BODIES`.

    Attributes:
        pos: ``(T, 10, 3)`` target positions (m).
        rot: ``(T, 10, 3, 3)`` target orientations (body to world).
        has_rot: ``(10,)`` whether the orientation is meaningful (hands need finger keypoints).
        scale: the leg-length ratio ``s`` (robot / human) applied to the root.
    """

    pos: np.ndarray
    rot: np.ndarray
    has_rot: np.ndarray
    scale: float

    def index(self, body: str) -> int:
        """Row of ``body`` in the arrays."""
        return TARGET_BODIES.index(body)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def frame_from(primary: np.ndarray, hint: np.ndarray, axes: str) -> np.ndarray:
    """Rotation matrices ``(T, 3, 3)`` whose axis ``axes[0]`` is along ``primary`` ``(T, 3)`` and
    whose axis ``axes[1]`` is ``hint`` ``(T, 3)`` made orthogonal to it (Gram-Schmidt)."""
    a = _unit(primary)
    b = _unit(hint - np.sum(hint * a, -1, keepdims=True) * a)
    i, j = "xyz".index(axes[0]), "xyz".index(axes[1])
    k = 3 - i - j
    # The third axis completes a right-handed frame: x = y × z, y = z × x, z = x × y.
    c = np.cross(a, b) if (j - i) % 3 == 1 else np.cross(b, a)
    cols = [None, None, None]
    cols[i], cols[j], cols[k] = a, b, c
    return np.stack(cols, axis=-1)


def rot_y(angle: float) -> np.ndarray:
    """``(3, 3)`` rotation by ``angle`` (rad) about y."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def human_frames(kp: HumanKeypoints, foot_pitch: np.ndarray) -> dict[str, np.ndarray]:
    """Orientation ``(T, 3, 3)`` of the human's pelvis, torso, feet and hands, in G1 conventions.

    ``foot_pitch`` ``(2,)`` is the ankle->toe pitch (rad) that counts as a flat foot.
    """
    f = {
        "pelvis": frame_from(kp["left_hip"] - kp["right_hip"], kp["spine"] - kp["pelvis"], "yz"),
        "torso_link": frame_from(kp["left_shoulder"] - kp["right_shoulder"], kp["neck"] - kp["spine"], "yz"),
    }
    for i, s in enumerate(SIDES):
        toe = kp[f"{s}_toe"] - kp[f"{s}_ankle"]
        shin = kp[f"{s}_knee"] - kp[f"{s}_ankle"]
        raw = frame_from(np.cross(shin, toe), toe, "yx")  # y lateral (left), x along the foot
        f[f"{s}_ankle_roll_link"] = raw @ rot_y(-foot_pitch[i])  # undo the performer's "flat" pitch
        if kp.has(f"{s}_hand") and kp.has(f"{s}_index") and kp.has(f"{s}_pinky"):
            f[f"{s}_wrist_yaw_link"] = frame_from(kp[f"{s}_hand"] - kp[f"{s}_wrist"], kp[f"{s}_index"] - kp[f"{s}_pinky"], "xz")
    return f


def build_targets(
    kp: HumanKeypoints, foot_pitch: np.ndarray, human_leg: float, robot: RobotModel | None = None
) -> Targets:
    """IK targets of the G1 for a (floor-normalised) human clip.

    Args:
        kp: keypoints, metres, Z up, planted feet on z = 0.
        foot_pitch: ``(2,)`` the performer's flat-foot ankle->toe pitch (rad).
        human_leg: the performer's hip-knee-ankle length (m); ``s = G1 leg / human_leg``.

    Returns:
        :class:`Targets` for every frame.
    """
    geo = g1_geometry(robot)
    s = geo.leg / human_leg
    t = kp.num_frames
    frames = human_frames(kp, foot_pitch)
    pos = np.zeros((t, len(TARGET_BODIES), 3))
    rot = np.broadcast_to(np.eye(3), (t, len(TARGET_BODIES), 3, 3)).copy()
    has_rot = np.zeros(len(TARGET_BODIES), bool)
    for name, r in frames.items():
        i = TARGET_BODIES.index(name)
        rot[:, i] = r @ geo.rest_rot[i]
        has_rot[i] = True
    idx = TARGET_BODIES.index
    r_pelvis, r_torso = rot[:, idx("pelvis")], rot[:, idx("torso_link")]
    apply = lambda r, v: np.einsum("tij,j->ti", r, v)  # noqa: E731

    mid_hip = 0.5 * (kp["left_hip"] + kp["right_hip"])
    pelvis = s * mid_hip - apply(r_pelvis, geo.hip.mean(0))
    torso = pelvis + apply(r_pelvis, geo.waist)
    pos[:, idx("pelvis")] = pelvis
    pos[:, idx("torso_link")] = torso
    for i, side in enumerate(SIDES):
        hip = pelvis + apply(r_pelvis, geo.hip[i])
        knee = hip + geo.thigh * _unit(kp[f"{side}_knee"] - kp[f"{side}_hip"])
        ankle = knee + geo.shank * _unit(kp[f"{side}_ankle"] - kp[f"{side}_knee"])
        shoulder = torso + apply(r_torso, geo.shoulder[i])
        elbow = shoulder + geo.upper_arm * _unit(kp[f"{side}_elbow"] - kp[f"{side}_shoulder"])
        wrist = elbow + geo.forearm * _unit(kp[f"{side}_wrist"] - kp[f"{side}_elbow"])
        pos[:, idx(f"{side}_knee_link")] = knee
        pos[:, idx(f"{side}_ankle_roll_link")] = ankle
        pos[:, idx(f"{side}_elbow_link")] = elbow
        pos[:, idx(f"{side}_wrist_yaw_link")] = wrist
    return Targets(pos, rot, has_rot, s)
