"""Does a motion do what its text says? Kinematic descriptors and paired-prompt checks.

The learned evaluator (:mod:`motionfm.evaluation.evaluator`) scores text-motion agreement in an
embedding space; these checks ask plainer questions a person would: did "walks backward" travel
backward while "walks forward" went forward, did "turns left" turn the other way from "turns
right", did "raises the left hand" lift the left wrist more than the right? Each
:class:`PairedCheck` holds two prompts whose motions must differ in one measurable way and the
predicate on their :class:`Descriptors`. ``benchmarks/text_following.py`` samples both prompts for
several seeds and reports a pass rate per check, beside the same checks on real clips.

All quantities are in the motion's own start frame (root over the origin, facing +x at frame 0),
so they do not depend on where a motion starts: +x forward, +y to the robot's left, +yaw a turn
to the left.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from motionfm.motion import Motion
from motionfm.robot import G1_BODY_NAMES, fk_mujoco, load_g1

__all__ = ["Descriptors", "PairedCheck", "PAIRED_CHECKS", "describe_motion"]

_LEFT_WRIST = G1_BODY_NAMES.index("left_wrist_yaw_link")
_RIGHT_WRIST = G1_BODY_NAMES.index("right_wrist_yaw_link")
_FEET = [G1_BODY_NAMES.index("left_ankle_roll_link"), G1_BODY_NAMES.index("right_ankle_roll_link")]
_AIRBORNE_M = 0.05
"""Both ankles this far above their resting height (their 10th percentile over the clip): airborne.
Walking lifts one foot at a time by ~5-15 cm; only a jump lifts both at once."""


@dataclasses.dataclass(frozen=True)
class Descriptors:
    """What a motion did, in its start frame (see the module docstring).

    Attributes:
        forward_m: root travel along the start heading (m, + forward).
        lateral_m: root travel sideways (m, + to the left).
        yaw_change_rad: heading change from first to last frame, unwrapped (+ left turn).
        speed_mps: mean horizontal root speed (m/s).
        left_hand_rise_m / right_hand_rise_m: highest wrist height above the pelvis minus its height
            in the G1's ``stand`` pose, arms hanging (m): how far each hand was raised at its
            highest. Measured from that rest pose rather than from frame 0, because a generated
            motion may begin mid-action (trained on windows cut anywhere in a clip): a wave that
            starts with the hand already up and keeps it up did raise the hand (from frame 0 it
            measured 1-12 cm, against 45-55 cm above the rest pose).
        root_z_range_m: highest minus lowest root height (m); jumps and squats move it most.
        airborne_fraction: share of frames with both feet off the ground (see ``_AIRBORNE_M``).
    """

    forward_m: float
    lateral_m: float
    yaw_change_rad: float
    speed_mps: float
    left_hand_rise_m: float
    right_hand_rise_m: float
    root_z_range_m: float
    airborne_fraction: float


@functools.lru_cache(maxsize=1)
def _rest_wrist_height() -> np.ndarray:
    """``(2,)`` left and right wrist height above the pelvis in the G1's ``stand`` pose (m)."""
    robot = load_g1()
    body = fk_mujoco(robot.default_qpos[None], robot).body_pos[0]
    return body[[_LEFT_WRIST, _RIGHT_WRIST], 2] - body[0, 2]


def describe_motion(motion: Motion) -> Descriptors:
    """:class:`Descriptors` of ``motion`` (any fps; a :class:`Motion` has at least two frames)."""
    m = motion.canonicalize(0)
    pos = m.root_pos
    heading = np.unwrap(m.heading())
    step = np.linalg.norm(np.diff(pos[:, :2], axis=0), axis=1)
    body = fk_mujoco(m.qpos, load_g1()).body_pos  # (T, 30, 3)
    wrist_rel = body[:, [_LEFT_WRIST, _RIGHT_WRIST], 2] - body[:, :1, 2]  # (T, 2) height above the pelvis
    rise = wrist_rel.max(axis=0) - _rest_wrist_height()
    feet = body[:, _FEET, 2]  # (T, 2)
    lifted = feet - np.percentile(feet, 10, axis=0) > _AIRBORNE_M
    return Descriptors(forward_m=float(pos[-1, 0]), lateral_m=float(pos[-1, 1]),
                       yaw_change_rad=float(heading[-1] - heading[0]),
                       speed_mps=float(step.sum() / motion.duration),
                       left_hand_rise_m=float(rise[0]), right_hand_rise_m=float(rise[1]),
                       root_z_range_m=float(pos[:, 2].max() - pos[:, 2].min()),
                       airborne_fraction=float(np.mean(lifted.all(axis=1))))


