"""Guidance costs: small differentiable functions of a decoded motion, composable by listing them.

Every cost is a pytree (``flax.struct`` dataclass) holding its targets as arrays, so the guided
sampler takes a list of costs as an *argument*: new targets of the same sizes reuse the compiled
sampler. A cost is called on a :class:`MotionView` (one sample; the frames one sampling pass
decodes, in world coordinates) and returns a scalar ``>= 0`` whose minimum is 0 when the goal is met
(the guide's step size relies on it). ``evaluate(motion)`` measures the same goal on a finished
:class:`~motionfm.Motion` with plain MuJoCo FK, in the units users read (cm, %, m).

World frame: a generated motion starts at the origin facing +x (or where its history ends, in the
history's frame); ``time`` is seconds from the first generated frame.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from motionfm.guidance.sdf import Scene, relaxed_log_barrier
from motionfm.motion import Motion
from motionfm.robot import (
    G1_BODY_NAMES,
    G1_JOINT_NAMES,
    NUM_BODIES,
    NUM_JOINTS,
    FKResult,
    collision_spheres,
    fk_mujoco,
    foot_points,
    load_g1,
)
from motionfm.tokenizer import FEATURE_SLICES


@struct.dataclass
class MotionView:
    """What a cost sees of one sample (``T`` frames of one sampling pass).

    Attributes:
        qpos: ``(T, 36)`` world configuration (root quaternion wxyz).
        feats: ``(T, 67)`` decoded features (heading-frame root velocity, yaw rate, joint velocities...).
        body_pos: ``(T, 30, 3)`` FK body positions.
        body_rot: ``(T, 30, 3, 3)`` FK body rotations.
        time: ``(T,)`` seconds from the first generated frame (negative on history frames).
        valid: ``(T,)`` 1 on frames this pass generates, 0 on history and padding.
        origin: ``(2,)`` world xy of the root at time 0.
        fps: frame rate.
    """

    qpos: jax.Array
    feats: jax.Array
    body_pos: jax.Array
    body_rot: jax.Array
    time: jax.Array
    valid: jax.Array
    origin: jax.Array
    fps: float = struct.field(pytree_node=False)

    def frame_of(self, times: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(index (K,), hit (K,))``: the frame nearest each time, and 1 where it is a valid frame of this pass."""
        idx = jnp.argmin(jnp.abs(self.time[:, None] - times[None]), axis=0)
        hit = (jnp.abs(self.time[idx] - times) <= 0.5 / self.fps + 1e-4) * self.valid[idx]
        return idx, hit

    def mean(self, x: jax.Array) -> jax.Array:
        """Mean of per-frame values ``(T,)`` over the valid frames."""
        return jnp.sum(x * self.valid) / jnp.maximum(jnp.sum(self.valid), 1.0)


def _times(times: Any, name: str) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, np.float32))
    if t.ndim != 1 or not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"{name}: times must be a 1-D list of finite seconds >= 0, got {times!r}")
    return t


def _smooth(x: jax.Array, valid: jax.Array, frames: int) -> jax.Array:
    """Moving average ``(T, C)`` of ``x (T, C)`` over ``frames`` frames (at most ``T``: a longer
    kernel would make ``mode="same"`` return the kernel's length), over valid frames only."""
    frames = max(1, min(frames, x.shape[0]))
    k = jnp.ones(frames) / frames
    num = jax.vmap(lambda c: jnp.convolve(c * valid, k, mode="same"), 1, 1)(x)
    den = jnp.convolve(valid, k, mode="same")[:, None]
    return num / jnp.maximum(den, 1e-3)


def _heading_velocity(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """``(v (T, 2), yaw_rate (T,))``: planar root velocity in the heading frame and yaw rate (forward differences)."""
    yaw = motion.heading()
    v = np.diff(motion.root_pos[:, :2], axis=0, append=motion.root_pos[-1:, :2] * 2 - motion.root_pos[-2:-1, :2]) * motion.fps
    c, s = np.cos(-yaw), np.sin(-yaw)
    vh = np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], 1)
    w = np.diff(np.unwrap(yaw), append=2 * yaw[-1] - yaw[-2]) * motion.fps
    return vh, w


