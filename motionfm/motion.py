"""G1 motion: the one representation every stage reads and writes.

A :class:`Motion` is a clip of the G1's configuration over time at a fixed frame rate:

- ``root_pos``  ``(T, 3)``  pelvis position in the world (m, z up);
- ``root_quat`` ``(T, 4)``  pelvis orientation, unit quaternion **wxyz** (MuJoCo's convention;
  Unitree CSVs store **xyzw** and are converted on load and save);
- ``joint_pos`` ``(T, 29)`` joint angles (rad) in :data:`~motionfm.robot.G1_JOINT_NAMES` order;
- ``joint_mask`` ``(29,)``  ``False`` for joints the source did not record (ASAP clips have no
  wrists): their columns hold zeros and losses must ignore them.

File layouts read by :meth:`Motion.load` (chosen by suffix):

- ``.csv``: Unitree layout, no header, 36 columns: root xyz, root quaternion **xyzw**, 29 joints.
  The file has no frame rate: pass ``fps=`` or keep a ``clips.jsonl`` beside the data (the file's
  folder or one of its two parents) whose row for this file gives ``fps`` (and ``missing_dofs``,
  ``captions``).
- ``.npz`` (motionfm, written by :meth:`Motion.save`): ``format`` = ``"motionfm.motion"``,
  ``version`` (int), ``fps`` (scalar), ``root_pos`` (T,3), ``root_quat`` (T,4, wxyz),
  ``joint_pos`` (T,29), ``joint_names`` (29 str), ``joint_mask`` (29 bool), ``captions`` (str array).
- ``.npz`` (BeyondMimic / mjlab): ``fps``, ``joint_pos`` (T,29), ``body_pos_w`` (T,B,3),
  ``body_quat_w`` (T,B,4, wxyz); the root is body 0 (or the ``pelvis`` entry of ``body_names``
  when present). Joints are taken in G1/MuJoCo order unless a ``joint_names`` array says otherwise.
- ``.npz`` with ``qpos`` (T,36, root quaternion wxyz) and ``fps``: tracker rollouts.

Every fault in a file is raised as :class:`MotionFileError`, naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from motionfm.robot.g1 import G1_JOINT_NAMES, NUM_JOINTS, QPOS_DIM, load_g1, mirror_qpos

NPZ_FORMAT = "motionfm.motion"
NPZ_VERSION = 1
CSV_COLUMNS = QPOS_DIM  # 36

LimitPolicy = Literal["warn", "error", "ignore"]


class MotionFileError(ValueError):
    """A motion file that cannot be read as a valid G1 motion. ``str()`` names the file."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class JointLimitWarning(UserWarning):
    """Joint angles outside the G1's limits by more than the tolerance (``limits="warn"``)."""


def _wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return q[..., [1, 2, 3, 0]]


def _xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    return q[..., [3, 0, 1, 2]]


def _rotation(q_wxyz: np.ndarray) -> Rotation:
    return Rotation.from_quat(_wxyz_to_xyzw(q_wxyz))


def _quat_wxyz(r: Rotation) -> np.ndarray:
    return _xyzw_to_wxyz(r.as_quat())