@dataclasses.dataclass(frozen=True)
class PairedCheck:
    """Two prompts whose motions must differ as ``passes(a, b)`` says.

    Attributes:
        name: short id (``direction``, ``turning``, ...).
        prompt_a / prompt_b: the two texts.
        passes: predicate on the descriptors of a motion for ``prompt_a`` and one for ``prompt_b``.
        rule: the predicate in words, for reports.
        real_a / real_b: regular expressions selecting real clips of each side, matched against
            ``"<content label>|<first caption>"`` of each ``clips.jsonl`` row; the check is also
            run on pairs of those clips, as a ceiling.
    """

    name: str
    prompt_a: str
    prompt_b: str
    passes: Callable[[Descriptors, Descriptors], bool]
    rule: str
    real_a: str = ""
    real_b: str = ""


PAIRED_CHECKS: tuple[PairedCheck, ...] = (
    PairedCheck("direction", "a person walks forward", "a person walks backward",
                lambda a, b: a.forward_m > 0.2 and b.forward_m < -0.2,
                "forward travel > 0.2 m for A and < -0.2 m for B", r"^walk\|", r"^walk-back\|"),
    PairedCheck("sideways", "a person walks to the left", "a person walks to the right",
                lambda a, b: a.lateral_m > 0.2 and b.lateral_m < -0.2,
                "leftward travel > 0.2 m for A and < -0.2 m for B", r"^walk-left\|", r"^walk-right\|"),
    PairedCheck("turning", "a person walks and turns left", "a person walks and turns right",
                lambda a, b: a.yaw_change_rad > 0.5 and b.yaw_change_rad < -0.5,
                "heading change > +0.5 rad for A and < -0.5 rad for B", r"^walk-turn-left\|", r"^walk-turn-right\|"),
    PairedCheck("speed", "a person runs forward", "a person walks forward",
                lambda a, b: a.speed_mps > 1.3 * b.speed_mps and a.forward_m > 0.2,
                "A's speed > 1.3 x B's, A travels forward", r"^run\|", r"^walk\|"),
    PairedCheck("raise_hand", "a person raises the left hand", "a person raises the right hand",
                lambda a, b: a.left_hand_rise_m > a.right_hand_rise_m + 0.1 and b.right_hand_rise_m > b.left_hand_rise_m + 0.1,
                "the named wrist rises > 0.1 m more than the other, in both", r"^raise-up-left-hand\|", r"^raise-up-right-hand\|"),
    PairedCheck("wave_hand", "a person waves the left hand", "a person waves the right hand",
                lambda a, b: a.left_hand_rise_m > a.right_hand_rise_m + 0.1 and b.right_hand_rise_m > b.left_hand_rise_m + 0.1,
                "the named wrist rises > 0.1 m more than the other, in both", r"^wave-left-hand\|", r"^wave-right-hand\|"),
    PairedCheck("both_hands", "a person raises both hands", "a person raises the left hand",
                lambda a, b: min(a.left_hand_rise_m, a.right_hand_rise_m) > 0.2 and a.right_hand_rise_m > b.right_hand_rise_m + 0.1,
                "A lifts both wrists > 0.2 m and the right > 0.1 m more than B", r"^raise-up-both-hands\|", r"^raise-up-left-hand\|"),
    PairedCheck("jump", "a person jumps in place", "a person walks forward",
                lambda a, b: a.root_z_range_m > b.root_z_range_m + 0.05 and a.airborne_fraction > b.airborne_fraction + 0.03,
                "A's root height range > B's + 5 cm and A airborne on 3 % more frames", r"\|a person jumps", r"^walk\|"),
)
"""The text-following checks of ``benchmarks/text_following.py`` (issue 15's list: direction of
travel, turning sign, speed ordering, which hand rises, jumping vs walking)."""


def real_examples(corpora: "list[str] | tuple[str, ...]", pattern: str, n: int, seed: int = 0) -> list[Motion]:
    """Up to ``n`` real clips of ``corpora`` whose ``"<content>|<first caption>"`` matches
    ``pattern`` (see :class:`PairedCheck`), drawn with ``seed`` (sorted by id first, so the draw
    does not depend on file order)."""
    import re
    from pathlib import Path

    from motionfm.motion import read_clips_jsonl

    regex = re.compile(pattern)
    found: list[tuple[str, Path, dict]] = []
    for corpus in corpora:
        root = Path(corpus)
        for row in read_clips_jsonl(root / "clips.jsonl"):
            caps = row.get("captions") or [""]
            if regex.search(f"{row.get('content', '')}|{caps[0]}"):
                found.append((str(row["id"]), root / row["file"], row))
    found.sort(key=lambda r: r[0])
    pick = np.random.default_rng(seed).permutation(len(found))[:n]
    return [Motion.load(found[i][1], metadata=found[i][2]).replace(name=found[i][0]) for i in sorted(pick)]
