"""The trained evaluator as one object: embed motions and captions, score generated motions.

Checkpoints are folders written by :func:`motionfm.checkpoint.save_checkpoint`: ``state/`` (orbax:
``params``) and ``metadata.json`` (schema ``motionfm.evaluator`` version 1: ``config``, feature
``stats``, ``data``, ``validation_clips``, ``steps``, ``validation_metrics``). :func:`load_evaluator`
with no path loads the shipped ``checkpoints/evaluator``.

Real reference data are the windows of the clips the evaluator held out in training (the same
clips as the shipped diffusion model's, since both split with ``val_fraction`` 0.1 and seed 0):
:func:`held_out_windows` cuts them on a regular grid (the FID reference) or at jittered starts
(a second draw of real motion for the same captions: the real ceiling, like HumanML3D's random crops).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from motionfm.checkpoint import default_checkpoint_dir, load_checkpoint, save_checkpoint
from motionfm.evaluation import metrics
from motionfm.evaluation.model import EvaluatorConfig, EvaluatorModel
from motionfm.motion import Motion
from motionfm.robot.g1 import G1_JOINT_NAMES
from motionfm.tokenizer.features import FeatureStats, feature_mask, qpos_to_features

SCHEMA = "motionfm.evaluator"
SCHEMA_VERSION = 1
WRIST_JOINTS = np.array(["wrist" in n for n in G1_JOINT_NAMES])
"""``(29,)`` bool: the wrist DoFs, the joints some corpora (ASAP) do not have."""


def window_features(qpos: jax.Array, joint_mask: jax.Array, stats: FeatureStats, fps: float) -> jax.Array:
    """Normalised encoder input ``(B, W, 67)`` of windows ``qpos (B, W, 36)``; missing joints' channels are 0."""
    f = stats.normalize(jax.vmap(lambda q: qpos_to_features(q, fps))(qpos))
    return f * feature_mask(joint_mask)[:, None, :]


def motion_windows(motions: Sequence[Motion], cfg: EvaluatorConfig) -> dict[str, np.ndarray]:
    """The evaluator's view of whole motions: ``qpos (N, W, 36)``, ``joint_mask (N, 29)``, ``frame_mask (N, W)``.

    Each motion is resampled to ``cfg.fps``, cut to its **first** ``W = cfg.window`` frames,
    canonicalised (facing +x at frame 0, above the origin, as training windows are) and, if
    shorter, padded by repeating its last frame (``frame_mask`` false there).
    """
    w = cfg.window
    qpos = np.zeros((len(motions), w, 36), np.float32)
    fmask = np.zeros((len(motions), w), bool)
    jmask = np.zeros((len(motions), len(G1_JOINT_NAMES)), bool)
    for i, m in enumerate(motions):
        m = m.resample(cfg.fps) if m.fps != cfg.fps else m
        if m.num_frames > w:
            m = m.slice(0, w)
        q = m.canonicalize(0).qpos
        qpos[i] = np.concatenate([q, np.repeat(q[-1:], w - len(q), axis=0)])
        fmask[i, : len(q)] = True
        jmask[i] = m.joint_mask
    return {"qpos": qpos, "joint_mask": jmask, "frame_mask": fmask}


@functools.lru_cache(maxsize=4)
def _motion_fn(cfg: EvaluatorConfig) -> Callable:
    model = EvaluatorModel(cfg)

    @jax.jit
    def fn(params, stats, qpos, jmask, fmask):
        x = window_features(qpos, jmask, stats, cfg.fps)
        return model.apply({"params": params}, x, fmask, method=EvaluatorModel.embed_motion)

    return fn


@functools.lru_cache(maxsize=4)
def _text_fn(cfg: EvaluatorConfig) -> Callable:
    model = EvaluatorModel(cfg)
    return jax.jit(lambda params, e: model.apply({"params": params}, e, method=EvaluatorModel.embed_text))


