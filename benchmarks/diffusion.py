"""Diffusion benchmark: sampling latency and physical plausibility of generated motions.

    python benchmarks/diffusion.py [--checkpoint checkpoints/diffusion] [--samples 16] [--guidance-scale W]
                                   [--solver ddim|dpmpp_2m] [--num-steps N]

Prints: time to sample 10 s of motion (one sample, the pipeline's solver and steps or ``--solver``
/ ``--num-steps``, after compile; median of 5) and a batch of 16, then the `data inspect` checks
(foot penetration, skating, joint limits, NaN) over samples from the corpus' own captions, next to the same checks on the real clips (the ceiling) and on
the same samples with their feet planted (`planted_*`: `sample(..., plant_feet=True)`), the same samples drawn with the `StanceFoot` guidance cost (`stance3_*`, weight 3), and
the text-motion evaluator's figures (FID, R-precision top-1/2/3, diversity, MM-Dist; `motionfm eval
diffusion`) for one motion per held-out window's caption, next to held-out real windows (the ceiling).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motionfm.cli import default_data_dir  # noqa: E402
from motionfm.data.quality import inspect_folder, inspect_motion  # noqa: E402
from motionfm.diffusion import DEFAULT_GUIDANCE_SCALE  # noqa: E402
from motionfm.evaluation import compare_generated, load_evaluator  # noqa: E402
from motionfm.guidance import StanceFoot  # noqa: E402
from motionfm.pipeline import load_pretrained, with_sampler  # noqa: E402
from motionfm.robot import plant_feet  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="diffusion checkpoint (default: the shipped one)")
    p.add_argument("--samples", type=int, default=16, help="samples for the plausibility checks")
    p.add_argument("--eval-samples", type=int, help="held-out windows for the evaluator figures (default: all)")
    p.add_argument("--evaluator", help="evaluator checkpoint (default: the shipped one)")
    p.add_argument("--guidance-scale", type=float, default=DEFAULT_GUIDANCE_SCALE, help="classifier-free guidance weight")
    p.add_argument("--num-steps", type=int, help="inference steps (default: the pipeline's)")
    p.add_argument("--solver", choices=["ddim", "dpmpp_2m"], help="sampler (default: the pipeline's)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    pipe = with_sampler(load_pretrained(args.checkpoint), args.num_steps, args.solver)
    w = args.guidance_scale
    text = "a person walks forward"
    row: dict[str, float | str] = {"guidance_scale": w, "solver": pipe.solver, "num_steps": float(pipe.num_steps)}
    row["sample_10s_1x_ms"] = 1000 * timed(lambda: pipe.sample(text, seconds=10, seed=0, guidance_scale=w), 5)
    row["sample_10s_16x_ms"] = 1000 * timed(lambda: pipe.sample(text, seconds=10, seed=0, num_samples=16, guidance_scale=w), 2)

    rows = [json.loads(line) for line in (default_data_dir() / "clips.jsonl").read_text().splitlines()]
    captions = [r["captions"][0] for r in rows][:: max(1, len(rows) // args.samples)][: args.samples]
    def quality(guidance=None, planted: list[dict] | None = None) -> list[dict]:
        out = []
        for i, c in enumerate(captions):
            m = pipe.sample(c, seconds=6, seed=i, guidance_scale=w, guidance=guidance)[0]
            assert np.isfinite(m.qpos).all(), c
            out.append(inspect_motion(m))
            if planted is not None:  # the same sample with its feet planted = sample(..., plant_feet=True)
                planted.append(inspect_motion(m.replace(root_pos=plant_feet(m.qpos)[:, :3])))
        return out

    planted_reports: list[dict] = []
    reports, stance_reports = quality(planted=planted_reports), quality([StanceFoot(3.0)])
    real = inspect_folder(default_data_dir())["totals"]

    def mean(k: str, reps: list[dict] | None = None) -> float:
        vals = [r[k] for r in (reports if reps is None else reps) if r.get(k) is not None]
        return float(np.mean(vals)) if vals else float("nan")

    row.update({
        "samples": len(reports),
        "nan_samples": 0,
        "gen_foot_penetration_cm": mean("foot_penetration_cm"),
        "real_foot_penetration_cm": real["mean_foot_penetration_cm"],
        "gen_foot_skating_cm_s": mean("foot_skating_cm_s"),
        "real_foot_skating_cm_s": real["mean_foot_skating_cm_s"],
        "gen_stance_foot_speed_cm_s": mean("stance_foot_speed_cm_s"),
        "real_stance_foot_speed_cm_s": real["mean_stance_foot_speed_cm_s"],
        "gen_foot_float_cm": mean("foot_float_cm"),
        "real_foot_float_cm": real["mean_foot_float_cm"],
        "gen_joint_limit_violation_frames": float(sum(r["joint_limit_violation_frames"] for r in reports)),
        "gen_pass_fraction": float(np.mean([r["verdict"] == "pass" for r in reports])),
        "real_pass_fraction": real["passed"] / real["clips"],
        **{f"planted_{k}": mean(k, planted_reports) for k in
           ("foot_penetration_cm", "foot_skating_cm_s", "stance_foot_speed_cm_s", "root_speed_cm_s", "foot_float_cm")},
        **{f"stance3_{k}": mean(k, stance_reports) for k in
           ("foot_penetration_cm", "foot_skating_cm_s", "stance_foot_speed_cm_s", "root_speed_cm_s", "foot_float_cm")},
        "gen_root_speed_cm_s": mean("root_speed_cm_s"),
    })
    ev = load_evaluator(args.evaluator)
    seconds = ev.config.window / ev.config.fps
    res = compare_generated(ev, lambda caps: [pipe.sample(c, seconds=seconds, seed=i, guidance_scale=w)[0] for i, c in enumerate(caps)],
                            samples=args.eval_samples)
    row["eval_windows"] = float(res["num_windows"])
    for k in ("fid", "r_precision_top1", "r_precision_top2", "r_precision_top3", "diversity", "mm_dist"):
        row[f"gen_{k}"], row[f"real_{k}"] = res["generated"][k], res["real"][k]
    row["chance_top3"] = res["generated"]["chance_top3"]
    row["top3_ratio_to_real"] = res["top3_ratio"]
    if args.json:
        print(json.dumps(row, indent=1))
        return 0
    targets = {"sample_10s_1x_ms": "<= 200", "sample_10s_16x_ms": "<= 1000"}
    print(f"{'metric':<36} {'value':>10}  target")
    for k, v in row.items():
        print(f"{k:<36} {v:>10.4g}  {targets.get(k, '')}" if isinstance(v, float) else f"{k:<36} {v!s:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
