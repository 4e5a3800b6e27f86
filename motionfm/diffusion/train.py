"""Training of the latent denoiser: one :func:`train` with explicit arguments.

Each step: windows of motion (``qpos``) → tokenizer features → frozen encoder + quantiser →
normalised latents ``x0 (B, N, d)``; a random caption of each window → its cached MiniLM sentence
embedding, and its per-token states when the denoiser cross-attends to them (``text_tokens > 0``,
:func:`motionfm.text.embed_caption_tokens`), both dropped together with ``cond_drop`` for classifier-free
guidance; a random observation mask per
example (none, a history prefix, or sparse keyframe tokens) so the same model does unconditional
generation, continuation and inpainting; then the v-prediction (or epsilon/x0) loss at a random
timestep. Data-parallel over all devices exactly like the tokenizer (sharded batch, replicated
parameters, GSPMD all-reduce); the loop and its orbax checkpoints in ``out_dir/ckpt`` (resumed
automatically) are :func:`motionfm.training.run_loop`'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from motionfm.data import BatchIterator, QualityThresholds, RunningStats, data_sharding, fetch, shard_batch
from motionfm.diffusion.model import Denoiser, DenoiserConfig
from motionfm.diffusion.scheduler import SchedulerConfig, add_noise, create_state, predict_x0_eps, training_target
from motionfm.robot import default_fk, foot_points, load_g1
from motionfm.tokenizer import FeatureStats, Tokenizer, features_to_qpos, qpos_to_features
from motionfm.training import LoopConfig, resume, run_loop


@dataclasses.dataclass(frozen=True)
class DiffusionTrainConfig:
    """Optimisation and conditioning-dropout settings of :func:`train`.

    Attributes:
        steps, batch_size, lr, warmup_steps, grad_clip: optimisation (optax warm-up + cosine).
        cond_drop: probability of dropping the text (classifier-free guidance).
        p_history: probability that an example observes a prefix of its own latents (continuation).
        p_keyframes: probability that it observes sparse random latent tokens (inpainting).
        keyframe_rate: fraction of tokens observed in the keyframe mode.
        window: training window in frames (a multiple of the tokenizer's stride).
        stride: dataset window stride (frames).
        mirror_prob: mirroring augmentation.
        foot_contact_weight: weight of the foot-contact term (0: off): the denoiser's clean-motion
            estimate is decoded (tokenizer decoder + FK, as guidance does) and its sole centres'
            planar speed squared (m²/s²) is penalised on the frames where the decoded training
            window has that foot on the ground (lowest sole point below ``foot_contact_height``),
            weighted by the noise level's signal fraction ``alpha_bar(t)``
            (:func:`foot_contact_loss`). Tried against the walks' glide: it lowered mixed-caption
            skating (34.8 -> 21.2 cm/s at weight 5) but walks still glide and samples slowed, so the
            shipped model is trained without it (docs/architecture.md).
        foot_contact_height: contact threshold (m): :class:`motionfm.data.QualityThresholds`'
            ``contact_height_cm``, the one :func:`motionfm.data.inspect_motion` measures skating with.
        seed, log_every, ckpt_every: as usual.
    """

    steps: int = 8000
    batch_size: int = 64
    lr: float = 3e-4
    warmup_steps: int = 300
    grad_clip: float = 1.0
    cond_drop: float = 0.1
    p_history: float = 0.25
    p_keyframes: float = 0.2
    keyframe_rate: float = 0.15
    window: int = 128
    stride: int = 16
    mirror_prob: float = 0.5
    foot_contact_weight: float = 0.0
    foot_contact_height: float = QualityThresholds.contact_height_cm / 100
    val_fraction: float = 0.1
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 500


PRESETS: dict[str, tuple[DenoiserConfig, DiffusionTrainConfig]] = {
    "small": (DenoiserConfig(width=256, depth=4, heads=4, max_tokens=64, text_tokens=16), DiffusionTrainConfig(steps=6000)),
    "large": (DenoiserConfig(width=512, depth=8, heads=8, max_tokens=128, text_tokens=16),
              DiffusionTrainConfig(steps=200_000, batch_size=256, lr=2e-4, warmup_steps=2000, window=256, ckpt_every=5000)),
}
"""Named (denoiser, training) configurations: ``small`` trains on 2 CPU cores in under an hour
(the shipped model); ``large`` is for GPUs and LAFAN1/AMASS-size corpora (10 s windows). Both
cross-attend to 16 MiniLM token states (captions are short): text following 5/32 -> 23/32 over the
pooled-only model, hands measured from frame 0 (62/64 with 8 seeds, hands measured from the rest
pose; docs/architecture.md)."""


def load_config(name_or_path: str) -> tuple[DenoiserConfig, DiffusionTrainConfig]:
    """A preset by name, or a JSON file ``{"model": {...DenoiserConfig}, "train": {...DiffusionTrainConfig}}``
    (missing fields keep the ``small`` preset's values)."""
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{name_or_path}: neither a preset ({', '.join(PRESETS)}) nor a config file")
    try:
        d = json.loads(path.read_text())
        model, train_cfg = PRESETS["small"]
        return dataclasses.replace(model, **d.get("model", {})), dataclasses.replace(train_cfg, **d.get("train", {}))
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{path}: not a diffusion config ({e})") from e


def training_data(
    corpora: Sequence[str | os.PathLike], run_dir: str | os.PathLike, tok: Tokenizer, tc: DiffusionTrainConfig,
    weights: Sequence[float] | None = None, exclude_licences: Sequence[str] = (),
) -> tuple[Any, list[dict[str, Any]], list[str], np.ndarray]:
    """What :func:`train` reads, built under ``run_dir`` (``datasets/``, ``caption_embeddings.npz``).

    Returns ``(source, info, captions, table)``: the train windows of ``corpora`` at the tokenizer's
    fps (:func:`motionfm.data.build_sources`, clips held out by ``tc.seed``), the per-corpus rows
    (their ``validation_clips`` are the held-out clips), the train clips' captions and their mirror
    images (mirrored windows carry those) and their ``(C, 384)`` sentence embeddings.
    """
    from motionfm.data import G1MotionConfig, build_sources, corpus_captions
    from motionfm.text import embed_captions

    run = Path(run_dir)
    dcfg = G1MotionConfig(fps=tok.config.fps, window=tc.window, stride=tc.stride, val_fraction=tc.val_fraction, split_seed=tc.seed)
    src, _, info = build_sources(corpora, run / "datasets", dcfg, weights=weights, exclude_licences=exclude_licences)
    val_ids = [i for row in info for i in row["validation_clips"]]
    captions = corpus_captions(corpora, exclude_licences, skip_ids=val_ids)
    return src, info, captions, np.asarray(embed_captions(captions, run / "caption_embeddings.npz"))


@struct.dataclass
class DiffusionState:
    """Everything a step changes."""

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


def encode_windows(tok: Tokenizer, qpos: jax.Array) -> jax.Array:
    """Quantised tokenizer latents ``(B, W/stride, d)`` of motion windows ``qpos (B, W, 36)``."""
    feats = jax.vmap(lambda q: qpos_to_features(q, tok.config.fps))(qpos)
    quantized, _ = tok.quantize(tok.encode_features(feats))
    return quantized


def cache_latents(tok: Tokenizer, source: Any, chunk: int = 128, progress: bool = True) -> np.ndarray:
    """Quantised latents ``(N, 2, W/stride, d)`` of every window of ``source``: as recorded
    (``[:, 0]``) and mirrored (``[:, 1]``, :func:`~motionfm.robot.mirror_qpos`).

    The tokenizer is frozen while the denoiser trains, so each window's latents are computed once
    here instead of at every step: with the 12-level residual quantiser that makes training 1.5x
    faster on 2 cores (``benchmarks/diffusion_training.py`` measures both side by side).
    """
    from tqdm import tqdm

    from motionfm.robot import mirror_qpos

    enc = jax.jit(lambda q: encode_windows(tok, q))
    out = []
    for lo in tqdm(range(0, len(source), chunk), desc="encoding windows", unit="chunk", disable=not progress, leave=False):
        exs = fetch(source, range(lo, min(lo + chunk, len(source))))
        q = np.stack([e["qpos"] for e in exs])
        mq, _ = mirror_qpos(q, np.stack([e["joint_mask"] for e in exs]))
        n = len(q)
        pad = chunk - n  # one compiled shape for every chunk
        z = np.asarray(enc(np.concatenate([q, mq, np.repeat(q[-1:], 2 * pad, 0)])))[: 2 * n]
        out.append(np.stack([z[:n], z[n:]], axis=1))
    return np.concatenate(out).astype(np.float32)


def latent_stats(tok: Tokenizer, source: Any, chunk: int = 128, min_std: float = 1e-3,
                 latents: np.ndarray | None = None) -> FeatureStats:
    """Per-channel mean/std of the quantised latents of every window of ``source`` (padding
    excluded), from ``latents`` (:func:`cache_latents`, recorded windows) when given."""
    enc = jax.jit(lambda q: encode_windows(tok, q))
    acc = RunningStats.zeros(tok.config.latent_dim)
    for lo in range(0, len(source), chunk):
        exs = fetch(source, range(lo, min(lo + chunk, len(source))))
        z = latents[lo : lo + len(exs), 0] if latents is not None else np.asarray(enc(np.stack([e["qpos"] for e in exs])))
        tmask = np.stack([e["frame_mask"][:: tok.config.stride] for e in exs])[..., None]
        acc.update(z, tmask)
    s = acc.finalize(min_std)
    return FeatureStats(jnp.asarray(s.mean, jnp.float32), jnp.asarray(s.std, jnp.float32))


def caption_indices(batch_captions: np.ndarray, table: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """One random caption index per example (``-1`` for examples without captions)."""
    out = np.full(len(batch_captions), -1, np.int32)
    for i, caps in enumerate(batch_captions):
        caps = [c for c in caps if c in table]
        if caps:
            out[i] = table[caps[rng.integers(len(caps))]]
    return out


def _observation_mask(key: jax.Array, token_mask: jax.Array, tc: DiffusionTrainConfig) -> jax.Array:
    """Random ``(B, N)`` observed positions: none, a history prefix, or sparse keyframe tokens."""
    b, n = token_mask.shape
    k1, k2, k3 = jax.random.split(key, 3)
    mode = jax.random.uniform(k1, (b,))
    prefix = jnp.arange(n)[None] < jax.random.randint(k2, (b, 1), 1, max(2, n // 2))
    sparse = jax.random.uniform(k3, (b, n)) < tc.keyframe_rate
    obs = jnp.where((mode < tc.p_history)[:, None], prefix, False)
    obs = jnp.where(((mode >= tc.p_history) & (mode < tc.p_history + tc.p_keyframes))[:, None], sparse, obs)
    return obs & token_mask


def foot_contact_loss(tok: Tokenizer, stats: FeatureStats, x0_hat: jax.Array, x0: jax.Array, frame_mask: jax.Array,
                      signal: jax.Array, height: float) -> jax.Array:
    """Foot sliding of the denoiser's estimate where the training window's foot is down.

    Both latents ``(B, N, d)`` (normalised) are decoded to motion (tokenizer decoder, root path
    integrated from the origin, FK; what guidance costs see); ``x0``'s sole points say which foot
    touches the ground on each frame (lowest sole point below ``height`` m; no gradient), and the
    planar speed² (m²/s²) of ``x0_hat``'s sole centres on those frames is averaged, each example
    weighted by ``signal (B,)``. ``frame_mask (B, T)`` marks real frames (a step counts when both
    of its frames are real).
    """
    robot, fk = load_g1(), default_fk()

    def soles(z):  # (B, T, 2, 4, 3)
        feats = tok.decode_latents(stats.denormalize(z))
        qpos = jax.vmap(lambda f: features_to_qpos(f, tok.config.fps))(feats)
        return foot_points(fk(qpos), robot)

    ref = jax.lax.stop_gradient(soles(x0))
    contact = (ref[..., 2].min(-1) < height)[:, :-1]  # (B, T-1, 2)
    valid = (frame_mask[:, 1:] & frame_mask[:, :-1])[..., None]
    c = soles(x0_hat).mean(-2)[..., :2]  # (B, T, 2, 2) sole centres
    speed2 = jnp.sum(jnp.diff(c, axis=1) ** 2, -1) * tok.config.fps**2  # (B, T-1, 2)
    w = (contact & valid).astype(jnp.float32)
    return jnp.sum(speed2 * w * signal[:, None, None]) / jnp.maximum(w.sum(), 1.0)


def make_loss_fn(tok: Tokenizer, model: Denoiser, sched: SchedulerConfig, tc: DiffusionTrainConfig, stats: FeatureStats,
                 text_table: jax.Array, token_table: tuple[jax.Array, jax.Array] | None = None) -> Callable:
    """``loss(params, batch, key) -> (loss, metrics)``; ``batch``: ``frame_mask``, ``caption`` and
    either ``latents`` (cached, :func:`cache_latents`) or ``qpos`` (encoded here).

    ``text_table (C, 384)`` holds the captions' sentence embeddings; ``token_table``, their
    ``tokens (C, L, 384)`` and ``mask (C, L)`` (:func:`motionfm.text.embed_caption_tokens`), is required when the
    denoiser cross-attends to text tokens (``config.text_tokens > 0``) and indexed by the same
    caption draw."""
    sstate = create_state(sched)
    stride = tok.config.stride

    def loss_fn(params, batch, key):
        z = batch["latents"] if "latents" in batch else encode_windows(tok, batch["qpos"])
        x0 = jax.lax.stop_gradient(stats.normalize(z))
        tmask = batch["frame_mask"][:, ::stride]
        b = x0.shape[0]
        kt, kn, kd, ko = jax.random.split(key, 4)
        t = jax.random.randint(kt, (b,), 0, sched.num_train_timesteps)
        noise = jax.random.normal(kn, x0.shape)
        x_t = add_noise(sstate, x0, noise, t)
        cap = batch["caption"]
        text = text_table[jnp.maximum(cap, 0)]
        # One validity flag for both text inputs: a dropped caption is dropped from the pooled
        # embedding and the token context alike (the model swaps in its null condition for both).
        valid = (cap >= 0) & (jax.random.uniform(kd, (b,)) >= tc.cond_drop)
        tokens = {}
        if token_table is not None:
            tokens = {"text_tokens": token_table[0][jnp.maximum(cap, 0)].astype(jnp.float32),
                      "text_token_mask": token_table[1][jnp.maximum(cap, 0)]}
        obs_mask = _observation_mask(ko, tmask, tc)
        out = model.apply({"params": params}, x_t, t, text, valid, x0, obs_mask, tmask, **tokens)
        target = training_target(sstate, x0, noise, t, sched.prediction_type)
        w = (tmask & ~obs_mask).astype(jnp.float32)[..., None]  # observed tokens are given, not learned
        loss = jnp.sum((out - target) ** 2 * w) / jnp.maximum(w.sum() * x0.shape[-1], 1)
        if tc.foot_contact_weight <= 0:
            return loss, {"loss": loss}
        x0_hat, _ = predict_x0_eps(sstate, out, x_t, t, sched.prediction_type)
        x0_hat = jnp.where((obs_mask | ~tmask)[..., None], x0, x0_hat)  # observed and padding tokens are given
        foot = foot_contact_loss(tok, stats, x0_hat, x0, batch["frame_mask"], sstate.alphas_cumprod[t], tc.foot_contact_height)
        return loss + tc.foot_contact_weight * foot, {"loss": loss, "foot": foot}

    return loss_fn


def _optimizer(tc: DiffusionTrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(0.0, tc.lr, tc.warmup_steps, max(tc.steps, tc.warmup_steps + 1), tc.lr * 0.05)
    return optax.apply_if_finite(
        optax.chain(optax.clip_by_global_norm(tc.grad_clip), optax.adamw(schedule, weight_decay=0.01)), max_consecutive_errors=20
    )


def init_state(model: Denoiser, cfg: DenoiserConfig, tc: DiffusionTrainConfig, n_tokens: int) -> DiffusionState:
    """Fresh denoiser parameters and optimiser state."""
    k_param, k_state = jax.random.split(jax.random.PRNGKey(tc.seed))
    z = jnp.zeros((2, n_tokens, cfg.latent_dim))
    tokens = {}
    if cfg.text_tokens > 0:
        tokens = {"text_tokens": jnp.zeros((2, cfg.text_tokens, cfg.text_dim)), "text_token_mask": jnp.ones((2, cfg.text_tokens), bool)}
    params = model.init(k_param, z, jnp.zeros(2, jnp.int32), jnp.zeros((2, cfg.text_dim)), jnp.ones(2, bool), z,
                        jnp.zeros((2, n_tokens), bool), jnp.ones((2, n_tokens), bool), **tokens)["params"]
    return DiffusionState(jnp.zeros((), jnp.int32), params, _optimizer(tc).init(params), k_state)


def train(
    tok: Tokenizer,
    cfg: DenoiserConfig,
    sched: SchedulerConfig,
    tc: DiffusionTrainConfig,
    train_source: Any,
    captions: dict[str, int],
    text_table: np.ndarray,
    out_dir: str | os.PathLike,
    stats: FeatureStats | None = None,
    progress: bool = True,
    init_params: Any | None = None,
    cache: bool = True,
    token_table: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[DiffusionState, FeatureStats, list[dict[str, float]]]:
    """Train (or resume) the denoiser on windows of ``train_source``.

    Args:
        tok: the frozen tokenizer whose latents are modelled.
        cfg, sched, tc: denoiser shape, noise schedule, optimisation.
        train_source: random-access windows with ``qpos``, ``frame_mask`` and ``captions``.
        captions: caption text → row of ``text_table``.
        text_table: ``(C, 384)`` sentence embeddings of the captions.
        out_dir: run folder (``ckpt/``, ``latent_stats.json``, ``config.json``, ``log.jsonl``).
        stats: latent normalisation (computed from the data if ``None``; fine-tuning passes the
            base model's, whose parameters expect it).
        init_params: denoiser parameters a fresh run starts from (fine-tuning; same ``cfg``), with a
            fresh optimiser; a run folder with a checkpoint resumes from it instead.
        cache: encode every window (and its mirror image) once before training
            (:func:`cache_latents`) instead of at every step; ``False`` for sources too large to
            hold their latents in memory (``N x 2 x W/stride x d`` float32).
        token_table: ``tokens (C, L, 384)`` and ``mask (C, L)`` of the captions, rows as in
            ``text_table``, for a denoiser with ``cfg.text_tokens = L > 0``; default
            :func:`motionfm.text.embed_caption_tokens` cached in ``out_dir/caption_tokens.npz``. Unused when
            ``cfg.text_tokens`` is 0.

    Returns:
        ``(state, stats, log)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats_path = out / "latent_stats.json"
    if stats is None and stats_path.is_file():
        d = json.loads(stats_path.read_text())
        stats = FeatureStats(jnp.asarray(d["mean"], jnp.float32), jnp.asarray(d["std"], jnp.float32))
    latents = cache_latents(tok, train_source, progress=progress) if cache else None
    if stats is None:
        stats = latent_stats(tok, train_source, latents=latents)
    stats_path.write_text(json.dumps({"mean": np.asarray(stats.mean).tolist(), "std": np.asarray(stats.std).tolist()}))
    (out / "config.json").write_text(json.dumps({"denoiser": dataclasses.asdict(cfg), "scheduler": dataclasses.asdict(sched),
                                                 "train": dataclasses.asdict(tc)}, indent=1))
    model = Denoiser(cfg)
    tokens = None
    if cfg.text_tokens > 0:
        if token_table is None:
            from motionfm.text import embed_caption_tokens

            rows = sorted(captions, key=captions.__getitem__)
            if [captions[c] for c in rows] != list(range(len(text_table))):
                raise ValueError("captions must map to the rows 0..C-1 of text_table")
            token_table = embed_caption_tokens(rows, cfg.text_tokens, out / "caption_tokens.npz")
        tokens = (jnp.asarray(token_table[0]), jnp.asarray(token_table[1], bool))
    loss_fn = make_loss_fn(tok, model, sched, tc, stats, jnp.asarray(text_table, jnp.float32), tokens)
    opt = _optimizer(tc)
    sharding = data_sharding()
    replicated = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())

    @jax.jit
    def step_fn(state: DiffusionState, batch):
        rng, k = jax.random.split(state.rng)
        (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch, k)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        return DiffusionState(state.step + 1, optax.apply_updates(state.params, updates), opt_state, rng), metrics

    state = init_state(model, cfg, tc, tc.window // tok.config.stride)
    if init_params is not None:
        def take(fresh, old):
            if tuple(np.shape(old)) != tuple(fresh.shape):
                raise ValueError(f"init_params do not fit this denoiser: {np.shape(old)} vs {fresh.shape}")
            return jnp.asarray(old, fresh.dtype)

        params = jax.tree.map(take, state.params, init_params)
        state = DiffusionState(state.step, params, opt.init(params), state.rng)
    state, start = resume(out / "ckpt", state)
    state = jax.device_put(state, replicated)
    batches = BatchIterator(train_source, tc.batch_size, seed=tc.seed, mirror_prob=tc.mirror_prob)
    cap_rng = np.random.default_rng([tc.seed, start])

    def step(state: DiffusionState, i: int) -> tuple[DiffusionState, dict[str, jax.Array]]:
        b = batches.batch(i)  # batch i depends only on (seed, i): a resumed run continues the same sequence
        batch = {"frame_mask": b["frame_mask"], "caption": caption_indices(b["captions"], captions, cap_rng)}
        if latents is not None:
            idx, flips = batches.indices(i)
            batch["latents"] = latents[idx, flips.astype(int)]
        else:
            batch["qpos"] = b["qpos"]
        return step_fn(state, shard_batch(batch, sharding))

    loop = LoopConfig(tc.steps, tc.log_every, tc.ckpt_every, desc="diffusion")
    state, log = run_loop(step, state, start, loop, out, postfix=lambda m: {k: f"{m[k]:.4f}" for k in ("loss", "foot") if k in m}, progress=progress)
    return state, stats, log
