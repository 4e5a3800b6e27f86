"""Human skeletons as data: maps from a rig's joints to the retargeter's named keypoints.

Every source (a BVH rig, SMPL/AMASS joint arrays, video keypoints) is reduced to the same
:data:`KEYPOINTS` in metres, Z-up, before retargeting, so adding a rig means adding a map to
``maps.json`` (keypoint -> joint name), not code. The maps shipped:

- ``cmu_cc``: CMU mocap in the iClone "CC" rig (``CC_Base_Hip``, ``CC_Base_L_Thigh``, ...), cm, Y-up.
- ``smpl``: the SMPL/SMPL-H/AMASS body joints (22, or 24 with ``L_Hand``/``R_Hand``), by name (BVH)
  or in SMPL order (arrays).
- ``bandai_namco``: the Bandai-Namco Research motion datasets' 22-joint rig (``Hips``,
  ``UpperLeg_L``, ``Toes_L``, ...), cm, Y-up, every joint's position channels *replacing* its offset.
- ``cmu_cgspeed``: the cgspeed BVH conversion of CMU mocap, 31 joints (``LHipJoint``,
  ``LeftUpLeg``, ``LowerBack``, ...), Y-up, in the ASF's units (1/0.45 inch).

A map's ``units_to_m`` only has to be roughly right: the G1's root and limb lengths come from the
ratio of the G1's leg to the human's (:mod:`.targets`); units matter for the human-side thresholds
(contact speeds and heights in metres), which tolerate a rough figure; the retarget command
rejects a clip whose leg length in metres is not a person's.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from motionfm.retarget.bvh import POSITION_CHANNELS, Bvh, BvhError, bvh_stem, bvh_to_world

KEYPOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine", "neck",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_toe", "right_toe",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand", "left_index", "right_index", "left_pinky", "right_pinky",
)
"""The retargeter's keypoints. ``spine`` is the chest (between the shoulder blades), ``hand`` the
base of the middle finger, ``index``/``pinky`` the bases of those fingers (they give the palm's
roll). The last six are optional: a map without them gives NaN there and the hands get position
targets only."""

REQUIRED_KEYPOINTS: tuple[str, ...] = KEYPOINTS[:17]
"""Keypoints every map must provide (pelvis to wrists)."""

MAPS_FILE = Path(__file__).with_name("maps.json")


@dataclasses.dataclass(frozen=True)
class SkeletonMap:
    """A rig's joint names for the :data:`KEYPOINTS`, with its file units and up axis.

    Attributes:
        name: the map's name in ``maps.json``.
        keypoints: keypoint -> the rig's joint name.
        units_to_m: metres per file unit (0.01 for centimetres).
        up: the rig's up axis, ``"y"`` or ``"z"``.
        position_channels: what the rig's position channels hold, ``"add"`` (moves from
            ``OFFSET``) or ``"replace"`` (the whole local translation); see :mod:`.bvh`.
        joint_order: joint names in array order, for ``(T, J, 3)`` inputs (empty if unordered).
        aliases: other names the map answers to.
        description: one line.
    """

    name: str
    keypoints: Mapping[str, str]
    units_to_m: float = 1.0
    up: str = "y"
    position_channels: str = "add"
    joint_order: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""


@functools.lru_cache(maxsize=4)
def _load_maps(path: str) -> dict[str, SkeletonMap]:
    raw = json.loads(Path(path).read_text())
    maps = {}
    for name, m in raw.items():
        missing = [k for k in REQUIRED_KEYPOINTS if k not in m["keypoints"]]
        unknown = [k for k in m["keypoints"] if k not in KEYPOINTS]
        if missing or unknown:
            raise ValueError(f"{path}: map {name!r} lacks keypoints {missing} or has unknown ones {unknown}")
        position_channels = m.get("position_channels", "add")
        if position_channels not in POSITION_CHANNELS:
            raise ValueError(f"{path}: map {name!r} has position_channels {position_channels!r}; use one of {POSITION_CHANNELS}")
        maps[name] = SkeletonMap(
            name=name, keypoints=dict(m["keypoints"]), units_to_m=float(m.get("units_to_m", 1.0)),
            up=m.get("up", "y"), position_channels=position_channels, joint_order=tuple(m.get("joint_order", ())),
            aliases=tuple(m.get("aliases", ())), description=m.get("description", ""),
        )
    return maps


def available_maps() -> tuple[str, ...]:
    """Names of the shipped skeleton maps."""
    return tuple(_load_maps(str(MAPS_FILE)))


def get_map(name: str | SkeletonMap) -> SkeletonMap:
    """A skeleton map by name or alias (a :class:`SkeletonMap` is returned as is).

    Raises:
        KeyError: an unknown name, listing the known ones.
    """
    if isinstance(name, SkeletonMap):
        return name
    maps = _load_maps(str(MAPS_FILE))
    key = name.lower()
    for m in maps.values():
        if key == m.name or key in m.aliases:
            return m
    known = ", ".join(f"{m.name} (aliases: {', '.join(m.aliases)})" for m in maps.values())
    raise KeyError(f"unknown skeleton map {name!r}; known maps: {known}")


def detect_map(joint_names: Sequence[str], source: str = "skeleton") -> SkeletonMap:
    """The shipped map whose required joints all appear in ``joint_names``.

    Raises:
        ValueError: no map fits (naming ``source`` and the closest map's missing joints).
    """
    names = set(joint_names)
    best, best_missing = None, None
    for m in _load_maps(str(MAPS_FILE)).values():
        missing = [m.keypoints[k] for k in REQUIRED_KEYPOINTS if m.keypoints[k] not in names]
        if not missing:
            return m
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = m, missing
    raise ValueError(
        f"{source}: no skeleton map fits its joints (closest: {best.name!r}, missing {best_missing[:5]}); "
        "pass a map name or add one to motionfm/retarget/maps.json"
    )


@dataclasses.dataclass(frozen=True, eq=False)
class HumanKeypoints:
    """Human keypoints over time in the project's world (metres, Z up).

    Attributes:
        fps: frame rate.
        positions: ``(T, K, 3)`` in :data:`KEYPOINTS` order; NaN for keypoints the source lacks.
        name: clip name.
        source: where it came from (a file path), for messages.
    """

    fps: float
    positions: np.ndarray
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        p = np.asarray(self.positions, np.float64)
        object.__setattr__(self, "positions", p)
        where = self.source or self.name or "keypoints"
        if p.ndim != 3 or p.shape[1:] != (len(KEYPOINTS), 3):
            raise ValueError(f"{where}: positions must be (T, {len(KEYPOINTS)}, 3), got {p.shape}")
        if p.shape[0] < 2:
            raise ValueError(f"{where}: a clip needs at least 2 frames, got {p.shape[0]}")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"{where}: fps must be positive, got {self.fps}")
        req = p[:, : len(REQUIRED_KEYPOINTS)]
        if not np.isfinite(req).all():
            t, k = np.argwhere(~np.isfinite(req).all(-1))[0]
            raise ValueError(f"{where}: NaN or inf in keypoint {KEYPOINTS[k]!r} at frame {t}")

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return self.positions.shape[0]

    def __getitem__(self, keypoint: str) -> np.ndarray:
        """``(T, 3)`` trajectory of one keypoint."""
        return self.positions[:, KEYPOINTS.index(keypoint)]

    def has(self, keypoint: str) -> bool:
        """Whether the source provided ``keypoint``."""
        return bool(np.isfinite(self[keypoint]).all())


def keypoints_from_bvh(
    bvh: Bvh, skeleton: str | SkeletonMap | None = None, scale: float | None = None, up: str | None = None
) -> HumanKeypoints:
    """The :data:`KEYPOINTS` of a BVH clip, in metres, Z up.

    Args:
        bvh: a parsed clip (:func:`~motionfm.retarget.bvh.read_bvh`).
        skeleton: map name or map; ``None`` picks the shipped map that fits the joint names.
        scale: metres per file unit; default the map's ``units_to_m``.
        up: the file's up axis; default the map's.

    Raises:
        BvhError: the map needs a joint the file does not have (naming the file and joint).
    """
    m = detect_map(bvh.names, bvh.path) if skeleton is None else get_map(skeleton)
    for k in REQUIRED_KEYPOINTS:
        if m.keypoints[k] not in bvh.names:
            raise BvhError(bvh.path, f"skeleton map {m.name!r} needs joint {m.keypoints[k]!r} ({k}), which the file lacks")
    pos, _ = bvh.global_transforms(m.position_channels)
    world = bvh_to_world(pos, m.units_to_m if scale is None else scale, m.up if up is None else up)
    out = np.full((bvh.num_frames, len(KEYPOINTS), 3), np.nan)
    for i, k in enumerate(KEYPOINTS):
        joint = m.keypoints.get(k)
        if joint in bvh.names:
            out[:, i] = world[:, bvh.names.index(joint)]
    return HumanKeypoints(bvh.fps, out, name=bvh_stem(bvh.path), source=bvh.path)


def keypoints_from_joints(
    joints: np.ndarray,
    fps: float,
    skeleton: str | SkeletonMap = "smpl",
    up: str = "z",
    scale: float = 1.0,
    joint_names: Sequence[str] | None = None,
    name: str = "",
) -> HumanKeypoints:
    """The :data:`KEYPOINTS` from a ``(T, J, 3)`` array of joint positions (SMPL/AMASS, keypoints).

    Args:
        joints: ``(T, J, 3)`` positions; joint ``j`` is ``joint_names[j]`` or else the map's
            ``joint_order[j]`` (SMPL order: 22 body joints, or 24 with the hands).
        fps: frame rate.
        skeleton: map name or map (default ``smpl``).
        up: the array's up axis: ``"z"`` (AMASS world, the default) or ``"y"`` (SMPL's own frame).
        scale: metres per unit of ``joints``.
        joint_names: names of the ``J`` joints, if not the map's order.

    Raises:
        ValueError: wrong shape, too few joints for the map, or NaN in a needed joint.
    """
    m = get_map(skeleton)
    joints = np.asarray(joints, np.float64)
    names = tuple(joint_names) if joint_names is not None else m.joint_order[: joints.shape[1] if joints.ndim == 3 else 0]
    where = name or "joints"
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise ValueError(f"{where}: joint positions must be (T, J, 3), got {joints.shape}")
    if len(names) != joints.shape[1]:
        raise ValueError(f"{where}: {joints.shape[1]} joints but {len(names)} names (map {m.name!r} orders {len(m.joint_order)})")
    missing = [m.keypoints[k] for k in REQUIRED_KEYPOINTS if m.keypoints[k] not in names]
    if missing:
        raise ValueError(f"{where}: map {m.name!r} needs joints {missing} that the array lacks")
    world = bvh_to_world(joints, scale, up)
    out = np.full((joints.shape[0], len(KEYPOINTS), 3), np.nan)
    for i, k in enumerate(KEYPOINTS):
        joint = m.keypoints.get(k)
        if joint in names:
            out[:, i] = world[:, names.index(joint)]
    return HumanKeypoints(float(fps), out, name=name, source=name)
