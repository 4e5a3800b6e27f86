"""Frozen configuration of the tracker: environment, rewards, randomisation, PPO, with presets.

``PRESETS["cpu"]`` is what this repository can train on a 2-core CPU in minutes; ``PRESETS["gpu"]``
is the full recipe (thousands of environments, whole corpus, randomisation on).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

TRACKED_BODIES: tuple[str, ...] = (
    "pelvis", "left_hip_roll_link", "left_knee_link", "left_ankle_roll_link",
    "right_hip_roll_link", "right_knee_link", "right_ankle_roll_link", "torso_link",
    "left_shoulder_roll_link", "left_elbow_link", "left_wrist_yaw_link",
    "right_shoulder_roll_link", "right_elbow_link", "right_wrist_yaw_link",
)
"""The 14 bodies whose poses enter rewards and the critic (BeyondMimic's set, G1 names)."""

END_EFFECTORS: tuple[str, ...] = (
    "left_ankle_roll_link", "right_ankle_roll_link", "left_wrist_yaw_link", "right_wrist_yaw_link",
)


REWARD_TERMS = ("anchor_pos", "anchor_pos_fine", "anchor_ori", "body_pos", "body_ori", "body_lin_vel", "body_ang_vel",
                "feet_pos")
"""The Gaussian-kernel terms: :class:`RewardConfig` fields ``(weight, sigma)`` and the keys of
:func:`motionfm.tracker.obs.reward_terms` (and of the env's episode metrics), in order."""


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """Gaussian-kernel tracking rewards ``w * exp(-err^2 / sigma^2)`` and regularisers.

    Body errors are measured after aligning the reference to the robot's anchor (xy position and
    yaw), so drift of the whole body does not swamp the pose terms (BeyondMimic's formulation).
    """

    anchor_pos: tuple[float, float] = (0.5, 0.3)  # (weight, sigma in m)
    # A second, narrow anchor-position kernel (weight 0: off, BeyondMimic has one kernel). The wide
    # one pulls a lagging walk back from tens of cm but is flat near the reference: at sigma 0.5 m a
    # 7 cm offset costs 2 % of it, and the 214 M policy held the stand pose 7 cm from where it began.
    anchor_pos_fine: tuple[float, float] = (0.0, 0.15)
    anchor_ori: tuple[float, float] = (0.5, 0.4)  # rad
    body_pos: tuple[float, float] = (1.0, 0.3)  # m, mean squared over tracked bodies
    body_ori: tuple[float, float] = (1.0, 0.4)  # rad
    body_lin_vel: tuple[float, float] = (1.0, 1.0)  # m/s
    body_ang_vel: tuple[float, float] = (1.0, 3.14)  # rad/s
    # The feet where the reference's feet are, in the world frame (weight 0: off, BeyondMimic has no
    # such term). Every other body term is anchor-relative, so nothing asked the feet to stay put:
    # the 416.9 M policy shuffled them (median 5-15 cm/s, lifts under 2 cm) under standing gestures
    # whose reference feet never move, and drifted 4-20 cm off the reference that way. Tried at (1.0,
    # 0.1) from 429.8 M (training/tracker_cpu_feet.json): closer walks, not the shuffle; docs/architecture.md.
    feet_pos: tuple[float, float] = (0.0, 0.1)  # m, mean squared over both feet
    action_rate: float = -0.1  # per squared change of the normalised action
    joint_limit: float = -2.0  # per rad beyond the soft limits (95% of the range)
    termination: float = -0.0  # extra penalty on failure (0: the lost future reward is enough)

    def max_reward(self) -> float:
        """The per-step reward when the robot follows the reference exactly and holds its action."""
        return sum(getattr(self, k)[0] for k in REWARD_TERMS)


@dataclasses.dataclass(frozen=True)
class RandomizationConfig:
    """Domain randomisation switches (each off at 0 / False)."""

    friction: tuple[float, float] = (1.0, 1.0)  # scale of the floor/feet sliding friction
    mass_scale: tuple[float, float] = (1.0, 1.0)  # scale of every link mass
    torso_mass_add: tuple[float, float] = (0.0, 0.0)  # kg added to the torso
    kp_scale: tuple[float, float] = (1.0, 1.0)  # scale of the PD stiffness
    kd_scale: tuple[float, float] = (1.0, 1.0)  # scale of the PD damping
    push_interval_s: float = 0.0  # 0: no pushes; else a random base velocity kick this often
    push_vel: float = 0.5  # m/s, max horizontal kick
    obs_noise: float = 0.0  # scale of uniform observation noise (1.0 = the default levels)

    @property
    def model_randomized(self) -> bool:
        """Whether any model parameter (friction, mass, gains) is randomised per environment."""
        return any(lo != hi for lo, hi in (self.friction, self.mass_scale, self.torso_mass_add, self.kp_scale, self.kd_scale))


ROBUST = RandomizationConfig(friction=(0.4, 1.2), mass_scale=(0.9, 1.1), torso_mass_add=(-1.0, 3.0),
                             kp_scale=(0.8, 1.2), kd_scale=(0.8, 1.2), push_interval_s=3.0, obs_noise=1.0)


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """The tracking environment.

    Attributes:
        model: G1 variant for training physics (``feetonly``: only feet collide, fastest in MJX).
        backend: physics backend of training: ``"mujoco"`` (plain MuJoCo through
            ``mujoco.rollout``, the fast one on CPUs) or ``"mjx"`` (GPUs); same task, same policy.
        actuation: ``"armature"``: the deployment drives of ``motionfm/robot/g1_actuators.json``
            (gains from motor armature, effort limits, unclamped targets, no passive damping);
            ``"model"``: the MJCF's own servos (policies of schema 1 were trained so).
        integrator: MuJoCo integrator (``"euler"`` or ``"implicitfast"``).
        ctrl_dt: policy period (s): 50 Hz.
        sim_dt: physics step (s); ``ctrl_dt / sim_dt`` substeps per action.
        action_scale: with ``"armature"`` actuation the fraction of each motor's peak torque per
            unit action (per-joint rad ``action_scale * effort_limit / kp``, BeyondMimic's 0.25);
            with ``"model"``, rad per unit action on every joint.
        action_base: ``"reference"``: joint targets are the reference's joints plus the scaled
            action (residual; learns fast); ``"default"``: the standing pose plus the action
            (BeyondMimic).
        anchor_body: the body whose pose the policy is told and terminations are measured on.
        future_frames: offsets (in 50 Hz frames) of the reference joint targets in the observation.
        obs_lin_vel: the actor observes the root's linear velocity (BeyondMimic's actor does;
            policies of checkpoint schema 1 did not).
        max_episode_s: episode cap (s); an episode also ends (truncated) at the clip's end.
        anchor_height_limit: terminate when the anchor is this far (m) from the reference height.
        anchor_ori_limit: terminate when the projected-gravity z of the anchor differs this much.
        ee_height_limit: terminate when an end effector is this far (m) from its reference height.
        adaptive_bin_s: width (s) of the start-time bins of failure-weighted sampling.
        adaptive_uniform: probability mass mixed in uniformly over bins.
        adaptive_decay: per-step decay of the failure counts (forgets old failures).
        start_weights: ``(regex, weight)`` pairs on clip names (first match; 1 where none): the
            uniform part of start sampling draws a matching clip's frames ``weight`` times as
            often. Failure-weighted starts alone leave hard clips few env steps, because their
            episodes are short: an episode started in a fast run falls within ~1 s where one in
            a gesture lasts 10 s (docs/architecture.md).
        missing_joints: what training references do on joints a clip did not record (the wrists
            of most corpora): ``"random"`` move along random smooth trajectories
            (:func:`~motionfm.tracker.library.fill_missing_joints`), so the policy follows any
            wrist motion a generator produces; ``"default"`` stay at the default angle (policies
            before this switch; they fall when a reference moves its wrists).
    """

    model: str = "feetonly"
    backend: str = "mujoco"
    actuation: str = "armature"
    integrator: str = "implicitfast"
    ctrl_dt: float = 0.02
    sim_dt: float = 0.005
    action_scale: float = 0.25
    action_base: str = "reference"
    anchor_body: str = "torso_link"
    future_frames: tuple[int, ...] = (1, 5)
    obs_lin_vel: bool = True
    max_episode_s: float = 6.0
    anchor_height_limit: float = 0.25
    anchor_ori_limit: float = 0.8
    ee_height_limit: float = 0.25
    adaptive_bin_s: float = 1.0
    adaptive_uniform: float = 0.1
    adaptive_decay: float = 0.999
    missing_joints: str = "random"
    start_weights: tuple[tuple[str, float], ...] = ()
    reward: RewardConfig = RewardConfig()
    randomization: RandomizationConfig = RandomizationConfig()

    @property
    def fps(self) -> float:
        """Control (and reference) rate in Hz."""
        return 1.0 / self.ctrl_dt

    @property
    def n_substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, int(round(self.ctrl_dt / self.sim_dt)))

    @property
    def episode_length(self) -> int:
        """Maximum control steps of one episode."""
        return int(round(self.max_episode_s / self.ctrl_dt))


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Brax PPO settings (names as in ``brax.training.agents.ppo.train``)."""

    num_timesteps: int = 2_000_000
    num_envs: int = 128
    num_eval_envs: int = 32
    num_evals: int = 10
    unroll_length: int = 20
    batch_size: int = 128
    num_minibatches: int = 4
    num_updates_per_batch: int = 4
    learning_rate: float = 3e-4
    entropy_cost: float = 5e-3
    discounting: float = 0.97
    gae_lambda: float = 0.95
    clipping_epsilon: float = 0.2
    max_grad_norm: float = 1.0
    reward_scaling: float = 1.0
    policy_hidden: tuple[int, ...] = (256, 128, 64)
    value_hidden: tuple[int, ...] = (256, 256, 128)
    init_noise_std: float = 0.4
    obs_clip: float | None = 10.0  # normalised observations clipped to +-this (None: not clipped)
    learning_rate_schedule: str = "NONE"  # or "ADAPTIVE_KL": lr halves/grows to hold desired_kl (rsl_rl, BeyondMimic)
    desired_kl: float = 0.01
    run_evals: bool = True  # brax's deterministic eval rollouts at each checkpoint (slow to compile on CPU)
    # A warm start from an export without a critic (exported before exports kept it, as the shipped
    # policy) first trains a fresh critic for this many env steps with the actor held fixed: PPO on
    # a random critic's advantages wore the shipped policy down (8 M steps from it: held-out success
    # 90.1 % without, 92.2 % with 4 M; 95.2 % before).
    # 12 M (~30 min on 2 cores; value loss 129 at 4 M, 108 at 12 M), with the critic's statistics
    # measured and the noise at the run's: within 5 cm 5 % -> 34 % after the chunk (47 % before;
    # docs/architecture.md, "Warm starts"). 0: no warm-up.
    critic_warmup_steps: int = 12_000_000
    # The critic outputs this times its MLP. brax trains actor and critic with one Adam and one
    # rate, and Adam's step does not depend on the gradient's scale, so the value function moves
    # this many times as fast per step as at 1 (to first order): the critic's own learning rate.
    # At desired_kl 0.001 the adaptive rate sits near 4e-5 and a warm start's critic barely moved
    # (value loss ~100 all chunk); the warm-up runs at learning_rate / value_output_scale, so its
    # effective rate stays learning_rate. Fixed for the life of a run (its critic is stored unscaled).
    # Tried at 25 on a warm start: the value loss stayed at the warm-up's floor (~135-150) and held-out
    # within 5 cm fell below the same run at 1 (33.7 / 39.8 % against 44.6 / 44.6 after 8 / 16 M steps;
    # docs/architecture.md), so 1.
    value_output_scale: float = 1.0
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
    """Everything a training run needs: environment and PPO."""

    env: EnvConfig = EnvConfig()
    ppo: PPOConfig = PPOConfig()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able nested dict (tuples as lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrackerConfig":
        """Inverse of :meth:`to_dict` (unknown keys rejected, lists back to tuples)."""
        def build(klass, values):
            kw = {}
            for f in dataclasses.fields(klass):
                if f.name not in values:
                    continue
                v = values[f.name]
                if dataclasses.is_dataclass(f.default):
                    v = build(type(f.default), v)
                elif isinstance(v, list):
                    v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
                kw[f.name] = v
            unknown = set(values) - {f.name for f in dataclasses.fields(klass)}
            if unknown:
                raise ValueError(f"unknown {klass.__name__} keys: {sorted(unknown)}")
            return klass(**kw)
        return build(cls, d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


PRESETS: dict[str, TrackerConfig] = {
    # 2-core CPU: few envs, small batches; the residual action makes learning visible in minutes.
    # BeyondMimic's PPO settings (gamma 0.99, lr 1e-3 with the adaptive-KL schedule, 5 epochs) at
    # CPU scale; initial noise 0.3 on the residual action (x the per-joint action scale: 0.16 rad on
    # the hips), lower than BeyondMimic's 1.0 so that early episodes last long enough to learn from.
    # 3 epochs, not BeyondMimic's 5: over the first 26 M steps of the shipped run (5 epochs) the
    # adaptive schedule held the lr at 4-9e-5 with KL 0.014-0.015 per update, so the trust region,
    # not the gradient steps, bounded each update's progress, while the update was half the wall time
    # (0.7 s of 1.4 s per 10 k steps); 3 epochs reach the same KL at a higher lr in 60 % of the time.
    # Anchor position (1.0, 0.5 m), not BeyondMimic's (0.5, 0.3 m), and 10 s episodes from 110 M
    # steps on: the 110 M policy walked held-out Bandai walks with 5-7 cm local error but 0.5-1.2 m
    # world error (clean references: 1-3 cm/s foot skating), i.e. it let the path drift; with
    # sigma 0.3 m the reward's pull is gone past ~0.5 m (0.5*exp(-2.8)), while evaluation runs the
    # whole clip (up to 15 s) where drift accumulates beyond the 6 s training episodes.
    # Half the start bins drawn uniformly (adaptive_uniform 0.5, not BeyondMimic's 0.1) from 150 M
    # steps on: BeyondMimic's weights are failure *counts* made for one clip; over 2,670 clips
    # (11 k one-second bins) they fed back on themselves within 3-5 M steps of every chunk, onto
    # segments where 85-90 % of episodes failed within ~0.5 s (training episodes 0.5-0.8 s long),
    # so the walks whose drift had to be learned over seconds were rarely started.
    # The narrow anchor kernel (1.0, 0.15 m) from 214 M steps on: the 214 M policy kept 97 % of the
    # held-out gestures it tracked within 5 cm of the reference pose but only 52 % within 5 cm of
    # where the reference is (world frame), as it shuffles a few cm off in its first seconds and
    # stays there (stand: 7 cm) -- the wide kernel is flat there.
    "cpu": TrackerConfig(env=EnvConfig(reward=RewardConfig(anchor_pos=(1.0, 0.5), anchor_pos_fine=(1.0, 0.15)),
                                       max_episode_s=10.0, adaptive_uniform=0.5),
                         ppo=PPOConfig(run_evals=False, discounting=0.99, learning_rate=1e-3, learning_rate_schedule="ADAPTIVE_KL",
                                                     num_updates_per_batch=3, init_noise_std=0.3, num_timesteps=2_000_000)),
    # One GPU: thousands of envs, the full corpus, randomisation on (the recipe).
    "gpu": TrackerConfig(
        env=EnvConfig(backend="mjx", randomization=ROBUST, max_episode_s=10.0),
        ppo=PPOConfig(num_timesteps=2_000_000_000, num_envs=4096, num_eval_envs=256, num_evals=50,
                      unroll_length=24, batch_size=1024, num_minibatches=32, num_updates_per_batch=4,
                      learning_rate=1e-4, entropy_cost=5e-3, discounting=0.99, policy_hidden=(512, 256, 128),
                      value_hidden=(512, 256, 128), init_noise_std=1.0),
    ),
    # Tests: tiny everything.
    "test": TrackerConfig(ppo=PPOConfig(num_timesteps=800, num_envs=4, num_eval_envs=4, num_evals=1,
                                        unroll_length=5, batch_size=4, num_minibatches=2, num_updates_per_batch=1,
                                        policy_hidden=(32, 32), value_hidden=(32, 32))),
}
