"""The motion library: many clips at the control rate, concatenated into one array set on device.

Every clip is resampled to the control rate (50 Hz), put facing +x above the origin, **grounded**
(shifted in height so its feet touch the floor: recorded and generated clips float 3-9 cm, which a
tracker can only follow by falling) and its forward kinematics is computed once on the host
(plain MuJoCo). Frames of all clips are stacked
into ``(N, ...)`` arrays; ``clip_start``/``clip_len`` give each clip's slice, so an episode is just
an integer index into the stack that advances by one per control step.

Start times are drawn by failure-weighted (adaptive) sampling: the library is cut into bins of
``bin_frames`` frames; a bin's probability is its share of recent failures mixed with a uniform
floor, so the policy practises where it falls (BeyondMimic's adaptive sampling).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from motionfm.motion import Motion
from motionfm.robot import G1_BODY_NAMES, fk_mujoco, foot_points, load_g1
from motionfm.tracker.config import TRACKED_BODIES, EnvConfig

GROUND_PERCENTILE = 5.0
"""A clip's floor offset is this percentile of its per-frame lowest sole point: robust to a few
frames of foot penetration, and a jump (feet all in the air) does not lift the clip."""


def ground_offset(motion: Motion) -> float:
    """Height (m) to add to ``motion``'s root so its feet rest on the floor (z = 0).

    The lowest of the eight sole points per frame (:func:`~motionfm.robot.foot_points`), its
    :data:`GROUND_PERCENTILE`-th percentile over the clip, negated.
    """
    robot = load_g1("g1_mjx")
    soles = foot_points(fk_mujoco(motion.qpos, robot), robot)  # (T, 2, 4, 3)
    return -float(np.percentile(soles[..., 2].reshape(len(soles), -1).min(-1), GROUND_PERCENTILE))


def ground(motion: Motion) -> Motion:
    """``motion`` shifted in height by :func:`ground_offset` (its lowest foot on the floor)."""
    pos = motion.root_pos.copy()
    pos[:, 2] += ground_offset(motion)
    return motion.replace(root_pos=pos)


MISSING_FILL_AMPLITUDE = 0.6
"""Largest swing (rad) of :func:`fill_missing_joints`' trajectories: generated motions move their
wrists up to ~0.6 rad from the default."""


def fill_missing_joints(motion: Motion, seed: int = 0) -> Motion:
    """``motion`` with each joint its source did not record (``joint_mask`` False) driven along a
    random smooth trajectory instead of held at the default angle.

    Nearly every training clip lacks the wrists (ASAP, Bandai-Namco and CMU record 23 joints), so
    a tracker trained on them only ever sees wrists at 0 and its normaliser gives wrist inputs a
    tiny spread; a generated motion that moves its wrists by 0.3 rad then reads as 5-6 standard
    deviations off and the robot fell on 9 of 12 demo-style samples, and on 1 of 12 with their
    wrists zeroed. Filling the missing joints (two sinusoids of 0.1-1 Hz, amplitude up to
    :data:`MISSING_FILL_AMPLITUDE`, within 90 % of the joint range; deterministic per clip name
    and ``seed``) teaches it to follow any wrist motion. The mask is kept: the clip still says
    which joints were recorded.
    """
    missing = ~np.asarray(motion.joint_mask, bool)
    if not missing.any():
        return motion
    import zlib

    rng = np.random.default_rng([seed, zlib.crc32((motion.name or "").encode())])
    lim = load_g1("g1_mjx").joint_limits
    t = np.arange(motion.num_frames) / motion.fps
    jp = motion.joint_pos.copy()
    for j in np.flatnonzero(missing):
        f = rng.uniform(0.1, 1.0, 2)
        ph = rng.uniform(0, 2 * np.pi, 2)
        amp = rng.uniform(0.0, MISSING_FILL_AMPLITUDE)
        wave = (np.sin(2 * np.pi * f[0] * t + ph[0]) + np.sin(2 * np.pi * f[1] * t + ph[1])) / 2
        lo, hi = lim[j]
        mid, half = (lo + hi) / 2, 0.9 * (hi - lo) / 2
        jp[:, j] = np.clip(jp[:, j] + rng.uniform(-0.2, 0.2) + amp * wave, mid - half, mid + half)
    return motion.replace(joint_pos=jp)


def stand_motion(seconds: float = 10.0, fps: float = 50.0) -> Motion:
    """The G1 holding Menagerie's ``stand`` keyframe for ``seconds``, grounded: a training clip
    and the first check a tracker must pass."""
    q = load_g1("scene").default_qpos
    n = int(round(seconds * fps))
    return ground(Motion(fps=fps, root_pos=np.tile(q[:3], (n, 1)), root_quat=np.tile(q[3:7], (n, 1)),
                         joint_pos=np.tile(q[7:], (n, 1)), name="stand", captions=("a person stands still",)))


def _body_ang_vel(quat_wxyz: np.ndarray, dt: float) -> np.ndarray:
    """``(T, B, 3)`` world angular velocity from ``(T, B, 4)`` wxyz quaternions, central differences."""
    t, b = quat_wxyz.shape[:2]
    r = Rotation.from_quat(quat_wxyz.reshape(-1, 4)[:, [1, 2, 3, 0]])
    nxt = np.r_[1:t, t - 1]
    prv = np.r_[0, 0 : t - 1]
    idx = np.arange(t * b).reshape(t, b)
    rn, rp = r[idx[nxt].ravel()], r[idx[prv].ravel()]
    w = (rn * rp.inv()).as_rotvec().reshape(t, b, 3)
    return w / ((nxt - prv) * dt)[:, None, None]


@dataclasses.dataclass(frozen=True, eq=False)
class MotionLibrary:
    """Reference frames of many clips at ``fps``, stacked (numpy on the host; see :meth:`to_device`).

    Attributes:
        fps: frame rate (the control rate).
        names: ``(C,)`` clip names.
        clip_start: ``(C,)`` first frame of each clip in the stack.
        clip_len: ``(C,)`` frames of each clip.
        qpos: ``(N, 36)`` root xyz, root quaternion wxyz, 29 joints.
        qvel: ``(N, 35)`` MuJoCo free-joint velocity layout: root linear (world), root angular
            (root frame), 29 joint velocities.
        body_pos: ``(N, B, 3)`` world positions of :data:`TRACKED_BODIES`.
        body_quat: ``(N, B, 4)`` their orientations (wxyz).
        body_lin_vel: ``(N, B, 3)`` linear velocities (world).
        body_ang_vel: ``(N, B, 3)`` angular velocities (world).
        clip_index: ``(N,)`` clip of each frame.
        clip_last: ``(N,)`` stack index of the last frame of each frame's clip.
        bin_frames: frames per adaptive-sampling bin.
        bin_prior: ``(bins,)`` probabilities of the start bins in the uniform part of adaptive
            sampling (each frame weighted by its clip's :func:`clip_weights`: by frames when no
            weights are given).
    """

    fps: float
    names: tuple[str, ...]
    clip_start: np.ndarray
    clip_len: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    body_pos: np.ndarray
    body_quat: np.ndarray
    body_lin_vel: np.ndarray
    body_ang_vel: np.ndarray
    clip_index: np.ndarray
    clip_last: np.ndarray
    bin_prior: np.ndarray
    bin_frames: int = 50

    @property
    def num_frames(self) -> int:
        """Total frames ``N`` in the stack."""
        return len(self.qpos)

    @property
    def num_bins(self) -> int:
        """Adaptive-sampling bins over the stack."""
        return -(-self.num_frames // self.bin_frames)

    @classmethod
    def from_motions(cls, motions: Sequence[Motion], fps: float = 50.0, bin_frames: int = 50,
                     canonicalize: bool = True, grounded: bool = True, missing_joints: str = "default",
                     seed: int = 0, start_weights: Sequence[tuple[str, float]] = ()) -> "MotionLibrary":
        """Build from motions (any fps; each is resampled to ``fps``, clips shorter than 3 frames
        dropped; with ``grounded``, each put on the floor by :func:`ground`; with
        ``missing_joints="random"``, joints a clip did not record move by :func:`fill_missing_joints`,
        with ``"default"`` they stay as the clip has them; ``start_weights``: see
        :func:`clip_weights`)."""
        if missing_joints not in ("default", "random"):
            raise ValueError(f"missing_joints must be 'default' or 'random', not {missing_joints!r}")
        robot = load_g1("g1_mjx")
        body_idx = [G1_BODY_NAMES.index(b) for b in TRACKED_BODIES]
        dt = 1.0 / fps
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("qpos", "qvel", "bp", "bq", "bv", "bw")}
        names, starts, lens = [], [], []
        n = 0
        for m in motions:
            m = m.resample(fps)
            if canonicalize:
                m = m.canonicalize()
            if m.num_frames < 3:
                continue
            if missing_joints == "random":
                m = fill_missing_joints(m, seed)
            if grounded:
                m = ground(m)
            fk = fk_mujoco(m.qpos, robot)
            bp, bq = fk.body_pos[:, body_idx], fk.body_quat[:, body_idx]
            qvel = np.concatenate([m.root_lin_vel(), m.root_ang_vel("body"), m.joint_vel()], axis=1)
            cols["qpos"].append(m.qpos)
            cols["qvel"].append(qvel)
            cols["bp"].append(bp)
            cols["bq"].append(bq)
            cols["bv"].append(np.gradient(bp, dt, axis=0))
            cols["bw"].append(_body_ang_vel(bq, dt))
            names.append(m.name or f"clip{len(names)}")
            starts.append(n)
            lens.append(m.num_frames)
            n += m.num_frames
        if not names:
            raise ValueError("no usable motions (each needs at least 3 frames at the control rate)")
        starts_a, lens_a = np.array(starts), np.array(lens)
        clip_index = np.repeat(np.arange(len(names)), lens_a)
        f32 = lambda k: np.concatenate(cols[k]).astype(np.float32)  # noqa: E731
        w = clip_weights(names, start_weights)[clip_index]  # (N,) each frame its clip's weight
        w = np.concatenate([w, np.zeros(-len(w) % bin_frames)]).reshape(-1, bin_frames).sum(1)
        return cls(fps=float(fps), names=tuple(names), clip_start=starts_a, clip_len=lens_a,
                   qpos=f32("qpos"), qvel=f32("qvel"), body_pos=f32("bp"), body_quat=f32("bq"),
                   body_lin_vel=f32("bv"), body_ang_vel=f32("bw"), clip_index=clip_index,
                   clip_last=(starts_a + lens_a - 1)[clip_index], bin_frames=int(bin_frames),
                   bin_prior=(w / w.sum()).astype(np.float32))

    @classmethod
    def for_training(cls, motions: Sequence[Motion], cfg: EnvConfig, seed: int = 0) -> "MotionLibrary":
        """The library a training run builds: at ``cfg``'s control rate, start bins of
        ``cfg.adaptive_bin_s``, missing joints as ``cfg.missing_joints`` says (filled with ``seed``),
        start bins weighted by ``cfg.start_weights``."""
        return cls.from_motions(motions, fps=cfg.fps, bin_frames=max(1, int(round(cfg.adaptive_bin_s * cfg.fps))),
                                missing_joints=cfg.missing_joints, seed=seed, start_weights=cfg.start_weights)

    def to_device(self) -> "DeviceLibrary":
        """The arrays the environment reads, as jax arrays."""
        return DeviceLibrary(
            qpos=jnp.asarray(self.qpos), qvel=jnp.asarray(self.qvel), body_pos=jnp.asarray(self.body_pos),
            body_quat=jnp.asarray(self.body_quat), body_lin_vel=jnp.asarray(self.body_lin_vel),
            body_ang_vel=jnp.asarray(self.body_ang_vel), clip_last=jnp.asarray(self.clip_last, jnp.int32),
            bin_prior=jnp.asarray(self.bin_prior, jnp.float32),
            bin_frames=self.bin_frames)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DeviceLibrary:
    """:class:`MotionLibrary` arrays on device (a pytree; ``bin_frames`` is static)."""

    qpos: jax.Array
    qvel: jax.Array
    body_pos: jax.Array
    body_quat: jax.Array
    body_lin_vel: jax.Array
    body_ang_vel: jax.Array
    clip_last: jax.Array
    bin_prior: jax.Array
    bin_frames: int = dataclasses.field(metadata=dict(static=True), default=50)

    @property
    def num_frames(self) -> int:
        return self.qpos.shape[0]

    @property
    def num_bins(self) -> int:
        return -(-self.num_frames // self.bin_frames)


def clip_weights(names: Sequence[str], start_weights: Sequence[tuple[str, float]]) -> np.ndarray:
    """``(clips,)`` start weight of each clip: the weight of the first ``(regex, weight)`` pair
    whose pattern is found in the clip's name (``re.search``), 1 where none matches.

    Raises:
        ValueError: a pattern that does not compile or a weight that is not positive.
    """
    pairs = []
    for pattern, weight in start_weights:
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"start_weights: bad regex {pattern!r}: {e}") from None
        if not float(weight) > 0:
            raise ValueError(f"start_weights: weight of {pattern!r} must be > 0, got {weight}")
        pairs.append((rx, float(weight)))
    return np.array([next((w for rx, w in pairs if rx.search(n)), 1.0) for n in names], np.float64)


def bin_weights(fail: jax.Array, uniform: float, prior: jax.Array | None = None) -> jax.Array:
    """``(bins,)`` start-bin probabilities: failure shares mixed with ``uniform`` of a floor
    spread by ``prior`` (``(bins,)``, summing to 1; flat if None).

    ``fail`` holds decayed failure counts per bin; with no failures yet the failure part is the floor.
    """
    nb = fail.shape[-1]
    floor = jnp.full((nb,), 1.0 / nb) if prior is None else prior
    total = fail.sum(-1, keepdims=True)
    share = jnp.where(total > 0, fail / jnp.maximum(total, 1e-9), floor)
    return (1.0 - uniform) * share + uniform * floor


def sample_start(lib: DeviceLibrary, rng: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """One start frame (stack index, int32): a bin drawn from ``weights`` (uniform if None), then a
    frame uniformly inside it; never a clip's last frame (an episode needs a next frame).

    The bin is drawn by inverting the cumulative weights (``searchsorted``), not by
    ``jax.random.categorical``: under ``vmap`` over environments the shared weights' cumsum is
    computed once, where categorical would draw a Gumbel number per environment *and bin*
    (128 x 11 k per control step on the whole corpus: as costly as the physics).
    """
    kb, kf = jax.random.split(rng)
    nb = lib.num_bins
    if weights is None:
        b = jax.random.randint(kb, (), 0, nb)
    else:
        cdf = jnp.cumsum(weights)
        b = jnp.minimum(jnp.searchsorted(cdf, jax.random.uniform(kb) * cdf[-1], side="right"), nb - 1)
    f = b * lib.bin_frames + jax.random.randint(kf, (), 0, lib.bin_frames)
    f = jnp.minimum(f, lib.num_frames - 1)
    return jnp.where(f >= lib.clip_last[f], f - 1, f).astype(jnp.int32)


def frame_bin(lib: DeviceLibrary, frame: jax.Array) -> jax.Array:
    """Bin index of stack frame(s)."""
    return frame // lib.bin_frames
