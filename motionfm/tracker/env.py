"""The tracking task: pure ``reset``/``step`` over a brax ``State`` (Playground style), two backends.

One environment is one G1 tracking one reference from the :class:`MotionLibrary`. The policy acts
at 50 Hz; each action sets PD targets (:func:`~motionfm.tracker.model.targets`, deployment
actuation: no clamping) held over ``n_substeps`` physics steps of the backend named by
``cfg.backend`` (:mod:`motionfm.tracker.physics`: MJX, or plain MuJoCo through ``mujoco.rollout``).
Observations, rewards, terminations, pushes and resets are defined here once for both.
:class:`TrackingWrapper` batches environments (``vmap``, optional per-environment randomised MJX
models), keeps brax's episode bookkeeping, resets finished environments at failure-weighted
start times, and is what ``brax.training.agents.ppo.train`` receives through ``wrap_env_fn``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from motionfm.robot import G1_JOINT_NAMES, import_mjx, load_g1
from motionfm.tracker import obs as O
from motionfm.tracker.config import END_EFFECTORS, REWARD_TERMS, TRACKED_BODIES, EnvConfig, RandomizationConfig
from motionfm.tracker.model import action_scale, physics_model, targets
from motionfm.tracker.library import DeviceLibrary, MotionLibrary, bin_weights, frame_bin, sample_start
from motionfm.tracker.physics import make_physics

mjx = import_mjx()  # before brax, which imports MJX too: no "Failed to import warp" print
from brax.envs.base import Env, State, Wrapper  # noqa: E402


MAX_SPEED = 100.0
"""m/s or rad/s: any free-joint or joint speed above this ends the episode as a failure (the G1's
fastest joints reach ~37 rad/s)."""


class TrackingEnv(Env):
    """Universal motion tracking of the G1 (one environment; batch with :class:`TrackingWrapper`).

    ``pipeline_state`` is the backend's (``mjx.Data``, or ``{"qpos", "qvel"}`` for plain MuJoCo).

    ``state.info`` holds ``frame`` (stack index of the reference frame the robot is on), ``step``,
    ``last_action (29,)``, ``rng``, ``truncation`` and ``terminated``. Observations are a dict:
    ``state`` (actor, noisy when configured) and ``privileged_state`` (critic).
    """

    def __init__(self, library: MotionLibrary, cfg: EnvConfig = EnvConfig()):
        self.cfg = cfg
        self.library = library
        self.lib: DeviceLibrary = library.to_device()
        self.mj_model = physics_model(cfg)
        self.physics = make_physics(cfg.backend, self.mj_model, cfg.n_substeps)
        robot = load_g1(cfg.model)
        self._anchor = TRACKED_BODIES.index(cfg.anchor_body)
        self._ee = jnp.asarray([TRACKED_BODIES.index(b) for b in END_EFFECTORS])
        self._default = jnp.asarray(robot.default_qpos[7:], jnp.float32)
        self._scale = jnp.asarray(action_scale(cfg))
        self._ctrl_lo = jnp.asarray(self.mj_model.actuator_ctrlrange[:, 0], jnp.float32)
        self._ctrl_hi = jnp.asarray(self.mj_model.actuator_ctrlrange[:, 1], jnp.float32)
        lo, hi = robot.joint_limits.T
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        self._soft_lo = jnp.asarray(mid - 0.95 * half, jnp.float32)
        self._soft_hi = jnp.asarray(mid + 0.95 * half, jnp.float32)
        self._future = jnp.asarray(cfg.future_frames, jnp.int32)
        self._noise = jnp.asarray(O.noise_levels(len(cfg.future_frames), cfg.obs_lin_vel) * cfg.randomization.obs_noise)
        self._push_every = int(round(cfg.randomization.push_interval_s / cfg.ctrl_dt))

    # ------------------------------------------------------------------ brax Env interface
    @property
    def observation_size(self) -> dict[str, tuple[int, ...]]:
        na = O.actor_obs_size(len(self.cfg.future_frames), self.cfg.obs_lin_vel)
        return {"state": (na,), "privileged_state": (na + 3 + 1 + 2 * 3 * len(TRACKED_BODIES),)}

    @property
    def action_size(self) -> int:
        return len(G1_JOINT_NAMES)

    @property
    def backend(self) -> str:
        return self.physics.name

    @property
    def sys(self):
        """The MJX model (brax's name; its randomisation swaps it per environment); None for plain MuJoCo."""
        return self.physics.sys

    @sys.setter
    def sys(self, value) -> None:
        self.physics.sys = value

    # ------------------------------------------------------------------ pieces
    def reference(self, frame: jax.Array) -> O.Reference:
        """The :class:`~motionfm.tracker.obs.Reference` for a robot on stack frame ``frame``."""
        lib = self.lib
        last = lib.clip_last[frame]
        nxt = jnp.minimum(frame + 1, last)
        fut = jnp.minimum(frame + self._future, last)
        return O.Reference(lib.qpos[fut, 7:], lib.qvel[fut, 6:], lib.body_pos[nxt], lib.body_quat[nxt],
                           lib.body_lin_vel[nxt], lib.body_ang_vel[nxt])

    def reference_now(self, frame: jax.Array) -> O.Reference:
        """The reference *on* ``frame`` (for rewards after a step and for tests)."""
        return self.reference(frame - 1)

    def robot(self, data: Any) -> O.RobotState:
        """The tracked-body state of the backend's ``pipeline_state``."""
        return self.physics.robot(data)

    def _obs(self, data: Any, frame: jax.Array, last_action: jax.Array, rng: jax.Array) -> dict[str, jax.Array]:
        robot, ref = self.robot(data), self.reference(frame)
        clean = O.actor_obs(jnp, robot, ref, last_action, self._default, self._anchor, self.cfg.obs_lin_vel)
        noisy = clean + self._noise * jax.random.uniform(rng, clean.shape, minval=-1.0, maxval=1.0)
        return {"state": noisy, "privileged_state": O.critic_obs(jnp, robot, ref, clean, self._anchor)}

    def data_at(self, qpos36: jax.Array, qvel35: jax.Array) -> Any:
        """The backend's state with the robot placed at a motionfm ``qpos (36,)``/``qvel (35,)``."""
        return self.physics.init(qpos36, qvel35, qpos36[7:])

    # ------------------------------------------------------------------ reset / step
    def reset(self, rng: jax.Array) -> State:
        """A new episode at a uniformly drawn start frame."""
        k0, k1 = jax.random.split(rng)
        return self.reset_at(k1, sample_start(self.lib, k0))

    def reset_at(self, rng: jax.Array, frame: jax.Array) -> State:
        """A new episode with the robot on the reference at stack frame ``frame`` (pure)."""
        k_obs, k_next = jax.random.split(rng)
        frame = jnp.asarray(frame, jnp.int32)
        data = self.data_at(self.lib.qpos[frame], self.lib.qvel[frame])
        last_action = jnp.zeros(self.action_size)
        zero = jnp.zeros(())
        info = {"frame": frame, "step": jnp.zeros((), jnp.int32), "last_action": last_action, "rng": k_next,
                "truncation": zero, "terminated": zero}
        metrics = {k: zero for k in (*REWARD_TERMS, "action_rate", "joint_limit", "body_pos_err_m", "fail")}
        return State(data, self._obs(data, frame, last_action, k_obs), zero, zero, metrics, info)

    def targets(self, action: jax.Array, frame: jax.Array) -> jax.Array:
        """Joint position targets ``(29,)`` for ``action`` on ``frame`` (:func:`~motionfm.tracker.model.targets`)."""
        ref = self.lib.qpos[jnp.minimum(frame + 1, self.lib.clip_last[frame]), 7:]
        return targets(jnp, self.cfg, action, ref, self._default, self._scale, self._ctrl_lo, self._ctrl_hi)

    def step(self, state: State, action: jax.Array) -> State:
        """One 50 Hz control step (pure): PD targets, physics substeps, reward, termination."""
        cfg, info = self.cfg, state.info
        rng, k_push, k_obs = jax.random.split(info["rng"], 3)
        frame = info["frame"]
        data = state.pipeline_state
        if self._push_every > 0:
            kick = jax.random.uniform(k_push, (2,), minval=-1.0, maxval=1.0) * cfg.randomization.push_vel
            push = (info["step"] > 0) & (info["step"] % self._push_every == 0)
            data = self.physics.kick(data, jnp.where(push, kick, 0.0))
        data = self.physics.step(data, self.targets(action, frame))

        frame = jnp.minimum(frame + 1, self.lib.clip_last[frame])
        step = info["step"] + 1
        robot, ref_now = self.robot(data), self.reference_now(frame)
        terms = O.reward_terms(jnp, robot, ref_now, self._anchor, cfg.reward)
        rate = jnp.sum((action - info["last_action"]) ** 2)
        q = robot.qpos[7:]
        excess = jnp.sum(jnp.maximum(self._soft_lo - q, 0.0) + jnp.maximum(q - self._soft_hi, 0.0))
        fail = O.failed(jnp, robot, ref_now, self._anchor, self._ee, cfg.anchor_height_limit,
                        cfg.anchor_ori_limit, cfg.ee_height_limit)
        # A blown-up simulation (a reset deep in the floor, a wild action) is a failure, not a reward.
        fail = fail | ~self.physics.finite(data) | (jnp.max(jnp.abs(robot.qvel)) > MAX_SPEED)
        end = (frame >= self.lib.clip_last[frame]) | (step >= cfg.episode_length)
        done = fail | end
        reward = (sum(terms.values()) + cfg.reward.action_rate * rate + cfg.reward.joint_limit * excess
                  + cfg.reward.termination * fail)
        # Bounded below: one exploded state's joint-limit penalty (1e7 per step seen) would swamp the
        # batch's advantages; the loss of future reward already punishes it.
        reward = jnp.clip(jnp.where(jnp.isfinite(reward), reward, 0.0), -2.0 * cfg.reward.max_reward(), None)
        body_err = jnp.mean(jnp.linalg.norm(robot.body_pos - O.align_reference(jnp, ref_now, robot, self._anchor)[0], axis=-1))
        metrics = {**terms, "action_rate": cfg.reward.action_rate * rate, "joint_limit": cfg.reward.joint_limit * excess,
                   "body_pos_err_m": body_err, "fail": fail.astype(jnp.float32)}
        new_info = {**info, "frame": frame, "step": step, "last_action": action, "rng": rng,
                    "truncation": (end & ~fail).astype(jnp.float32), "terminated": fail.astype(jnp.float32)}
        obs = self._obs(data, frame, action, k_obs)
        obs = jax.tree.map(lambda x: jnp.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), obs)
        return State(data, obs, reward, done.astype(jnp.float32), metrics, new_info)


