"""``motionfm run``: receding-horizon execution (:mod:`motionfm.receding`) from the command line.

Kept apart from :mod:`motionfm.receding` so that building the CLI's parser imports neither the
pipeline nor the tracker; the command imports them when it runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

RUN_EPILOG = """\
examples (files in the repository's examples/ folder):
  motionfm run --joystick-script examples/run_joystick.json --obstacles examples/run_obstacles.json \\
      --seconds 20 --out runs/receding/run.npz
  motionfm render runs/receding/run.npz --out runs/receding/run.mp4 --obstacles examples/run_obstacles.json

joystick script (JSON; commands in the robot's heading frame, t in seconds from the start):
  {"commands": [{"t": 0, "vx": 0.5}, {"t": 8, "vx": 0.4, "yaw_rate": 0.4}, {"t": 12, "vx": 0.3}],
   "interpolation": "step"}
obstacle scene: the format of `motionfm sample --obstacles` (world frame; the robot starts at the
origin facing +x). Formats: motionfm.guidance.files.
"""


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item"):  # numpy scalars
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _cmd_run(args: argparse.Namespace) -> int:
    from motionfm.guidance.files import load_joystick_script, load_scene, parse_joystick

    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise ValueError(f"{out}: output must end in .npz (a rollout file `motionfm render` can film)")
    if args.seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {args.seconds}")
    if args.stance_weight is not None and not args.stance_weight >= 0:
        raise ValueError(f"--stance-weight must be >= 0, got {args.stance_weight}")
    if args.plan_clearance is not None and not args.plan_clearance >= 0:
        raise ValueError(f"--plan-clearance must be >= 0, got {args.plan_clearance}")
    # Read and check every input file before the (slow) model load; nothing is written on a bad one.
    joystick = load_joystick_script(args.joystick_script) if args.joystick_script else None
    if args.joystick:
        joystick = parse_joystick(args.joystick)
    obstacles = load_scene(args.obstacles) if args.obstacles else None

    from motionfm.pipeline import load_pretrained
    from motionfm.receding import format_summary, run_receding

    policy = None
    if args.tracker:
        from motionfm.tracker.policy import load_policy

        policy = load_policy(args.tracker)
    pipe = load_pretrained(args.checkpoint)
    text = None if args.text == "" else args.text
    loop_args = {} if args.horizon is None else {"horizon_s": args.horizon}  # None: the loop's default
    if args.stance_weight is not None:
        loop_args["stance_weight"] = args.stance_weight
    if args.plan_clearance is not None:
        loop_args["plan_clearance"] = args.plan_clearance
    result = run_receding(pipe, text, args.seconds, execute_s=args.execute, joystick=joystick, obstacles=obstacles,
                          seed=args.seed, num_steps=args.steps, progress=not args.no_progress, policy=policy, **loop_args)
    path = result.save(out)
    settings = {"text": text, "seconds": args.seconds, "horizon_s": result.horizon_s, "execute_s": args.execute,
                "stance_weight": result.stance_weight, "plan_clearance": result.plan_clearance,
                "seed": args.seed, "steps": args.steps or pipe.num_steps, "solver": pipe.solver,
                "joystick_script": args.joystick_script, "joystick": args.joystick,
                "obstacles": args.obstacles, "tracker": args.tracker}
    if args.json:
        print(json.dumps(_jsonable({"out": str(path), "settings": settings, **result.metrics})))
    else:
        print(format_summary(result.metrics))
        print(f"wrote {path} (film it: motionfm render {path} --out {path.with_suffix('.mp4')}"
              + (f" --obstacles {args.obstacles}" if args.obstacles else "") + ")")
    sys.stdout.flush()
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to the ``motionfm`` parser's subparsers."""
    p = subparsers.add_parser(
        "run", help="receding-horizon execution: generate, track in physics, re-plan from the robot's real state",
        description="BeyondMimic's deployment loop in simulation: every --execute seconds, sample a --horizon plan "
                    "continuing the motion the simulated robot actually executed, with the joystick command and the "
                    "obstacles of that moment as guidance, and track its first --execute seconds in one continuing "
                    "MuJoCo simulation. Stops at a fall. Writes a tracker rollout .npz (plus the loop's arrays) and "
                    "prints the re-plan latency, real-time factor, closed-loop joystick error, obstacle collisions "
                    "and falls.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="rollout file (.npz) to write")
    p.add_argument("--seconds", type=float, default=20.0, help="simulated seconds (default 20)")
    p.add_argument("--text", default="a person walks forward",
                   help="what the robot should do, for every re-plan (default: 'a person walks forward'; '' = unconditional)")
    p.add_argument("--seed", type=int, default=0, help="seed (re-plan k samples with seed + k)")
    j = p.add_mutually_exclusive_group()
    j.add_argument("--joystick-script", metavar="COMMANDS.json",
                   help="velocity commands over time (e.g. examples/run_joystick.json)")
    j.add_argument("--joystick", metavar="VX,VY,YAWRATE", help="one constant command (m/s, m/s, rad/s)")
    p.add_argument("--obstacles", metavar="SCENE.json", help="obstacles in the world frame (e.g. examples/run_obstacles.json)")
    p.add_argument("--horizon", type=float, default=None,
                   help="seconds of each plan (default motionfm.receding.HORIZON_S, 2)")
    p.add_argument("--execute", type=float, default=1.0,
                   help="seconds of each plan executed before re-planning (default 1; a multiple of 0.02)")
    p.add_argument("--stance-weight", type=float, default=None,
                   help="weight of the stance-foot regulariser on every plan, so plans step instead of gliding "
                        "(default motionfm.receding.STANCE_WEIGHT, 1; 0: off)")
    p.add_argument("--plan-clearance", type=float, default=None,
                   help="metres added to the obstacles' margin when planning, room for the tracker's deviation from "
                        "the plan (default motionfm.receding.PLAN_CLEARANCE_M, 0.1; collisions are measured against "
                        "the obstacles as given)")
    p.add_argument("--steps", type=int, help="inference steps per plan (default: the pipeline's, MotionPipeline.num_steps)")
    p.add_argument("--checkpoint", help="diffusion checkpoint (default: the shipped one)")
    p.add_argument("--tracker", help="tracker checkpoint folder (default: the shipped one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object (settings and figures) on stdout")
    p.set_defaults(func=_cmd_run)
    return p
