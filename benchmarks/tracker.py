"""Tracker benchmark: MJX env throughput on this machine, policy latency, held-out sim-to-sim metrics.

    .venv/bin/python benchmarks/tracker.py [--envs 64 256] [--checkpoint checkpoints/tracker] [--json]

Prints a table:
  - MJX env steps/s (50 Hz control steps, each ``ctrl_dt / sim_dt`` physics steps) of the batched
    training environment (``TrackingWrapper``: step + adaptive reset) for each batch size, and the
    physics steps/s it implies; compile time is excluded and reported separately;
  - numpy policy inference latency per step (median, single observation) and its parameter count;
  - plain-MuJoCo evaluation (``success_rate``, ``mpbpe_cm``, ``joint_error_rad``) on the clips the
    checkpoint held out of training, and on its training clips for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def env_throughput(n_envs: int, steps: int = 20) -> dict:
    import jax
    import jax.numpy as jnp

    from motionfm.motion import Motion
    from motionfm.tracker.config import PRESETS
    from motionfm.tracker.env import make_env, wrap_for_tracking

    from motionfm.cli import default_data_dir

    cfg = PRESETS["cpu"].env
    data = default_data_dir()
    motions = [Motion.load(data / f"asap/{c}.csv", limits="ignore") for c in ("walk_level1", "squat_level1", "step_forward_back_level1")]
    env = wrap_for_tracking(make_env(motions, cfg))
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    t = time.perf_counter()
    s = reset(jax.random.split(jax.random.PRNGKey(0), n_envs))
    a = 0.3 * jax.random.normal(jax.random.PRNGKey(1), (n_envs, 29))
    s = step(s, a)
    jax.block_until_ready(s.obs)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(steps):
        s = step(s, a)
    jax.block_until_ready(s.obs)
    dt = time.perf_counter() - t
    sps = n_envs * steps / dt
    return {"envs": n_envs, "env_steps_per_s": sps, "physics_steps_per_s": sps * cfg.n_substeps, "compile_s": compile_s,
            "sim_dt": cfg.sim_dt, "model": cfg.model}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", type=int, nargs="*", default=[64, 256])
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints/tracker"))
    p.add_argument("--max-clips", type=int, default=0, help="cap on evaluated clips per split (0: all)")
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from motionfm.tracker.policy import inference_latency_ms, load_policy

    out: dict = {"cpu_count": os.cpu_count()}
    out["env"] = [env_throughput(n) for n in args.envs]
    pol = load_policy(args.checkpoint)
    out["policy"] = {"latency_ms": inference_latency_ms(pol), "params": pol.num_params,
                     "training": pol.metadata.get("training", {})}
    if not args.skip_eval:
        from motionfm.cli import default_data_dir
        from motionfm.tracker.rollout import evaluate_motions
        from motionfm.tracker.train import load_motions

        sources = [default_data_dir(), Path(os.environ.get("CMU_G1", "/tmp/cmu_g1"))]
        sources = [s for s in sources if s.is_dir()]
        held, trained = set(pol.metadata.get("held_out", [])), set(pol.metadata.get("clips", []))
        everything = load_motions(sources)
        for split, names in (("held_out", held), ("train", trained)):
            ms = [m for m in everything if m.name in names]
            if args.max_clips:
                ms = ms[: args.max_clips]
            rep = evaluate_motions(pol, ms)
            out[f"eval_{split}"] = {k: v for k, v in rep.items() if k != "clips"} | {"clips": rep["clips"]}

    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{'measure':<46}{'value':>14}")
    print("-" * 60)
    for e in out["env"]:
        print(f"{'MJX env steps/s, ' + str(e['envs']) + ' envs (' + e['model'] + ')':<46}{e['env_steps_per_s']:>14.0f}")
        print(f"{'  physics steps/s (x' + str(round(0.02 / e['sim_dt'])) + ' substeps)':<46}{e['physics_steps_per_s']:>14.0f}")
        print(f"{'  compile (s)':<46}{e['compile_s']:>14.1f}")
    print(f"{'policy latency, numpy, 1 obs (ms)':<46}{out['policy']['latency_ms']:>14.4f}")
    print(f"{'policy parameters':<46}{out['policy']['params']:>14d}")
    tr = out["policy"]["training"]
    if tr:
        print(f"{'training env steps / wall (s)':<46}{tr.get('env_steps', 0):>8d} / {tr.get('train_seconds', 0):>5.0f}")
    for split in ("held_out", "train"):
        r = out.get(f"eval_{split}")
        if not r:
            continue
        print(f"{'[' + split + '] clips':<46}{r['num_clips']:>14d}")
        print(f"{'[' + split + '] success rate':<46}{r['success_rate']:>14.3f}")
        print(f"{'[' + split + '] mpbpe (cm)':<46}{r['mpbpe_cm']:>14.1f}")
        print(f"{'[' + split + '] mpbpe, drift removed (cm)':<46}{r['mpbpe_local_cm']:>14.1f}")
        print(f"{'[' + split + '] joint error (rad)':<46}{r['joint_error_rad']:>14.3f}")
        print(f"{'[' + split + '] fall rate':<46}{r['fall_rate']:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