def _continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs so consecutive frames lie in the same hemisphere (q and -q agree)."""
    q = q.copy()
    flip = np.cumsum(np.sum(q[1:] * q[:-1], axis=-1) < 0) % 2 == 1
    q[1:][flip] *= -1
    return q


@dataclasses.dataclass(frozen=True, eq=False)
class Motion:
    """A G1 motion clip at a fixed frame rate (see the module docstring for conventions).

    Construct from arrays (validated), from files with :meth:`load`, or from a MuJoCo-layout
    ``(T, 36)`` array with :meth:`from_qpos`. Instances are immutable; every transform returns a
    new Motion.
    """

    fps: float
    root_pos: np.ndarray
    root_quat: np.ndarray
    joint_pos: np.ndarray
    joint_mask: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(NUM_JOINTS, bool))
    name: str = ""
    captions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        f = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)
        f("root_pos", np.asarray(self.root_pos, np.float64))
        f("root_quat", np.asarray(self.root_quat, np.float64))
        f("joint_pos", np.asarray(self.joint_pos, np.float64))
        f("joint_mask", np.asarray(self.joint_mask, bool))
        f("fps", float(self.fps))
        f("captions", tuple(self.captions))
        problem = _check_arrays(self.fps, self.root_pos, self.root_quat, self.joint_pos, self.joint_mask)
        if problem:
            raise ValueError(f"{self.name or 'motion'}: {problem}")
        for a in (self.root_pos, self.root_quat, self.joint_pos, self.joint_mask):
            a.setflags(write=False)

    # ------------------------------------------------------------------ basic views
    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return self.root_pos.shape[0]

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration(self) -> float:
        """Length in seconds, ``(T - 1) / fps``."""
        return (self.num_frames - 1) / self.fps

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The 29 joint names, in column order."""
        return G1_JOINT_NAMES

    @property
    def qpos(self) -> np.ndarray:
        """``(T, 36)`` MuJoCo generalized positions: root xyz, root quaternion wxyz, 29 joints."""
        return np.concatenate([self.root_pos, self.root_quat, self.joint_pos], axis=-1)

    @classmethod
    def from_qpos(cls, qpos: np.ndarray, fps: float, **kwargs: Any) -> "Motion":
        """Build from a ``(T, 36)`` MuJoCo-layout array (root quaternion **wxyz**)."""
        qpos = np.asarray(qpos, np.float64)
        if qpos.ndim != 2 or qpos.shape[1] != QPOS_DIM:
            raise ValueError(f"qpos must be (T, {QPOS_DIM}), got {qpos.shape}")
        return cls(fps, qpos[:, :3], qpos[:, 3:7], qpos[:, 7:], **kwargs)

    def replace(self, **changes: Any) -> "Motion":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def slice(self, start: int, stop: int | None = None) -> "Motion":
        """Frames ``start:stop`` as a new Motion (at least 2 frames)."""
        s = slice(start, stop)
        return self.replace(root_pos=self.root_pos[s], root_quat=self.root_quat[s], joint_pos=self.joint_pos[s])

    # ------------------------------------------------------------------ derivatives
    def joint_vel(self) -> np.ndarray:
        """``(T, 29)`` joint velocities (rad/s), central finite differences (one-sided at the ends)."""
        return np.gradient(self.joint_pos, 1.0 / self.fps, axis=0)

    def root_lin_vel(self) -> np.ndarray:
        """``(T, 3)`` root linear velocity in the world frame (m/s), central differences."""
        return np.gradient(self.root_pos, 1.0 / self.fps, axis=0)

    def root_ang_vel(self, frame: Literal["world", "body"] = "world") -> np.ndarray:
        """``(T, 3)`` root angular velocity (rad/s) in the world or the root's own frame.

        Central differences on SO(3): ``log(R[t+1] R[t-1]^-1) / (2 dt)`` (one-sided at the ends).
        """
        r = _rotation(self.root_quat)
        nxt = np.r_[1 : self.num_frames, self.num_frames - 1]
        prv = np.r_[0, 0 : self.num_frames - 1]
        span = (nxt - prv) / self.fps
        w = (r[nxt] * r[prv].inv()).as_rotvec() / span[:, None]
        return r.inv().apply(w) if frame == "body" else w

    def heading(self) -> np.ndarray:
        """``(T,)`` root yaw (rad): the angle of the pelvis x-axis projected on the ground."""
        x = _rotation(self.root_quat).apply([1.0, 0.0, 0.0])
        return np.arctan2(x[:, 1], x[:, 0])

    # ------------------------------------------------------------------ transforms
    def resample(self, fps: float) -> "Motion":
        """Resample to ``fps``: linear interpolation of positions and joints, slerp of the root.

        Frames are taken at ``k / fps`` for every ``k`` with ``k / fps <= duration``, so the first
        frame is kept and the clip never extrapolates.
        """
        fps = float(fps)
        if not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if fps == self.fps:
            return self
        n = int(np.floor(self.duration * fps + 1e-6)) + 1
        if n < 2:
            raise ValueError(f"{self.name or 'motion'}: {self.duration:.3f} s is too short to resample to {fps} fps")
        t_old = np.arange(self.num_frames) / self.fps
        t_new = np.minimum(np.arange(n) / fps, t_old[-1])
        i = np.clip(np.searchsorted(t_old, t_new, side="right") - 1, 0, self.num_frames - 2)
        a = ((t_new - t_old[i]) * self.fps)[:, None]
        lerp = lambda x: x[i] * (1 - a) + x[i + 1] * a  # noqa: E731
        quat = _quat_wxyz(Slerp(t_old, _rotation(self.root_quat))(t_new))
        return self.replace(fps=fps, root_pos=lerp(self.root_pos), root_quat=_continuous(quat), joint_pos=lerp(self.joint_pos))

    def mirror(self) -> "Motion":
        """Left/right mirror image in the world's x-z plane (for augmentation).

        Root ``y`` is negated, the root rotation is reflected (``(w, x, y, z) -> (w, -x, y, -z)``),
        and every joint takes its twin's angle times the G1's mirror sign (+1 pitch, -1 roll/yaw,
        derived from the joint axes; see :class:`~motionfm.robot.RobotModel`). Mirroring twice gives
        the original back exactly.
        """
        qpos, mask = mirror_qpos(self.qpos, self.joint_mask)
        return self.replace(root_pos=qpos[:, :3], root_quat=qpos[:, 3:7], joint_pos=qpos[:, 7:], joint_mask=mask)

    def canonicalize(self, frame: int = 0, origin: bool = True) -> "Motion":
        """Rotate (about z) so the root faces +x at ``frame``; with ``origin``, move it above (0, 0).

        Root height is unchanged. Motion is heading-invariant after this, e.g. for training windows.
        """
        yaw = self.heading()[frame]
        rz = Rotation.from_rotvec([0.0, 0.0, -yaw])
        offset = np.array([*self.root_pos[frame, :2], 0.0]) if origin else np.zeros(3)
        pos = rz.apply(self.root_pos - offset)
        quat = _quat_wxyz(rz * _rotation(self.root_quat))
        return self.replace(root_pos=pos, root_quat=_continuous(quat))

    # ------------------------------------------------------------------ checks
    def joint_limit_violations(self, tolerance: float = 0.0) -> np.ndarray:
        """``(T, 29)`` amount (rad, >= 0) by which each joint exceeds its limit beyond ``tolerance``.

        Masked-out joints never count.
        """
        lo, hi = load_g1().joint_limits.T
        excess = np.maximum(lo - tolerance - self.joint_pos, 0) + np.maximum(self.joint_pos - hi - tolerance, 0)
        return excess * self.joint_mask

    # ------------------------------------------------------------------ IO
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        fps: float | None = None,
        *,
        default_fps: float | None = None,
        limits: LimitPolicy = "warn",
        limit_tolerance: float = 0.05,
        quat_tolerance: float = 1e-2,
        metadata: Mapping[str, Any] | None = None,
    ) -> "Motion":
        """Read a motion file (``.csv`` or ``.npz``; layouts in the module docstring).

        Args:
            path: the file.
            fps: the file's frame rate. Required for a CSV unless a ``clips.jsonl`` gives it; for
                files that store their fps it must agree (else an fps-mismatch error). To change
                the rate, load and then :meth:`resample`.
            default_fps: the rate to assume when neither ``fps``, the file nor a ``clips.jsonl``
                gives one (for folders of CSVs without an index).
            limits: what to do about joints outside the G1's limits by more than
                ``limit_tolerance`` rad: ``"warn"`` (:class:`JointLimitWarning`), ``"error"`` or
                ``"ignore"``.
            quat_tolerance: largest accepted ``|‖q‖ - 1|`` of a root quaternion; within it the
                quaternion is renormalised.
            metadata: a ``clips.jsonl`` row to use instead of looking one up (``fps``,
                ``missing_dofs``, ``captions``).

        Raises:
            MotionFileError: naming the file and the problem.
        """
        path = Path(path)
        if not path.is_file():
            raise MotionFileError(path, "no such file")
        meta = dict(metadata) if metadata is not None else (find_clip_metadata(path) or {})
        suffix = path.suffix.lower()
        if suffix == ".csv":
            raw = _read_csv(path)
            root_pos, root_quat, joints = raw[:, :3], _xyzw_to_wxyz(raw[:, 3:7]), raw[:, 7:]
            stored_fps, mask, captions = None, None, ()
        elif suffix == ".npz":
            root_pos, root_quat, joints, stored_fps, mask, captions = _read_npz(path)
        else:
            raise MotionFileError(path, f"unknown motion file type {path.suffix!r} (expected .csv or .npz)")

        fps = _resolve_fps(path, fps, stored_fps, meta.get("fps"), default_fps)
        if mask is None:
            mask = np.ones(NUM_JOINTS, bool)
        for joint in meta.get("missing_dofs", ()):
            if joint not in G1_JOINT_NAMES:
                raise MotionFileError(path, f"unknown joint {joint!r} in missing_dofs of clips.jsonl")
            mask[G1_JOINT_NAMES.index(joint)] = False
        captions = tuple(captions) or tuple(meta.get("captions", ()))
        problem = _check_arrays(fps, root_pos, root_quat, joints, mask, quat_tolerance)
        if problem:
            raise MotionFileError(path, problem)
        norm = np.linalg.norm(root_quat, axis=-1, keepdims=True)
        # Renormalise only what needs it, so saving and loading again is exact.
        root_quat = _continuous(np.where(np.abs(norm - 1) > 1e-12, root_quat / norm, root_quat))
        motion = cls(fps, root_pos, root_quat, joints, mask, name=str(meta.get("id") or path.stem), captions=captions)
        if limits != "ignore":
            excess = motion.joint_limit_violations(limit_tolerance)
            if excess.any():
                t, j = np.unravel_index(np.argmax(excess), excess.shape)
                msg = (
                    f"{int((excess > 0).any(1).sum())} frames have joints outside the G1's limits by more than "
                    f"{limit_tolerance} rad (worst: {G1_JOINT_NAMES[j]} = {motion.joint_pos[t, j]:.3f} at frame {t}, "
                    f"{excess[t, j]:.3f} rad beyond)"
                )
                if limits == "error":
                    raise MotionFileError(path, msg)
                warnings.warn(f"{path}: {msg}", JointLimitWarning, stacklevel=2)
        return motion

    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``.csv`` (Unitree layout; fps and mask are not stored) or ``.npz`` (motionfm).

        The file is written to a temporary name and moved into place, so a failure never leaves a
        half-written file behind.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".npz"):
            raise ValueError(f"{path}: unknown motion file type {path.suffix!r} (expected .csv or .npz)")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                if suffix == ".csv":
                    data = np.concatenate([self.root_pos, _wxyz_to_xyzw(self.root_quat), self.joint_pos], axis=1)
                    np.savetxt(fh, data, fmt="%.6f", delimiter=",")
                else:
                    np.savez_compressed(
                        fh,
                        format=np.array(NPZ_FORMAT),
                        version=np.array(NPZ_VERSION),
                        fps=np.array(self.fps),
                        root_pos=self.root_pos,
                        root_quat=self.root_quat,
                        joint_pos=self.joint_pos,
                        joint_names=np.array(G1_JOINT_NAMES),
                        joint_mask=self.joint_mask,
                        captions=np.array(self.captions, dtype=str),
                        name=np.array(self.name),
                    )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


