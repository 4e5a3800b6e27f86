"""The deployable tracker policy: parameters as plain arrays and a pure-numpy forward pass.

A checkpoint folder holds ``metadata.json`` (schema, config, observation layout, training
summary), ``state/`` (orbax: the normaliser and MLP arrays), ``policy.npz`` (the actor's arrays,
for a robot computer with numpy only) and, for an export of a run, ``critic.npz`` (the critic that
trained it: what a new run continues from, not needed to act). :class:`TrackerPolicy.act` is the
deterministic action ``(29,)`` for an observation ``(D,)``: ``MLP((obs - mean) / std)``, swish
hidden layers.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motionfm.checkpoint import read_metadata, save_checkpoint
from motionfm.tracker.config import TrackerConfig

SCHEMA = "motionfm.tracker"
SCHEMA_VERSION = 2
"""2: deployment actuation (``EnvConfig.actuation``, per-joint action scale, unclamped targets) and
the physics backend in the config; a version-1 checkpoint is read as MJCF servos trained in MJX."""


def default_checkpoint() -> Path:
    """The shipped policy: ``checkpoints/tracker`` of the repository."""
    return Path(__file__).resolve().parents[2] / "checkpoints" / "tracker"


@dataclasses.dataclass(frozen=True, eq=False)
class Critic:
    """The value function a run trained beside the policy, kept so that a new run (a warm start,
    perhaps on another machine) continues with it instead of training a fresh one first
    (docs/architecture.md, "Warm starts").

    Attributes:
        obs_mean, obs_std: ``(P,)`` normaliser of the privileged observation.
        weights: ``[(W_i (in, out), b_i (out,))]``: brax's value MLP, hidden layers then the ``(., 1)``
            output, before ``config.ppo.value_output_scale``.
    """

    obs_mean: np.ndarray
    obs_std: np.ndarray
    weights: tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclasses.dataclass(frozen=True, eq=False)
class TrackerPolicy:
    """A trained tracking policy, numpy only.

    Attributes:
        config: the :class:`TrackerConfig` it was trained with (observation layout, action scale).
        obs_mean, obs_std: ``(D,)`` normaliser of the actor observation.
        weights: ``[(W_i (in, out), b_i (out,))]``: hidden layers then the action-mean layer.
        metadata: the checkpoint's ``metadata.json``.
        action_log_std: ``(29,)`` log of the training policy's per-joint action noise, or None
            (exported before it was kept). Deployment ignores it; a warm start continues with it.
        critic: the run's :class:`Critic`, or None (exported before it was kept, or averaged from
            exports that lack it). Deployment ignores it; a warm start continues with it.
    """

    config: TrackerConfig
    obs_mean: np.ndarray
    obs_std: np.ndarray
    weights: tuple[tuple[np.ndarray, np.ndarray], ...]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    action_log_std: np.ndarray | None = None
    critic: Critic | None = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action ``(..., 29)`` for observations ``(..., D)`` (float32 math)."""
        x = ((np.asarray(obs, np.float32) - self.obs_mean) / self.obs_std).astype(np.float32)
        clip = self.config.ppo.obs_clip
        if clip is not None:
            x = np.clip(x, -clip, clip)
        for i, (w, b) in enumerate(self.weights):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = x / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))  # swish (brax's default); clipped: no exp overflow
        return x

    @property
    def num_params(self) -> int:
        return int(sum(w.size + b.size for w, b in self.weights))


def policy_from_brax(params: tuple, config: TrackerConfig, metadata: dict[str, Any] | None = None) -> TrackerPolicy:
    """Convert brax PPO ``(normalizer, policy, value)`` params of a ``normal`` policy to numpy (the
    critic too, where ``value`` is given)."""
    norm, pol = params[0], params[1]
    mean = np.asarray(norm.mean["state"], np.float32)
    std = np.asarray(norm.std["state"], np.float32)
    p = pol["params"]
    mlp = p["MLP_0"]
    layers = [mlp[f"hidden_{i}"] for i in range(len(mlp))]
    layers.append(p["Dense_0"])
    weights = tuple((np.asarray(layer["kernel"], np.float32), np.asarray(layer["bias"], np.float32)) for layer in layers)
    log_std = p.get("std_logparam", {}).get("log_value")
    critic = None
    if len(params) > 2 and params[2] is not None and "privileged_state" in norm.mean:
        v = params[2]["params"]
        critic = Critic(np.asarray(norm.mean["privileged_state"], np.float32),
                        np.asarray(norm.std["privileged_state"], np.float32),
                        tuple((np.asarray(v[f"hidden_{i}"]["kernel"], np.float32), np.asarray(v[f"hidden_{i}"]["bias"], np.float32))
                              for i in range(len(v))))
    return TrackerPolicy(config, mean, std, weights, dict(metadata or {}),
                         None if log_std is None else np.asarray(log_std, np.float32), critic)


