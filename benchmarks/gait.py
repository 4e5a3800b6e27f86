"""Gait diagnostics: do generated walks step, or glide? Real walks beside generated ones.

    python benchmarks/gait.py [--corpus runs/data/bandai_g1] [--real 'walk_normal_00[1-4]']
                              [--text 'a person walks forward'] [--seeds 4]

For each motion (128 frames at the tokenizer's 30 fps: real clips, their tokenizer reconstruction,
and samples of ``--text`` as sampled, snapped to the tokenizer's codebook and with their latents
smoothed along time) it prints: root speed; the speed of the lower foot (the stance foot; a real
walk's stays put); that foot's velocity relative to the root along the direction of travel (a
stepping walk sweeps it back at the root's speed, so about minus the root speed); how often the
lower foot changes per second (a walk: about twice per gait cycle); the jitter of the lower sole
heights (the standard deviation of their second differences, mm per frame^2); and the latents'
roughness (mean absolute step between consecutive latent tokens over their standard deviation).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motionfm.motion import Motion, read_clips_jsonl  # noqa: E402
from motionfm.pipeline import load_pretrained  # noqa: E402
from motionfm.robot import fk_mujoco, foot_points, load_g1  # noqa: E402


def gait(m: Motion, robot) -> dict[str, float]:
    """Gait figures of one motion (see the module docstring)."""
    q, fps = m.qpos, m.fps
    soles = foot_points(fk_mujoco(q, robot), robot)  # (T, 2, 4, 3)
    low = soles[..., 2].min(-1)  # (T, 2) lowest sole point of each foot
    foot_vel = np.gradient(soles.mean(-2)[..., :2], 1.0 / fps, axis=0)  # (T, 2, 2)
    root_vel = np.gradient(q[:, :2], 1.0 / fps, axis=0)  # (T, 2)
    stance = low.argmin(-1)
    t = np.arange(len(q))
    sv = foot_vel[t, stance]
    travel = root_vel / np.maximum(np.linalg.norm(root_vel, axis=-1, keepdims=True), 1e-6)
    return {
        "root_m_s": float(np.linalg.norm(root_vel, axis=-1).mean()),
        "stance_m_s": float(np.linalg.norm(sv, axis=-1).mean()),
        "stance_rel_along_m_s": float(((sv - root_vel) * travel).sum(-1).mean()),
        "stance_changes_s": float((np.diff(stance) != 0).sum() / (len(q) / fps)),
        "sole_jitter_mm": float(np.diff(low, 2, axis=0).std() * 1000),
    }


def roughness(z: np.ndarray) -> float:
    """Mean |z[i+1] - z[i]| over the latents' standard deviation (``z (N, d)``, normalised)."""
    return float(np.abs(np.diff(z, axis=0)).mean() / z.std(0).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="runs/data/bandai_g1", help="folder with clips.jsonl of real walks")
    ap.add_argument("--real", default=r"dataset-2_walk_normal_00[1-4]$", help="regex on clip ids of the real walks")
    ap.add_argument("--text", default="a person walks forward")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()

    import jax.numpy as jnp
    from scipy.ndimage import gaussian_filter1d

    pipe = load_pretrained()
    robot = load_g1()
    n_tok = pipe.chunk_tokens
    frames = n_tok * pipe.tokenizer.config.stride
    rows: list[tuple[str, dict[str, float], float]] = []
    clips = [c for c in read_clips_jsonl(Path(args.corpus) / "clips.jsonl") if re.search(args.real, c["id"])]
    if not clips:
        raise SystemExit(f"{args.corpus}/clips.jsonl: no clip id matches {args.real!r}")
    for c in clips:
        m = Motion.load(Path(args.corpus) / c["file"], fps=c["fps"], limits="ignore").resample(pipe.fps).slice(0, frames)
        z = pipe.encode_history(m)[:n_tok]
        rows.append((f"real {c['id'].split('/')[-1]}", gait(m, robot), roughness(z)))
        rows.append(("  tokenizer reconstruction", gait(pipe.decode(z[None], frames)[0], robot), roughness(z)))
    for seed in range(args.seeds):
        z = np.asarray(pipe.sample_latents(args.text, n_tok, seed=seed))  # (1, N, d) normalised
        q, _ = pipe.tokenizer.quantize(pipe.diffusion.stats.denormalize(jnp.asarray(z)))
        snapped = np.asarray(pipe.diffusion.stats.normalize(q))
        smooth = gaussian_filter1d(z, 1.0, axis=1, mode="nearest")
        for tag, lat in ((f"sample seed {seed}", z), ("  snapped to the codebook", snapped), ("  latents smoothed (1 token)", smooth)):
            rows.append((tag, gait(pipe.decode(lat, frames)[0], robot), roughness(lat[0])))

    print(f"{'motion':32s} {'root':>6s} {'stance':>7s} {'rel.along':>9s} {'changes/s':>9s} {'jitter':>7s} {'rough':>6s}")
    print(f"{'':32s} {'m/s':>6s} {'m/s':>7s} {'m/s':>9s} {'':>9s} {'mm':>7s} {'':>6s}")
    for tag, g, r in rows:
        print(f"{tag:32s} {g['root_m_s']:6.2f} {g['stance_m_s']:7.2f} {g['stance_rel_along_m_s']:9.2f} "
              f"{g['stance_changes_s']:9.2f} {g['sole_jitter_mm']:7.1f} {r:6.2f}")


if __name__ == "__main__":
    main()
