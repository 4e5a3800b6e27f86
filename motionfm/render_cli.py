"""``motionfm render``: film a motion or a tracker rollout to MP4/GIF (:mod:`motionfm.render`).

Kept apart from :mod:`motionfm.render` so that building the CLI's parser does not set up
rendering; the command imports it when it runs.
"""

from __future__ import annotations

import argparse
import time


def _cmd_render(args: argparse.Namespace) -> int:
    from motionfm.motion import MotionFileError
    from motionfm.render import Camera, is_rollout_file, render_file

    camera = Camera(**{k: v for k, v in (("azimuth", args.azimuth), ("distance", args.distance)) if v is not None})
    t0 = time.perf_counter()
    try:
        out = render_file(args.input, args.out, motion_fps=args.motion_fps, layout=args.layout, width=args.width,
                          height=args.height, fps=args.fps, start=args.start, seconds=args.seconds,
                          obstacles=args.obstacles, waypoints=args.waypoints, joystick=args.joystick, camera=camera,
                          shadows=not args.no_shadows, label=not args.no_label)
    except MotionFileError as e:
        if e.problem.startswith("unknown fps"):
            raise MotionFileError(e.path, "unknown fps: a CSV stores none; pass --motion-fps or list the file in a clips.jsonl") from None
        raise
    kind = "rollout" if is_rollout_file(args.input) else "motion"
    print(f"wrote {out} ({kind}, {args.width}x{args.height} at {args.fps:g} fps, {time.perf_counter() - t0:.1f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``render`` subcommand to the ``motionfm`` parser's subparsers."""
    p = subparsers.add_parser("render", help="film a motion or a tracker rollout (MuJoCo meshes) to .mp4 or .gif")
    p.add_argument("input", metavar="MOTION_OR_ROLLOUT",
                   help="motion file (.npz, or .csv with clips.jsonl or --motion-fps) or tracker rollout .npz")
    p.add_argument("--out", required=True, help="video file (.mp4 or .gif)")
    p.add_argument("--layout", choices=["overlay", "side"], default="overlay",
                   help="rollouts: the reference as a ghost over the robot, or in a panel beside it (default: overlay)")
    p.add_argument("--width", type=int, default=640, help="pixels (default 640; even for MP4)")
    p.add_argument("--height", type=int, default=360, help="pixels (default 360; even for MP4)")
    p.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30; frames are picked from the motion's)")
    p.add_argument("--motion-fps", type=float, help="frame rate of a CSV not listed in a clips.jsonl")
    p.add_argument("--start", type=float, default=0.0, help="first second to film (default 0)")
    p.add_argument("--seconds", type=float, help="how many seconds to film (default: to the end)")
    g = p.add_argument_group("goals drawn into the scene (formats: motionfm.guidance.files)")
    g.add_argument("--obstacles", metavar="SCENE.json", help="spheres/boxes/cylinders/capsules")
    g.add_argument("--waypoints", metavar="WP.json", help="root positions to reach by given times")
    g.add_argument("--joystick", metavar="VX,VY,YAWRATE", help="a velocity command (m/s, m/s, rad/s), drawn at the feet")
    p.add_argument("--azimuth", type=float, help="camera azimuth (deg, default 140)")
    p.add_argument("--distance", type=float, help="camera distance (m, default 3.2)")
    p.add_argument("--no-shadows", action="store_true", help="faster: no shadows")
    p.add_argument("--no-label", action="store_true", help="no name/time text in the corner")
    p.set_defaults(func=_cmd_render)
    return p