# ------------------------------------------------------------------------------------------ goals
@struct.dataclass
class Keyframes:
    """Poses or partial targets at given times (NaN-free targets with 0/1 masks).

    Build with :meth:`poses`, :meth:`root`, :meth:`bodies`, :meth:`joints` or :meth:`from_motion`.

    Attributes:
        times: ``(K,)`` seconds.
        body_pos: ``(K, 30, 3)`` body position targets, ``body_mask (K, 30)``.
        root_pos: ``(K, 3)`` root position targets, ``root_mask (K, 3)`` (xy only: mask z off).
        joint_pos: ``(K, 29)`` joint angle targets (rad), ``joint_mask (K, 29)``.
        weight: cost weight.
    """

    times: jax.Array
    body_pos: jax.Array
    body_mask: jax.Array
    root_pos: jax.Array
    root_mask: jax.Array
    joint_pos: jax.Array
    joint_mask: jax.Array
    weight: float = 1.0

    @classmethod
    def _make(cls, times, body_pos=None, body_mask=None, root_pos=None, root_mask=None, joint_pos=None, joint_mask=None, weight=1.0):
        k = len(times)
        z = lambda *s: np.zeros((k, *s), np.float32)  # noqa: E731
        out = cls(
            times, *(np.nan_to_num(np.asarray(a, np.float32)) if a is not None else d for a, d in (
                (body_pos, z(NUM_BODIES, 3)), (body_mask, z(NUM_BODIES)), (root_pos, z(3)), (root_mask, z(3)),
                (joint_pos, z(NUM_JOINTS)), (joint_mask, z(NUM_JOINTS)))),
            weight=weight,
        )
        return out

    @classmethod
    def poses(cls, times: Sequence[float], qpos: np.ndarray, weight: float = 1.0) -> "Keyframes":
        """Full poses ``qpos (K, 36)`` (root quaternion wxyz) at ``times``: every body's FK position and every joint."""
        t = _times(times, "Keyframes.poses")
        qpos = np.asarray(qpos, np.float64).reshape(len(t), -1)
        if qpos.shape[1] != 36 or not np.isfinite(qpos).all():
            raise ValueError(f"Keyframes.poses: qpos must be finite (K={len(t)}, 36), got {qpos.shape}")
        body = fk_mujoco(qpos).body_pos
        return cls._make(t, body, np.ones((len(t), NUM_BODIES)), qpos[:, :3], np.ones((len(t), 3)), qpos[:, 7:],
                         np.ones((len(t), NUM_JOINTS)), weight)

    @classmethod
    def from_motion(cls, motion: Motion, times: Sequence[float], weight: float = 1.0) -> "Keyframes":
        """Full-pose keyframes taken from ``motion`` at ``times`` (seconds into it)."""
        t = _times(times, "Keyframes.from_motion")
        idx = np.clip(np.round(t * motion.fps).astype(int), 0, motion.num_frames - 1)
        return cls.poses(t, motion.qpos[idx], weight)

    @classmethod
    def root(cls, times: Sequence[float], positions: np.ndarray, weight: float = 1.0) -> "Keyframes":
        """Root path targets: ``positions (K, 2)`` (xy) or ``(K, 3)`` (xyz) at ``times``."""
        t = _times(times, "Keyframes.root")
        p = np.asarray(positions, np.float32).reshape(len(t), -1)
        if p.shape[1] not in (2, 3) or not np.isfinite(p).all():
            raise ValueError(f"Keyframes.root: positions must be finite (K={len(t)}, 2 or 3), got {p.shape}")
        root, mask = np.zeros((len(t), 3)), np.zeros((len(t), 3))
        root[:, : p.shape[1]], mask[:, : p.shape[1]] = p, 1
        return cls._make(t, root_pos=root, root_mask=mask, weight=weight)

    @classmethod
    def bodies(cls, times: Sequence[float], targets: Mapping[str, np.ndarray], weight: float = 1.0) -> "Keyframes":
        """Positions of named bodies: ``{"left_wrist_yaw_link": (K, 3), ...}`` at ``times``."""
        t = _times(times, "Keyframes.bodies")
        pos, mask = np.zeros((len(t), NUM_BODIES, 3)), np.zeros((len(t), NUM_BODIES))
        for name, p in targets.items():
            if name not in G1_BODY_NAMES:
                raise ValueError(f"Keyframes.bodies: unknown body {name!r} (known: {', '.join(G1_BODY_NAMES)})")
            p = np.asarray(p, np.float32).reshape(len(t), 3)
            i = G1_BODY_NAMES.index(name)
            pos[:, i], mask[:, i] = p, np.isfinite(p).all(1)
        return cls._make(t, body_pos=pos, body_mask=mask, weight=weight)

    @classmethod
    def joints(cls, times: Sequence[float], targets: Mapping[str, np.ndarray], weight: float = 1.0) -> "Keyframes":
        """Angles of named joints: ``{"left_knee_joint": (K,), ...}`` (rad) at ``times``."""
        t = _times(times, "Keyframes.joints")
        q, mask = np.zeros((len(t), NUM_JOINTS)), np.zeros((len(t), NUM_JOINTS))
        for name, a in targets.items():
            if name not in G1_JOINT_NAMES:
                raise ValueError(f"Keyframes.joints: unknown joint {name!r} (known: {', '.join(G1_JOINT_NAMES)})")
            a = np.asarray(a, np.float32).reshape(len(t))
            i = G1_JOINT_NAMES.index(name)
            q[:, i], mask[:, i] = a, np.isfinite(a)
        return cls._make(t, joint_pos=q, joint_mask=mask, weight=weight)

    def __call__(self, view: MotionView) -> jax.Array:
        idx, hit = view.frame_of(self.times)
        body = jnp.sum(self.body_mask * jnp.sum((view.body_pos[idx] - self.body_pos) ** 2, -1), -1)
        root = jnp.sum(self.root_mask * (view.qpos[idx, :3] - self.root_pos) ** 2, -1)
        joints = 0.1 * jnp.sum(self.joint_mask * (view.qpos[idx, 7:] - self.joint_pos) ** 2, -1)  # 0.1 m² per rad²
        n = jnp.maximum(jnp.sum(self.body_mask, -1) + jnp.sum(self.root_mask, -1) / 3 + jnp.sum(self.joint_mask, -1) / 10, 1.0)
        return self.weight * jnp.sum(hit * (body + root + joints) / n)

    def evaluate(self, motion: Motion) -> dict[str, float]:
        """``keyframe_error_cm`` (mean over keyframes of the mean position error of the constrained
        bodies and root coordinates), ``keyframe_error_max_cm`` and ``keyframe_joint_error_deg``."""
        t = np.asarray(self.times)
        idx = np.clip(np.round(t * motion.fps).astype(int), 0, motion.num_frames - 1)
        fk = fk_mujoco(motion.qpos[idx])
        bm, rm, jm = (np.asarray(a) > 0 for a in (self.body_mask, self.root_mask, self.joint_mask))
        errs = []
        for k in range(len(t)):
            e = list(np.linalg.norm(fk.body_pos[k][bm[k]] - np.asarray(self.body_pos)[k][bm[k]], axis=-1))
            if rm[k].any():
                e.append(float(np.linalg.norm((motion.qpos[idx[k], :3] - np.asarray(self.root_pos)[k])[rm[k]])))
            if e:
                errs.append(np.mean(e))
        out: dict[str, float] = {}
        if errs:
            out["keyframe_error_cm"] = 100 * float(np.mean(errs))
            out["keyframe_error_max_cm"] = 100 * float(np.max(errs))
        if jm.any():
            d = (motion.qpos[idx, 7:] - np.asarray(self.joint_pos))[jm]
            out["keyframe_joint_error_deg"] = float(np.degrees(np.mean(np.abs(d))))
        return out


