"""Training of the text-motion evaluator: one :func:`train_evaluator` with explicit arguments.

Each step: a batch of canonicalised windows (``qpos``, masks) → normalised features (missing joints
zeroed; with ``wrist_drop`` the wrists of complete windows are hidden too, so an embedding does not
hinge on them) → motion embeddings; one random caption per window → its cached MiniLM sentence
embedding → text embeddings; then the symmetric InfoNCE loss in which pairs whose caption also
describes the other motion (duplicates such as "a person walks", or a clip's other captions) are
not negatives. Single-process and not resumable: a CPU run takes minutes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from motionfm.data import BatchIterator, RunningStats, fetch
from motionfm.evaluation import metrics
from motionfm.evaluation.evaluator import WRIST_JOINTS, Evaluator, window_features
from motionfm.evaluation.model import EvaluatorConfig, EvaluatorModel, clip_loss
from motionfm.tokenizer.features import FeatureStats, feature_mask, qpos_to_features
from motionfm.training import LoopConfig, resume, run_loop


@dataclasses.dataclass(frozen=True)
class EvaluatorTrainConfig:
    """Optimisation and augmentation settings of :func:`train_evaluator`.

    Attributes:
        steps, batch_size, lr, warmup_steps, weight_decay, grad_clip: optimisation (AdamW,
            warm-up + cosine).
        stride: dataset window stride (frames).
        mirror_prob: left/right mirroring augmentation.
        wrist_drop: probability of hiding the wrist DoFs of a window that has them.
        val_fraction: clips held out (by clip; with seed 0 the same clips as the diffusion model's).
        seed: initialisation, shuffling, caption draws and the clip split.
        log_every, eval_every: steps between progress updates and validation R-precision.
    """

    steps: int = 1500
    batch_size: int = 128
    lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    stride: int = 8
    mirror_prob: float = 0.5
    wrist_drop: float = 0.2
    val_fraction: float = 0.1
    seed: int = 0
    log_every: int = 50
    eval_every: int = 500


def feature_stats(source: Any, fps: float, chunk: int = 256, min_std: float = 1e-2) -> FeatureStats:
    """Masked per-channel mean/std of the 67 features over a window source (padding and missing joints excluded)."""
    feats = jax.jit(jax.vmap(lambda q: qpos_to_features(q, fps)))
    acc = RunningStats.zeros(67)
    for lo in range(0, len(source), chunk):
        exs = fetch(source, range(lo, min(lo + chunk, len(source))))
        f = np.asarray(feats(np.stack([e["qpos"] for e in exs])))
        mask = np.asarray(feature_mask(np.stack([e["joint_mask"] for e in exs])))[:, None, :] * np.stack([e["frame_mask"] for e in exs])[..., None]
        acc.update(f, mask > 0)
    s = acc.finalize(min_std)
    return FeatureStats(jnp.asarray(s.mean, jnp.float32), jnp.asarray(s.std, jnp.float32))


def caption_batch(batch_captions: np.ndarray, table: dict[str, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random caption row per window ``(B,)`` (``-1``: none) and the ``(B, B)`` compatibility matrix.

    ``compatible[i, j]``: window ``j``'s caption is one of window ``i``'s captions.
    """
    b = len(batch_captions)
    idx = np.full(b, -1, np.int32)
    hot = np.zeros((b, len(table) + 1), bool)  # the last column stands for "no caption"
    for i, caps in enumerate(batch_captions):
        rows = [table[c] for c in caps if c in table]
        hot[i, rows] = True
        if rows:
            idx[i] = rows[rng.integers(len(rows))]
    return idx, hot[:, idx]


def _optimizer(tc: EvaluatorTrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(0.0, tc.lr, tc.warmup_steps, max(tc.steps, tc.warmup_steps + 1), tc.lr * 0.05)
    return optax.chain(optax.clip_by_global_norm(tc.grad_clip), optax.adamw(schedule, weight_decay=tc.weight_decay))


def _val_set(source: Any, seed: int, limit: int = 1024) -> dict[str, np.ndarray] | None:
    """Up to ``limit`` evenly spaced validation windows that have captions, one seeded caption each."""
    if source is None or not len(source):
        return None
    idx = np.unique(np.linspace(0, len(source) - 1, min(limit, len(source))).astype(int))
    exs = [e for e in fetch(source, idx) if len(e["captions"])]
    if not exs:
        return None
    rng = np.random.default_rng(seed)
    caps, sets = [], []
    for e in exs:
        texts = [c.decode() if isinstance(c, bytes) else str(c) for c in e["captions"]]
        caps.append(texts[rng.integers(len(texts))])
        sets.append(texts)
    return {"caption_sets": sets, "qpos": np.stack([e["qpos"] for e in exs]), "joint_mask": np.stack([e["joint_mask"] for e in exs]),
            "frame_mask": np.stack([e["frame_mask"] for e in exs]), "captions": np.array(caps)}


def train_evaluator(
    corpora: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    cfg: EvaluatorConfig = EvaluatorConfig(),
    tc: EvaluatorTrainConfig = EvaluatorTrainConfig(),
    dataset_dir: str | os.PathLike | None = None,
    progress: bool = True,
    weights: Sequence[float] | None = None,
    exclude_licences: Sequence[str] = (),
) -> tuple[Evaluator, list[dict[str, float]]]:
    """Train the evaluator from scratch on the train clips of ``corpora``.

    Args:
        corpora: folders of motion files with ``clips.jsonl`` captions.
        out_dir: run folder: ``datasets/`` (tfds windows, unless ``dataset_dir``),
            ``caption_embeddings.npz``, ``config.json``, ``log.jsonl``.
        cfg, tc: architecture and optimisation.
        dataset_dir: where the windows are built (default ``out_dir/datasets``).
        progress: show a tqdm bar.
        weights, exclude_licences: the corpus selection (:func:`motionfm.data.build_sources`).

    Returns:
        ``(evaluator, log)``: the trained :class:`Evaluator` (metadata: config, data, held-out
        clips, steps, training time, validation metrics on the held-out windows with the
        :meth:`Evaluator.real_ceiling` protocol) and the logged metrics.
    """
    from motionfm.data import G1MotionConfig, build_sources, corpus_captions, licence_summary
    from motionfm.text import embed_captions

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dcfg = G1MotionConfig(fps=cfg.fps, window=cfg.window, stride=tc.stride, val_fraction=tc.val_fraction, split_seed=tc.seed)
    train_src, val_src, info = build_sources(corpora, dataset_dir or out / "datasets", dcfg, weights, exclude_licences)
    val_ids = [i for row in info for i in row["validation_clips"]]
    # the selected clips' captions and their mirror images (mirrored windows carry those)
    train_caps = corpus_captions(corpora, exclude_licences, skip_ids=val_ids)
    all_caps = corpus_captions(corpora, exclude_licences)
    sentence = dict(zip(all_caps, embed_captions(all_caps, out / "caption_embeddings.npz")))
    table = {c: i for i, c in enumerate(train_caps)}
    text_table = jnp.asarray(np.stack([sentence[c] for c in train_caps]), jnp.float32)
    (out / "config.json").write_text(json.dumps({"model": dataclasses.asdict(cfg), "train": dataclasses.asdict(tc)}, indent=1))
    print(f"evaluator: {len(train_src)} train windows, {len(val_src) if val_src else 0} validation, "
          f"{len(train_caps)} captions, {tc.steps} steps of {tc.batch_size}")

    stats = feature_stats(train_src, cfg.fps)
    model = EvaluatorModel(cfg)
    opt = _optimizer(tc)
    k_init, k_drop = jax.random.split(jax.random.PRNGKey(tc.seed))
    w = cfg.window
    params = model.init(k_init, jnp.zeros((2, w, 67)), jnp.ones((2, w), bool), jnp.zeros((2, cfg.text_dim)))["params"]
    opt_state = opt.init(params)

    def loss_fn(params, batch, key):
        x = window_features(batch["qpos"], batch["joint_mask"], stats, cfg.fps)
        cap = batch["caption"]
        m, t, s = model.apply({"params": params}, x, batch["frame_mask"], text_table[jnp.maximum(cap, 0)], True, rngs={"dropout": key})
        return clip_loss(m, t, s, batch["compatible"], cap >= 0)

    @jax.jit
    def step_fn(state, batch, key):
        (_, mets), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], batch, key)
        updates, opt_state = opt.update(grads, state["opt_state"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt_state": opt_state}, mets

    val = _val_set(val_src, tc.seed)
    val_sentences = None if val is None else np.stack([sentence[c] for c in val["captions"]])

    def validate(params) -> dict[str, float]:
        ev = Evaluator(cfg, params, stats)
        mo = ev.embed_windows(val["qpos"], val["joint_mask"], val["frame_mask"])
        te = ev.embed_sentences(val_sentences)
        labels, also = np.asarray(val["captions"], dtype=object), val["caption_sets"]
        rp = metrics.r_precision(mo, te, (1, 3), 32, tc.seed, labels, also)
        return {"val_top1": rp[1], "val_top3": rp[3], "val_chance_top3": metrics.chance(metrics.pool_sizes(te, 32, labels, also), (3,))[3],
                "val_mm_dist": metrics.mm_dist(mo, te)}

    state, start = resume(out / "ckpt", {"params": params, "opt_state": opt_state})
    batches = BatchIterator(train_src, tc.batch_size, seed=tc.seed, mirror_prob=tc.mirror_prob).iterate(start)
    rng = np.random.default_rng([tc.seed, start])
    t_start = time.perf_counter()

    def step(state: dict[str, Any], i: int) -> tuple[dict[str, Any], dict[str, jax.Array]]:
        b = next(batches)
        cap, compatible = caption_batch(b["captions"], table, rng)
        jmask = b["joint_mask"].copy()
        hide = (rng.random(len(jmask)) < tc.wrist_drop) & jmask[:, WRIST_JOINTS].all(1)
        jmask[np.ix_(hide, WRIST_JOINTS)] = False
        batch = {"qpos": b["qpos"], "joint_mask": jmask, "frame_mask": b["frame_mask"], "caption": cap, "compatible": compatible}
        return step_fn(state, batch, jax.random.fold_in(k_drop, i))

    shown = {"val_top3": "-"}

    def postfix(row: dict[str, float]) -> dict[str, str]:
        if "val_top3" in row:
            shown["val_top3"] = f"{row['val_top3']:.2f}"
        return {"loss": f"{row['loss']:.3f}", "acc": f"{row['acc']:.2f}", **shown}

    # checkpoints at every validation: a stopped run resumes from its last validated state
    loop = LoopConfig(tc.steps, tc.log_every, ckpt_every=tc.eval_every, desc="evaluator")
    state, log = run_loop(step, state, start, loop, out, validate=(None if val is None else lambda st: validate(st["params"])),
                          postfix=postfix, progress=progress)
    params = state["params"]
    meta = {"train": dataclasses.asdict(tc), "steps": tc.steps, "data": info, "training_data": licence_summary(info),
            "validation_clips": val_ids,
            "train_minutes_this_run": round((time.perf_counter() - t_start) / 60, 2), "final_train_log": log[-1] if log else {},
            "devices": [str(d) for d in jax.devices()]}
    ev = Evaluator(cfg, params, stats, meta)
    if val_ids:
        ceiling = ev.real_ceiling([row["corpus"] for row in info], seed=tc.seed)
        ev = dataclasses.replace(ev, metadata={**meta, "validation_metrics": ceiling})
    return ev, log
