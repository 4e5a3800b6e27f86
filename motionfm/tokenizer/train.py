"""Training of the motion tokenizer: one :func:`train` with explicit arguments (Brax PPO style).

Data-parallel over every JAX device: batches are sharded along their first axis with
:func:`motionfm.data.shard_batch`, parameters are replicated, and ``jit`` (GSPMD) inserts the
gradient all-reduce, so 1 CPU, 8 GPUs or several hosts (after ``jax.distributed.initialize()``)
run the same code. The loop, logging and orbax checkpoints under ``out_dir/ckpt`` (resumed
automatically) are :func:`motionfm.training.run_loop`'s;
the final model is exported with :func:`motionfm.tokenizer.checkpoint.save_tokenizer`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from motionfm.data import BatchIterator, RunningStats, data_sharding, shard_batch
from motionfm.robot import body_position_mask, load_g1, make_fk
from motionfm.tokenizer.features import (
    FEATURE_DIM, FEATURE_SLICES, FeatureStats, feature_mask, features_to_qpos, qpos_to_features, start_pose,
)
from motionfm.tokenizer.model import PRESETS, TokenizerConfig, TokenizerModel
from motionfm.training import LoopConfig, latest_step, resume, run_loop

if TYPE_CHECKING:
    from motionfm.tokenizer.tokenizer import Tokenizer


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :func:`train`.

    Attributes:
        steps: optimiser steps.
        batch_size: global batch (windows); must divide by the device count.
        lr: peak learning rate of the warm-up + cosine schedule (optax).
        warmup_steps: linear warm-up.
        grad_clip: global-norm clipping.
        w_recon, w_vel, w_fk: weights of feature reconstruction (smooth L1 on normalised features),
            velocity (of the feature sequence) and forward-kinematics body positions (m, L1).
        w_joint_vel: weight of the 29 joint-velocity channels inside the feature losses. They are
            finite differences of the joint angles (redundant, and ignored when decoding to a
            Motion), so a full weight spends latent capacity on mocap jitter.
        mirror_prob: left/right mirroring augmentation probability.
        stride: window stride of the dataset build (frames).
        val_fraction: clips held out (by clip) for validation.
        seed: initialisation, shuffling and augmentation seed.
        log_every, ckpt_every: steps between progress updates and checkpoints.
    """

    steps: int = 6000
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 300
    grad_clip: float = 1.0
    w_recon: float = 1.0
    w_vel: float = 0.5
    w_fk: float = 4.0
    w_joint_vel: float = 0.1
    mirror_prob: float = 0.5
    stride: int = 8
    val_fraction: float = 0.1
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 500


@struct.dataclass
class TrainState:
    """Everything a step changes: parameters, codebook state, optimiser state, step and key."""

    step: jax.Array
    params: Any
    quantizer: Any
    opt_state: Any
    rng: jax.Array


def load_config(name_or_path: str | os.PathLike) -> tuple[TokenizerConfig, TrainConfig]:
    """A preset by name (with the default :class:`TrainConfig`), or a JSON file: a run's
    ``config.json`` (``{"model", "train"}``), a checkpoint's ``metadata.json`` (``{"config", "train", ...}``)
    or a bare model config. Missing fields keep their defaults.

    Raises:
        FileNotFoundError: neither a preset nor a file.
        ValueError: the file has fields these configs do not know (named with the file).
    """
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)], TrainConfig()
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{name_or_path}: neither a preset ({', '.join(PRESETS)}) nor a config file")
    d = json.loads(path.read_text())
    model, train = d.get("model", d.get("config", d)), d.get("train", {})
    for part, cls in ((model, TokenizerConfig), (train, TrainConfig)):
        unknown = set(part) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown {cls.__name__} fields {sorted(unknown)}")
    if "fsq_levels" in model:  # a JSON list
        model = {**model, "fsq_levels": tuple(model["fsq_levels"])}
    return TokenizerConfig(**model), TrainConfig(**train)