@struct.dataclass
class Joystick:
    """Planar root velocity and yaw-rate commands in the robot's heading frame.

    ``Joystick(vx=0.6)`` is a constant command; :meth:`profile` interpolates commands over time.
    The cost is the squared error of the command to the velocity averaged over ``window`` seconds
    (the gait's within-step sway is not an error), as in BeyondMimic's joystick cost.

    Attributes:
        times: ``(P,)`` seconds of the command knots.
        commands: ``(P, 3)`` ``vx, vy`` (m/s) and yaw rate (rad/s).
        weight: cost weight.
        yaw_weight: weight of the yaw-rate error (per (rad/s)² against per (m/s)²).
        window: averaging window (s).
    """

    times: jax.Array
    commands: jax.Array
    weight: float = 1.0
    yaw_weight: float = 0.25
    window: float = struct.field(pytree_node=False, default=0.5)

    @classmethod
    def create(cls, vx: float = 0.0, vy: float = 0.0, yaw_rate: float = 0.0, **kw) -> "Joystick":
        """A constant command."""
        return cls.profile([0.0], [[vx, vy, yaw_rate]], **kw)

    @classmethod
    def profile(cls, times: Sequence[float], commands: np.ndarray, **kw) -> "Joystick":
        """Commands ``(P, 3)`` at increasing ``times`` (linearly interpolated, held outside)."""
        t = _times(times, "Joystick.profile")
        c = np.asarray(commands, np.float32).reshape(len(t), -1)
        if c.shape[1] != 3 or not np.isfinite(c).all():
            raise ValueError(f"Joystick.profile: commands must be finite (P={len(t)}, 3) rows of vx, vy, yaw_rate, got {c.shape}")
        if (np.diff(t) <= 0).any():
            raise ValueError("Joystick.profile: times must increase")
        return cls(t, c, **kw)

    def command(self, time):
        """Commands ``(T, 3)`` at times ``(T,)``."""
        xp = jnp if isinstance(time, jax.Array) else np
        return xp.stack([xp.interp(time, self.times, self.commands[:, i]) for i in range(3)], -1)

    def __call__(self, view: MotionView) -> jax.Array:
        s = FEATURE_SLICES
        frames = max(1, int(round(self.window * view.fps)))
        v = _smooth(jnp.concatenate([view.feats[:, s["root_vel"]][:, :2], view.feats[:, s["yaw_rate"]]], -1), view.valid, frames)
        err = v - self.command(view.time)
        per_frame = jnp.sum(err[:, :2] ** 2, -1) + self.yaw_weight * err[:, 2] ** 2
        return self.weight * view.mean(per_frame)

    def evaluate(self, motion: Motion) -> dict[str, float]:
        """``joystick_velocity_error_pct``: mean planar error of the ``window``-averaged heading-frame
        velocity over the mean commanded speed (%); ``joystick_yaw_rate_error``: mean |error| (rad/s);
        ``mean_vx``, ``mean_vy``, ``mean_yaw_rate`` of the motion."""
        vh, w = _heading_velocity(motion)
        frames = max(1, int(round(self.window * motion.fps)))
        v = np.asarray(_smooth(jnp.asarray(np.concatenate([vh, w[:, None]], 1)), jnp.ones(motion.num_frames), frames))
        cmd = self.command(np.arange(motion.num_frames) / motion.fps)
        err = np.linalg.norm(v[:, :2] - cmd[:, :2], axis=1)
        speed = np.linalg.norm(cmd[:, :2], axis=1).mean()
        out = {"joystick_velocity_error_pct": float(100 * err.mean() / max(speed, 1e-6)) if speed > 0.05 else float("nan"),
               "joystick_velocity_error_mps": float(err.mean()),
               "joystick_yaw_rate_error": float(np.abs(v[:, 2] - cmd[:, 2]).mean()),
               "mean_vx": float(v[:, 0].mean()), "mean_vy": float(v[:, 1].mean()), "mean_yaw_rate": float(v[:, 2].mean())}
        return out


