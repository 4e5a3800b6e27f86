"""Text-to-motion generation metrics over evaluator embeddings (HumanML3D protocol, pure numpy).

Every function takes embeddings as ``(N, D)`` arrays (rows: items); ``motion_emb[i]`` and
``text_emb[i]`` belong to the same item (a motion and the caption it was drawn from or generated
for). The shipped evaluator's embeddings are L2-normalised, so distances lie in ``[0, 2]`` and FIDs
are on a smaller scale than HumanML3D's (unnormalised 512-d) numbers: compare them with the real
ceiling of the same evaluator, never with figures from papers.

- :func:`fid`: Fréchet distance between Gaussians fitted to two sets (lower is better).
- :func:`r_precision`: how often an item's own caption is among the ``k`` captions nearest to its
  motion, out of a pool of 32 (higher is better; chance is ``k / pool``).
- :func:`diversity`: mean distance between random pairs of motions (should match the real data's).
- :func:`mm_dist`: mean distance between matched motion and caption (lower is better).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import scipy.linalg


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or not len(x):
        raise ValueError(f"{name} must be a non-empty (N, D) array, got shape {x.shape}")
    return x


def gaussian(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean (D,), covariance (D, D))`` of embeddings ``(N, D)`` (unbiased, ``N - 1``)."""
    emb = _as_2d(emb, "emb")
    cov = np.cov(emb, rowvar=False) if len(emb) > 1 else np.zeros((emb.shape[1],) * 2)
    return emb.mean(0), np.atleast_2d(cov)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``: the Fréchet (2-Wasserstein) distance of two Gaussians.

    ``eps * I`` is added to both covariances only if their product's square root is not finite
    (singular covariances, e.g. fewer samples than dimensions); a tiny imaginary part from
    round-off is dropped.
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s1)) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)  # sqrtm of a product of PSD matrices is real up to round-off
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean), 0.0))


def fid(real_emb: np.ndarray, gen_emb: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``real_emb (N, D)`` and ``gen_emb (M, D)``.

    0 for identical sets; for a set shifted by ``c`` it is ``|c|^2``; in 1-D (or with diagonal
    covariances) it is ``sum (mu1 - mu2)^2 + (s1 - s2)^2`` over dimensions. With few samples the
    estimate is biased upwards, so compare only FIDs computed on sets of the same sizes.
    """
    return frechet_distance(*gaussian(real_emb), *gaussian(gen_emb))


def _negatives(
    text_emb: np.ndarray, groups: Sequence | np.ndarray | None, also_true: Sequence[Iterable] | None
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(group id (N,), first item of each group (G,), allowed negative groups per item)``."""
    labels = np.unique(text_emb, axis=0, return_inverse=True)[1].reshape(-1) if groups is None else np.asarray(groups)
    if len(labels) != len(text_emb):
        raise ValueError(f"groups has {len(labels)} entries for {len(text_emb)} items")
    names, first, g = np.unique(labels, return_index=True, return_inverse=True)
    g = g.reshape(-1)
    everyone = np.arange(len(names))
    index = {n: i for i, n in enumerate(names.tolist())}
    allowed = []
    for i in range(len(g)):
        skip = {int(g[i])} | ({index[a] for a in also_true[i] if a in index} if also_true is not None else set())
        allowed.append(np.setdiff1d(everyone, list(skip)))
    return g, first, allowed


def pool_sizes(
    text_emb: np.ndarray, pool: int = 32, groups: Sequence | np.ndarray | None = None, also_true: Sequence[Iterable] | None = None
) -> np.ndarray:
    """``(N,)`` the pool each item is ranked in by :func:`r_precision`: ``min(pool, 1 + its possible negatives)``."""
    _, _, allowed = _negatives(_as_2d(text_emb, "text_emb"), groups, also_true)
    return np.array([min(pool, 1 + len(a)) for a in allowed])


def chance(sizes: np.ndarray, top_k: Sequence[int] = (1, 2, 3)) -> dict[int, float]:
    """R-precision of random embeddings, ``{k: mean(min(k, pool_i) / pool_i)}``, for :func:`pool_sizes` ``sizes``."""
    sizes = np.asarray(sizes, np.float64)
    return {int(k): float(np.mean(np.minimum(k, sizes) / sizes)) for k in top_k}


def r_precision(
    motion_emb: np.ndarray,
    text_emb: np.ndarray,
    top_k: Sequence[int] = (1, 2, 3),
    pool: int = 32,
    seed: int = 0,
    groups: Sequence | np.ndarray | None = None,
    also_true: Sequence[Iterable] | None = None,
) -> dict[int, float]:
    """R-precision ``{k: fraction}``: how often an item's own caption ranks in the top ``k``.

    HumanML3D protocol: each motion ``i`` is ranked against its own caption and ``pool - 1`` other
    captions by Euclidean distance in the embedding space. The others are distinct captions drawn
    (seeded, without replacement) from items whose caption differs from ``i``'s, so a duplicate of
    the right caption ("a person walks" on several clips) is never counted as a wrong answer;
    ``also_true`` removes further captions that describe ``i`` as well (a clip's paraphrases).
    When fewer candidates exist the pool shrinks (see :func:`pool_sizes`, :func:`chance`). A tie
    with a wrong caption counts as a hit.

    Args:
        motion_emb, text_emb: ``(N, D)`` matched embeddings.
        top_k: the ``k`` values to report.
        pool: candidates per ranking (32 in HumanML3D).
        seed: seed of the negative draws.
        groups: caption label per item ``(N,)``, e.g. the caption text (default: items with
            identical text embeddings share a caption).
        also_true: per item, labels (as in ``groups``) of other captions that also describe it;
            they are never drawn as its negatives.
    """
    m, t = _as_2d(motion_emb, "motion_emb"), _as_2d(text_emb, "text_emb")
    if m.shape != t.shape:
        raise ValueError(f"motion_emb {m.shape} and text_emb {t.shape} must match")
    g, first, allowed = _negatives(t, groups, also_true)
    reps = t[first]  # one text embedding per caption
    rng = np.random.default_rng(seed)
    own = np.linalg.norm(m - t, axis=1)
    ranks = np.zeros(len(m), np.int64)
    for i in range(len(m)):
        neg = reps[rng.choice(allowed[i], min(pool - 1, len(allowed[i])), replace=False)]
        ranks[i] = int(np.sum(np.linalg.norm(neg - m[i], axis=1) < own[i]))
    return {int(k): float(np.mean(ranks < k)) for k in top_k}


def diversity(emb: np.ndarray, pairs: int = 300, seed: int = 0) -> float:
    """Mean Euclidean distance between ``pairs`` random pairs of rows of ``emb (N, D)``.

    HumanML3D protocol: two index sets of size ``min(pairs, N)`` are drawn independently, each
    without replacement, and paired in order (a row may meet itself, at distance 0).
    """
    emb = _as_2d(emb, "emb")
    n = min(pairs, len(emb))
    rng = np.random.default_rng(seed)
    a, b = rng.choice(len(emb), n, replace=False), rng.choice(len(emb), n, replace=False)
    return float(np.mean(np.linalg.norm(emb[a] - emb[b], axis=1)))


def mm_dist(motion_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Mean Euclidean distance between each motion and its own caption, ``(N, D)`` each."""
    m, t = _as_2d(motion_emb, "motion_emb"), _as_2d(text_emb, "text_emb")
    if m.shape != t.shape:
        raise ValueError(f"motion_emb {m.shape} and text_emb {t.shape} must match")
    return float(np.mean(np.linalg.norm(m - t, axis=1)))
