"""Guidance benchmark: goal errors, obstacle avoidance, time cost and naturalness of guided sampling.

    python benchmarks/guidance.py [--seeds 10] [--scenes 100] [--out out/guidance_bench] [--json]

All figures are kinematic (the sampled motion, before any tracking), text "a person walks forward",
6 s motions, the shipped checkpoints and the default ``GuidanceConfig``:

- time: one 6 s sample (after compile, median of 7) unguided and with each kind of goal; ratio.
- joystick: planar velocity error (% of the commanded speed, ``window``-averaged heading-frame
  velocity) per command over ``--seeds`` seeds.
- keyframes: root-path keyframes at 2 s and 4 s; a full pose from a real walking clip at 3 s
  (mean error over the 30 bodies); a right-hand target at 2 s. Errors in cm.
- waypoints: two random waypoints (3 s and 6 s); reach error in cm.
- obstacles: ``--scenes`` random scenes, one obstacle (cylinder, box or sphere in turn) placed on
  the *unguided* sample's path at a random time in 1.5-3.5 s with a random sideways offset; the
  rate of scenes where no collision sphere enters the obstacle, unguided and guided, and the
  minimum signed distance. Every scene carries all three kinds (the two unused ones far away) so
  one compiled sampler serves all scenes.
- naturalness: the text-motion evaluator's FID of guided samples against unguided ones, next to
  the FID between two unguided sets of other seeds (the noise floor), and foot skating.

Writes ``paths_obstacles.png`` (root paths around 9 scenes) and ``paths_waypoints.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motionfm.cli import default_data_dir  # noqa: E402
from motionfm.data.quality import inspect_motion  # noqa: E402
from motionfm.guidance import GuidanceConfig, Joystick, Keyframes, Obstacles, Waypoints  # noqa: E402
from motionfm.guidance.plot import draw_goals  # noqa: E402
from motionfm.motion import Motion  # noqa: E402
from motionfm.pipeline import load_pretrained, with_sampler  # noqa: E402
from motionfm.robot import G1_BODY_NAMES, fk_mujoco  # noqa: E402

TEXT = "a person walks forward"
FAR = 1000.0  # where unused obstacles of a scene go


def scene_on_path(m: Motion, rng: np.random.Generator, kind: int) -> Obstacles:
    """One obstacle of ``kind`` (0 cylinder, 1 box, 2 sphere) on ``m``'s root path, the others far away."""
    f = int(rng.uniform(1.5, 3.5) * m.fps)
    p = m.root_pos[f, :2]
    d = m.root_pos[min(f + 5, m.num_frames - 1), :2] - m.root_pos[max(f - 5, 0), :2]
    normal = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-6)
    c = p + normal * rng.uniform(-0.15, 0.15)
    cyl = [c[0], c[1], rng.uniform(0.15, 0.3), 1.0] if kind == 0 else [FAR, FAR, 0.2, 1.0]
    box = [c[0], c[1], 0.5, rng.uniform(0.1, 0.25), rng.uniform(0.1, 0.25), 0.5, rng.uniform(0, np.pi)] if kind == 1 else [FAR, FAR, 0.5, 0.2, 0.2, 0.5, 0.0]
    r = rng.uniform(0.2, 0.35)
    sph = [c[0], c[1], r, r] if kind == 2 else [FAR, FAR, 0.3, 0.3]
    return Obstacles.create(spheres=[sph], boxes=[box], cylinders=[cyl])