# ---------------------------------------------------------------------- validation and readers
def _check_arrays(
    fps: float | None,
    root_pos: np.ndarray,
    root_quat: np.ndarray,
    joints: np.ndarray,
    mask: np.ndarray,
    quat_tolerance: float = 1e-2,
) -> str | None:
    """The first problem with a motion's arrays, as a sentence, or ``None``."""
    if fps is None or not np.isfinite(fps) or fps <= 0:
        return f"invalid fps {fps!r} (must be a positive number)"
    if root_pos.ndim != 2 or root_pos.shape[1] != 3:
        return f"root position must be (T, 3), got {root_pos.shape}"
    if root_quat.shape != (len(root_pos), 4):
        return f"root quaternion must be ({len(root_pos)}, 4), got {root_quat.shape}"
    if joints.shape != (len(root_pos), NUM_JOINTS):
        return f"joint positions must be ({len(root_pos)}, {NUM_JOINTS}), got {joints.shape}"
    if mask.shape != (NUM_JOINTS,):
        return f"joint mask must be ({NUM_JOINTS},), got {mask.shape}"
    if len(root_pos) < 2:
        return f"a motion needs at least 2 frames, got {len(root_pos)}"
    for label, arr, first_col in (("root position", root_pos, 0), ("root quaternion", root_quat, 3), ("joint angle", joints, 7)):
        bad = ~np.isfinite(arr)
        if bad.any():
            t, c = np.argwhere(bad)[0]
            return f"NaN or inf {label} at frame {t} (column {first_col + c})"
    norm = np.linalg.norm(root_quat, axis=-1)
    if (norm < 1e-6).any():
        return f"zero root quaternion at frame {int(np.argmax(norm < 1e-6))}"
    off = np.abs(norm - 1.0)
    if (off > quat_tolerance).any():
        t = int(np.argmax(off))
        return f"non-unit root quaternion at frame {t} (norm {norm[t]:.4f}; tolerance {quat_tolerance})"
    return None


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text()
    rows = [ln for ln in text.splitlines() if ln.strip()]
    if not rows:
        raise MotionFileError(path, "empty file")
    for i, row in enumerate(rows):
        n = row.count(",") + 1
        if n != CSV_COLUMNS:
            raise MotionFileError(
                path,
                f"wrong column count at line {i + 1}: {n} columns, expected {CSV_COLUMNS} "
                "(root xyz, root quaternion xyzw, 29 joint angles)",
            )
    try:
        return np.array([[float(v) for v in row.split(",")] for row in rows])
    except ValueError:
        for i, row in enumerate(rows):
            for c, v in enumerate(row.split(",")):
                try:
                    float(v)
                except ValueError:
                    raise MotionFileError(path, f"non-numeric value {v.strip()!r} at line {i + 1}, column {c + 1}") from None
        raise