@struct.dataclass
class Waypoints:
    """Reach planar positions by given times, and stay at the last one.

    The cost has three parts: the root at each waypoint's time on the waypoint (and on the last one
    ever after), a weak pull toward the straight path between successive waypoints (from the start
    position) so a pass that ends before the next deadline still makes progress, and a
    distance-weighted speed penalty ``exp(-d²/radius²) |v|²`` so the robot slows near the goal.

    Attributes:
        times: ``(K,)`` increasing deadlines (s).
        xy: ``(K, 2)`` positions (m).
        weight, path_weight, slow_weight: weights of the three parts.
        radius: distance (m) within which the robot slows down.
    """

    times: jax.Array
    xy: jax.Array
    weight: float = 1.0
    path_weight: float = 0.1
    slow_weight: float = 0.05
    radius: float = 0.3

    @classmethod
    def create(cls, times: Sequence[float], xy: np.ndarray, **kw) -> "Waypoints":
        t = _times(times, "Waypoints")
        p = np.asarray(xy, np.float32).reshape(len(t), -1)
        if p.shape[1] != 2 or not np.isfinite(p).all():
            raise ValueError(f"Waypoints: positions must be finite (K={len(t)}, 2), got {p.shape}")
        if (np.diff(t) <= 0).any() or t[0] <= 0:
            raise ValueError("Waypoints: times must be positive and increasing")
        return cls(t, p, **kw)

    def __call__(self, view: MotionView) -> jax.Array:
        p = view.qpos[:, :2]
        idx, hit = view.frame_of(self.times)
        reach = jnp.sum(hit * jnp.sum((p[idx] - self.xy) ** 2, -1))
        after = (view.time >= self.times[-1]) * jnp.sum((p - self.xy[-1]) ** 2, -1)
        knots_t = jnp.concatenate([jnp.zeros(1), self.times])
        knots = jnp.concatenate([view.origin[None], self.xy])
        ref = jnp.stack([jnp.interp(view.time, knots_t, knots[:, i]) for i in range(2)], -1)
        path = self.path_weight * jnp.sum((p - ref) ** 2, -1) * (view.time < self.times[-1])
        nxt = jnp.clip(jnp.searchsorted(self.times, view.time), 0, len(self.times) - 1)
        d2 = jnp.sum((p - self.xy[nxt]) ** 2, -1)
        speed2 = jnp.sum(view.feats[:, FEATURE_SLICES["root_vel"]][:, :2] ** 2, -1)
        slow = self.slow_weight * jnp.exp(-d2 / self.radius**2) * speed2
        return self.weight * (reach + view.mean(after + path + slow))

    def evaluate(self, motion: Motion) -> dict[str, float]:
        """``waypoint_error_cm`` (mean root distance at the deadlines), ``waypoint_error_max_cm``,
        ``final_drift_cm`` (distance to the last waypoint at the motion's end)."""
        idx = np.clip(np.round(np.asarray(self.times) * motion.fps).astype(int), 0, motion.num_frames - 1)
        e = np.linalg.norm(motion.root_pos[idx, :2] - np.asarray(self.xy), axis=1)
        return {"waypoint_error_cm": 100 * float(e.mean()), "waypoint_error_max_cm": 100 * float(e.max()),
                "final_drift_cm": 100 * float(np.linalg.norm(motion.root_pos[-1, :2] - np.asarray(self.xy)[-1]))}


