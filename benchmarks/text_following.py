"""Does the generator follow its text? Paired-prompt kinematic checks, generated beside real.

For every check of :data:`motionfm.evaluation.kinematics.PAIRED_CHECKS` (direction of travel,
sideways, turning sign, speed ordering, which hand rises or waves, both hands, jumping vs
walking) it samples both prompts for ``--seeds`` seeds (sample i of prompt A against sample i of
prompt B) and counts the pairs whose kinematics differ as the check demands; the same checks on
pairs of real clips with those labels give the ceiling. Prints a table (or ``--json``).

    .venv/bin/python benchmarks/text_following.py                       # the shipped model
    .venv/bin/python benchmarks/text_following.py --diffusion runs/export/diffusion --seeds 8
    .venv/bin/python benchmarks/text_following.py --guidance-scale 2.5 4 6     # a CFG sweep
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def real_corpora() -> list[str]:
    """The G1 corpus and every retargeted corpus in ``runs/data`` (or ``$MOTIONFM_RETARGETED``)."""
    from motionfm.data.corpus import default_data_dir

    base = Path(os.environ.get("MOTIONFM_RETARGETED", ROOT / "runs" / "data"))
    return [str(default_data_dir())] + sorted(str(p) for p in base.glob("*") if (p / "clips.jsonl").is_file())


def run(diffusion: str | None, seeds: int, seconds: float, real_pairs: int, num_steps: int | None,
        guidance_scale: float | None = None, solver: str | None = None, plant_feet: bool = False) -> dict:
    from motionfm.evaluation.kinematics import PAIRED_CHECKS, describe_motion, real_examples
    from motionfm.diffusion import DEFAULT_GUIDANCE_SCALE
    from motionfm.pipeline import load_pretrained, with_sampler

    guidance_scale = DEFAULT_GUIDANCE_SCALE if guidance_scale is None else guidance_scale
    pipe = with_sampler(load_pretrained(diffusion), num_steps, solver)
    corpora = real_corpora()
    rows = []
    for check in PAIRED_CHECKS:
        t0 = time.perf_counter()
        gen = {}
        for side, prompt in (("a", check.prompt_a), ("b", check.prompt_b)):
            motions = pipe.sample(text=prompt, seconds=seconds, seed=0, num_samples=seeds,
                                   guidance_scale=guidance_scale, plant_feet=plant_feet)
            gen[side] = [describe_motion(m) for m in motions]
        ok = [bool(check.passes(a, b)) for a, b in zip(gen["a"], gen["b"])]
        ra = [describe_motion(m) for m in real_examples(corpora, check.real_a, real_pairs, seed=0)]
        rb = [describe_motion(m) for m in real_examples(corpora, check.real_b, real_pairs, seed=1)]
        real_ok = [bool(check.passes(a, b)) for a, b in zip(ra, rb)]
        mean = lambda ds: {k: round(float(sum(getattr(d, k) for d in ds) / max(1, len(ds))), 3)  # noqa: E731
                           for k in ds[0].__dataclass_fields__} if ds else {}
        rows.append({"check": check.name, "prompt_a": check.prompt_a, "prompt_b": check.prompt_b, "rule": check.rule,
                     "passed": sum(ok), "cases": len(ok), "real_passed": sum(real_ok), "real_cases": len(real_ok),
                     "generated_a": mean(gen["a"]), "generated_b": mean(gen["b"]), "real_a": mean(ra), "real_b": mean(rb),
                     "seconds": round(time.perf_counter() - t0, 1)})
    passed, cases = sum(r["passed"] for r in rows), sum(r["cases"] for r in rows)
    rp, rc = sum(r["real_passed"] for r in rows), sum(r["real_cases"] for r in rows)
    return {"diffusion": diffusion or "checkpoints/diffusion", "seeds": seeds, "seconds": seconds, "plant_feet": plant_feet, "num_steps": pipe.num_steps,
            "solver": pipe.solver,
            "guidance_scale": guidance_scale, "checks": rows, "pass_rate": passed / max(1, cases), "passed": passed, "cases": cases,
            "real_pass_rate": rp / max(1, rc), "real_passed": rp, "real_cases": rc}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--diffusion", default=None, help="diffusion checkpoint folder (default: the shipped one)")
    p.add_argument("--seeds", type=int, default=4, help="samples per prompt (pairs per check)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each sample")
    p.add_argument("--real-pairs", type=int, default=8, help="pairs of real clips per check (the ceiling)")
    p.add_argument("--num-steps", type=int, help="inference steps (default: the pipeline's)")
    p.add_argument("--solver", choices=["ddim", "dpmpp_2m"], help="sampler (default: the pipeline's)")
    p.add_argument("--guidance-scale", type=float, nargs="+", default=[None],
                   help="classifier-free guidance weight(s) (default: the sampler's); several print one table each")
    p.add_argument("--plant-feet", action="store_true", help="check samples with their feet planted (sample(..., plant_feet=True))")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    outs = [run(args.diffusion, args.seeds, args.seconds, args.real_pairs, args.num_steps, w, args.solver, args.plant_feet)
            for w in args.guidance_scale]
    if args.json:
        print(json.dumps(outs[0] if len(outs) == 1 else outs, indent=1))
        return 0
    for out in outs:
        print_table(out)
    return 0


def print_table(out: dict) -> None:
    print(f"text following of {out['diffusion']}: {out['seeds']} seeds x {out['seconds']:g} s, {out['num_steps']} {out['solver']} steps, "
          f"guidance scale {out['guidance_scale']:g}" + (", feet planted" if out.get("plant_feet") else ""))
    print(f"{'check':<12}{'generated':>11}{'real':>9}   rule")
    for r in out["checks"]:
        print(f"{r['check']:<12}{r['passed']:>5d} / {r['cases']:<3d}{r['real_passed']:>4d} / {r['real_cases']:<3d}  {r['rule']}")
    print(f"{'all':<12}{out['passed']:>5d} / {out['cases']:<3d}{out['real_passed']:>4d} / {out['real_cases']:<3d}  "
          f"pass rate {out['pass_rate']:.0%} (real {out['real_pass_rate']:.0%})")


if __name__ == "__main__":
    sys.exit(main())