def average_policies(policies: Sequence[TrackerPolicy]) -> TrackerPolicy:
    """The element-wise mean of the normalisers and weights of several exports of one run.

    Weight averaging (as in stochastic weight averaging): PPO's iterates wander around a good
    policy, and which held-out clips a chunk's export tracks changes by a few points from chunk to
    chunk; the mean of consecutive chunk exports tracks more than any of them (docs/architecture.md).
    Average policies of one run only, continued chunk after chunk (their networks share a
    basin): the mean of independently trained networks is not a policy.

    Returns the last policy's config and metadata, with ``metadata["averaged_from"]`` listing each
    input's ``env_steps``; the action noise is the mean of the inputs' log std and the critic the
    mean of their critics (each None unless all keep it).

    Raises:
        ValueError: no policies, or policies whose shapes or held-out clips differ.
    """
    policies = list(policies)
    if not policies:
        raise ValueError("no policies to average")
    last = policies[-1]
    shapes = [(p.obs_mean.shape, tuple((w.shape, b.shape) for w, b in p.weights)) for p in policies]
    if any(s != shapes[-1] for s in shapes):
        raise ValueError(f"policies of different shapes cannot be averaged: {sorted(set(map(str, shapes)))}")
    held = [sorted(p.metadata.get("held_out", [])) for p in policies]
    if any(h != held[-1] for h in held):
        raise ValueError("policies with different held-out clips cannot be averaged (they come from different runs)")
    mean = lambda arrays: np.mean(np.stack(arrays), 0).astype(np.float32)  # noqa: E731
    mean_layers = lambda sets: tuple((mean([w[i][0] for w in sets]), mean([w[i][1] for w in sets]))  # noqa: E731
                                     for i in range(len(sets[-1])))
    weights = mean_layers([p.weights for p in policies])
    steps = [int(p.metadata.get("training", {}).get("env_steps", -1)) for p in policies]
    log_stds = [p.action_log_std for p in policies]
    critics = [p.critic for p in policies]
    critic = None
    if all(c is not None for c in critics):
        cshapes = [(c.obs_mean.shape, tuple(w.shape for w, _ in c.weights)) for c in critics]
        if any(s != cshapes[-1] for s in cshapes):
            raise ValueError(f"critics of different shapes cannot be averaged: {sorted(set(map(str, cshapes)))}")
        critic = Critic(mean([c.obs_mean for c in critics]), mean([c.obs_std for c in critics]),
                        mean_layers([c.weights for c in critics]))
    return TrackerPolicy(last.config, mean([p.obs_mean for p in policies]), mean([p.obs_std for p in policies]), weights,
                         {**last.metadata, "averaged_from": [{"env_steps": s} for s in steps]},
                         None if any(x is None for x in log_stds) else mean(log_stds), critic)


def _layers(weights: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    return {**{f"w{i}": w for i, (w, _) in enumerate(weights)}, **{f"b{i}": b for i, (_, b) in enumerate(weights)}}


def _read_layers(z: Any) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Inverse of :func:`_layers` on an npz written with ``num_layers``."""
    return tuple((z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)) for i in range(int(z["num_layers"])))


def save_policy(path: str | os.PathLike, policy: TrackerPolicy) -> Path:
    """Write a checkpoint folder (replaced atomically): metadata.json, state/ (orbax), policy.npz
    (the actor) and, where the policy keeps its critic, critic.npz."""
    arrays = {"obs_mean": policy.obs_mean, "obs_std": policy.obs_std, **_layers(policy.weights),
              **({} if policy.action_log_std is None else {"action_log_std": policy.action_log_std})}
    c = policy.critic
    critic = None if c is None else {"obs_mean": c.obs_mean, "obs_std": c.obs_std, **_layers(c.weights)}
    meta = {**policy.metadata, "config": policy.config.to_dict(), "num_params": policy.num_params,
            "critic": c is not None}

    def extra(folder: Path) -> None:
        np.savez(folder / "policy.npz", num_layers=len(policy.weights), **arrays)
        if critic is not None:
            np.savez(folder / "critic.npz", num_layers=len(c.weights), **critic)

    state = arrays if critic is None else {**arrays, "critic": critic}
    return save_checkpoint(path, state, meta, SCHEMA, SCHEMA_VERSION, extra=extra)


def load_policy(path: str | os.PathLike | None = None) -> TrackerPolicy:
    """Read a checkpoint folder (default: the shipped one) from its ``policy.npz`` and metadata.

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: not a tracker checkpoint, a newer schema than this motionfm reads, or an
            unreadable ``critic.npz``.
    """
    path = Path(path) if path is not None else default_checkpoint()
    meta = read_metadata(path, SCHEMA, SCHEMA_VERSION)
    z = np.load(path / "policy.npz")
    weights = _read_layers(z)
    config = dict(meta["config"])
    config["env"] = {"missing_joints": "default", **config.get("env", {})}  # trained before the switch existed
    if int(meta.get("schema_version", 1)) < 2:  # trained before the drive table existed
        config["env"] = {"actuation": "model", "backend": "mjx", "integrator": "euler", "obs_lin_vel": False, **config.get("env", {})}
        config["ppo"] = {"obs_clip": None, **config.get("ppo", {})}
    critic = None
    if (path / "critic.npz").is_file():
        try:
            c = np.load(path / "critic.npz")
            critic = Critic(c["obs_mean"].astype(np.float32), c["obs_std"].astype(np.float32), _read_layers(c))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path / 'critic.npz'}: not a readable critic ({e})") from e
    return TrackerPolicy(TrackerConfig.from_dict(config), z["obs_mean"].astype(np.float32),
                         z["obs_std"].astype(np.float32), weights, meta,
                         z["action_log_std"].astype(np.float32) if "action_log_std" in z else None, critic)


def inference_latency_ms(policy: TrackerPolicy, repeats: int = 2000) -> float:
    """Median wall time (ms) of one :meth:`TrackerPolicy.act` call on a single observation."""
    import time

    obs = np.zeros(policy.obs_mean.shape, np.float32)
    for _ in range(50):
        policy.act(obs)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        policy.act(obs)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)