def _read_npz(path: Path):
    try:
        z = dict(np.load(path, allow_pickle=False))
    except Exception as e:  # zipfile.BadZipFile, ValueError for object arrays, ...
        raise MotionFileError(path, f"not a readable .npz file ({e})") from None
    stored_fps = float(np.asarray(z["fps"]).reshape(-1)[0]) if "fps" in z else None
    captions = tuple(str(c) for c in np.asarray(z.get("captions", np.array([], str))).reshape(-1))
    mask = np.asarray(z["joint_mask"], bool).copy() if "joint_mask" in z else None
    if "root_pos" in z and "root_quat" in z and "joint_pos" in z:  # motionfm layout
        root_pos, root_quat, joints = z["root_pos"], z["root_quat"], z["joint_pos"]
    elif "qpos" in z:
        q = np.asarray(z["qpos"], np.float64)
        if q.ndim != 2 or q.shape[1] != QPOS_DIM:
            raise MotionFileError(path, f"qpos must be (T, {QPOS_DIM}), got {q.shape}")
        root_pos, root_quat, joints = q[:, :3], q[:, 3:7], q[:, 7:]
    elif "joint_pos" in z and "body_pos_w" in z:  # BeyondMimic / mjlab
        if "body_quat_w" not in z:
            raise MotionFileError(path, "BeyondMimic npz has body_pos_w but no body_quat_w")
        root = 0
        if "body_names" in z:
            names = [str(n) for n in z["body_names"]]
            if "pelvis" not in names:
                raise MotionFileError(path, "body_names has no 'pelvis' (the G1's root body)")
            root = names.index("pelvis")
        bp, bq = np.asarray(z["body_pos_w"]), np.asarray(z["body_quat_w"])
        if bp.ndim != 3 or bq.ndim != 3:
            raise MotionFileError(path, f"body_pos_w/body_quat_w must be (T, B, 3)/(T, B, 4), got {bp.shape}/{bq.shape}")
        root_pos, root_quat, joints = bp[:, root], bq[:, root], z["joint_pos"]
    else:
        raise MotionFileError(
            path, f"unrecognised npz layout (keys: {sorted(z)}); expected motionfm, BeyondMimic or qpos keys"
        )
    joints = np.asarray(joints, np.float64)
    if "joint_names" in z:
        names = [str(n) for n in z["joint_names"]]
        unknown = [n for n in names if n not in G1_JOINT_NAMES]
        if unknown:
            raise MotionFileError(path, f"unknown joint {unknown[0]!r} (not a G1 joint)")
        if sorted(names) != sorted(G1_JOINT_NAMES):
            missing = [n for n in G1_JOINT_NAMES if n not in names]
            raise MotionFileError(path, f"joint_names must list all 29 G1 joints once; missing {missing}")
        if joints.ndim != 2 or joints.shape[1] != len(names):
            raise MotionFileError(path, f"joint_pos has shape {joints.shape} but joint_names lists {len(names)} joints")
        order = [names.index(n) for n in G1_JOINT_NAMES]
        joints = joints[:, order]
        if mask is not None:
            mask = mask[order]
    return (np.asarray(root_pos, np.float64), np.asarray(root_quat, np.float64), joints, stored_fps, mask, captions)