@struct.dataclass
class Obstacles:
    """Keep every body's collision spheres out of the scene's obstacles (relaxed log-barrier).

    Attributes:
        scene: the obstacles (:class:`~motionfm.guidance.sdf.Scene`).
        weight: cost weight.
        margin: clearance (m) the barrier aims to keep.
        active: distance (m, beyond the margin) where the barrier starts.
        frame_stride: the cost looks at every ``frame_stride``-th frame (speed; ``evaluate`` sees all).
    """

    scene: Scene
    weight: float = 1.0
    margin: float = struct.field(pytree_node=False, default=0.03)
    active: float = struct.field(pytree_node=False, default=0.15)
    frame_stride: int = struct.field(pytree_node=False, default=2)

    @classmethod
    def create(cls, spheres=(), boxes=(), cylinders=(), capsules=(), **kw) -> "Obstacles":
        return cls(Scene.create(spheres, boxes, cylinders, capsules), **kw)

    def __call__(self, view: MotionView) -> jax.Array:
        cs = collision_spheres()
        s = self.frame_stride  # a body moves ~3 cm a frame at 1 m/s: every other frame is dense enough
        centers = cs.world(view.body_pos[::s], view.body_rot[::s])  # (T/s, K, 3)
        d = self.scene.sdf(centers) - jnp.asarray(cs.radius, centers.dtype) - self.margin
        b = relaxed_log_barrier(d, delta=0.02, active=self.active)
        valid = view.valid[::s]
        return self.weight * jnp.sum(valid * jnp.sum(b, -1)) / jnp.maximum(jnp.sum(valid), 1.0)

    def evaluate(self, motion: Motion) -> dict[str, float]:
        """``min_signed_distance_m`` (over frames and collision spheres), ``penetrating_frames_pct``,
        ``collision`` (1.0 if any sphere is inside an obstacle)."""
        cs = collision_spheres()
        fk = fk_mujoco(motion.qpos)
        scene = jax.tree.map(np.asarray, self.scene)
        d = scene.sdf(cs.world(fk.body_pos, fk.body_rot)) - cs.radius
        return {"min_signed_distance_m": float(d.min()), "penetrating_frames_pct": float(100 * (d.min(1) < 0).mean()),
                "collision": float(d.min() < 0)}