# ---------------------------------------------------------------------- domain randomisation
def randomize_model(rcfg: RandomizationConfig, sys: mjx.Model, rng: jax.Array) -> tuple[mjx.Model, mjx.Model]:
    """Per-environment models (``rng`` is ``(N, 2)``): friction, link masses, torso mass, PD gains.

    Returns ``(batched model, in_axes)`` as brax's ``randomization_fn`` contract asks.
    """
    def one(key):
        k = jax.random.split(key, 5)
        u = lambda kk, lohi, shape=(): jax.random.uniform(kk, shape, minval=lohi[0], maxval=lohi[1])  # noqa: E731
        friction = sys.geom_friction.at[:, 0].multiply(u(k[0], rcfg.friction))
        mass = sys.body_mass * u(k[1], rcfg.mass_scale, sys.body_mass.shape)
        mass = mass.at[_TORSO_ID].add(u(k[2], rcfg.torso_mass_add))
        kp, kd = u(k[3], rcfg.kp_scale), u(k[4], rcfg.kd_scale)
        gain = sys.actuator_gainprm.at[:, 0].multiply(kp)
        bias = sys.actuator_biasprm.at[:, 1].multiply(kp).at[:, 2].multiply(kd)
        damping = sys.dof_damping.at[6:].multiply(kd)
        return friction, mass, gain, bias, damping

    if sys is None:
        raise ValueError("model randomisation (friction, masses, gains) needs the MJX backend (EnvConfig.backend='mjx')")
    friction, mass, gain, bias, damping = jax.vmap(one)(rng)
    fields = dict(geom_friction=friction, body_mass=mass, actuator_gainprm=gain, actuator_biasprm=bias, dof_damping=damping)
    in_axes = jax.tree.map(lambda _: None, sys).tree_replace({k: 0 for k in fields})
    return sys.tree_replace(fields), in_axes