def _resolve_fps(path: Path, given: float | None, stored: float | None, listed: float | None, default: float | None) -> float:
    known = [(src, float(v)) for src, v in (("the file", stored), ("clips.jsonl", listed)) if v is not None]
    if given is not None:
        for src, v in known:
            if abs(v - given) > 1e-6:
                raise MotionFileError(path, f"fps mismatch: fps={given:g} was given but {src} says {v:g}")
        return float(given)
    if known:
        if len(known) == 2 and abs(known[0][1] - known[1][1]) > 1e-6:
            raise MotionFileError(path, f"fps mismatch: the file says {known[0][1]:g} but clips.jsonl says {known[1][1]:g}")
        return known[0][1]
    if default is not None:
        return float(default)
    raise MotionFileError(path, "unknown fps: the file does not store one; pass fps= or list the file in a clips.jsonl")


# ---------------------------------------------------------------------- clips.jsonl
def read_clips_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``clips.jsonl`` (one JSON object per line; blank lines skipped).

    Raises:
        MotionFileError: for a line that is not a JSON object or has no ``file``.
    """
    path = Path(path)
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise MotionFileError(path, f"line {i + 1} is not valid JSON ({e.msg})") from None
        if not isinstance(row, dict) or "file" not in row:
            raise MotionFileError(path, f"line {i + 1} must be a JSON object with a 'file' key")
        rows.append(row)
    return rows


@functools.lru_cache(maxsize=16)
def _clip_index(index: str, mtime_ns: int) -> dict[str, dict[str, Any]]:
    # Keyed by modification time so an edited clips.jsonl is read again.
    return {row["file"]: row for row in read_clips_jsonl(index)}


def find_clip_metadata(path: Path, max_up: int = 2) -> dict[str, Any] | None:
    """The ``clips.jsonl`` row for ``path`` from its folder or up to ``max_up`` parents, if any."""
    path = Path(path).resolve()
    folder = path.parent
    for _ in range(max_up + 1):
        index = folder / "clips.jsonl"
        if index.is_file():
            row = _clip_index(str(index), index.stat().st_mtime_ns).get(path.relative_to(folder).as_posix())
            if row is not None:
                return dict(row)
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def load_motions(paths: Sequence[str | os.PathLike], **kwargs: Any) -> list[Motion]:
    """:meth:`Motion.load` over several files."""
    return [Motion.load(p, **kwargs) for p in paths]