def _batched(fn: Callable, arrays: Sequence[np.ndarray], batch: int) -> np.ndarray:
    """``fn(*chunk)`` over fixed-size chunks (the last one padded), so one compile serves any N."""
    n = len(arrays[0])
    out = []
    for lo in range(0, n, batch):
        chunk = [a[lo : lo + batch] for a in arrays]
        k = len(chunk[0])
        chunk = [np.concatenate([c, np.repeat(c[-1:], batch - k, axis=0)]) if k < batch else c for c in chunk]
        out.append(np.asarray(fn(*chunk))[:k])
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def _resolve_corpus(path: str | os.PathLike) -> Path | None:
    """A recorded corpus path as it exists here: as given, beside the repository, or ``$MOTIONFM_DATA``."""
    p = Path(path)
    repo = default_checkpoint_dir().parent
    cands = [p, repo / p]
    env = os.environ.get("MOTIONFM_DATA")
    if env and Path(env).name == p.name:
        cands.insert(0, Path(env))
    return next((c for c in cands if (c / "clips.jsonl").is_file() or c.is_dir()), None)


def held_out_windows(
    corpora: Sequence[str | os.PathLike],
    clip_ids: Sequence[str],
    cfg: EvaluatorConfig,
    stride_s: float = 2.0,
    seed: int = 0,
    jitter: bool = False,
) -> tuple[list[Motion], list[str]]:
    """Real evaluation windows of ``clip_ids`` and one caption each (drawn with ``seed``).

    Each clip is loaded, resampled to ``cfg.fps`` and cut into ``cfg.window``-frame windows every
    ``stride_s`` seconds (plus one ending on the last frame; a shorter clip is one window). With
    ``jitter`` every start moves by a seeded random offset of up to half a stride either way (kept
    inside the clip): other real frames for the same windows and captions. Clips without captions
    are skipped. Returns ``(windows, captions)``, in corpus order.
    """
    from motionfm.data import clip_windows, scan_corpus

    wanted = set(clip_ids)
    stride = max(1, int(round(stride_s * cfg.fps)))
    motions: list[Motion] = []
    captions: list[str] = []
    for corpus in corpora:
        for ref in scan_corpus(corpus):
            if ref.clip_id not in wanted or not ref.meta.get("captions"):
                continue
            clip = Motion.load(ref.path, limits="ignore", metadata=ref.meta).resample(cfg.fps)
            for start, piece, _ in clip_windows(clip, cfg.window, stride):
                rng = np.random.default_rng([seed, len(motions)])
                caption = str(clip.captions[rng.integers(len(clip.captions))])  # before the jitter draw: same in both modes
                if jitter and clip.num_frames > cfg.window:
                    start = int(np.clip(start + rng.integers(-(stride // 2), stride // 2 + 1), 0, clip.num_frames - cfg.window))
                    piece = clip.slice(start, start + cfg.window)
                motions.append(piece.replace(name=f"{ref.clip_id}@{start}"))
                captions.append(caption)
    return motions, captions


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluator:
    """A trained text-motion evaluator (immutable). Build with :func:`load_evaluator`.

    Attributes:
        config: the architecture (window length and fps included).
        params: both towers' parameters.
        stats: normalisation of the 67 feature channels (train split).
        metadata: the checkpoint's ``metadata.json`` (data, held-out clips, validation metrics).
    """

    config: EvaluatorConfig
    params: Any
    stats: FeatureStats
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    _cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ embeddings
    def embed_windows(self, qpos: np.ndarray, joint_mask: np.ndarray, frame_mask: np.ndarray, batch: int = 64) -> np.ndarray:
        """Embeddings ``(N, 256)`` of prepared windows ``qpos (N, W, 36)`` (canonicalised), masks ``(N, 29)``, ``(N, W)``."""
        fn = functools.partial(_motion_fn(self.config), self.params, self.stats)
        return _batched(fn, [np.asarray(qpos, np.float32), np.asarray(joint_mask, bool), np.asarray(frame_mask, bool)], batch)

    def embed_motions(self, motions: Sequence[Motion], batch: int = 64) -> np.ndarray:
        """Unit-norm embeddings ``(N, 256)`` of motions, from their **first** ``window`` frames.

        Motions are resampled to the evaluator's fps and canonicalised; one shorter than the window
        is padded by repeating its last frame, and the padding is masked out (see :func:`motion_windows`).
        """
        w = motion_windows(motions, self.config)
        return self.embed_windows(w["qpos"], w["joint_mask"], w["frame_mask"], batch)

    def embed_sentences(self, sentence_emb: np.ndarray, batch: int = 256) -> np.ndarray:
        """Text embeddings ``(N, 256)`` of MiniLM sentence embeddings ``(N, 384)``."""
        return _batched(functools.partial(_text_fn(self.config), self.params), [np.asarray(sentence_emb, np.float32)], batch)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings ``(N, 256)`` of captions (frozen MiniLM, then the trained text head)."""
        from motionfm.text import load_text_encoder

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.config.embed_dim), np.float32)
        unique = list(dict.fromkeys(texts))  # each distinct caption through MiniLM once
        emb = self.embed_sentences(load_text_encoder().encode(unique))
        row = {t: i for i, t in enumerate(unique)}
        return emb[[row[t] for t in texts]]

    # ------------------------------------------------------------------ real reference data
    def corpora(self) -> list[Path]:
        """The training corpora recorded in the metadata that exist here (missing ones are skipped with a warning)."""
        found = []
        for row in self.metadata.get("data", []):
            p = _resolve_corpus(row["corpus"])
            if p is None:
                warnings.warn(f"evaluator corpus {row['corpus']} not found; its held-out clips are skipped")
            else:
                found.append(p)
        return found

    def held_out(self, corpora: Sequence[str | os.PathLike] | None = None, jitter: bool = False,
                 seed: int = 0, clip_ids: Sequence[str] | None = None) -> tuple[list[Motion], list[str]]:
        """:func:`held_out_windows` of the clips this evaluator never trained on (or of ``clip_ids``)."""
        corpora = self.corpora() if corpora is None else list(corpora)
        if not corpora:
            raise FileNotFoundError("no corpus with the evaluator's held-out clips found; pass corpora")
        ids = self.metadata.get("validation_clips", []) if clip_ids is None else clip_ids
        return held_out_windows(corpora, ids, self.config, seed=seed, jitter=jitter)

    # ------------------------------------------------------------------ metrics
    def evaluate(
        self,
        motions: Sequence[Motion],
        captions: Sequence[str],
        reference: np.ndarray | Sequence[Motion] | None = None,
        seed: int = 0,
        pool: int = 32,
        diversity_pairs: int = 300,
        also_true: Sequence[Sequence[str]] | None = None,
    ) -> dict[str, float]:
        """All metrics of ``motions`` against the ``captions`` they should show (one each).

        Args:
            motions, captions: ``N`` motions and their captions (generated motions: the captions
                they were generated from).
            reference: real motions (or their embeddings ``(M, 256)``) for FID; default: the
                held-out real windows on the regular grid (:meth:`held_out`). Use sets of equal
                size for comparable FIDs.
            seed: seed of R-precision's negative draws and diversity's pairs.
            pool, diversity_pairs: protocol sizes (HumanML3D: 32 and 300).
            also_true: per motion, other captions that describe it too (its clip's paraphrases),
                never used as its R-precision negatives.

        Returns:
            ``fid``, ``r_precision_top1/2/3``, ``chance_top1/2/3`` (random embeddings' R-precision),
            ``pool_size`` (mean), ``diversity``, ``mm_dist``, ``num``.
        """
        if len(motions) != len(captions):
            raise ValueError(f"{len(motions)} motions but {len(captions)} captions")
        m = self.embed_motions(motions)
        t = self.embed_texts(captions)
        if reference is None:
            if "reference" not in self._cache:
                self._cache["reference"] = self.embed_motions(self.held_out()[0])
            ref = self._cache["reference"]
        elif isinstance(reference, np.ndarray):
            ref = reference
        else:
            ref = self.embed_motions(reference)
        labels = np.asarray(captions, dtype=object)
        rp = metrics.r_precision(m, t, (1, 2, 3), pool, seed, labels, also_true)
        sizes = metrics.pool_sizes(t, pool, labels, also_true)
        out = {"fid": metrics.fid(ref, m)}
        out.update({f"r_precision_top{k}": v for k, v in rp.items()})
        out.update({f"chance_top{k}": v for k, v in metrics.chance(sizes, (1, 2, 3)).items()})
        out.update(pool_size=float(sizes.mean()), diversity=metrics.diversity(m, diversity_pairs, seed), mm_dist=metrics.mm_dist(m, t),
                   num=float(len(m)))
        return out

    def real_ceiling(self, corpora: Sequence[str | os.PathLike] | None = None, seed: int = 0, max_windows: int | None = None) -> dict[str, float]:
        """The metrics of real motion: held-out windows at jittered starts against the grid windows.

        The same protocol as :func:`compare_generated` with real windows in place of generated
        ones, i.e. the best a generator can expect. ``max_windows`` keeps a seeded subset.
        """
        grid, caps = self.held_out(corpora, seed=seed)
        jit, _ = self.held_out(corpora, jitter=True, seed=seed)
        keep = _subset(len(grid), max_windows, seed)
        return self.evaluate([jit[i] for i in keep], [caps[i] for i in keep], reference=[grid[i] for i in keep], seed=seed,
                             also_true=[grid[i].captions for i in keep])


def _subset(n: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted seeded subset of ``range(n)`` of ``size`` (all if ``None`` or ``>= n``)."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def compare_generated(
    evaluator: Evaluator,
    generate: Callable[[list[str]], Sequence[Motion]],
    corpora: Sequence[str | os.PathLike] | None = None,
    clip_ids: Sequence[str] | None = None,
    samples: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Generated vs real motion on the held-out windows' captions (one generated motion per window).

    ``generate(captions)`` must return one motion per caption (at least ``window`` frames long to
    be judged whole). The reference for FID is the held-out real windows on the regular grid; the
    real ceiling scores the jittered real windows of the same captions, so both FIDs compare sets
    of the same size.

    Returns:
        ``{"generated": metrics, "real": metrics, "top3_ratio": generated top-3 / real top-3,
        "num_windows": N, "clips": [...]}``.
    """
    grid, caps = evaluator.held_out(corpora, seed=seed, clip_ids=clip_ids)
    jit, _ = evaluator.held_out(corpora, jitter=True, seed=seed, clip_ids=clip_ids)
    if not grid:
        raise ValueError("no held-out windows with captions to evaluate on")
    keep = _subset(len(grid), samples, seed)
    grid, jit, caps = [grid[i] for i in keep], [jit[i] for i in keep], [caps[i] for i in keep]
    ref = evaluator.embed_motions(grid)
    gen = list(generate(caps))
    if len(gen) != len(caps):
        raise ValueError(f"generate returned {len(gen)} motions for {len(caps)} captions")
    also = [w.captions for w in grid]  # a clip's other captions are not wrong answers for its windows
    g = evaluator.evaluate(gen, caps, reference=ref, seed=seed, also_true=also)
    r = evaluator.evaluate(jit, caps, reference=ref, seed=seed, also_true=also)
    return {"generated": g, "real": r, "top3_ratio": g["r_precision_top3"] / max(r["r_precision_top3"], 1e-9),
            "num_windows": len(caps), "clips": sorted({m.name.split("@")[0] for m in grid})}


def save_evaluator(path: str | os.PathLike, evaluator: Evaluator) -> Path:
    """Write a checkpoint folder (replacing ``path`` only once the new one is complete)."""
    meta = {
        **evaluator.metadata,
        "config": dataclasses.asdict(evaluator.config),
        "stats": {"mean": np.asarray(evaluator.stats.mean).tolist(), "std": np.asarray(evaluator.stats.std).tolist()},
    }
    return save_checkpoint(path, {"params": evaluator.params}, meta, SCHEMA, SCHEMA_VERSION)


def load_evaluator(path: str | os.PathLike | None = None) -> Evaluator:
    """Load an evaluator checkpoint folder (default: the shipped ``checkpoints/evaluator``).

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: not an evaluator checkpoint, or a newer schema than this motionfm reads.
    """
    path = Path(path) if path is not None else default_checkpoint_dir() / "evaluator"
    state, meta = load_checkpoint(path, SCHEMA, SCHEMA_VERSION)
    stats = FeatureStats(jnp.asarray(meta["stats"]["mean"], jnp.float32), jnp.asarray(meta["stats"]["std"], jnp.float32))
    return Evaluator(EvaluatorConfig(**meta["config"]), state["params"], stats, meta)
