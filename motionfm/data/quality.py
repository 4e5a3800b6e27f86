"""Physical quality report of G1 motion (KungfuBot/PHUMA-style checks), per clip and per corpus.

Foot metrics use the sole points of :data:`~motionfm.robot.FOOT_SOLE_POINTS` (the bottoms of the
feet's collision spheres) with the ground at ``z = 0``. A foot is *in contact* when its lowest sole
point is below ``contact_height_cm``; *skating* is the horizontal speed of a foot's sole centre
while it is in contact. *Stance-foot speed* is the horizontal speed of the lower foot's sole centre
in every frame, with no height threshold: a motion cannot lower it by lifting its feet above the
contact height, and it exposes a "moonwalk" (the root travels faster than the legs step, so the
supporting foot slides): real G1 walks ~16 cm/s, generated walks up to ~95 cm/s.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from motionfm.data.corpus import scan_corpus
from motionfm.motion import Motion, MotionFileError, read_clips_jsonl
from motionfm.robot import G1_JOINT_NAMES, RobotModel, fk_mujoco, foot_points, load_g1

@dataclasses.dataclass(frozen=True)
class QualityThresholds:
    """Where a clip gets flagged. Defaults suit whole-body motion for a tracker.

    Attributes:
        contact_height_cm: a foot whose lowest sole point is below this is in contact.
        max_penetration_cm: flag deeper ground penetration (max over frames).
        max_float_cm: flag when the lower foot's median height exceeds this (floating clip).
        max_skating_cm_s: flag higher mean foot speed while in contact.
        max_joint_vel_rad_s: flag faster joints (the G1's motors reach ~20-37 rad/s; faster is
            usually a capture glitch).
        limit_tolerance_rad: joint-limit excess tolerated before a frame counts as violating.
    """

    contact_height_cm: float = 2.5
    max_penetration_cm: float = 2.0
    max_float_cm: float = 3.0
    max_skating_cm_s: float = 10.0
    max_joint_vel_rad_s: float = 30.0
    limit_tolerance_rad: float = 0.05


def inspect_motion(
    motion: Motion, robot: RobotModel | None = None, thresholds: QualityThresholds = QualityThresholds()
) -> dict[str, Any]:
    """Physical quality metrics of one clip, with a ``verdict`` of ``"pass"`` or ``"flag"``.

    Returns:
        A JSON-ready dict: ``duration_s``, ``fps``, ``frames``, ``joint_limit_violation_frames``,
        ``joint_limit_max_excess_rad``, ``worst_limit_joint``, ``foot_penetration_cm`` (max),
        ``foot_penetration_mean_cm``, ``foot_float_cm`` (median height of the lower foot),
        ``foot_skating_cm_s`` (mean while in contact; null without contact), ``contact_fraction``,
        ``stance_foot_speed_cm_s`` (mean horizontal speed of the lower foot's sole centre),
        ``root_speed_cm_s`` (mean horizontal root speed), ``root_height_min_m``, ``root_height_max_m``,
        ``max_joint_vel_rad_s``, ``max_joint_vel_joint``, ``verdict`` and ``flags`` (reasons).
    """
    robot = robot or load_g1()
    th = thresholds
    soles = foot_points(fk_mujoco(motion.qpos, robot), robot)  # (T, 2, 4, 3)
    lowest = soles[..., 2].min(-1)  # (T, 2) lowest sole point of each foot
    penetration = np.maximum(-lowest.min(-1), 0.0)  # (T,)
    contact = lowest < th.contact_height_cm / 100
    centre_vel = np.gradient(soles.mean(-2)[..., :2], 1.0 / motion.fps, axis=0)  # (T, 2, 2)
    speed = np.linalg.norm(centre_vel, axis=-1)  # (T, 2)
    skating = float(speed[contact].mean() * 100) if contact.any() else None
    stance = np.take_along_axis(speed, lowest.argmin(-1)[:, None], -1)[:, 0]  # (T,) speed of the lower foot
    root_vel = np.gradient(motion.root_pos[:, :2], 1.0 / motion.fps, axis=0)  # (T, 2)

    excess = motion.joint_limit_violations(th.limit_tolerance_rad)
    raw_excess = motion.joint_limit_violations(0.0)
    jvel = np.abs(motion.joint_vel()) * motion.joint_mask
    jmax = np.unravel_index(np.argmax(jvel), jvel.shape)

    m: dict[str, Any] = {
        "duration_s": round(motion.duration, 3),
        "fps": motion.fps,
        "frames": motion.num_frames,
        "joint_limit_violation_frames": int((excess > 0).any(1).sum()),
        "joint_limit_max_excess_rad": round(float(raw_excess.max()), 4),
        "worst_limit_joint": G1_JOINT_NAMES[int(np.argmax(raw_excess.max(0)))] if raw_excess.any() else None,
        "foot_penetration_cm": round(float(penetration.max() * 100), 3),
        "foot_penetration_mean_cm": round(float(penetration.mean() * 100), 3),
        "foot_float_cm": round(float(np.median(lowest.min(-1)) * 100), 3),
        "foot_skating_cm_s": None if skating is None else round(skating, 3),
        "contact_fraction": round(float(contact.any(-1).mean()), 3),
        "stance_foot_speed_cm_s": round(float(stance.mean() * 100), 3),
        "root_speed_cm_s": round(float(np.linalg.norm(root_vel, axis=-1).mean() * 100), 3),
        "root_height_min_m": round(float(motion.root_pos[:, 2].min()), 4),
        "root_height_max_m": round(float(motion.root_pos[:, 2].max()), 4),
        "max_joint_vel_rad_s": round(float(jvel.max()), 3),
        "max_joint_vel_joint": G1_JOINT_NAMES[int(jmax[1])],
    }
    flags = []
    if m["joint_limit_violation_frames"]:
        flags.append(f"{m['joint_limit_violation_frames']} frames beyond joint limits")
    if m["foot_penetration_cm"] > th.max_penetration_cm:
        flags.append(f"foot penetration {m['foot_penetration_cm']:.1f} cm")
    if m["foot_float_cm"] > th.max_float_cm:
        flags.append(f"floating: lower foot at {m['foot_float_cm']:.1f} cm (median)")
    if skating is not None and skating > th.max_skating_cm_s:
        flags.append(f"foot skating {skating:.1f} cm/s")
    if m["max_joint_vel_rad_s"] > th.max_joint_vel_rad_s:
        flags.append(f"joint velocity {m['max_joint_vel_rad_s']:.0f} rad/s ({m['max_joint_vel_joint']})")
    m["verdict"] = "flag" if flags else "pass"
    m["flags"] = flags
    return m


def inspect_folder(
    root: str | os.PathLike,
    thresholds: QualityThresholds = QualityThresholds(),
    fps: float | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Quality report of every motion file under ``root``.

    ``fps`` is the frame rate assumed for files whose rate is neither stored nor listed.

    A file that cannot be loaded gets an entry with ``verdict: "error"`` and its ``error`` text; the
    other clips are still reported. Files listed in ``clips.jsonl`` but absent are errors too.

    Returns:
        ``{"root", "clips": [per-clip dicts with "id" and "file"], "totals": {...}}``.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    robot = load_g1()
    refs = scan_corpus(root)
    listed: Iterable[dict[str, Any]] = read_clips_jsonl(root / "clips.jsonl") if (root / "clips.jsonl").is_file() else []
    missing = [r["file"] for r in listed if not (root / r["file"]).is_file()]
    clips: list[dict[str, Any]] = []
    if progress:
        from tqdm import tqdm

        refs = tqdm(refs, desc="inspect", unit="clip")
    for ref in refs:
        head = {"id": ref.clip_id, "file": ref.path.relative_to(root).as_posix()}
        try:
            motion = Motion.load(ref.path, default_fps=fps, limits="ignore", metadata=ref.meta)
            clips.append({**head, **inspect_motion(motion, robot, thresholds)})
        except MotionFileError as e:
            clips.append({**head, "verdict": "error", "error": str(e)})
    for rel in missing:
        clips.append({"id": Path(rel).with_suffix("").as_posix(), "file": rel, "verdict": "error",
                      "error": f"{root / rel}: listed in clips.jsonl but no such file"})
    ok = [c for c in clips if c["verdict"] != "error"]

    def mean(key: str) -> float | None:
        vals = [c[key] for c in ok if c.get(key) is not None]
        return round(float(np.mean(vals)), 3) if vals else None

    totals = {
        "clips": len(clips),
        "passed": sum(c["verdict"] == "pass" for c in clips),
        "flagged": sum(c["verdict"] == "flag" for c in clips),
        "errors": sum(c["verdict"] == "error" for c in clips),
        "duration_s": round(sum(c["duration_s"] for c in ok), 2),
        "frames": sum(c["frames"] for c in ok),
        "mean_foot_penetration_cm": mean("foot_penetration_cm"),
        "mean_foot_skating_cm_s": mean("foot_skating_cm_s"),
        "mean_foot_float_cm": mean("foot_float_cm"),
        "mean_stance_foot_speed_cm_s": mean("stance_foot_speed_cm_s"),
        "max_joint_vel_rad_s": max((c["max_joint_vel_rad_s"] for c in ok), default=None),
        "joint_limit_violation_frames": sum(c["joint_limit_violation_frames"] for c in ok),
        "thresholds": dataclasses.asdict(thresholds),
    }
    return {"root": str(root), "clips": clips, "totals": totals}


def format_report(report: dict[str, Any]) -> str:
    """A fixed-width text table of :func:`inspect_folder`'s report."""
    head = f"{'clip':<40} {'dur s':>6} {'fps':>4} {'lim':>4} {'pen cm':>6} {'float':>6} {'skate':>6} {'root z':>11} {'jv max':>6}  verdict"
    lines = [head, "-" * len(head)]
    for c in report["clips"]:
        if c["verdict"] == "error":
            lines.append(f"{c['id']:<40} ERROR  {c['error']}")
            continue
        sk = "-" if c["foot_skating_cm_s"] is None else f"{c['foot_skating_cm_s']:.1f}"
        lines.append(
            f"{c['id'][:40]:<40} {c['duration_s']:>6.1f} {c['fps']:>4.0f} {c['joint_limit_violation_frames']:>4d} "
            f"{c['foot_penetration_cm']:>6.2f} {c['foot_float_cm']:>6.2f} {sk:>6} "
            f"{c['root_height_min_m']:>5.2f}-{c['root_height_max_m']:<5.2f} {c['max_joint_vel_rad_s']:>6.1f}  "
            f"{c['verdict']}{': ' + '; '.join(c['flags']) if c['flags'] else ''}"
        )
    t = report["totals"]
    lines += [
        "-" * len(head),
        f"{t['clips']} clips ({t['duration_s'] / 60:.1f} min): {t['passed']} pass, {t['flagged']} flagged, {t['errors']} errors; "
        f"mean penetration {t['mean_foot_penetration_cm']} cm, skating {t['mean_foot_skating_cm_s']} cm/s, "
        f"float {t['mean_foot_float_cm']} cm, stance-foot speed {t['mean_stance_foot_speed_cm_s']} cm/s",
    ]
    return "\n".join(lines)
