"""``motionfm`` command line: a thin layer over the package's public functions.

Commands:
    motionfm demo [--clip FILE] [--out DIR]        the main job (for now: load, FK, report, pictures)
    motionfm data inspect DIR [--json]             physical quality report of a motion folder
    motionfm data build DIR --data-dir OUT         build the tfds dataset (windows, splits, stats)
    motionfm info                                  versions, devices, data location
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

DEFAULT_CLIP = "g1moves/B_ForwardKarate.csv"


def default_data_dir() -> Path:
    """The G1 corpus: ``$MOTIONFM_DATA``, else ``shared/data/g1-open-motion`` beside the checkout."""
    env = os.environ.get("MOTIONFM_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for base in (Path.cwd(), here):
        for cand in (base.parent / "shared/data/g1-open-motion", base / "shared/data/g1-open-motion"):
            if cand.is_dir():
                return cand
    return here.parent / "shared/data/g1-open-motion"


def _cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from motionfm.data.quality import inspect_motion
    from motionfm.motion import Motion
    from motionfm.robot import G1_BODY_NAMES, default_fk, fk_mujoco, load_g1
    from motionfm.viz import animate_motion, plot_motion

    clip = Path(args.clip) if args.clip else default_data_dir() / DEFAULT_CLIP
    out = Path(args.out)
    motion = Motion.load(clip)
    print(f"loaded {clip}: {motion.num_frames} frames at {motion.fps:g} fps ({motion.duration:.1f} s)")
    robot = load_g1()
    t0 = time.perf_counter()
    fk = default_fk()(motion.qpos)  # JAX/MJX forward kinematics, all frames in one batched call
    fk = type(fk)(*(np.asarray(x) for x in fk))
    t1 = time.perf_counter()
    ref = fk_mujoco(motion.qpos, robot)
    err = float(np.abs(ref.body_pos - fk.body_pos).max())
    print(f"forward kinematics (MJX, jit incl. compile): {t1 - t0:.2f} s; max |MJX - MuJoCo| = {err:.2e} m")
    report = {"clip": str(clip), "name": motion.name, "captions": list(motion.captions),
              "fk_max_abs_err_m": err, **inspect_motion(motion, robot)}
    out.mkdir(parents=True, exist_ok=True)
    stem = motion.name.replace("/", "_") or clip.stem
    kin = out / f"{stem}_kinematics.npz"
    np.savez_compressed(kin, fps=motion.fps, qpos=motion.qpos, body_names=np.array(G1_BODY_NAMES),
                        body_pos=fk.body_pos, body_quat=fk.body_quat)
    png = plot_motion(motion, fk, out / f"{stem}.png", robot)
    files = [kin, png]
    if not args.no_gif:
        files.append(animate_motion(motion, fk, out / f"{stem}.gif", robot, max_seconds=args.gif_seconds))
    (out / f"{stem}_report.json").write_text(json.dumps(report, indent=2))
    files.append(out / f"{stem}_report.json")
    print(f"quality: {report['verdict']}" + (f" ({'; '.join(report['flags'])})" if report["flags"] else ""))
    print("wrote:\n  " + "\n  ".join(str(f) for f in files))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from motionfm.data.quality import QualityThresholds, format_report, inspect_folder

    th = QualityThresholds(
        max_penetration_cm=args.max_penetration_cm, max_skating_cm_s=args.max_skating_cm_s,
        max_float_cm=args.max_float_cm, max_joint_vel_rad_s=args.max_joint_vel,
    )
    report = inspect_folder(args.dir, th, fps=args.fps, progress=not args.json and sys.stderr.isatty())
    for c in report["clips"]:
        if c["verdict"] == "error":
            print(f"error: {c['error']}", file=sys.stderr)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 1 if report["totals"]["errors"] else 0


def _cmd_build(args: argparse.Namespace) -> int:
    from motionfm.data import G1MotionConfig, build_dataset

    cfg = G1MotionConfig(name=args.name, fps=args.fps, window=args.window, stride=args.stride,
                         val_fraction=args.val_fraction, split_seed=args.seed, csv_fps=args.csv_fps)
    t0 = time.perf_counter()
    builder = build_dataset(args.dir, args.data_dir, config=cfg)
    info = builder.info
    print(f"built {info.full_name} in {time.perf_counter() - t0:.1f} s at {builder.data_dir}")
    for name, split in info.splits.items():
        print(f"  {name}: {split.num_examples} windows")
    print(f"  normalisation stats: {Path(builder.data_dir) / 'stats.json'}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import jax

    import motionfm
    from motionfm.robot import load_g1

    robot = load_g1()
    print(f"motionfm {motionfm.__version__}, jax {jax.__version__}, devices {jax.devices()}")
    print(f"G1 model: {robot.path}")
    print(f"data: {default_data_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of the ``motionfm`` command."""
    p = argparse.ArgumentParser(prog="motionfm", description="Generative motion for the Unitree G1.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the main job: load a clip, compute its kinematics, write pictures")
    d.add_argument("--clip", help=f"motion file (default: <data>/{DEFAULT_CLIP})")
    d.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    d.add_argument("--no-gif", action="store_true", help="skip the animation")
    d.add_argument("--gif-seconds", type=float, default=8.0, help="animation length (s)")
    d.set_defaults(func=_cmd_demo)

    data = sub.add_parser("data", help="corpus tools").add_subparsers(dest="data_command", required=True)
    i = data.add_parser("inspect", help="physical quality report of a folder of motion files")
    i.add_argument("dir", help="folder of .csv/.npz motion files (with optional clips.jsonl)")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--fps", type=float, help="frame rate of CSVs not listed in a clips.jsonl")
    i.add_argument("--max-penetration-cm", type=float, default=2.0)
    i.add_argument("--max-skating-cm-s", type=float, default=10.0)
    i.add_argument("--max-float-cm", type=float, default=3.0)
    i.add_argument("--max-joint-vel", type=float, default=30.0, help="rad/s")
    i.set_defaults(func=_cmd_inspect)

    b = data.add_parser("build", help="build the tfds dataset of a motion folder")
    b.add_argument("dir", help="folder of motion files (the tfds manual_dir)")
    b.add_argument("--data-dir", required=True, help="where tfds writes the dataset")
    b.add_argument("--name", default="", help="builder config name (default: derived from the settings)")
    b.add_argument("--fps", type=float, default=30.0)
    b.add_argument("--window", type=int, default=64)
    b.add_argument("--stride", type=int, default=16)
    b.add_argument("--val-fraction", type=float, default=0.1, help="fraction of clips held out")
    b.add_argument("--seed", type=int, default=0, help="clip split seed")
    b.add_argument("--csv-fps", type=float, help="frame rate of CSVs not listed in a clips.jsonl")
    b.set_defaults(func=_cmd_build)

    sub.add_parser("info", help="versions, devices and paths").set_defaults(func=_cmd_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``motionfm`` command."""
    args = build_parser().parse_args(argv)
    from motionfm.motion import MotionFileError

    try:
        return args.func(args)
    except (MotionFileError, FileNotFoundError, NotADirectoryError) as e:
        print(f"motionfm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
