"""The guide: turns a list of costs into the sampler's ``cond_fn`` hook and a final refinement.

At every denoising step the sampler predicts the clean latents ``x0``; the guide decodes them
(tokenizer decoder → features → world ``qpos`` integrated from the pass's start pose → forward
kinematics), evaluates the summed costs per sample, and moves ``x0`` down their gradient. The step
is Polyak's, ``eta * J / |∇J|² * ∇J`` for each cost ``J`` (summed over costs): every cost is
``>= 0`` with 0 at the goal, so this step is what would reach the goal if the cost were linear,
whatever the units of the cost; a cost's ``weight`` scales its own step. The sum is capped to ``max_step`` latent standard deviations (RMS) so one step never throws the sample off
the data manifold. The sampler then re-derives the noise from the edited ``x0`` and keeps
denoising, so the model repairs what the edit broke (guided-diffusion's ``cond_fn``, applied to the
prediction as in BeyondMimic's planner). After the last step, :meth:`Guide.refine` runs a few
L-BFGS iterations on the whole motion's latents at once (chunk seams included; least-squares goals
such as a full-pose keyframe are too badly conditioned for plain gradient steps).

The guide knows the tokenizer's decoder only through a ``decode(x) -> features`` function the
caller passes in (the pipeline composes the diffusion's latent scaling with
:meth:`~motionfm.tokenizer.Tokenizer.decode_latents`), so it depends on no diffusion internals.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import struct

from motionfm.guidance.costs import Cost, MotionView
from motionfm.robot import default_fk, foot_points, load_g1, plant_shift
from motionfm.tokenizer import FEATURE_SLICES, features_to_qpos, heading, heading_velocity


@dataclasses.dataclass(frozen=True)
class GuidanceConfig:
    """Strength and schedule of guidance.

    Attributes:
        iterations: gradient steps on ``x0`` at each denoising step.
        step: fraction ``eta`` of the Polyak step.
        max_step: cap on one step's RMS change of the normalised latents.
        refine_steps: iterations on the final latents of the whole motion.
        skip_first: fraction of the first denoising steps left unguided (the prediction is still a blur).
        refine_method: ``"lbfgs"`` (optax L-BFGS on the costs, each divided by its starting value)
            or ``"polyak"`` (the in-loop Polyak steps, repeated).
        plant_feet: costs see (and differentiate) the root path with supporting feet planted
            (:func:`motionfm.robot.plant_shift` on the view's qpos, body positions and heading-frame
            root velocity), so a joystick or waypoint goal is met by the legs stepping, not by the
            root gliding; ``MotionPipeline.sample(plant_feet=True)`` turns it on with guidance.
    """

    iterations: int = 1
    step: float = 1.0
    max_step: float = 1.0
    refine_steps: int = 12
    skip_first: float = 0.7
    refine_method: str = "lbfgs"
    plant_feet: bool = False

    def __post_init__(self):
        if self.refine_method not in ("lbfgs", "polyak"):
            raise ValueError(f"refine_method must be 'lbfgs' or 'polyak', got {self.refine_method!r}")


@struct.dataclass
class PassContext:
    """Where one sampling pass (a chunk of ``F`` frames, batch ``B``) sits in the motion.

    Attributes:
        start_xy: ``(B, 2)`` world root xy at the pass's first frame (at frame ``anchor`` with one).
        start_yaw: ``(B,)`` heading there.
        t0: ``(B,)`` time (s) of the pass's first frame from the first generated frame.
        valid: ``(B, F)`` 1 on frames this pass generates.
        origin: ``(B, 2)`` world root xy at time 0.
        anchor: ``(B,)`` int, or ``None``: where ``>= 0``, the frame of the pass pinned to
            ``start_xy``/``start_yaw`` (root xy and the heading of its root rotation) by moving the
            integrated path rigidly, as :meth:`~motionfm.pipeline.MotionPipeline.sample` pins a
            continuation to the last frame of its history; ``-1`` or ``None``: the path is integrated
            from ``start_xy``/``start_yaw`` at frame 0. A pass that starts inside a history must be
            pinned where the history ends: integrated through the decoded history instead, the
            generated frames sat up to 3 cm and 5 degrees off where the robot really was
            (docs/architecture.md), and obstacle costs cleared obstacles that were elsewhere.
    """

    start_xy: jax.Array
    start_yaw: jax.Array
    t0: jax.Array
    valid: jax.Array
    origin: jax.Array
    anchor: jax.Array | None = None


@struct.dataclass
class GuideArgs:
    """The sampler's ``cond_args``: the costs and the pass context (both pytrees: no recompiles)."""

    costs: tuple
    ctx: PassContext


