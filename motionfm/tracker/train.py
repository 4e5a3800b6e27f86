"""Train the tracker with Brax's PPO on the MJX environment, in resumable chunks.

A run folder holds ``ckpt/chunk_NNN/<step>/`` (brax's orbax checkpoints of normaliser, policy and
value parameters, plus its network config), ``log.jsonl`` (one line per evaluation: cumulative
env steps, reward, episode length, steps/s) and ``run.json`` (config, clips, steps so far). Calling
:func:`train` again on the same folder continues from the newest checkpoint; each call is one chunk.
Multi-device: brax's PPO ``pmap``s over all local devices (``num_envs`` must divide evenly).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from motionfm.data.corpus import scan_corpus
from motionfm.motion import Motion
from motionfm.tracker.config import PPOConfig, TrackerConfig
from motionfm.tracker.library import MotionLibrary
from motionfm.tracker.policy import TrackerPolicy, policy_from_brax, save_policy


def load_motions(sources: Sequence[str | os.PathLike], include: str | None = None, exclude: str | None = None,
                 default_fps: float = 30.0, names: set[str] | None = None) -> list[Motion]:
    """Motions from files and folders (folders scanned with their ``clips.jsonl``).

    ``include``/``exclude`` are regular expressions on clip ids (``re.search``); ``names``, when
    given, is the set of clip ids to load (the others are not read at all).
    """
    motions = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            refs = [(r.path, r.clip_id, r.meta or None) for r in scan_corpus(src)]
        elif src.is_file():
            refs = [(src, src.stem, None)]
        else:
            raise FileNotFoundError(f"{src}: no such motion file or folder")
        for path, cid, meta in refs:
            if names is not None and cid not in names:
                continue
            if include and not re.search(include, cid):
                continue
            if exclude and re.search(exclude, cid):
                continue
            m = Motion.load(path, default_fps=default_fps, limits="ignore", metadata=meta)
            motions.append(m.replace(name=cid))
    if not motions:
        raise FileNotFoundError(f"no motions matched in {[str(s) for s in sources]} (include={include!r})")
    return motions


GROUPS: tuple[str, ...] = ("stand", "locomotion", "gestures", "athletic", "dance", "martial_arts")
"""Clip families the tracker is trained and reported on (:func:`clip_group`)."""

CURRICULUM: tuple[tuple[str, ...], ...] = (("stand", "locomotion", "gestures"), ("athletic",), ("dance", "martial_arts"))
"""Stages of :func:`train_curriculum`: each adds its groups to the clips of the stages before it."""

_GROUP_WORDS = (  # first match wins; matched against "category name" of a clip, lower case
    ("stand", ("stand",)),
    ("martial_arts", ("karate", "fenc", "punch", "kick", "slash", "sword", "box", "martial", "fight")),
    ("dance", ("dance",)),
    ("gestures", ("bow", "wave", "raise", "call", "guide", "gesture", "hand", "point", "clap", "bye", "respond")),
    ("athletic", ("athletic", "sport", "bonus", "jump", "squat", "golf", "shoot", "celebrat", "dribbl", "lunge", "hop")),
    ("locomotion", ("locomotion", "walk", "run", "step", "turn", "dash", "jog")),
)


def clip_group(category: str | None, name: str = "") -> str:
    """The :data:`GROUPS` family of a clip from its ``clips.jsonl`` category and its id (keywords;
    unknown clips count as ``athletic``)."""
    text = f"{category or ''} {name}".lower()
    for group, words in _GROUP_WORDS:
        if any(w in text for w in words):
            return group
    return "athletic"


def clip_licences(sources: Sequence[str | os.PathLike]) -> dict[str, str]:
    """``{clip id: licence}`` (the ``clips.jsonl`` row's ``license``, else ``"unknown"``) for the
    folders of ``sources``: a tracker checkpoint records what its training data allows."""
    from motionfm.data.corpus import clip_licence

    return {r.clip_id: clip_licence(r.meta or {}) for src in sources if Path(src).is_dir() for r in scan_corpus(src)}


def clip_groups(sources: Sequence[str | os.PathLike]) -> dict[str, str]:
    """``{clip id: group}`` for every clip in the folders of ``sources`` (files: by name)."""
    out = {}
    for src in sources:
        src = Path(src)
        refs = scan_corpus(src) if src.is_dir() else []
        for r in refs:
            out[r.clip_id] = clip_group((r.meta or {}).get("category") or (r.meta or {}).get("content"), r.clip_id)
        if src.is_file():
            out[src.stem] = clip_group(None, src.stem)
    return out


def split_heldout(motions: Sequence[Motion], fraction: float = 0.15, seed: int = 0,
                  groups: dict[str, str] | None = None) -> tuple[list[Motion], list[Motion]]:
    """Deterministic split by clip name hash: ``(train, held_out)``; at least one of each when possible.

    With ``groups`` (``{name: group}``) the split is made within each group, so every family
    with two or more clips has held-out clips (the per-category figures need them).
    """
    if len(motions) < 2 or fraction <= 0:
        return list(motions), []
    if groups:
        held: set[str] = set()
        for g in sorted({groups.get(m.name, "") for m in motions}):
            held |= {m.name for m in split_heldout([m for m in motions if groups.get(m.name, "") == g], fraction, seed)[1]}
    else:
        rank = sorted(motions, key=lambda m: hashlib.sha1(f"{seed}:{m.name}".encode()).hexdigest())
        held = {m.name for m in rank[: max(1, int(round(fraction * len(motions))))]}
    return [m for m in motions if m.name not in held], [m for m in motions if m.name in held]


def _checkpoints(run: Path) -> dict[int, list[Path]]:
    """Complete brax checkpoints of a run folder by chunk: ``{chunk: [step folders, ascending]}``."""
    out: dict[int, list[Path]] = {}
    for p in run.glob("ckpt/chunk_*/[0-9]*"):
        if (p / "ppo_network_config.json").is_file():
            out.setdefault(int(p.parent.name.split("_")[1]), []).append(p)
    return {c: sorted(v, key=lambda p: int(p.name)) for c, v in sorted(out.items())}


def resume_point(run: Path) -> tuple[Path | None, int, int]:
    """``(newest checkpoint or None, next chunk index, env steps done so far)``.

    Read from the checkpoint folders themselves, so a chunk stopped midway still counts up to its
    last checkpoint (brax numbers each chunk's checkpoints from 0).
    """
    ck = _checkpoints(run)
    if not ck:
        return None, 0, 0
    done = sum(int(v[-1].name) for v in ck.values())
    last = max(ck)
    return ck[last][-1], last + 1, done


def _logged_seconds(run: Path) -> float:
    """Wall time of all chunks of a run (the largest ``wall_s`` logged per chunk)."""
    walls: dict[int, float] = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        row = json.loads(line)
        walls[row["chunk"]] = max(walls.get(row["chunk"], 0.0), row["wall_s"])
    return float(sum(walls.values()))


def _append_row(path: Path, row: dict, metrics: dict) -> dict:
    """``row`` with brax's scalar ``metrics`` added as floats, appended as one line to the JSON-lines
    file ``path``; returns the row."""
    for k, v in metrics.items():
        try:
            row[k] = float(np.asarray(v))
        except (TypeError, ValueError):
            pass
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def _last_train_row(rows: Sequence[dict]) -> dict:
    """Episode statistics of the last training-metrics row (per-step reward, length, body error),
    and the adaptive learning rate and mean action-noise std the chunk ended at (what a warm start
    needs to know)."""
    out: dict = {}
    for row in reversed(rows):
        if "episode/length" in row:
            n = max(row["episode/length"], 1.0)
            out = {"step": row["step"], "episode_length": n, "reward_per_step": row["episode/sum_reward"] / n,
                   "body_pos_err_m": row.get("episode/body_pos_err_m", float("nan")) / n,
                   "fail_rate": row.get("episode/fail", float("nan")),
                   "sps": row.get("episode/sps", float("nan"))}
            break
    for key, name in (("episode/learning_rate", "learning_rate"), ("episode/policy_dist_mean_std", "action_std")):
        out.update(next(({name: row[key]} for row in reversed(rows) if key in row), {}))
    return out


ADAPTIVE_KL_MIN_LR = 1e-5
"""Floor of the adaptive-KL rate, passed to brax as ``learning_rate_schedule_min_lr`` (its default)."""


def chunk_learning_rate(ppo_cfg: PPOConfig, run_dir: str | os.PathLike, init: dict | None = None) -> float:
    """The learning rate a chunk starts at.

    brax's adaptive-KL schedule starts every ``train()`` call at ``learning_rate`` with a fresh Adam
    state and lowers it only after a minibatch whose KL came out too large; Adam's first steps move
    every weight by about the rate. At the presets' 1e-3 the first minibatches of a chunk that
    continued a trained policy had KL 0.2-0.9 against a target of 0.001-0.01 (a warm start of the
    shipped policy: 92.2 % held-out success after its chunk, 94.3 % when started this way against
    95.2 % before it; docs/architecture.md). So, with
    ``ADAPTIVE_KL``: a chunk that continues a run starts at the rate its log ends with; a warm start
    (``init``, from :func:`train`) at the rate recorded with the exported policy, else at brax's
    floor :data:`ADAPTIVE_KL_MIN_LR`, from which the schedule grows it by 1.5x per minibatch; a run
    from scratch at ``learning_rate``. Other schedules: ``learning_rate``.
    """
    p = ppo_cfg
    if p.learning_rate_schedule != "ADAPTIVE_KL":
        return p.learning_rate
    log_path = Path(run_dir) / "log.jsonl"
    last = None
    if log_path.is_file():
        for line in reversed(log_path.read_text().splitlines()):
            row = json.loads(line) if line.strip() else {}
            if "episode/learning_rate" in row:
                last = float(row["episode/learning_rate"])
                break
    if last is None and init is not None:
        last = float(init.get("learning_rate", ADAPTIVE_KL_MIN_LR))
    if last is None or not np.isfinite(last):
        return p.learning_rate
    return float(np.clip(last, ADAPTIVE_KL_MIN_LR, p.learning_rate))


def network_factory(cfg: TrackerConfig) -> Callable:
    """Brax PPO networks: Gaussian policy on ``state``, critic on ``privileged_state``.

    Normalised observations are clipped to ``±cfg.ppo.obs_clip`` (brax's ``normalize`` with
    ``max_abs_value``): a feature that is nearly constant in the data seen so far (the masked wrists
    of most clips) has a tiny running std, and one clip that moves it sent normalised inputs to
    1e3 and a PPO update's KL to 750. :meth:`TrackerPolicy.act` clips alike.
    """
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    make = functools.partial(
        ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=cfg.ppo.policy_hidden,
        value_hidden_layer_sizes=cfg.ppo.value_hidden, policy_obs_key="state", value_obs_key="privileged_state",
        distribution_type="normal", noise_std_type="log", init_noise_std=cfg.ppo.init_noise_std)
    scale = float(cfg.ppo.value_output_scale)
    if not scale > 0:
        raise ValueError(f"ppo.value_output_scale must be > 0, got {scale}")
    if cfg.ppo.obs_clip is None and scale == 1.0:
        return make

    def factory(observation_size, action_size, preprocess_observations_fn=None, **kw):
        if preprocess_observations_fn is running_statistics.normalize and cfg.ppo.obs_clip is not None:
            preprocess_observations_fn = functools.partial(running_statistics.normalize, max_abs_value=cfg.ppo.obs_clip)
        nets = make(observation_size, action_size, **({"preprocess_observations_fn": preprocess_observations_fn}
                                                      if preprocess_observations_fn is not None else {}), **kw)
        if scale == 1.0:
            return nets
        value_apply = nets.value_network.apply
        # the critic's own learning rate under brax's single Adam (PPOConfig.value_output_scale)
        scaled = dataclasses.replace(nets.value_network, apply=lambda *a, **k: scale * value_apply(*a, **k))
        return nets.replace(value_network=scaled)
    return factory


def warm_start_params(policy: TrackerPolicy, cfg: TrackerConfig, observation_size: dict[str, tuple[int, ...]],
                      count: int = 2_000_000, seed: int = 0) -> tuple:
    """Brax PPO ``(normalizer, policy params, value params or None)`` that start training from an
    exported policy.

    An export keeps what deployment needs (actor normaliser and MLP), the per-joint action noise
    (``policy.action_log_std``) and, since exports keep it, the run's critic (``policy.critic``):
    the noise and the critic continue where the run left them. The critic's last layer is rescaled
    when ``cfg.ppo.value_output_scale`` differs from the export's, so its values stay the same. An
    export without a critic, or one whose critic does not fit ``cfg`` (another reward, discount or
    layout: :func:`critic_params`), gives None there: the critic starts fresh (``restore_value_fn=False``),
    its normaliser reusing the actor's statistics on the clean actor observation it starts with
    (unit statistics on the privileged extras, until :func:`_critic_warmup` measures the critic's).
    An export made before the noise was kept starts at ``cfg.ppo.init_noise_std``.
    ``count`` is the number of samples the statistics are taken to summarise: later batches move
    them at ``batch / count``, as if training had gone on. :func:`train` passes the env steps the
    policy was trained on, so the actor's inputs stay as they were (the privileged extras then keep
    unit statistics: root velocity, height and anchor-frame positions, all of order 1 m or m/s).

    Raises:
        ValueError: the policy's observation or network layout differs from ``cfg``'s.
    """
    import jax
    import jax.numpy as jnp
    from brax.training.acme import running_statistics

    na = observation_size["state"][0]
    sizes = [w.shape[1] for w, _ in policy.weights[:-1]]
    if policy.obs_mean.shape != (na,) or tuple(sizes) != tuple(cfg.ppo.policy_hidden):
        raise ValueError(f"warm start: the policy observes {policy.obs_mean.shape[0]} values with hidden layers {sizes}; "
                         f"this config needs {na} and {list(cfg.ppo.policy_hidden)}")
    networks = network_factory(cfg)(observation_size, policy.weights[-1][0].shape[1],
                                    preprocess_observations_fn=running_statistics.normalize)
    init = networks.policy_network.init(jax.random.PRNGKey(seed))
    p = jax.tree_util.tree_map(np.asarray, init)["params"]
    layers = [p["MLP_0"][f"hidden_{i}"] for i in range(len(sizes))] + [p["Dense_0"]]
    for layer, (w, b) in zip(layers, policy.weights):
        if layer["kernel"].shape != w.shape:
            raise ValueError(f"warm start: layer shape {w.shape} != {layer['kernel'].shape}")
        layer["kernel"], layer["bias"] = jnp.asarray(w), jnp.asarray(b)
    if policy.action_log_std is not None:
        # PPO's objective is the return under the noise: continued under another, the policy is
        # trained for a different one (docs/architecture.md, "Warm starts").
        if p["std_logparam"]["log_value"].shape != policy.action_log_std.shape:
            raise ValueError(f"warm start: action noise of shape {policy.action_log_std.shape} != "
                             f"{p['std_logparam']['log_value'].shape}")
        p["std_logparam"]["log_value"] = jnp.asarray(policy.action_log_std)
    npriv = observation_size["privileged_state"][0]
    value, _ = critic_params(policy, cfg, npriv)
    if value is not None:
        mean = {"state": policy.obs_mean, "privileged_state": policy.critic.obs_mean}
        std = {"state": policy.obs_std, "privileged_state": policy.critic.obs_std}
    else:
        mean = {"state": policy.obs_mean, "privileged_state": np.concatenate([policy.obs_mean, np.zeros(npriv - na, np.float32)])}
        std = {"state": policy.obs_std, "privileged_state": np.concatenate([policy.obs_std, np.ones(npriv - na, np.float32)])}
    return _statistics(mean, std, count), {"params": p}, value


def critic_params(policy: TrackerPolicy, cfg: TrackerConfig, privileged_size: int) -> tuple[dict | None, str]:
    """brax value-network params from an export's critic, and what was done: ``(params, "kept")``,
    or ``(None, why not)`` when the export has none, learned another reward (``env.reward``,
    ``ppo.discounting``, ``ppo.reward_scaling`` differ from ``cfg``'s) or its layout (input size
    ``privileged_size``, ``cfg.ppo.value_hidden``) differs. The output layer is multiplied by the export's
    ``value_output_scale`` over ``cfg``'s, so the value function is unchanged."""
    import jax.numpy as jnp

    c = policy.critic
    if c is None:
        return None, "the export has no critic"
    mine, theirs = policy.config, cfg
    if (mine.env.reward != theirs.env.reward or mine.ppo.discounting != theirs.ppo.discounting
            or mine.ppo.reward_scaling != theirs.ppo.reward_scaling):
        # a value function is the expected return of one reward at one discount: for another it is
        # no better a start than a fresh critic and is not treated as trained
        return None, "the export's critic learned another reward or discount than this config's"
    hidden = [w.shape[1] for w, _ in c.weights[:-1]]
    if c.obs_mean.shape != (privileged_size,) or tuple(hidden) != tuple(cfg.ppo.value_hidden) or c.weights[-1][0].shape[1] != 1:
        return None, (f"the export's critic observes {c.obs_mean.shape[0]} values with hidden layers {hidden}; "
                      f"this config needs {privileged_size} and {list(cfg.ppo.value_hidden)}")
    ratio = float(policy.config.ppo.value_output_scale) / float(cfg.ppo.value_output_scale)
    n = len(c.weights)
    layers = {f"hidden_{i}": {"kernel": jnp.asarray(w * (ratio if i == n - 1 else 1.0)),
                              "bias": jnp.asarray(b * (ratio if i == n - 1 else 1.0))} for i, (w, b) in enumerate(c.weights)}
    return {"params": layers}, "kept"


def _statistics(mean: dict, std: dict, count: int) -> Any:
    """brax's running observation statistics that summarise ``count`` samples of these moments."""
    import jax.numpy as jnp
    from brax.training import types as btypes
    from brax.training.acme import running_statistics

    return running_statistics.RunningStatisticsState(
        count=btypes.UInt64(hi=0, lo=int(count)), mean={k: jnp.asarray(v, jnp.float32) for k, v in mean.items()},
        std={k: jnp.asarray(v, jnp.float32) for k, v in std.items()},
        summed_variance={k: jnp.asarray(np.asarray(v, np.float32) ** 2 * count) for k, v in std.items()})


def frozen_actor(factory: Callable, normalizer: Any = None) -> Callable:
    """A brax PPO network factory like ``factory`` whose actor parameters sit behind
    ``stop_gradient``: PPO's losses then move only the critic (and the observation statistics).
    With ``normalizer`` (brax statistics), the actor normalises its inputs with those, not with the
    running statistics that training updates: it acts exactly as the policy it holds."""
    import jax

    def make(*args, **kw):
        nets = factory(*args, **kw)
        apply = nets.policy_network.apply

        def held(running, params, *rest, **kwargs):
            return apply(running if normalizer is None else normalizer, jax.lax.stop_gradient(params), *rest, **kwargs)

        return nets.replace(policy_network=dataclasses.replace(nets.policy_network, apply=held))
    return make


def _critic_warmup(ppo: Any, common: dict, cfg: TrackerConfig, warm: tuple, log_path: Path, *, seed: int,
                   log: Callable[[str], None]) -> tuple:
    """Train a warm start's fresh critic for ``cfg.ppo.critic_warmup_steps`` env steps with the
    actor held fixed (:func:`frozen_actor`, constant learning rate); returns brax's
    ``(normalizer, policy, value)`` for the chunk to start from. Not checkpointed: a run stopped
    here repeats the warm-up (~30 min at the default 12 M steps).

    The critic's input statistics are measured here, on the warm-up's own samples: the actor acts
    with its export's statistics throughout, while the running statistics start from one sample.
    The chunk then gets the export's statistics for the actor and the measured ones for the
    critic, weighted as ``warm``'s (many samples: they stay put). Before, the critic's privileged
    extras (body positions in the anchor frame, root height; centimetres of spread) kept unit
    statistics for the whole chunk."""
    p = cfg.ppo
    held = warm[0]
    one = _statistics(held.mean, held.std, 1)
    log(f"  critic warm-up: {p.critic_warmup_steps} env steps with the actor held fixed")
    last = [0.0]

    def progress(step: int, metrics: dict) -> None:
        row = _append_row(log_path, {"step": int(step)}, metrics)
        if time.time() - last[0] > 30 and "episode/v_loss" in row:
            last[0] = time.time()
            log(f"  critic warm-up step {step:>9d}  value loss {row['episode/v_loss']:8.2f}")

    # the warm-up's effective rate is learning_rate whatever the critic's output scale
    common = {**common, "learning_rate": p.learning_rate / p.value_output_scale}
    _, params, _ = ppo.train(**common, num_timesteps=p.critic_warmup_steps, learning_rate_schedule=None,
                             network_factory=frozen_actor(network_factory(cfg), held), seed=seed, progress_fn=progress,
                             run_evals=False, restore_params=(one, *warm[1:]), restore_value_fn=False)
    measured = params[0]
    mean = {"state": held.mean["state"], "privileged_state": measured.mean["privileged_state"]}
    std = {"state": held.std["state"], "privileged_state": measured.std["privileged_state"]}
    return (_statistics(mean, std, int(held.count.lo)), *params[1:])


def train(cfg: TrackerConfig, motions: "Sequence[Motion] | MotionLibrary", run_dir: str | os.PathLike, *,
          num_timesteps: int | None = None, export: str | os.PathLike | None = None,
          held_out: Sequence[str] = (), run_evals: bool = True, init_policy: TrackerPolicy | None = None,
          init_from: str | None = None, log: Callable[[str], None] = print) -> tuple[TrackerPolicy, list[dict]]:
    """Train (or continue) a tracker on ``motions`` for one chunk of ``num_timesteps`` env steps.

    Args:
        cfg: environment and PPO settings.
        motions: training clips (any fps), or a :class:`~motionfm.tracker.library.MotionLibrary`
            built from them at the control rate (reused across chunks: big corpora take a while).
        run_dir: run folder; resumed from its newest checkpoint if present.
        num_timesteps: env steps of this chunk (default ``cfg.ppo.num_timesteps``).
        export: also write the deployable policy folder here (e.g. ``checkpoints/tracker``).
        held_out: names of clips kept out of training (recorded in the metadata).
        init_policy: when the run folder has no checkpoint yet, start from this exported policy
            (:func:`warm_start_params`: with its critic where the export keeps one, else a fresh critic,
            first trained for ``cfg.ppo.critic_warmup_steps`` env steps with the actor held fixed)
            instead of from scratch; its env steps and
            training time count towards the run's totals (``run.json``'s ``init``).
        init_from: where ``init_policy`` was read from (recorded).
        run_evals: run brax's deterministic evaluation rollouts at each of ``num_evals`` points
            (also needs ``cfg.ppo.run_evals``); checkpoints are written at those points either way.

    Returns:
        ``(policy, log rows of this chunk)``.
    """
    import contextlib
    import sys

    import jax

    from motionfm.tracker.env import make_env, make_randomization_fn, wrap_for_tracking

    with contextlib.redirect_stdout(sys.stderr):  # brax/MJX print import notes; keep stdout for results
        from brax.training.agents.ppo import train as ppo

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    state_path = run / "run.json"
    restore, chunk, steps_before = resume_point(run)
    before = json.loads(state_path.read_text()) if state_path.is_file() else {}
    init = before.get("init")
    if init is None and init_policy is not None:
        t = init_policy.metadata.get("training", {})
        init = {"from": str(init_from or "policy"), "env_steps": int(t.get("env_steps", 0)),
                "train_seconds": float(t.get("train_seconds", 0.0)),
                **({"learning_rate": float(t["final_train"]["learning_rate"])}
                   if "learning_rate" in t.get("final_train", {}) else {})}
    env = make_env(motions if isinstance(motions, MotionLibrary) else list(motions), cfg.env)
    p = cfg.ppo
    rows: list[dict] = []
    t_start = time.time()
    warm = None
    if restore is None and init_policy is not None:
        # The actor's statistics summarise every sample it was trained on: weigh them as such, so
        # the first batches do not shift the inputs of a policy that is held fixed or polished.
        warm = warm_start_params(init_policy, cfg, env.observation_size, seed=p.seed,
                                 count=max(2_000_000, int(init["env_steps"])))
        init["critic"] = ("kept" if warm[2] is not None else  # else say why (critic_params' reason)
                          f"fresh ({critic_params(init_policy, cfg, env.observation_size['privileged_state'][0])[1]})")
        if warm[2] is None and p.critic_warmup_steps > 0:
            init["critic_warmup_steps"] = int(p.critic_warmup_steps)
    offset = int(init["env_steps"]) if init else 0
    steps_before += offset
    log(f"tracker: {len(env.library.names)} clips, {env.library.num_frames} frames at {cfg.env.fps:g} Hz, "
        f"{jax.device_count()} device(s), {p.num_envs} envs; chunk {chunk} from "
        f"{restore if restore else (init['from'] + ' (warm start, critic ' + init['critic'] + ')') if warm else 'scratch'} ({steps_before} steps before)")

    last_print = [0.0]

    def progress(step: int, metrics: dict) -> None:
        row = _append_row(run / "log.jsonl", {"step": steps_before + int(step), "chunk": chunk,
                                              "wall_s": round(time.time() - t_start, 1)}, metrics)
        rows.append(row)
        if "eval/episode_reward" in row:
            n = max(row.get("eval/avg_episode_length", 1.0), 1.0)
            log(f"  step {row['step']:>10d}  EVAL reward/step {row['eval/episode_reward'] / n:6.3f}  ep len {n:6.1f}  "
                f"body err {row.get('eval/episode_body_pos_err_m', float('nan')) / n:.3f} m  "
                f"train sps {row.get('training/sps', float('nan')):6.0f}  wall {row['wall_s']:.0f} s")
        elif "episode/length" in row and time.time() - last_print[0] > 30:
            last_print[0] = time.time()
            n = max(row["episode/length"], 1.0)
            log(f"  step {row['step']:>10d}  train reward/step {row.get('episode/sum_reward', float('nan')) / n:6.3f}  "
                f"ep len {n:6.1f}  body err {row.get('episode/body_pos_err_m', float('nan')) / n:.3f} m  "
                f"sps {row.get('episode/sps', float('nan')):6.0f}  wall {row['wall_s']:.0f} s")

    total = num_timesteps or p.num_timesteps
    common = dict(
        environment=env, wrap_env_fn=wrap_for_tracking,
        randomization_fn=make_randomization_fn(cfg.env), episode_length=cfg.env.episode_length,
        num_envs=p.num_envs, num_eval_envs=p.num_eval_envs, num_evals=p.num_evals, unroll_length=p.unroll_length,
        batch_size=p.batch_size, num_minibatches=p.num_minibatches, num_updates_per_batch=p.num_updates_per_batch,
        learning_rate=p.learning_rate, entropy_cost=p.entropy_cost, discounting=p.discounting, gae_lambda=p.gae_lambda,
        clipping_epsilon=p.clipping_epsilon, max_grad_norm=p.max_grad_norm, reward_scaling=p.reward_scaling,
        normalize_observations=True, deterministic_eval=True, log_training_metrics=True,
        training_metrics_steps=p.num_envs * p.unroll_length * 4, learning_rate_schedule_min_lr=ADAPTIVE_KL_MIN_LR)
    critic_ready = warm is not None and warm[2] is not None  # the export's own critic
    if warm is not None and not critic_ready and p.critic_warmup_steps > 0:
        warm = _critic_warmup(ppo, common, cfg, warm, run / "critic_warmup.jsonl", seed=p.seed + 1000 * chunk + 500, log=log)
        critic_ready = True
    lr0 = chunk_learning_rate(p, run, init)
    if lr0 != p.learning_rate:
        log(f"  adaptive-KL learning rate starts at {lr0:.2e}")
    make_inference, params, _ = ppo.train(
        **{**common, "learning_rate": lr0}, num_timesteps=total, learning_rate_schedule=p.learning_rate_schedule,
        desired_kl=p.desired_kl,
        network_factory=network_factory(cfg), seed=p.seed + 1000 * chunk,
        progress_fn=progress, run_evals=p.run_evals and run_evals,
        save_checkpoint_path=str((run / "ckpt" / f"chunk_{chunk:03d}").absolute()),
        restore_checkpoint_path=str(restore.absolute()) if restore else None,
        **({"restore_params": warm, "restore_value_fn": critic_ready} if warm else {}))
    _, chunks, total_steps = resume_point(run)
    seconds = time.time() - t_start
    state = {"total_steps": total_steps + offset, "chunks": chunks,
             "train_seconds": (_logged_seconds(run) if rows else seconds) + (init["train_seconds"] if init else 0.0),
             "config": cfg.to_dict(), "clips": list(env.library.names), "held_out": list(held_out),
             **({"init": init} if init else {})}
    state_path.write_text(json.dumps(state, indent=1))
    last = rows[-1] if rows else {}
    meta = {"training": {"env_steps": state["total_steps"], "train_seconds": round(state["train_seconds"], 1),
                         "chunks": state["chunks"], "devices": [str(d) for d in jax.devices()],
                         "final_eval": {k: v for k, v in last.items() if k.startswith("eval/")},
                         "final_train": _last_train_row(rows), **({"init": init} if init else {})},
            "clips": state["clips"], "held_out": list(held_out)}
    policy = policy_from_brax(params, cfg, meta)
    if export:
        save_policy(export, policy)
        log(f"exported {export}")
    del make_inference
    return policy, rows


def plot_progress(run_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Training progress of a run (all chunks) as a PNG: episode length, reward per step and the
    share of episodes ending in a fall against env steps, curriculum stage changes marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    rows = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines() if l.strip()]
    rows = [r for r in rows if "episode/length" in r]
    if not rows:
        raise ValueError(f"{run}/log.jsonl: no training rows to plot")
    steps = np.array([r["step"] for r in rows]) / 1e6
    length = np.array([r["episode/length"] for r in rows])
    reward = np.array([r["episode/sum_reward"] for r in rows]) / np.maximum(length, 1)
    fail = np.array([r.get("episode/fail", np.nan) for r in rows])
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
    for a, y, title in zip(ax, (length * 0.02, reward, fail), ("episode length (s)", "reward per step", "episodes ending in a fall")):
        a.plot(steps, y, lw=0.8)
        a.set_title(title)
        a.set_xlabel("env steps (millions)")
        a.grid(alpha=0.3)
    cur = run / "curriculum.json"
    if cur.is_file():
        for h in json.loads(cur.read_text()).get("history", []):
            if h.get("advanced"):
                for a in ax:
                    a.axvline(h["steps"] / 1e6, color="k", ls=":", lw=0.8)
    fig.suptitle(f"tracker training: {run.name}, {rows[-1]['step']:,} env steps", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


STAGE_MAX_STEPS = 100_000_000
"""Env steps after which a curriculum stage advances whatever its fail rate. With failure-weighted
starts the training fail rate has a floor set by the hardest segments: the shipped run passed
stage 0's 0.25 at 65.5 M steps, then sat at stage 1 for 109 M steps, its last three chunks at
0.48-0.50, and dance and martial arts were not trained on until this rule moved it to stage 2
at 190.3 M steps."""


def stage_advance(history: Sequence[dict], stage: int, fail_rate: float, step: int, advance_at: float,
                  stage_max_steps: int | None) -> str | None:
    """Why the curriculum leaves ``stage`` after a chunk that ended at env step ``step``:
    ``"fail_rate"`` (below ``advance_at``), ``"max_steps"`` (``stage_max_steps`` env steps since the
    stage began: the step of the last ``history`` chunk at an earlier stage, else 0), or ``None``
    (stays; also at the last stage)."""
    if stage >= len(CURRICULUM) - 1:
        return None
    if np.isfinite(fail_rate) and fail_rate < advance_at:
        return "fail_rate"
    began = max((int(h["steps"]) for h in history if int(h["stage"]) < stage), default=0)
    if stage_max_steps is not None and step - began >= stage_max_steps:
        return "max_steps"
    return None


def train_curriculum(cfg: TrackerConfig, motions: Sequence[Motion], groups: dict[str, str], run_dir: str | os.PathLike, *,
                     chunk_steps: int, chunks: int = 1, export: str | os.PathLike | None = None,
                     held_out: Sequence[str] = (), sources: Sequence[str] = (), advance_at: float = 0.25,
                     stage_max_steps: int | None = STAGE_MAX_STEPS,
                     licences: dict[str, str] | None = None, init_policy: TrackerPolicy | None = None,
                     init_from: str | None = None, keep_exports: bool = False,
                     log: Callable[[str], None] = print) -> TrackerPolicy:
    """Train in chunks along :data:`CURRICULUM`, resumable at any point.

    Each chunk is one :func:`train` call on the clips of the stages reached so far (plus the
    ``stand`` clip); after it, the stage advances when fewer than ``advance_at`` of the chunk's
    last training episodes ended in a fall, or once the stage has had ``stage_max_steps`` env steps
    (:func:`stage_advance`). ``run_dir/curriculum.json`` records the stage and
    the history; a stopped run continues from its last brax checkpoint and stage. After every
    chunk the policy is exported (when ``export`` is given) with a training-progress plot
    ``training_progress.png`` beside it. ``init_policy`` (an exported policy) warm-starts a new run
    folder (:func:`train`) at the curriculum stage and history recorded in its metadata.
    ``keep_exports`` also keeps each chunk's export as ``<export>_<env steps>``, for
    :func:`~motionfm.tracker.policy.average_policies` (``motionfm average``) to take the mean of the
    last few: the mean beats each chunk alone (docs/architecture.md).
    """
    from motionfm.tracker.library import stand_motion

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    cur_path = run / "curriculum.json"
    if cur_path.is_file():
        state = json.loads(cur_path.read_text())
    elif init_policy is not None and "curriculum" in init_policy.metadata:
        c = init_policy.metadata["curriculum"]
        state = {"stage": int(c["stage"]), "history": list(c.get("history", []))}
    else:
        state = {"stage": 0, "history": []}
    policy, libraries = None, {}
    for _ in range(chunks):
        stage = int(state["stage"])
        allowed = {g for st in CURRICULUM[: stage + 1] for g in st}
        if stage not in libraries:  # the stage's clips at the control rate, built once
            chosen = [stand_motion()] + [m for m in motions if groups.get(m.name, "athletic") in allowed]
            libraries = {stage: MotionLibrary.for_training(chosen, cfg.env, seed=cfg.ppo.seed)}
        lib = libraries[stage]
        log(f"curriculum stage {stage} ({', '.join(sorted(allowed))}): {len(lib.names)} clips, {lib.num_frames / cfg.env.fps / 60:.1f} min")
        policy, rows = train(cfg, lib, run, num_timesteps=chunk_steps, export=None, held_out=held_out,
                             init_policy=init_policy, init_from=init_from, log=log)
        import jax

        jax.clear_caches()  # each chunk's compiled PPO step holds the corpus as constants: free it (OOM seen at 23 GB)
        last = _last_train_row(rows)
        fail = float(last.get("fail_rate", 1.0))
        step = int(last.get("step", 0))
        reason = stage_advance(state["history"], stage, fail, step, advance_at, stage_max_steps)
        advance = reason is not None
        state["history"].append({"stage": stage, "steps": step, "fail_rate": round(fail, 4),
                                 "episode_length": round(float(last.get("episode_length", 0)), 2), "advanced": advance,
                                 **({"reason": reason} if reason else {})})
        state["stage"] = stage + int(advance)
        tmp = cur_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, cur_path)  # atomic: a stop between chunks never leaves half a file
        if export:
            meta = dict(policy.metadata)
            meta["curriculum"] = {"stage": state["stage"], "stages": [list(s) for s in CURRICULUM], "history": state["history"]}
            meta["sources"] = [str(s) for s in sources]
            meta["groups"] = {m.name: groups.get(m.name, "athletic") for m in motions}
            if licences is not None:  # the same record the other stages' checkpoints carry (``training_data``)
                counts: dict[str, int] = {}
                for m in motions:
                    counts[licences.get(m.name, "unknown")] = counts.get(licences.get(m.name, "unknown"), 0) + 1
                meta["training_data"] = {"licences": dict(sorted(counts.items())), "clips": len(motions), "excluded_licences": []}
            policy = dataclasses.replace(policy, metadata=meta)
            save_policy(export, policy)
            plot_progress(run, Path(export) / "training_progress.png")
            log(f"exported {export} (stage {state['stage']}, fail rate {fail:.2f})")
            if keep_exports:
                kept = Path(f"{export}_{meta['training']['env_steps']}")
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(export, kept)
                log(f"kept {kept}")
    return policy