_TORSO_ID = int(load_g1("feetonly").body_ids[load_g1("feetonly").body_names.index("torso_link")])


# ---------------------------------------------------------------------- batching wrapper
class TrackingWrapper(Wrapper):
    """Batched tracking environments with brax's training bookkeeping and adaptive resets.

    Replaces brax's ``VmapWrapper + EpisodeWrapper + AutoResetWrapper``: brax's auto-reset returns
    to each environment's *first* state, which would pin every environment to one start time;
    here a finished environment is reset at a fresh start frame drawn from the failure-weighted
    bins. ``state.info["adaptive_fail"] (bins,)`` (not batched) holds decayed failure counts
    shared by all environments of a device.
    """

    def __init__(self, env: TrackingEnv, episode_length: int | None = None, action_repeat: int = 1,
                 randomization_fn: Callable | None = None):
        super().__init__(env)
        if action_repeat != 1:
            raise ValueError("the tracker advances the reference one frame per step; use action_repeat=1")
        self._sys_v, self._in_axes = (randomization_fn(env.sys) if randomization_fn is not None else (None, None))

    def _vmapped(self, method: str, *args):
        env = self.env.unwrapped
        if self._sys_v is None:
            return jax.vmap(getattr(env, method))(*args)

        def one(sys, *a):
            old, env.sys = env.sys, sys
            try:
                return getattr(env, method)(*a)
            finally:
                env.sys = old
        return jax.vmap(one, in_axes=(self._in_axes,) + (0,) * len(args))(self._sys_v, *args)

    def reset(self, rng: jax.Array) -> State:
        env: TrackingEnv = self.env.unwrapped
        prior = env.lib.bin_prior if env.cfg.start_weights else None
        frames = jax.vmap(lambda k: sample_start(env.lib, k, prior))(jax.vmap(lambda k: jax.random.fold_in(k, 1))(rng))
        state = self._vmapped("reset_at", rng, frames)
        n = rng.shape[0]
        zeros = jnp.zeros(n)
        info = dict(state.info)
        info["episode_done"] = zeros
        info["steps"] = zeros
        info["episode_metrics"] = {"sum_reward": zeros, "length": zeros, **{k: zeros for k in state.metrics}}
        info["adaptive_fail"] = jnp.zeros(env.lib.num_bins)
        return state.replace(info=info)

    def step(self, state: State, action: jax.Array) -> State:
        env: TrackingEnv = self.env.unwrapped
        cfg = env.cfg
        info = dict(state.info)
        fail_counts = info.pop("adaptive_fail")
        episode_metrics = info.pop("episode_metrics")
        prev_done = info.pop("episode_done")
        steps = info.pop("steps") * (1 - prev_done) + 1
        inner = state.replace(info=info, done=jnp.zeros_like(state.done))
        nxt = self._vmapped("step", inner, action)

        # Episode statistics, as brax's EpisodeWrapper keeps them.
        em = {k: v * (1 - prev_done) for k, v in episode_metrics.items()}
        em["sum_reward"] = em["sum_reward"] + nxt.reward
        em["length"] = em["length"] + 1
        for k, v in nxt.metrics.items():
            em[k] = em[k] + v

        # Failure-weighted start times: count failures in the bin where they happened.
        terminated = nxt.info["terminated"]
        fail_counts = fail_counts * cfg.adaptive_decay + jax.ops.segment_sum(
            terminated, frame_bin(env.lib, nxt.info["frame"]), env.lib.num_bins)
        weights = bin_weights(fail_counts, cfg.adaptive_uniform, env.lib.bin_prior)
        keys = jax.vmap(lambda k: jax.random.split(k, 2))(nxt.info["rng"])
        frames = jax.vmap(lambda k: sample_start(env.lib, k, weights))(keys[:, 0])
        fresh = self._vmapped("reset_at", keys[:, 1], frames)

        done = nxt.done
        pick = lambda a, b: jnp.where(done.reshape(done.shape + (1,) * (a.ndim - 1)) > 0, a, b)  # noqa: E731
        pipeline_state = jax.tree.map(pick, fresh.pipeline_state, nxt.pipeline_state)
        obs = jax.tree.map(pick, fresh.obs, nxt.obs)
        new_info = {k: pick(fresh.info[k], nxt.info[k]) if k not in ("truncation", "terminated") else nxt.info[k]
                    for k in nxt.info}
        new_info.update(episode_metrics=em, episode_done=done, adaptive_fail=fail_counts, steps=steps)
        return nxt.replace(pipeline_state=pipeline_state, obs=obs, info=new_info)


def wrap_for_tracking(env: TrackingEnv, episode_length: int | None = None, action_repeat: int = 1,
                      randomization_fn: Callable | None = None) -> TrackingWrapper:
    """brax ``wrap_env_fn``: see :class:`TrackingWrapper`."""
    return TrackingWrapper(env, episode_length, action_repeat, randomization_fn)


def make_randomization_fn(cfg: EnvConfig) -> Callable | None:
    """brax ``randomization_fn`` for ``cfg.randomization``, or None when no model parameter varies."""
    if not cfg.randomization.model_randomized:
        return None
    return functools.partial(randomize_model, cfg.randomization)


def make_env(motions_or_library: Any, cfg: EnvConfig = EnvConfig()) -> TrackingEnv:
    """A :class:`TrackingEnv` from a :class:`MotionLibrary` or a list of motions."""
    lib = motions_or_library if isinstance(motions_or_library, MotionLibrary) else \
        MotionLibrary.for_training(motions_or_library, cfg)
    return TrackingEnv(lib, cfg)


__all__ = ["TrackingEnv", "TrackingWrapper", "make_env", "make_randomization_fn", "physics_model",
           "randomize_model", "wrap_for_tracking"]
