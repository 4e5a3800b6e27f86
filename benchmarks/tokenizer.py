"""Tokenizer benchmark: latency, training speed and reconstruction metrics on held-out clips.

    python benchmarks/tokenizer.py [--checkpoint checkpoints/tokenizer] [--data DIR ...] [--train-steps 60]

Prints a table: encode+decode latency of 10 s of motion (after compile, median of 20 runs),
training steps/s of the checkpoint's configuration on this machine, and the issue's metrics on the
validation clips the checkpoint never trained on (``metadata.json: validation_clips``), over all of
them and per source folder (default: the G1 corpus and every retargeted corpus in ``runs/data``),
with each source's worst clip.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from motionfm import Motion  # noqa: E402
from motionfm.cli import default_data_dir  # noqa: E402
from motionfm.tokenizer import load_tokenizer  # noqa: E402
from motionfm.data import scan_corpus  # noqa: E402
from motionfm.tokenizer.evaluate import evaluate_motions  # noqa: E402


def held_out(folder: Path, ids: set[str]) -> list[Motion]:
    """The clips of ``folder`` whose ids are in ``ids`` (the checkpoint's validation clips)."""
    return [Motion.load(r.path, limits="ignore", metadata=r.meta).replace(name=r.clip_id)
            for r in scan_corpus(folder) if r.clip_id in ids]


def latency(tok, motion: Motion, repeats: int = 20) -> dict[str, float]:
    m = motion.resample(tok.config.fps)
    m = m.slice(0, int(10 * tok.config.fps))  # 10 s
    tok.decode(tok.encode(m))  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = tok.decode(tok.encode(m))
        times.append(time.perf_counter() - t0)
    assert out.num_frames == m.num_frames
    return {"encode_decode_10s_ms": 1000 * float(np.median(times)), "encode_decode_10s_ms_p90": 1000 * float(np.percentile(times, 90))}


def train_speed(tok, data: Path, steps: int) -> dict[str, float]:
    """Optimiser steps/s of the checkpoint's configuration: the median of the training log's
    20-step intervals after the first (compilation and set-up excluded)."""
    from motionfm.tokenizer.train import TrainConfig, build_sources, train

    every = 20
    tc = dataclasses.replace(TrainConfig(**tok.metadata.get("train", {})), steps=max(steps, 3 * every), log_every=every,
                             ckpt_every=10**9)
    with tempfile.TemporaryDirectory() as tmp:
        src, _, _ = build_sources([data], Path(tmp) / "ds", tok.config, tc)
        _, _, log = train(tok.config, tc, src, Path(tmp) / "run", progress=False)
    return {"train_steps_per_s": float(np.median([r["steps_per_s"] for r in log[1:]])), "train_batch_size": tc.batch_size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="tokenizer checkpoint (default: the shipped one)")
    p.add_argument("--data", nargs="+", default=None,
                   help="corpus folders whose held-out clips are scored (default: the G1 corpus + runs/data/*)")
    p.add_argument("--train-steps", type=int, default=60, help="steps timed for training speed (0 to skip)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    tok = load_tokenizer(args.checkpoint)
    g1 = default_data_dir()
    folders = [Path(d) for d in args.data] if args.data else [g1] + sorted(
        p for p in (ROOT / "runs" / "data").glob("*") if (p / "clips.jsonl").is_file())
    val = set(tok.metadata.get("validation_clips") or [])
    by_source = {f.name: held_out(f, val) for f in folders}
    by_source = {k: v for k, v in by_source.items() if v}
    if not by_source:
        raise SystemExit(f"none of the checkpoint's validation clips is in {', '.join(map(str, folders))}")
    report = evaluate_motions(tok, [m for ms in by_source.values() for m in ms])
    clip = Motion.load(g1 / "g1moves/B_ForwardKarate.csv")
    row = {
        "quantizer": tok.config.quantizer,
        "devices": f"{jax.device_count()} x {jax.devices()[0].platform}",
        "validation_clips": report["num_clips"],
        **{k: report[k] for k in ("mpjpe_mm", "root_relative_mpjpe_mm", "joint_rmse_rad", "codebook_usage", "perplexity")},
        **latency(tok, clip),
    }
    for name, motions in by_source.items():  # the same figures per source, and its worst clip
        rep = evaluate_motions(tok, motions)
        worst = max(rep["clips"], key=lambda c: c["mpjpe_mm"])
        row[f"[{name}] clips"] = rep["num_clips"]
        row[f"[{name}] mpjpe_mm"] = rep["mpjpe_mm"]
        row[f"[{name}] worst clip"] = f"{worst['id']} ({worst['frames'] / tok.config.fps:.0f} s)"
        row[f"[{name}] worst clip mpjpe_mm"] = worst["mpjpe_mm"]
    if args.train_steps > 5:
        row.update(train_speed(tok, g1, args.train_steps))
    if args.json:
        print(json.dumps(row, indent=1))
        return 0
    targets = {"mpjpe_mm": "<= 25", "codebook_usage": ">= 0.80", "encode_decode_10s_ms": "<= 50",
               **{k: "<= 25" for k in row if k.startswith("[") and k.endswith("mpjpe_mm")}}
    print(f"{'metric':<36} {'value':>28}  target")
    for k, v in row.items():
        val_s = f"{v:.4g}" if isinstance(v, float) else str(v)
        print(f"{k:<36} {val_s:>28}  {targets.get(k, '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
