"""Kinematic descriptors and the paired-prompt text-following checks (benchmarks/text_following.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motionfm.evaluation.kinematics import PAIRED_CHECKS, describe_motion
from motionfm.motion import Motion
from motionfm.robot import G1_JOINT_NAMES, load_g1

ROOT = Path(__file__).resolve().parents[1]
CHECKS = {c.name: c for c in PAIRED_CHECKS}


@pytest.fixture(scope="module")
def walk(data_dir: Path) -> Motion:
    return Motion.load(data_dir / "asap" / "walk_level1.csv")


def reversed_in_time(m: Motion) -> Motion:
    return m.replace(root_pos=m.root_pos[::-1].copy(), root_quat=m.root_quat[::-1].copy(), joint_pos=m.joint_pos[::-1].copy())


def raising(joint: str, seconds: float = 2.0, fps: float = 30.0) -> Motion:
    """The G1 standing in its default pose while ``joint`` (a shoulder pitch) swings the arm up."""
    q0 = load_g1().default_qpos.astype(np.float64)
    n = int(seconds * fps)
    qpos = np.repeat(q0[None], n, 0)
    qpos[:, 7 + G1_JOINT_NAMES.index(joint)] = np.linspace(0.0, -2.5, n)  # pitch forward-up
    return Motion.from_qpos(qpos, fps)


def test_walk_descriptors_are_physical_and_frame_free(walk: Motion):
    d = describe_motion(walk)
    assert d.forward_m > 1.0 and 0.2 < d.speed_mps < 1.0  # a 5 s walk forward at a walking pace
    assert d.airborne_fraction < 0.02 and d.root_z_range_m < 0.2  # walking never has both feet up
    # moved and turned in the world: the same descriptors (they are in the motion's start frame)
    rz = Rotation.from_rotvec([0.0, 0.0, 1.3])
    quat = (rz * Rotation.from_quat(np.array(walk.root_quat[:, [1, 2, 3, 0]]))).as_quat()[:, [3, 0, 1, 2]]
    moved = walk.replace(root_pos=rz.apply(np.array(walk.root_pos)) + [4.0, -2.0, 0.0], root_quat=quat)
    np.testing.assert_allclose(list(vars(describe_motion(moved)).values()), list(vars(d).values()), atol=1e-6)


def test_mirror_swaps_sides_and_turns(walk: Motion):
    d, m = describe_motion(walk), describe_motion(walk.mirror())
    assert m.forward_m == pytest.approx(d.forward_m, abs=1e-6)
    assert m.lateral_m == pytest.approx(-d.lateral_m, abs=1e-6)
    assert m.yaw_change_rad == pytest.approx(-d.yaw_change_rad, abs=1e-6)
    assert m.left_hand_rise_m == pytest.approx(d.right_hand_rise_m, abs=1e-4)


def test_checks_tell_real_opposites_apart(walk: Motion):
    back = reversed_in_time(walk)  # a walk played backwards walks backward
    assert CHECKS["direction"].passes(describe_motion(walk), describe_motion(back))
    assert not CHECKS["direction"].passes(describe_motion(walk), describe_motion(walk))
    left, right = raising("left_shoulder_pitch_joint"), raising("right_shoulder_pitch_joint")
    dl, dr = describe_motion(left), describe_motion(right)
    assert dl.left_hand_rise_m > 0.4 and abs(dl.right_hand_rise_m) < 1e-6
    assert CHECKS["raise_hand"].passes(dl, dr) and not CHECKS["raise_hand"].passes(dr, dl)
    # a hand held up from the first frame on (a generated wave may start mid-action) was raised:
    # the rise is measured from the rest pose, not from frame 0
    held = Motion.from_qpos(np.repeat(left.qpos[-1:], 60, 0), 30.0)
    dh = describe_motion(held)
    assert dh.left_hand_rise_m > 0.4 and abs(dh.right_hand_rise_m) < 1e-6
    assert CHECKS["raise_hand"].passes(dh, describe_motion(held.mirror()))
    # a still motion fails every check against itself
    still = Motion.from_qpos(np.repeat(load_g1().default_qpos[None].astype(np.float64), 60, 0), 30.0)
    ds = describe_motion(still)
    assert not any(c.passes(ds, ds) for c in PAIRED_CHECKS)


@pytest.mark.slow
def test_benchmark_runs_and_its_json_parses():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "text_following.py"), "--seeds", "1", "--seconds", "2",
                        "--num-steps", "4", "--real-pairs", "2", "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert [c["check"] for c in out["checks"]] == [c.name for c in PAIRED_CHECKS]
    assert out["cases"] == len(PAIRED_CHECKS) and 0 <= out["passed"] <= out["cases"]
    assert all(np.isfinite(v) for c in out["checks"] for v in c["generated_a"].values())
