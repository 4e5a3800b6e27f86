"""``motionfm track`` / ``average`` / ``eval tracker`` / ``train tracker``: a thin layer over the tracker package.

Wire-up from ``motionfm/cli.py``: call :func:`register` with the top-level subparsers and the
``train``/``eval`` subparser groups (see the function).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def _cmd_track(args: argparse.Namespace) -> int:
    from motionfm.motion import Motion
    from motionfm.tracker.policy import load_policy
    from motionfm.tracker.rollout import clip_summary, describe, save_rollout, track

    policy = load_policy(args.checkpoint)
    motion = Motion.load(args.motion, fps=args.fps, limits="ignore")
    r = track(policy, motion, variant=args.model, sim_dt=args.sim_dt)
    save_rollout(args.out, r)
    summary = clip_summary(r) | {"out": str(args.out)}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{summary['name']}: {describe(r)}; wrote {args.out}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from motionfm.tracker.evaluate import default_sources, evaluate_checkpoint, spread, stand_check
    from motionfm.tracker.policy import load_policy
    from motionfm.tracker.rollout import evaluate_motions, summarize
    from motionfm.tracker.train import clip_groups, load_motions

    policy = load_policy(args.checkpoint)
    if args.data and not Path(args.data).is_dir():
        raise NotADirectoryError(f"{args.data}: not a folder of motion files")
    if args.split == "held-out" and not args.include:  # the checkpoint's held-out clips, per family
        rep = evaluate_checkpoint(policy, [args.data] if args.data else None, max_clips=args.max_clips or 0, splits=("held_out",),
                                  progress=not args.json)
        report = {"stand": rep["stand"], **{k: v for k, v in rep["eval_held_out"].items()}}
    else:
        sources = [Path(args.data)] if args.data else default_sources()
        motions = load_motions(sources, include=args.include, default_fps=args.fps or 30.0)
        if args.split == "held-out":
            held = set(policy.metadata.get("held_out", []))
            motions = [m for m in motions if m.name in held]
        if args.max_clips:  # evenly spaced over the sorted names, as evaluate_checkpoint caps
            keep = set(spread([m.name for m in motions], args.max_clips))
            motions = [m for m in motions if m.name in keep]
        report = evaluate_motions(policy, motions, variant=args.model, sim_dt=args.sim_dt, progress=not args.json)
        groups = {**clip_groups(sources), **policy.metadata.get("groups", {})}
        for c in report["clips"]:
            c["group"] = groups.get(c["name"], "athletic")
        report["by_category"] = {g: summarize([c for c in report["clips"] if c["group"] == g])
                                 for g in sorted({c["group"] for c in report["clips"]})}
        report["stand"] = stand_check(policy)
    report["checkpoint"] = str(args.checkpoint or "shipped")
    report["data"] = str(args.data or "default sources")
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        st = report["stand"]
        print(f"stand 10 s: {'held' if st['success'] else 'fell after %.1f s' % (st['frames'] / 50)}")
        for g, c in report["by_category"].items():
            print(f"  {g:<13} {c['num_clips']:>4d} clips: success {c['success_rate']:.1%} (with mpbpe <= 5 cm {c['target_rate']:.1%}, drift-free {c['target_rate_local']:.1%}), "
                  f"mpbpe {c['mpbpe_cm']:.1f} cm, falls {c['fall_rate']:.1%}, ends {c['end_along_cm']:+.1f} ± {c['end_along_sd_cm']:.1f} cm along, "
                  f"{c['end_cross_cm']:+.1f} ± {c['end_cross_sd_cm']:.1f} cm across")
        print(f"{report['num_clips']} clips: success {report['success_rate']:.1%} (with mpbpe <= 5 cm {report['target_rate']:.1%}, drift-free {report['target_rate_local']:.1%}), "
              f"mpbpe {report['mpbpe_cm']:.1f} cm (local {report['mpbpe_local_cm']:.1f} cm), joints {report['joint_error_rad']:.3f} rad, "
              f"falls {report['fall_rate']:.1%}, feet sliding {report['foot_slide_cm_s']:.1f} cm/s where the reference's stand still")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from motionfm.tracker.config import PRESETS, TrackerConfig
    from motionfm.tracker.evaluate import default_sources
    from motionfm.tracker.train import (STAGE_MAX_STEPS, clip_groups, clip_licences, load_motions, split_heldout, train,
                                        train_curriculum)

    if args.config in PRESETS:
        cfg = PRESETS[args.config]
    elif Path(args.config).is_file():
        cfg = TrackerConfig.from_dict(json.loads(Path(args.config).read_text()))
    else:
        raise FileNotFoundError(f"{args.config}: neither a preset ({', '.join(PRESETS)}) nor a config JSON file")
    over = {k: v for k, v in (("num_envs", args.num_envs), ("seed", args.seed), ("num_evals", args.num_evals)) if v is not None}
    cfg = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, **over))
    if args.backend:
        cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, backend=args.backend))
    sources = [Path(d) for d in args.data] if args.data else default_sources()
    motions = load_motions(sources, include=args.include, exclude=args.exclude)
    groups = clip_groups(sources)
    train_m, held = split_heldout(motions, args.held_out, cfg.ppo.seed, groups=groups)
    prev = Path(args.out) / "run.json"
    init, held_names = None, None
    if args.init_from and not prev.is_file():  # warm start: the policy's held-out clips stay held out
        from motionfm.tracker.policy import load_policy

        init = load_policy(args.init_from)
        held_names = set(init.metadata.get("held_out", []))
    elif prev.is_file():  # a resumed run keeps its held-out clips held out, and its training clips in training
        before = json.loads(prev.read_text())
        seen, held_before = set(before.get("clips", [])), set(before.get("held_out", []))
        held_names = held_before | {m.name for m in held if m.name not in seen}
    if held_names is not None:
        train_m = [m for m in motions if m.name not in held_names]
        held = [m for m in motions if m.name in held_names]
    by_group: dict[str, int] = {}
    for m in held:
        by_group[groups.get(m.name, "athletic")] = by_group.get(groups.get(m.name, "athletic"), 0) + 1
    print(f"{len(train_m)} training clips, {len(held)} held out ({', '.join(f'{g} {n}' for g, n in sorted(by_group.items()))})")
    if args.curriculum:
        train_curriculum(cfg, train_m, groups, args.out, chunk_steps=args.steps or cfg.ppo.num_timesteps, chunks=args.chunks,
                         export=args.export, held_out=[m.name for m in held], sources=[str(s.resolve()) for s in sources],
                         licences=clip_licences(sources), init_policy=init, init_from=args.init_from,
                         stage_max_steps=STAGE_MAX_STEPS if args.stage_max_steps is None else (args.stage_max_steps or None),
                         keep_exports=args.keep_exports)
        return 0
    _, rows = train(cfg, train_m, args.out, num_timesteps=args.steps, export=args.export, held_out=[m.name for m in held],
                    init_policy=init, init_from=args.init_from)
    print(json.dumps(rows[-1] if rows else {}, indent=1))
    return 0


def _guard(func):
    """Report bad input (a wrong checkpoint, rollout or config: ``ValueError``) as exit code 2."""
    def run(args: argparse.Namespace) -> int:
        from motionfm.motion import MotionFileError

        try:
            return func(args)
        except (MotionFileError, FileNotFoundError, NotADirectoryError, ValueError) as e:
            print(f"motionfm: error: {e}", file=sys.stderr)
            return 2
    return run


def _cmd_average(args: argparse.Namespace) -> int:
    from motionfm.tracker.policy import average_policies, load_policy, save_policy

    try:
        policy = average_policies([load_policy(c) for c in args.checkpoints])
    except ValueError as e:
        raise ValueError(f"{' '.join(args.checkpoints)}: {e}") from e
    save_policy(args.out, policy)
    plot = Path(args.checkpoints[-1]) / "training_progress.png"  # the run's progress up to the last input
    if plot.is_file():
        shutil.copyfile(plot, Path(args.out) / plot.name)
    steps = ", ".join(f"{s['env_steps'] / 1e6:.1f} M" for s in policy.metadata["averaged_from"])
    print(f"averaged {len(args.checkpoints)} policies ({steps} env steps) -> {args.out}")
    return 0


def register(sub: argparse._SubParsersAction, train_group: argparse._SubParsersAction | None = None,
             eval_group: argparse._SubParsersAction | None = None) -> None:
    """Add ``track`` and ``average`` to ``sub`` and ``tracker`` to the ``train``/``eval`` groups
    (created if None)."""
    t = sub.add_parser("track", help="track a motion with the tracker policy in plain MuJoCo; write a rollout npz")
    t.add_argument("motion", help="motion file (.csv with clips.jsonl or --fps, or .npz)")
    t.add_argument("--out", required=True, help="rollout file (.npz: fps, qpos, ref_qpos, ...)")
    t.add_argument("--checkpoint", help="tracker checkpoint folder (default: the shipped one)")
    t.add_argument("--fps", type=float, help="frame rate of a CSV without clips.jsonl")
    t.add_argument("--model", help="G1 variant to simulate (default: the training one; 'scene' = meshes)")
    t.add_argument("--sim-dt", type=float, help="physics step (s) (default: the training one)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=_guard(_cmd_track))

    a = sub.add_parser("average", help="average the exports of one tracker run (weight averaging) into one policy")
    a.add_argument("checkpoints", nargs="+", help="exported policy folders of one run (e.g. consecutive chunks)")
    a.add_argument("--out", required=True, help="policy folder to write (replaced atomically)")
    a.set_defaults(func=_guard(_cmd_average))

    if eval_group is None:
        eval_group = sub.add_parser("eval", help="evaluate a stage").add_subparsers(dest="eval_command", required=True)
    e = eval_group.add_parser("tracker", help="sim-to-sim metrics of the tracker (plain MuJoCo) on a motion folder")
    e.add_argument("--data", help="folder of motion files (clips.jsonl optional; default: the checkpoint's sources)")
    e.add_argument("--checkpoint", help="tracker checkpoint folder (default: the shipped one)")
    e.add_argument("--split", choices=["all", "held-out"], default="all", help="'held-out': only clips the checkpoint never trained on")
    e.add_argument("--include", help="regex on clip ids")
    e.add_argument("--max-clips", type=int, help="evaluate at most this many clips, evenly spaced over the sorted "
                   "names (with --split held-out alone: an even share per family)")
    e.add_argument("--fps", type=float, help="frame rate of CSVs not listed in a clips.jsonl (default 30)")
    e.add_argument("--model", help="G1 variant to simulate (default: the training one)")
    e.add_argument("--sim-dt", type=float, help="physics step (s)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_guard(_cmd_eval))

    if train_group is None:
        train_group = sub.add_parser("train", help="train a stage").add_subparsers(dest="train_command", required=True)
    r = train_group.add_parser("tracker", help="train the tracker with Brax PPO (plain MuJoCo or MJX physics; resumes from --out)")
    r.add_argument("--config", default="cpu", help="preset (cpu, gpu, test) or a config JSON file")
    r.add_argument("--data", nargs="+", help="motion folders or files (default: the G1 corpus and runs/data/* retargeted corpora)")
    r.add_argument("--curriculum", action="store_true", help="train in --chunks chunks along the curriculum "
                   "(stand, locomotion, gestures -> athletic -> dance, martial arts), exporting after each")
    r.add_argument("--chunks", type=int, default=1, help="chunks of --steps env steps (with --curriculum)")
    r.add_argument("--stage-max-steps", type=int, help="a curriculum stage advances after this many env steps even if "
                   "its training fail rate stays above 0.25 (default: train.STAGE_MAX_STEPS, 100 M; 0: only by fail rate)")
    r.add_argument("--backend", choices=["mujoco", "mjx"], help="physics backend (default: the config's)")
    r.add_argument("--include", help="regex on clip ids to train on")
    r.add_argument("--exclude", help="regex on clip ids to leave out")
    r.add_argument("--held-out", type=float, default=0.15, help="fraction of clips held out for evaluation")
    r.add_argument("--out", default="runs/tracker", help="run folder (checkpoints, log.jsonl); resumed if present")
    r.add_argument("--steps", type=int, help="env steps of this chunk (default: the config's)")
    r.add_argument("--export", help="write the deployable policy here (e.g. checkpoints/tracker)")
    r.add_argument("--keep-exports", action="store_true", help="also keep each chunk's export as <export>_<env steps> "
                   "(with --curriculum; `motionfm average` takes the mean of the last few)")
    r.add_argument("--init-from", help="exported policy folder (e.g. checkpoints/tracker) that a new run folder starts "
                   "from: its actor, normaliser, action noise, held-out clips, curriculum stage and critic (a fresh one, "
                   "trained first with the actor held, where the export has none); ignored when --out "
                   "already holds a run")
    r.add_argument("--num-envs", type=int)
    r.add_argument("--num-evals", type=int)
    r.add_argument("--seed", type=int)
    r.set_defaults(func=_guard(_cmd_train))


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m motionfm.tracker.cli``) until ``motionfm/cli.py`` registers these."""
    p = argparse.ArgumentParser(prog="motionfm")
    register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