def _pin(qpos: jax.Array, anchor: jax.Array, xy: jax.Array, yaw: jax.Array) -> jax.Array:
    """``qpos (T, 36)`` moved rigidly in the plane so that frame ``anchor`` has root ``xy (2,)`` and
    heading ``yaw`` (unchanged where ``anchor < 0``)."""
    qa = qpos[jnp.maximum(anchor, 0)]
    d = yaw - heading(qa[3:7])
    c, s = jnp.cos(d), jnp.sin(d)
    rel = qpos[:, :2] - qa[:2]
    moved_xy = jnp.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], -1) + xy
    w, x, y, z = (qpos[:, 3 + i] for i in range(4))
    a, b = jnp.cos(0.5 * d), jnp.sin(0.5 * d)  # (a, 0, 0, b) * (w, x, y, z): a turn about world z
    quat = jnp.stack([a * w - b * z, a * x - b * y, a * y + b * x, a * z + b * w], -1)
    moved = jnp.concatenate([moved_xy, qpos[:, 2:3], quat, qpos[:, 7:]], -1)
    return jnp.where(anchor >= 0, moved, qpos)


class Guide:
    """Cost-gradient guidance for one decoder (see the module docstring).

    Args:
        decode: ``x (B, N, d) -> features (B, N*stride, 67)`` (unnormalised), differentiable.
        fps: frame rate of the decoded features.
        config: strength and schedule.
        num_train_timesteps: the diffusion's timestep range (for ``skip_first``).
    """

    def __init__(self, decode: Callable[[jax.Array], jax.Array], fps: float, config: GuidanceConfig = GuidanceConfig(),
                 num_train_timesteps: int = 1000):
        self.decode = decode
        self.fps = float(fps)
        self.config = config
        self.max_timestep = (1.0 - config.skip_first) * num_train_timesteps
        """Pass as :class:`~motionfm.diffusion.SamplerConfig`'s ``cond_max_timestep`` (``skip_first``)."""
        self.fk = default_fk()
        self._robot = load_g1()
        lo, hi = self._robot.joint_limits.T
        self._joint_lo, self._joint_hi = jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32)

    def views(self, x: jax.Array, ctx: PassContext) -> MotionView:
        """The batched :class:`MotionView` of latents ``x (B, N, d)``."""
        feats = self.decode(x)
        qpos = jax.vmap(lambda f, xy, yaw: features_to_qpos(f, self.fps, xy, yaw))(feats, ctx.start_xy, ctx.start_yaw)
        if ctx.anchor is not None:
            qpos = jax.vmap(_pin)(qpos, ctx.anchor, ctx.start_xy, ctx.start_yaw)
        # Costs see the motion the user gets: joints clipped to the G1's limits as the pipeline's
        # output is. Unclipped, a keyframe was "reached" by leaning the waist past its limit, and
        # the clipped output then missed it by 13 cm; clipped, the gradient has to use other joints.
        qpos = qpos.at[..., 7:].set(jnp.clip(qpos[..., 7:], self._joint_lo, self._joint_hi))
        fk = self.fk(qpos)
        f = feats.shape[1]
        time = ctx.t0[:, None] + jnp.arange(f) / self.fps
        body_pos = fk.body_pos
        if self.config.plant_feet:
            shift = plant_shift(foot_points(fk, self._robot).reshape(*qpos.shape[:2], -1, 3))  # (B, T, 2)
            qpos = qpos.at[..., :2].add(shift)
            body_pos = body_pos.at[..., :2].add(shift[:, :, None])
            # the root velocity features (what Joystick reads) of the shifted path: linear in the path
            shift3 = jnp.concatenate([shift, jnp.zeros_like(shift[..., :1])], axis=-1)
            dv = jax.vmap(lambda p, q: heading_velocity(p, heading(q), self.fps))(shift3, qpos[..., 3:7])
            feats = feats.at[..., FEATURE_SLICES["root_vel"]].add(dv)
        return MotionView(qpos, feats, body_pos, fk.body_rot, time, ctx.valid[:, :f], ctx.origin, self.fps)

    def costs(self, x: jax.Array, args: GuideArgs) -> jax.Array:
        """Each cost ``(B, C)`` of latents ``x (B, N, d)``."""
        return self._costs_jit(x, jax.tree.map(jnp.asarray, args))  # numpy targets index like traced ones

    @functools.cached_property
    def _costs_jit(self):
        # An inner jit: the sampler's scan segments, the gradient passes and the L-BFGS line search
        # all call the costs, and Python-tracing decoder + FK + costs afresh for each took most of a
        # warm guided sample's time (8 of 12.5 s); jit traces once per shape and the callers'
        # transformations (vmap, grad) work on that one trace.
        def costs(x: jax.Array, args: GuideArgs) -> jax.Array:
            views = self.views(x, args.ctx)
            return jax.vmap(lambda v: jnp.stack([c(v) for c in args.costs]))(views)

        return jax.jit(costs)

    def cost(self, x: jax.Array, args: GuideArgs) -> jax.Array:
        """Total cost ``(B,)`` of latents ``x (B, N, d)``."""
        return self.costs(x, args).sum(-1)

    def _lbfgs(self, x: jax.Array, args: GuideArgs, steps: int) -> jax.Array:
        """``steps`` L-BFGS iterations (optax, backtracking line search) per sample on the summed costs.

        Each cost is divided by its value at ``x`` (plus (1 mm)²), so costs in different units
        start equal and one already met (an obstacle cleared) is expensive to break.
        """
        w = jnp.stack([jnp.asarray(c.weight, x.dtype) for c in args.costs])
        # Backtracking (Armijo) line search that keeps the gradient of the accepted point: one
        # value-and-gradient per iteration when the first trial is accepted (the zoom search cost more).
        opt = optax.lbfgs(memory_size=10, linesearch=optax.scale_by_backtracking_linesearch(
            max_backtracking_steps=15, store_grad=True))

        def run(x1, ctx1):  # one sample: x1 (N, d)
            one = GuideArgs(args.costs, jax.tree.map(lambda a: a[None], ctx1))
            per = lambda z: self.costs(z[None], one)[0]  # noqa: E731  (C,)
            scale = jax.lax.stop_gradient(per(x1)) + 1e-6
            f = lambda z: jnp.sum(w * per(z) / scale)  # noqa: E731
            value_and_grad = optax.value_and_grad_from_state(f)

            def body(_, carry):
                z, state = carry
                v, g = value_and_grad(z, state=state)
                u, state = opt.update(g, state, z, value=v, grad=g, value_fn=f)
                return optax.apply_updates(z, u), state

            z = jax.lax.fori_loop(0, steps, body, (x1, opt.init(x1)))[0]
            return jnp.where(jnp.all(jnp.isfinite(z)), z, x1)

        return jax.vmap(run)(x, args.ctx)

    def _descend(self, x: jax.Array, args: GuideArgs, steps: int) -> jax.Array:
        eta, cap = self.config.step, self.config.max_step
        c = len(args.costs)

        def one(_, x):
            # One backward pass per cost (batched over costs), for one Polyak step per cost;
            # samples are independent, so each sample's gradient is its own cost's.
            per, vjp = jax.vjp(lambda x: self.costs(x, args), x)  # (B, C)
            (g,) = jax.vmap(vjp)(jnp.eye(c, dtype=per.dtype)[:, None, :].repeat(per.shape[0], 1))  # (C, B, N, d)
            g2 = jnp.sum(g * g, axis=(2, 3))  # (C, B)
            w = jnp.stack([jnp.asarray(c.weight, per.dtype) for c in args.costs])[:, None]  # J/|g|² g ignores scale
            dx = jnp.sum((w * eta * per.T / (g2 + 1e-12))[..., None, None] * g, axis=0)
            rms = jnp.sqrt(jnp.mean(dx * dx, axis=(1, 2)) + 1e-20)
            return x - dx * jnp.minimum(1.0, cap / rms)[:, None, None]

        return one(0, x) if steps == 1 else jax.lax.fori_loop(0, steps, one, x)

    def cond_fn(self, x0: jax.Array, t: jax.Array, args: GuideArgs) -> jax.Array:
        """The sampler hook: the change to subtract from ``x0 (B, N, d)`` at timestep ``t``.

        The sampler decides at which steps to call it (``cond_max_timestep=self.max_timestep``
        leaves the first ``skip_first`` of the steps unguided).
        """
        if not args.costs:
            return jnp.zeros_like(x0)
        return x0 - self._descend(x0, args, self.config.iterations)

    @functools.cached_property
    def _refine(self):
        if self.config.refine_method == "lbfgs":
            return jax.jit(lambda x, args: self._lbfgs(x, args, self.config.refine_steps))
        return jax.jit(lambda x, args: self._descend(x, args, self.config.refine_steps))

    def refine(self, x: jax.Array, args: GuideArgs) -> jax.Array:
        """Latents ``x (B, N, d)`` after ``refine_steps`` more steps on the whole motion."""
        if not args.costs or self.config.refine_steps <= 0:
            return x
        return self._refine(x, args)


def as_costs(guidance: Cost | Sequence[Cost] | None) -> tuple:
    """A tuple of costs from one cost, a list, or ``None``."""
    if guidance is None:
        return ()
    if not isinstance(guidance, (list, tuple)):
        guidance = [guidance]
    for c in guidance:
        if not callable(c) or not hasattr(c, "evaluate"):
            raise TypeError(f"not a guidance cost: {c!r} (use motionfm.guidance.Keyframes, Joystick, Waypoints, Obstacles, ...)")
    return tuple(guidance)