def timed(fn, repeats: int = 7) -> tuple[float, float]:
    """``(first call s, median of repeats ms)``."""
    t = time.perf_counter()
    fn(0)
    first = time.perf_counter() - t
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        fn(i + 1)
        times.append(time.perf_counter() - t)
    return first, 1000 * float(np.median(times))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10, help="seeds per joystick command / keyframe / waypoint task")
    p.add_argument("--scenes", type=int, default=100, help="random obstacle scenes")
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--out", default="out/guidance_bench", help="folder for the plots")
    p.add_argument("--diffusion", help="diffusion checkpoint (default: the shipped one; its tokenizer comes with it)")
    p.add_argument("--evaluator", help="evaluator checkpoint for the naturalness FID (default: the shipped one)")
    p.add_argument("--num-steps", type=int, help="inference steps (default: the pipeline's)")
    p.add_argument("--solver", choices=["ddim", "dpmpp_2m"], help="sampler (default: the pipeline's)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say = functools.partial(print, file=sys.stderr if args.json else sys.stdout)  # --json: stdout is the JSON alone
    pipe = with_sampler(load_pretrained(args.diffusion), args.num_steps, args.solver)
    cfg = GuidanceConfig()
    secs = args.seconds
    row: dict[str, float | str] = {"config": str(cfg)}

    def sample(seed: int, costs=()) -> Motion:
        return pipe.sample(TEXT, seconds=secs, seed=seed, guidance=list(costs), guidance_config=cfg)[0]

    # ---------------------------------------------------------------- time
    rng = np.random.default_rng(0)
    base = sample(0)
    goals = {
        "joystick": [Joystick.create(vx=0.6)],
        "keyframes": [Keyframes.root([2.0, 4.0], [[1.5, 0.3], [3.0, -0.3]])],
        "waypoints": [Waypoints.create([3.0, 6.0], [[2.0, 0.5], [3.0, -0.5]])],
        "obstacles": [scene_on_path(base, rng, 0)],
    }
    _, unguided_ms = timed(lambda s: sample(s))
    row["time_unguided_ms"] = unguided_ms
    for name, costs in goals.items():
        first, ms = timed(lambda s, c=costs: sample(s, c))
        row[f"time_{name}_ms"] = ms
        row[f"time_{name}_ratio"] = ms / unguided_ms
        row[f"compile_{name}_s"] = first
    say(f"time: unguided {unguided_ms:.0f} ms; " + ", ".join(f"{k} {row[f'time_{k}_ms']:.0f} ms ({row[f'time_{k}_ratio']:.1f}x)" for k in goals), flush=True)

    # ---------------------------------------------------------------- joystick
    commands = [(0.4, 0.0, 0.0), (0.6, 0.0, 0.0), (0.8, 0.0, 0.0), (1.0, 0.0, 0.0), (0.6, 0.0, 0.3), (0.5, 0.2, 0.0)]
    guided_motions: list[Motion] = []
    all_err, skate = [], []
    for cmd in commands:
        j = Joystick.create(*cmd)
        errs = []
        for s in range(args.seeds):
            m = sample(s, [j])
            guided_motions.append(m)
            errs.append(j.evaluate(m)["joystick_velocity_error_pct"])
            skate.append(inspect_motion(m)["foot_skating_cm_s"] or np.nan)
        row[f"joystick_{cmd[0]:g}_{cmd[1]:g}_{cmd[2]:g}_error_pct"] = float(np.mean(errs))
        all_err += errs
    row["joystick_error_pct"] = float(np.mean(all_err))
    row["joystick_error_p90_pct"] = float(np.percentile(all_err, 90))
    say(f"joystick: {row['joystick_error_pct']:.1f}% mean, {row['joystick_error_p90_pct']:.1f}% p90", flush=True)

    # ---------------------------------------------------------------- keyframes
    rows = [json.loads(line) for line in (default_data_dir() / "clips.jsonl").read_text().splitlines()]
    walk = next(r for r in rows if "walk" in " ".join(r["captions"]))
    real = Motion.load(default_data_dir() / walk["file"], default_fps=walk["fps"]).resample(pipe.fps)
    real = real.slice(0, int(4 * pipe.fps)).canonicalize() if hasattr(real, "canonicalize") else real
    kf_root, kf_pose, kf_hand = [], [], []
    hand = G1_BODY_NAMES.index("right_wrist_yaw_link")
    for s in range(args.seeds):
        r = np.random.default_rng(100 + s)
        vx = r.uniform(0.5, 0.9)
        k = Keyframes.root([2.0, 4.0], [[2 * vx, r.uniform(-0.4, 0.4)], [4 * vx, r.uniform(-0.6, 0.6)]])
        kf_root.append(k.evaluate(sample(s, [k]))["keyframe_error_cm"])
        k = Keyframes.from_motion(real, [3.0])
        kf_pose.append(k.evaluate(sample(s, [k]))["keyframe_error_cm"])
        b0 = fk_mujoco(base.qpos[60:61]).body_pos[0, hand]
        k = Keyframes.bodies([2.0], {"right_wrist_yaw_link": (b0 + [0.0, 0.0, 0.15] + r.uniform(-0.1, 0.1, 3))[None]})
        kf_hand.append(k.evaluate(sample(s, [k]))["keyframe_error_cm"])
    row["keyframe_root_error_cm"] = float(np.mean(kf_root))
    row["keyframe_pose_error_cm"] = float(np.mean(kf_pose))
    row["keyframe_hand_error_cm"] = float(np.mean(kf_hand))
    say(f"keyframes: root {row['keyframe_root_error_cm']:.1f} cm, full pose {row['keyframe_pose_error_cm']:.1f} cm, "
          f"hand {row['keyframe_hand_error_cm']:.1f} cm", flush=True)

    # ---------------------------------------------------------------- waypoints
    wp_err, wp_plot = [], []
    for s in range(args.seeds):
        r = np.random.default_rng(200 + s)
        a = np.array([r.uniform(1.5, 2.5), r.uniform(-0.8, 0.8)])
        b = a + [r.uniform(0.5, 1.5), r.uniform(-0.8, 0.8)]
        w = Waypoints.create([3.0, min(6.0, secs)], [a, b])
        m = sample(s, [w])
        wp_err.append(w.evaluate(m)["waypoint_error_cm"])
        wp_plot.append((w, m))
    row["waypoint_error_cm"] = float(np.mean(wp_err))
    row["waypoint_error_p90_cm"] = float(np.percentile(wp_err, 90))
    say(f"waypoints: {row['waypoint_error_cm']:.1f} cm mean, {row['waypoint_error_p90_cm']:.1f} cm p90", flush=True)

    # ---------------------------------------------------------------- obstacles
    free_unguided, free_guided, min_d, plots = [], [], [], []
    for s in range(args.scenes):
        r = np.random.default_rng(300 + s)
        m0 = sample(s)
        obs = scene_on_path(m0, r, s % 3)
        m = sample(s, [obs])
        e0, e = obs.evaluate(m0), obs.evaluate(m)
        free_unguided.append(e0["collision"] == 0)
        free_guided.append(e["collision"] == 0)
        min_d.append(e["min_signed_distance_m"])
        if len(plots) < 9:
            plots.append((obs, m0, m))
    row["obstacle_free_unguided_pct"] = 100 * float(np.mean(free_unguided))
    row["obstacle_free_guided_pct"] = 100 * float(np.mean(free_guided))
    row["obstacle_min_distance_m_mean"] = float(np.mean(min_d))
    row["obstacle_min_distance_m_worst"] = float(np.min(min_d))
    say(f"obstacles: collision-free {row['obstacle_free_guided_pct']:.0f}% guided vs {row['obstacle_free_unguided_pct']:.0f}% "
          f"unguided over {args.scenes} scenes; min distance mean {row['obstacle_min_distance_m_mean']:.3f} m, "
          f"worst {row['obstacle_min_distance_m_worst']:.3f} m", flush=True)

    # ---------------------------------------------------------------- naturalness
    try:
        from motionfm.evaluation import load_evaluator
        from motionfm.evaluation.metrics import fid

        ev = load_evaluator(args.evaluator)
        n = len(guided_motions)
        ref = ev.embed_motions([sample(1000 + i) for i in range(n)])
        other = ev.embed_motions([sample(2000 + i) for i in range(n)])
        row["fid_unguided_vs_unguided"] = fid(ref, other)
        row["fid_joystick_vs_unguided"] = fid(ref, ev.embed_motions(guided_motions))
    except (ImportError, FileNotFoundError) as e:  # the evaluator is optional for this benchmark
        say(f"naturalness: skipped ({e})")
    row["skating_joystick_cm_s"] = float(np.nanmean(skate))
    row["skating_unguided_cm_s"] = float(np.nanmean([inspect_motion(sample(s))["foot_skating_cm_s"] or np.nan for s in range(args.seeds)]))

    # ---------------------------------------------------------------- plots
    from motionfm.viz import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(3, 3, figsize=(12, 12))
    for ax, (obs, m0, m) in zip(axes.ravel(), plots):
        draw_goals(ax, [obs])
        ax.plot(*m0.root_pos[:, :2].T, "--", color="tab:gray", label="unguided")
        ax.plot(*m.root_pos[:, :2].T, color="tab:blue", label="guided")
        xy = np.concatenate([m0.root_pos[:, :2], m.root_pos[:, :2]])
        ax.set_xlim(xy[:, 0].min() - 0.5, xy[:, 0].max() + 0.5)  # the far-away padding obstacles stay out of view
        ax.set_ylim(xy[:, 1].min() - 1.0, xy[:, 1].max() + 1.0)
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"min distance {obs.evaluate(m)['min_signed_distance_m']:.2f} m", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"'{TEXT}' around obstacles (root paths, top view)")
    fig.savefig(out / "paths_obstacles.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for ax, (w, m) in zip(axes.ravel(), wp_plot):
        draw_goals(ax, [w])
        ax.plot(*m.root_pos[:, :2].T, color="tab:blue")
        ax.set_aspect("equal")
        ax.set_title(f"error {w.evaluate(m)['waypoint_error_cm']:.0f} cm", fontsize=9)
    fig.savefig(out / "paths_waypoints.png", dpi=90, bbox_inches="tight")
    plt.close(fig)

    if args.json:
        print(json.dumps(row, indent=1))
        return 0
    targets = {"joystick_error_pct": "<= 15", "keyframe_root_error_cm": "<= 3", "keyframe_pose_error_cm": "<= 3",
               "keyframe_hand_error_cm": "<= 3", "obstacle_free_guided_pct": ">= 95"}
    targets.update({f"time_{k}_ratio": "<= 3" for k in goals})
    print(f"\n{'metric':<40} {'value':>10}  target")
    for k, v in row.items():
        print(f"{k:<40} {v:>10.4g}  {targets.get(k, '')}" if isinstance(v, float) else f"{k:<40} {v!s}")
    print(f"plots: {out / 'paths_obstacles.png'}, {out / 'paths_waypoints.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
