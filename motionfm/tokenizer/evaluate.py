"""Reconstruction quality of a tokenizer on any folder of motion files.

Protocol: each clip is resampled to the tokenizer's fps and cut into consecutive, non-overlapping
windows of ``config.window`` frames (the last one, and clips shorter than a window, are padded and
masked, never dropped). Each window is encoded, quantised, decoded and integrated from the window's
true first pose; errors are measured on the valid frames:

- ``mpjpe_mm``: mean distance of the 30 bodies' world positions (FK) to the reference;
- ``root_relative_mpjpe_mm``: the same after subtracting each frame's pelvis position;
- ``joint_rmse_rad``: RMS joint-angle error over recorded joints (missing wrists excluded);
- ``codebook_usage``: fraction of codes used on this data (mean over residual levels);
- ``perplexity``: ``exp`` of the code-usage entropy (mean over levels).

Bodies below a joint the clip did not record (ASAP's wrists) are left out of position errors.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import jax
import numpy as np

from motionfm.data.corpus import scan_corpus
from motionfm.motion import Motion, MotionFileError
from motionfm.robot import body_position_mask, default_fk
from motionfm.tokenizer.features import features_to_qpos, qpos_to_features, start_pose
from motionfm.tokenizer.tokenizer import Tokenizer


def _windows(motion: Motion, window: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """``(qpos (W, 36), frame_mask (W,))`` windows covering the whole clip, the tail padded."""
    q = motion.qpos
    for s in range(0, len(q), window):
        piece = q[s : s + window]
        if len(piece) < 2:  # a one-frame tail carries no velocity: fold it into the previous window's report
            break
        valid = len(piece)
        pad = np.repeat(piece[-1:], window - valid, axis=0)
        yield np.concatenate([piece, pad]), np.arange(window) < valid


@functools.lru_cache(maxsize=4)
def _recon_fn(tok: Tokenizer):
    fps = tok.config.fps
    fk = default_fk()

    def recon(qpos: jax.Array):  # (B, W, 36) -> (qpos_hat, indices)
        feats = jax.vmap(lambda q: qpos_to_features(q, fps))(qpos)
        z = tok.encode_features(feats)
        quantized, idx = tok.quantize(z)
        f_hat = tok.decode_latents(quantized)

        def integrate(f, q):
            xy, yaw = start_pose(q)
            return features_to_qpos(f, fps, xy, yaw)

        q_hat = jax.vmap(integrate)(f_hat, qpos)
        return q_hat, fk(q_hat).body_pos, fk(qpos).body_pos, idx

    return jax.jit(recon)


def evaluate_motions(tok: Tokenizer, motions: Sequence[Motion], batch_size: int = 32) -> dict[str, Any]:
    """Metrics (see the module docstring) over ``motions``, overall and per clip."""
    cfg = tok.config
    items = []  # (clip index, qpos, frame_mask)
    for ci, m in enumerate(motions):
        for q, fm in _windows(m.resample(cfg.fps), cfg.window):
            items.append((ci, q, fm))
    if not items:
        raise ValueError("no motion to evaluate")
    recon = _recon_fn(tok)
    per_clip = [dict(pos=0.0, rel=0.0, nb=0, jsq=0.0, nj=0, frames=0) for _ in motions]
    levels = cfg.rvq_levels if cfg.quantizer == "rvq" else 1
    num_codes = int(np.prod(cfg.fsq_levels)) if cfg.quantizer == "fsq" else cfg.num_codes
    counts = np.zeros((levels, num_codes))
    for lo in range(0, len(items), batch_size):
        chunk = items[lo : lo + batch_size]
        n = len(chunk)
        qpos = np.stack([c[1] for c in chunk] + [chunk[-1][1]] * (batch_size - n)).astype(np.float32)
        q_hat, pos_hat, pos, idx = (np.asarray(a)[:n] for a in recon(qpos))
        idx = idx.reshape(n, idx.shape[1], -1)
        for k, (ci, q, fm) in enumerate(chunk):
            m = motions[ci]
            bmask = body_position_mask(m.joint_mask)
            err = np.linalg.norm(pos_hat[k] - pos[k], axis=-1)[fm][:, bmask]  # (t, bodies)
            rel = np.linalg.norm((pos_hat[k] - pos_hat[k][:, :1]) - (pos[k] - pos[k][:, :1]), axis=-1)[fm][:, bmask]
            jerr = (q_hat[k, :, 7:] - q[:, 7:])[fm][:, m.joint_mask]
            c = per_clip[ci]
            c["pos"] += float(err.sum())
            c["rel"] += float(rel.sum())
            c["nb"] += err.size
            c["jsq"] += float((jerr**2).sum())
            c["nj"] += jerr.size
            c["frames"] += int(fm.sum())
            tokens = fm[:: cfg.stride]
            for lvl in range(levels):
                np.add.at(counts[lvl], idx[k, tokens, lvl], 1)
    tot = {k: sum(c[k] for c in per_clip) for k in ("pos", "rel", "nb", "jsq", "nj", "frames")}
    p = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=1)
    return {
        "mpjpe_mm": float(1000 * tot["pos"] / max(tot["nb"], 1)),
        "root_relative_mpjpe_mm": float(1000 * tot["rel"] / max(tot["nb"], 1)),
        "joint_rmse_rad": float(np.sqrt(tot["jsq"] / max(tot["nj"], 1))),
        "codebook_usage": float(np.mean((counts > 0).sum(1) / num_codes)),
        "perplexity": float(np.mean(np.exp(entropy))),
        "codebook_usage_per_level": ((counts > 0).sum(1) / num_codes).tolist(),
        "num_codes": num_codes,
        "num_clips": len(motions),
        "num_windows": len(items),
        "frames": tot["frames"],
        "clips": [
            {"id": m.name, "frames": c["frames"], "mpjpe_mm": float(1000 * c["pos"] / max(c["nb"], 1)),
             "joint_rmse_rad": float(np.sqrt(c["jsq"] / max(c["nj"], 1)))}
            for m, c in zip(motions, per_clip)
        ],
    }


def evaluate_folder(
    tok: Tokenizer, root: str | os.PathLike, fps: float | None = None, only: Iterable[str] | None = None, batch_size: int = 32
) -> dict[str, Any]:
    """:func:`evaluate_motions` over every motion file under ``root`` (or the clip ids in ``only``).

    Files that cannot be loaded are listed under ``errors`` (file and reason) and skipped.
    """
    refs = scan_corpus(Path(root))
    wanted = None if only is None else set(only)
    motions, errors = [], []
    for ref in refs:
        if wanted is not None and ref.clip_id not in wanted:
            continue
        try:
            motions.append(Motion.load(ref.path, default_fps=fps, limits="ignore", metadata=ref.meta))
        except MotionFileError as e:
            errors.append({"file": str(ref.path), "error": str(e)})
    if not motions:
        raise ValueError(f"{root}: no loadable motion files" + (f" ({errors[0]['error']})" if errors else ""))
    report = evaluate_motions(tok, motions, batch_size)
    report["errors"] = errors
    return report