# ------------------------------------------------------------------------------------ regularisers
def _sole_points(body_pos: jax.Array, body_rot: jax.Array) -> jax.Array:
    """``(..., 2, 4, 3)`` sole points (numpy in, numpy out), via :func:`~motionfm.robot.foot_points`."""
    return foot_points(FKResult(body_pos, None, body_rot), load_g1())


@struct.dataclass
class GroundPenetration:
    """Sole points above the ground: ``relu(-z)²``, in cm²."""

    weight: float = 1.0

    def __call__(self, view: MotionView) -> jax.Array:
        z = _sole_points(view.body_pos, view.body_rot)[..., 2].reshape(view.time.shape[0], -1)
        return self.weight * view.mean(jnp.sum(jax.nn.relu(-100 * z) ** 2, -1))

    def evaluate(self, motion: Motion) -> dict[str, float]:
        fk = fk_mujoco(motion.qpos)
        z = _sole_points(fk.body_pos, fk.body_rot)[..., 2].min(axis=(1, 2))
        return {"penetration_cm": float(100 * np.maximum(-z, 0).mean()), "penetration_max_cm": float(100 * max(-z.min(), 0))}


@struct.dataclass
class FootSkating:
    """Planar speed of sole points while they touch the ground (height below ``height``), in (m/s)²."""

    weight: float = 1.0
    height: float = 0.02

    def __call__(self, view: MotionView) -> jax.Array:
        p = _sole_points(view.body_pos, view.body_rot)  # (T, 2, 4, 3)
        v = jnp.diff(p[..., :2], axis=0, append=p[-1:, ..., :2]) * view.fps
        contact = jax.nn.sigmoid((self.height - p[..., 2]) / 0.005)
        return self.weight * view.mean(jnp.sum(contact * jnp.sum(v**2, -1), (-1, -2)) / 8)

    def evaluate(self, motion: Motion) -> dict[str, float]:
        fk = fk_mujoco(motion.qpos)
        p = _sole_points(fk.body_pos, fk.body_rot)
        v = np.linalg.norm(np.diff(p[..., :2], axis=0), axis=-1) * motion.fps
        contact = p[:-1, ..., 2] < self.height
        return {"skating_cm_s": float(100 * v[contact].mean()) if contact.any() else 0.0}


