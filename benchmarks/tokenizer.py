"""Tokenizer benchmark: latency, training speed and reconstruction metrics on held-out clips.

    python benchmarks/tokenizer.py [--checkpoint checkpoints/tokenizer] [--data DIR] [--train-steps 60]

Prints a table: encode+decode latency of 10 s of motion (after compile, median of 20 runs),
training steps/s of the checkpoint's configuration on this machine, and the issue's metrics on the
validation clips the checkpoint never trained on (``metadata.json: validation_clips``).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motionfm import Motion  # noqa: E402
from motionfm.cli import default_data_dir  # noqa: E402
from motionfm.tokenizer import load_tokenizer  # noqa: E402
from motionfm.tokenizer.evaluate import evaluate_folder  # noqa: E402


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
    p.add_argument("--data", default=str(default_data_dir()))
    p.add_argument("--train-steps", type=int, default=60, help="steps timed for training speed (0 to skip)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    tok = load_tokenizer(args.checkpoint)
    data = Path(args.data)
    val = tok.metadata.get("validation_clips") or None
    report = evaluate_folder(tok, data, only=val)
    clip = Motion.load(data / "g1moves/B_ForwardKarate.csv")
    row = {
        "quantizer": tok.config.quantizer,
        "devices": f"{jax.device_count()} x {jax.devices()[0].platform}",
        "validation_clips": report["num_clips"],
        **{k: report[k] for k in ("mpjpe_mm", "root_relative_mpjpe_mm", "joint_rmse_rad", "codebook_usage", "perplexity")},
        **latency(tok, clip),
    }
    if args.train_steps > 5:
        row.update(train_speed(tok, data, args.train_steps))
    if args.json:
        print(json.dumps(row, indent=1))
        return 0
    targets = {"mpjpe_mm": "<= 25", "codebook_usage": ">= 0.80", "encode_decode_10s_ms": "<= 50"}
    print(f"{'metric':<28} {'value':>12}  target")
    for k, v in row.items():
        val_s = f"{v:.4g}" if isinstance(v, float) else str(v)
        print(f"{k:<28} {val_s:>12}  {targets.get(k, '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