def feature_stats(source: Any, fps: float, chunk: int = 256, min_std: float = 1e-2) -> FeatureStats:
    """Masked per-channel statistics of :func:`qpos_to_features` over a window source."""
    from motionfm.data import fetch

    feats = jax.jit(jax.vmap(lambda q: qpos_to_features(q, fps)))
    acc = RunningStats.zeros(67)
    for lo in range(0, len(source), chunk):
        exs = fetch(source, range(lo, min(lo + chunk, len(source))))
        qpos = np.stack([e["qpos"] for e in exs])
        f = np.asarray(feats(qpos))
        mask = np.asarray(feature_mask(np.stack([e["joint_mask"] for e in exs])))[:, None, :] * np.stack([e["frame_mask"] for e in exs])[..., None]
        acc.update(f, mask > 0)
    s = acc.finalize(min_std)
    return FeatureStats(jnp.asarray(s.mean, jnp.float32), jnp.asarray(s.std, jnp.float32))


def make_loss_fn(model: TokenizerModel, cfg: TokenizerConfig, tc: TrainConfig, stats: FeatureStats) -> Callable:
    """``loss(params, quantizer, batch, rng, train) -> (loss, (metrics, new_quantizer))``.

    ``batch``: ``qpos (B, W, 36)``, ``joint_mask (B, 29)``, ``frame_mask (B, W)``.
    """
    robot = load_g1()
    fk = make_fk(robot)
    fps = cfg.fps
    to_feats = jax.vmap(lambda q: qpos_to_features(q, fps))

    def to_qpos(f: jax.Array, q0: jax.Array) -> jax.Array:
        xy, yaw = start_pose(q0)
        return features_to_qpos(f, fps, xy, yaw)

    channel_weight = jnp.ones(FEATURE_DIM).at[FEATURE_SLICES["joint_vel"]].set(tc.w_joint_vel)
    body_mask_table = jnp.asarray(body_position_mask(np.eye(29, dtype=bool) == 0))  # (29, 30): body ok if joint j masked

    def loss_fn(params, quantizer, batch, rng, train: bool = True):
        qpos, jmask, fmask = batch["qpos"], batch["joint_mask"], batch["frame_mask"].astype(jnp.float32)
        x = stats.normalize(to_feats(qpos))
        cmask = feature_mask(jmask)[:, None, :] * fmask[..., None]  # (B, W, 67)
        cmask = cmask * channel_weight
        (x_hat, qout), new_vars = model.apply(
            {"params": params, "quantizer": quantizer}, x, fmask, train,
            rngs={"quantizer": rng}, mutable=["quantizer"],
        )
        recon = jnp.sum(optax.huber_loss(x_hat, x, delta=1.0) * cmask) / jnp.maximum(cmask.sum(), 1)
        vmask = cmask[:, 1:] * cmask[:, :-1]
        vel = jnp.sum(optax.huber_loss(jnp.diff(x_hat, axis=1), jnp.diff(x, axis=1), delta=1.0) * vmask) / jnp.maximum(vmask.sum(), 1)
        q_hat = jax.vmap(to_qpos)(stats.denormalize(x_hat), qpos)
        pos_hat = fk(q_hat).body_pos
        pos = jax.lax.stop_gradient(fk(qpos).body_pos)
        # a body counts if no masked joint is above it: AND over masked joints of their body rows
        bmask = jnp.all(jnp.where(jmask[:, :, None], True, body_mask_table[None]), axis=1).astype(jnp.float32)  # (B, 30)
        pmask = fmask[:, :, None] * bmask[:, None, :]
        # sqrt(x + eps): the plain norm's gradient is NaN at 0 (the pelvis at frame 0 is exact), and
        # NaN * mask is still NaN.
        err = jnp.sqrt(jnp.sum((pos_hat - pos) ** 2, axis=-1) + 1e-10)  # (B, W, 30) m
        fk_loss = jnp.sum(err * pmask) / jnp.maximum(pmask.sum(), 1)
        loss = tc.w_recon * recon + tc.w_vel * vel + tc.w_fk * fk_loss + qout.loss
        usage = qout.usage.reshape(-1, qout.usage.shape[-1])
        metrics = {
            "loss": loss, "recon": recon, "vel": vel, "mpjpe_mm": fk_loss * 1000, "commit": qout.loss,
            "usage": jnp.mean(jnp.sum(usage > 0, -1) / usage.shape[-1]),
        }
        return loss, (metrics, new_vars["quantizer"])

    return loss_fn


def _optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(0.0, tc.lr, tc.warmup_steps, max(tc.steps, tc.warmup_steps + 1), tc.lr * 0.05)
    # apply_if_finite skips a step whose gradients are not finite instead of poisoning the parameters.
    return optax.apply_if_finite(
        optax.chain(optax.clip_by_global_norm(tc.grad_clip), optax.adamw(schedule, weight_decay=0.0)), max_consecutive_errors=20
    )


