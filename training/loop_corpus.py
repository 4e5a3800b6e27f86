"""A corpus of the references the tracker meets in the receding-horizon loop, for it to train on.

In ``motionfm run`` the tracker follows each plan's first second, then a new plan that starts from
where the robot really is: its reference jumps at every re-plan, and the guided plans turn, stop and
sidestep around obstacles. Recorded clips and open-loop generated samples have neither, and the
policies that track them best fell most in the loop (262.6 M steps: 5 of 12 seeds;
docs/architecture.md). This recipe runs the loop (:func:`motionfm.receding.run_receding`, shipped
generator and tracker) over ``--runs`` random scenarios (:func:`motionfm.receding.random_scenario`:
a joystick script of 2-4 commands, 0-2 cylinders near the path, a walking prompt) and keeps each
run's tracked reference (``RecedingResult.ref_qpos``, 50 Hz, seams included) as a clip, without
the segment in which the robot fell. Seeds (from ``--first-seed``, 1000) differ from the loop's
benchmarks (``benchmarks/tracker.py --receding-seeds``: ``examples/run_*.json``, seeds 0-11;
``--loop-scenarios``: scenarios from seed 90 000 on).

    .venv/bin/python training/loop_corpus.py --out runs/generated/loop_g1 --runs 100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="corpus folder to write (replaced as a whole)")
    p.add_argument("--runs", type=int, default=100, help="loop runs (one clip each)")
    p.add_argument("--seconds", type=float, default=20.0, help="simulated seconds per run")
    p.add_argument("--first-seed", type=int, default=1000, help="run i samples with seeds first + 100 i + k")
    p.add_argument("--min-seconds", type=float, default=3.0, help="runs that fell sooner give no clip")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from motionfm.motion import Motion
    from motionfm.pipeline import load_pretrained
    from motionfm.receding import random_scenario, run_receding, scenario_goals

    sys.path.insert(0, str(Path(__file__).parent))
    from generated_corpus import licence_of, write_corpus

    pipe = load_pretrained()
    licence = licence_of(pipe.diffusion.metadata)
    out = Path(args.out)
    fell = 0

    def write_clips(folder: Path) -> list[dict]:
        nonlocal fell
        rows = []
        for i in tqdm(range(args.runs), desc="loop runs", file=sys.stderr):
            seed = args.first_seed + 100 * i
            sc = random_scenario(seed, args.seconds)
            joystick, obstacles = scenario_goals(sc)
            r = run_receding(pipe, sc["text"], args.seconds, joystick=joystick, obstacles=obstacles, seed=seed, progress=False)
            ref = r.ref_qpos
            if r.fell:  # drop the segment the robot fell in: its plan continued a falling robot
                fell += 1
                ref = ref[: int(r.segment_start[-1]) + 1]
            if len(ref) < args.min_seconds * r.fps:
                continue
            cid = f"loop_{seed}"
            Motion.from_qpos(ref, r.fps, name=cid).save(folder / f"{cid}.npz")
            rows.append({"id": f"generated/{cid}", "file": f"{cid}.npz", "source": "motionfm run loop (generated)",
                         "license": licence, "fps": r.fps, "frames": len(ref), "category": "walk",
                         "captions": [sc["text"]], "seed": seed, "scenario": sc, "fell": bool(r.fell),
                         "joystick_velocity_error": (r.metrics.get("joystick") or {}).get("velocity_error")})
        return rows

    rows = write_corpus(out, write_clips)
    minutes = sum(r["frames"] / r["fps"] for r in rows) / 60
    print(f"{len(rows)} loop clips ({minutes:.1f} min; {fell} of {args.runs} runs fell, their last segment dropped) -> {out} "
          f"(licence {licence})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