@struct.dataclass
class StanceFoot:
    """The supporting foot stays put and on the ground: the lower foot's planar speed, every frame,
    in (m/s)², plus its height above ``float_cm`` in tenths of a metre, squared.

    The supporting foot is picked by a soft minimum of the two feet's lowest sole points
    (``softness`` in m) with the choice held constant under the gradient, so unlike
    :class:`FootSkating` there is no contact height to escape above: lifting the feet costs more,
    and the root's travel has to come from the legs stepping (10 cm of float costs as much as a
    1 m/s slide). On the shipped model it turns the "moonwalk" of generated walks (stance foot
    sliding at ~90 cm/s) into stepping (weight 3: ~10 cm/s); it also flattens flight phases, so
    it is not for jumps. Figures in docs/architecture.md.
    """

    weight: float = 1.0
    softness: float = 0.01
    float_cm: float = 3.0

    def __call__(self, view: MotionView) -> jax.Array:
        p = _sole_points(view.body_pos, view.body_rot)  # (T, 2, 4, 3)
        c = p.mean(-2)[..., :2]  # (T, 2, 2) sole centres
        v = jnp.diff(c, axis=0, append=c[-1:]) * view.fps
        low = p[..., 2].min(-1)  # (T, 2) lowest sole point of each foot
        w = jax.lax.stop_gradient(jax.nn.softmax(-low / self.softness, axis=-1))  # (T, 2) which foot supports
        slide = jnp.sum(w * jnp.sum(v**2, -1), -1)
        lift = (jax.nn.relu(jnp.sum(w * low, -1) - self.float_cm / 100) / 0.1) ** 2
        return self.weight * view.mean(slide + lift)

    def evaluate(self, motion: Motion) -> dict[str, float]:
        fk = fk_mujoco(motion.qpos)
        p = _sole_points(fk.body_pos, fk.body_rot)
        v = np.linalg.norm(np.diff(p.mean(-2)[..., :2], axis=0), axis=-1) * motion.fps  # (T-1, 2)
        low = p[..., 2].min(-1)  # (T, 2)
        lower = low[:-1].argmin(-1)
        return {"stance_foot_cm_s": float(100 * v[np.arange(len(v)), lower].mean()),
                "stance_foot_height_cm": float(100 * np.median(low.min(-1)))}


@struct.dataclass
class JointLimits:
    """Joint angles inside the G1's limits: squared violation (rad²)."""

    weight: float = 1.0

    def __call__(self, view: MotionView) -> jax.Array:
        lo, hi = np.asarray(load_g1().joint_limits, np.float32).T
        q = view.qpos[:, 7:]
        return self.weight * view.mean(jnp.sum(jax.nn.relu(q - hi) ** 2 + jax.nn.relu(lo - q) ** 2, -1))

    def evaluate(self, motion: Motion) -> dict[str, float]:
        lo, hi = load_g1().joint_limits.T
        q = motion.qpos[:, 7:]
        over = np.maximum(q - hi, 0) + np.maximum(lo - q, 0)
        return {"limit_violation_rad": float(over.max())}


Cost = Keyframes | Joystick | Waypoints | Obstacles | GroundPenetration | FootSkating | StanceFoot | JointLimits
"""Any guidance cost (all are pytrees with ``__call__(view) -> scalar`` and ``evaluate(motion) -> dict``)."""


def evaluate(costs: Sequence[Cost], motion: Motion) -> dict[str, float]:
    """All ``evaluate`` figures of ``costs`` on ``motion`` in one dict."""
    out: dict[str, float] = {}
    for c in costs:
        out.update(c.evaluate(motion))
    return out