def init_state(model: TokenizerModel, cfg: TokenizerConfig, tc: TrainConfig) -> TrainState:
    """Fresh parameters, codebooks and optimiser state."""
    rng = jax.random.PRNGKey(tc.seed)
    k_param, k_q, k_state = jax.random.split(rng, 3)
    x = jnp.zeros((2, cfg.window, 67))
    variables = model.init({"params": k_param, "quantizer": k_q}, x)
    params = variables["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, variables.get("quantizer", {}), _optimizer(tc).init(params), k_state)


def warm_start(state: TrainState, variables: dict[str, Any], opt: optax.GradientTransformation) -> TrainState:
    """``state`` with the parameters and codebooks of a trained tokenizer's ``variables`` copied in.

    The network parameters must match exactly (same trunk); codebooks are copied where the source
    has them in the same shape, so a trained tokenizer can grow its residual stack (more
    ``rvq_levels``: the new levels keep their fresh initialisation) and be fine-tuned. The
    optimiser restarts.

    Raises:
        ValueError: a parameter is missing or has another shape (another architecture).
    """
    src = jax.tree_util.tree_flatten_with_path(variables.get("params", {}))[0]
    dst = jax.tree_util.tree_flatten_with_path(state.params)[0]
    if [(p, jnp.shape(v)) for p, v in src] != [(p, jnp.shape(v)) for p, v in dst]:
        raise ValueError("warm start: the source tokenizer's network differs from this config (width, depth, code_dim, ...)")
    params = jax.tree.map(lambda old, new: jnp.asarray(old, new.dtype), variables["params"], state.params)

    def merge(fresh: Any, old: Any) -> Any:
        if isinstance(fresh, dict):
            return {k: merge(v, old.get(k) if isinstance(old, dict) else None) for k, v in fresh.items()}
        return fresh if old is None or jnp.shape(old) != jnp.shape(fresh) else jnp.asarray(old, fresh.dtype)

    quantizer = merge(state.quantizer, variables.get("quantizer", {}))
    return state.replace(params=params, quantizer=quantizer, opt_state=opt.init(params))


def train(
    cfg: TokenizerConfig,
    tc: TrainConfig,
    train_source: Any,
    out_dir: str | os.PathLike,
    stats: FeatureStats | None = None,
    val_source: Any | None = None,
    progress: bool = True,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    init_from: Tokenizer | None = None,
) -> tuple[TrainState, FeatureStats, list[dict[str, float]]]:
    """Train (or resume) a tokenizer on windows of ``train_source``.

    Args:
        cfg: the architecture.
        tc: optimisation settings.
        train_source: random-access windows (``qpos``, ``joint_mask``, ``frame_mask``; see
            :func:`motionfm.data.load_split`).
        out_dir: run folder: ``ckpt/`` (orbax, resumed if present), ``stats.json``, ``log.jsonl``.
        stats: feature normalisation (computed from ``train_source`` if ``None``; stored in the run).
        val_source: optional validation windows, evaluated at every checkpoint.
        progress: show a tqdm bar with loss, MPJPE and codebook usage.
        init_from: a :class:`~motionfm.tokenizer.Tokenizer` to warm-start a fresh run from (fine-tuning,
            or growing the residual stack): see :func:`warm_start`. Its feature stats are used.

    Returns:
        ``(state, stats, log)``: the final state, the feature stats and the logged metrics.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats_path = out / "feature_stats.json"
    if init_from is not None:
        stats = init_from.stats
    if stats is None and stats_path.is_file():
        d = json.loads(stats_path.read_text())
        stats = FeatureStats(jnp.asarray(d["mean"], jnp.float32), jnp.asarray(d["std"], jnp.float32))
    if stats is None:
        stats = feature_stats(train_source, cfg.fps)
    stats_path.write_text(json.dumps({"mean": np.asarray(stats.mean).tolist(), "std": np.asarray(stats.std).tolist()}))
    (out / "config.json").write_text(json.dumps({"model": dataclasses.asdict(cfg), "train": dataclasses.asdict(tc)}, indent=1))

    model = TokenizerModel(cfg)
    loss_fn = make_loss_fn(model, cfg, tc, stats)
    opt = _optimizer(tc)
    sharding = data_sharding()
    replicated = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())

    @jax.jit
    def step_fn(state: TrainState, batch: dict[str, jax.Array]) -> tuple[TrainState, dict[str, jax.Array]]:
        rng, k = jax.random.split(state.rng)
        (_, (metrics, quantizer)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, state.quantizer, batch, k)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, quantizer, opt_state, rng), metrics

    eval_fn = jax.jit(lambda s, b: loss_fn(s.params, s.quantizer, b, s.rng, False)[1][0])

    state = init_state(model, cfg, tc)
    if init_from is not None:
        state = warm_start(state, init_from.variables, opt)
    state, start = resume(out / "ckpt", state)
    state = jax.device_put(state, replicated)
    keep = lambda b: {k: b[k] for k in ("qpos", "joint_mask", "frame_mask")}  # noqa: E731
    batches = BatchIterator(train_source, tc.batch_size, seed=tc.seed, mirror_prob=tc.mirror_prob).iterate(start)

    def step(state: TrainState, i: int) -> tuple[TrainState, dict[str, jax.Array]]:
        return step_fn(state, shard_batch(keep(next(batches)), sharding))

    validate = None
    if val_source is not None:
        validate = lambda s: {f"val_{k}": v for k, v in evaluate_windows(eval_fn, s, val_source, tc.batch_size).items()}  # noqa: E731
    loop = LoopConfig(tc.steps, tc.log_every, tc.ckpt_every, desc=f"tokenizer[{cfg.quantizer}]")
    postfix = lambda m: {"loss": f"{m['loss']:.3f}", "mpjpe": f"{m['mpjpe_mm']:.1f}mm", "usage": f"{m['usage']:.2f}"}  # noqa: E731
    state, log = run_loop(step, state, start, loop, out, validate=validate, postfix=postfix, on_log=on_log, progress=progress)
    return state, stats, log


def evaluate_windows(eval_fn: Callable, state: TrainState, source: Any, batch_size: int) -> dict[str, float]:
    """Mean training metrics over a window source (no augmentation, full batches only)."""
    it = BatchIterator(source, min(batch_size, len(source) - len(source) % jax.device_count() or 1), shuffle=False, num_epochs=1)
    keep = ("qpos", "joint_mask", "frame_mask")
    vals = [eval_fn(state, shard_batch({k: b[k] for k in keep})) for b in it]
    return {k: float(np.mean([float(v[k]) for v in vals])) for k in ("mpjpe_mm", "recon", "usage")}


def build_sources(
    corpora: Sequence[str | os.PathLike], dataset_dir: str | os.PathLike, cfg: TokenizerConfig, tc: TrainConfig,
    **selection: Any,
) -> tuple[Any, Any, list[dict[str, Any]]]:
    """:func:`motionfm.data.build_sources` with the windowing the tokenizer trains on (``selection``:
    its ``weights`` and ``exclude_licences``)."""
    from motionfm.data import G1MotionConfig
    from motionfm.data import build_sources as build

    return build(corpora, dataset_dir, G1MotionConfig(fps=cfg.fps, window=cfg.window, stride=tc.stride,
                                                      val_fraction=tc.val_fraction, split_seed=tc.seed), **selection)


def tokenizer_from_run(run_dir: str | os.PathLike, metadata: dict[str, Any] | None = None):
    """The :class:`~motionfm.tokenizer.Tokenizer` of a training run's latest checkpoint."""
    from motionfm.tokenizer.tokenizer import Tokenizer

    run = Path(run_dir)
    conf = json.loads((run / "config.json").read_text())
    cfg = TokenizerConfig(**{**conf["model"], "fsq_levels": tuple(conf["model"]["fsq_levels"])})
    tc = TrainConfig(**conf["train"])
    d = json.loads((run / "feature_stats.json").read_text())
    stats = FeatureStats(jnp.asarray(d["mean"], jnp.float32), jnp.asarray(d["std"], jnp.float32))
    if latest_step(run / "ckpt") is None:
        raise FileNotFoundError(f"{run}: no checkpoint in ckpt/")
    state, _ = resume(run / "ckpt", init_state(TokenizerModel(cfg), cfg, tc))
    meta = {"train": conf["train"], "steps": int(state.step), **(metadata or {})}
    return Tokenizer(cfg, {"params": state.params, "quantizer": state.quantizer}, stats, meta)
