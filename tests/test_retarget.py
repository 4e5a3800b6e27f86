"""Tests of motionfm.retarget: BVH reading, skeleton maps, retargeting and its physical clean-up.

Synthetic data (a procedural SMPL-joint walker) keeps most tests independent of the shared corpus;
the CMU excerpt test runs when ``shared/data/cmu-locomotion-bvh`` is beside the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest

from motionfm.data.quality import inspect_motion
from motionfm.motion import Motion
from motionfm.retarget import (
    KEYPOINTS,
    BvhError,
    bvh_to_world,
    detect_map,
    get_map,
    keypoints_from_bvh,
    read_bvh,
    retarget_bvh,
    retarget_joints,
    retarget_keypoints,
)
from motionfm.retarget.cli import caption_from_name, clip_metadata, register
from motionfm.retarget.signal import clean_runs, limit_velocity, lowpass
from motionfm.robot import load_g1

SMPL22 = get_map("smpl").joint_order[:22]
CMU_DIR = Path(os.environ.get("MOTIONFM_CMU_BVH", Path(__file__).resolve().parents[2] / "shared/data/cmu-locomotion-bvh"))


# ---------------------------------------------------------------------- synthetic data
def smpl_walker(seconds: float = 2.4, fps: float = 30.0, speed: float = 0.8, period: float = 1.2) -> np.ndarray:
    """``(T, 22, 3)`` SMPL joints (m, Z up) of a kinematic walker along +x: planted feet stay put,
    swing feet lift 12 cm, knees from two-link IK, arms swing against the legs."""
    t = np.arange(int(seconds * fps)) / fps
    pelvis = np.stack([speed * t, np.zeros_like(t), np.full_like(t, 0.9)], -1)
    j = np.zeros((len(t), 22, 3))
    name = {n: i for i, n in enumerate(SMPL22)}
    stride = speed * period
    for side, sign, offset in (("L", 1.0, 0.0), ("R", -1.0, 0.5)):
        ph = t / period + offset
        n, frac = np.floor(ph), ph - np.floor(ph)
        home = stride * (n - offset + 0.3)  # the pelvis passes over a planted foot at mid-stance
        swing = np.clip((frac - 0.6) / 0.4, 0, 1)
        s = swing * swing * (3 - 2 * swing)
        ankle = np.stack([home + stride * s, np.full_like(t, sign * 0.1), 0.08 + 0.12 * np.sin(np.pi * swing)], -1)
        hip = pelvis + [0.0, sign * 0.09, -0.05]
        d = ankle - hip
        dist = np.linalg.norm(d, axis=-1, keepdims=True)
        bend = np.sqrt(np.maximum(0.42**2 - (dist / 2) ** 2, 0.0))
        fwd = np.stack([-d[:, 2], np.zeros_like(t), d[:, 0]], -1) / dist  # ⟂ to the leg, forward
        j[:, name[f"{side}_Hip"]] = hip
        j[:, name[f"{side}_Knee"]] = hip + d / 2 + bend * fwd
        j[:, name[f"{side}_Ankle"]] = ankle
        j[:, name[f"{side}_Foot"]] = ankle + [0.14, 0.0, -0.05]
        arm = -0.25 * np.sin(2 * np.pi * ph)[:, None] * [1.0, 0.0, 0.0]
        sh = pelvis + [0.0, sign * 0.18, 0.5]
        j[:, name[f"{side}_Collar"]] = pelvis + [0.0, sign * 0.07, 0.47]
        j[:, name[f"{side}_Shoulder"]] = sh
        j[:, name[f"{side}_Elbow"]] = sh + [0.0, 0.0, -0.28] + 0.4 * arm
        j[:, name[f"{side}_Wrist"]] = sh + [0.05, 0.0, -0.52] + arm
    for n, h in (("Pelvis", 0.0), ("Spine1", 0.1), ("Spine2", 0.22), ("Spine3", 0.35), ("Neck", 0.55), ("Head", 0.65)):
        j[:, name[n]] = pelvis + [0.0, 0.0, h]
    return j


def write_star_bvh(path: Path, joints: np.ndarray, names: tuple[str, ...], fps: float, scale: float = 100.0) -> Path:
    """A BVH (Y up, ``scale`` units per metre) whose joints hang off a fixed root by position
    channels only, so each joint's world position is exactly its channels: positions as BVH."""
    yup = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], -1) * scale  # Z-up world -> Y-up file
    lines = ["HIERARCHY", "ROOT Origin", "{", "  OFFSET 0 0 0", "  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation"]
    for n in names:
        lines += [f"  JOINT {n}", "  {", "    OFFSET 0 0 0", "    CHANNELS 3 Xposition Yposition Zposition",
                  "    End Site", "    {", "      OFFSET 0 0 1", "    }", "  }"]
    lines += ["}", "MOTION", f"Frames: {len(joints)}", f"Frame Time: {1 / fps:.6f}"]
    for frame in yup:
        lines.append(" ".join(["0"] * 6 + [f"{v:.4f}" for v in frame.ravel()]))
    path.write_text("\n".join(lines) + "\n")
    return path


def travel_ratio(result, human_xy: np.ndarray) -> float:
    """Robot root displacement over the human hip-centre displacement scaled by the leg ratio."""
    robot = np.linalg.norm(result.motion.root_pos[-1, :2] - result.motion.root_pos[0, :2])
    return float(robot / (result.scale * np.linalg.norm(human_xy[-1] - human_xy[0])))


@pytest.fixture(scope="module")
def walker_result():
    joints = smpl_walker()
    return joints, retarget_joints(joints, fps=30.0, name="walker", captions=["a person walks"])


# ---------------------------------------------------------------------- BVH reader
def test_bvh_fk_units_and_up_axis(tmp_path):
    text = """HIERARCHY
ROOT Hips
{
  OFFSET 0 100 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Knee
  {
    OFFSET 0 -50 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 -40 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.033333
0 0 0 0 0 0 0 0 0
10 0 0 90 0 0 0 0 0
"""
    bvh = read_bvh(tmp_path.joinpath("two.bvh").write_text(text) and tmp_path / "two.bvh")
    assert bvh.names == ("Hips", "Knee") and bvh.fps == 30.0 and bvh.num_frames == 2
    pos, rot = bvh.global_transforms()
    np.testing.assert_allclose(pos[0, 1], [0, 50, 0], atol=1e-9)  # offset + channels, cm, Y up
    # Frame 1: root moved 10 cm in x and turned 90 deg about z: the knee offset (0,-50,0) -> (50,0,0).
    np.testing.assert_allclose(pos[1, 1], [60, 100, 0], atol=1e-6)
    world = bvh_to_world(pos, 0.01, "y")  # cm -> m, Y up -> Z up: (x, y, z) -> (x, -z, y)
    np.testing.assert_allclose(world[0, 0], [0, 0, 1.0], atol=1e-9)
    np.testing.assert_allclose(bvh_to_world(pos, 0.01, "z")[0, 0], [0, 1.0, 0], atol=1e-9)


@pytest.mark.parametrize(
    "body, message",
    [
        ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\n", "no MOTION"),
        ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\nFrames: 2\n"
         "Frame Time: 0.1\n0 0 0\n0 0\n", "line 11: 2 values, expected 3"),
        ("HIERARCHY\nROOT A\n{\n OFFSET 0 zero 0\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n\n\n", "line 4: non-numeric OFFSET"),
        ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 1 Wrotation\n}\n", "unknown channel 'Wrotation'"),
        ("not a bvh\n", "does not start with HIERARCHY"),
        ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\nFrames: 3\n"
         "Frame Time: 0.1\n0 0 0\n", "Frames says 3"),
    ],
)
def test_malformed_bvh_names_file_and_fault(tmp_path, body, message):
    path = tmp_path / "bad.bvh"
    path.write_text(body)
    with pytest.raises(BvhError) as e:
        read_bvh(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_unknown_map_and_missing_joint_are_clear_errors(tmp_path):
    with pytest.raises(KeyError, match="unknown skeleton map 'nope'.*cmu_cc"):
        get_map("nope")
    assert get_map("AMASS").name == "smpl" and get_map("cc").name == "cmu_cc"
    path = write_star_bvh(tmp_path / "walk.bvh", smpl_walker(0.5), SMPL22, 30.0)
    with pytest.raises(KeyError, match="nope"):
        retarget_bvh(path, "nope")
    with pytest.raises(BvhError, match=r"walk\.bvh: skeleton map 'cmu_cc' needs joint 'CC_Base_Hip'"):
        keypoints_from_bvh(read_bvh(path), "cmu_cc")
    with pytest.raises(ValueError, match="no skeleton map fits"):
        detect_map(["Hips", "Spine"], "x.bvh")


# ---------------------------------------------------------------------- retargeting
def test_smpl_joints_entry_point(walker_result):
    joints, res = walker_result
    m = res.motion
    robot = load_g1()
    assert m.joint_pos.shape == (len(joints), 29) and m.root_quat.shape == (len(joints), 4)
    assert np.isfinite(m.qpos).all() and m.captions == ("a person walks",)
    assert not m.joint_limit_violations(1e-6).any()
    q = inspect_motion(m, robot)
    assert q["foot_penetration_cm"] < 1.0
    assert q["foot_skating_cm_s"] is not None and q["foot_skating_cm_s"] < 5.0
    assert 0.9 < travel_ratio(res, joints[:, 0, :2]) < 1.1
    # Both feet plant (the walker's stance is 60 % of its cycle) and the leg ratio is G1 / human.
    assert (res.contact.mean(0) > 0.4).all()
    assert res.scale == pytest.approx(0.624 / 0.84, rel=0.05)


def test_smpl_up_axis_and_bad_arrays():
    joints = smpl_walker(0.5)
    yup = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], -1)  # the same motion, Y up
    a = retarget_joints(joints, 30.0, up="z").motion
    b = retarget_joints(yup, 30.0, up="y").motion
    np.testing.assert_allclose(a.qpos, b.qpos, atol=1e-6)
    with pytest.raises(ValueError, match="must be \\(T, J, 3\\)"):
        retarget_joints(joints[..., :2], 30.0)
    with pytest.raises(ValueError, match="needs joints"):
        retarget_joints(joints[:, :10], 30.0)
    bad = joints.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf in keypoint 'pelvis' at frame 3"):
        retarget_joints(bad, 30.0, name="bad")


def test_bvh_with_smpl_names_matches_array_path(tmp_path, walker_result):
    joints, res = walker_result
    path = write_star_bvh(tmp_path / "walker.bvh", joints, SMPL22, 30.0)
    from_bvh = retarget_bvh(path, units_to_m=0.01)  # map detected from the names; cm in the file
    assert from_bvh.motion.name == "walker"
    np.testing.assert_allclose(from_bvh.motion.qpos, res.motion.qpos, atol=1e-3)


@pytest.mark.skipif(not CMU_DIR.is_dir(), reason="shared CMU BVH clips not present")
def test_cmu_excerpt_feet_on_floor_and_travel():
    bvh = read_bvh(CMU_DIR / "007_03.bvh")
    kp = keypoints_from_bvh(bvh)  # cmu_cc detected; cm and Y up from the map
    assert kp.has("left_index") and kp.positions.shape[1] == len(KEYPOINTS)
    short = type(kp)(kp.fps, kp.positions[:100], name="007_03_excerpt")
    res = retarget_keypoints(short, captions=["a person walks"])
    m = res.motion
    assert res.info["dropped_bind_frames"] == 1  # the T-pose frame in front of the take
    assert m.num_frames == 99 and m.fps == 60.0
    q = inspect_motion(m, load_g1())
    assert q["foot_penetration_cm"] < 1.0 and q["foot_skating_cm_s"] < 5.0
    assert q["foot_float_cm"] < 1.0 and q["joint_limit_violation_frames"] == 0
    hips = 0.5 * (short["left_hip"] + short["right_hip"])[1:, :2]
    assert 0.9 < travel_ratio(res, hips) < 1.1
    assert 0.6 < m.root_pos[:, 2].mean() < 0.8  # a G1 pelvis height, not a human's


def test_raw_ik_differs_from_cleaned(walker_result):
    from motionfm.retarget import CleanupConfig, RetargetConfig

    joints, res = walker_result
    raw = retarget_joints(joints, 30.0, config=RetargetConfig(cleanup=CleanupConfig(enabled=False)))
    robot = load_g1()
    assert inspect_motion(raw.motion, robot)["foot_skating_cm_s"] > inspect_motion(res.motion, robot)["foot_skating_cm_s"]
    assert not raw.motion.joint_limit_violations(1e-6).any()


# ---------------------------------------------------------------------- CLI
def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="motionfm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_writes_csvs_and_clips_jsonl(tmp_path, capsys):
    src = tmp_path / "bvh"
    src.mkdir()
    write_star_bvh(src / "walk_slow.bvh", smpl_walker(1.2), SMPL22, 30.0)
    (src / "broken.bvh").write_text("HIERARCHY\nROOT A\n")
    out = tmp_path / "g1"
    rc = run_cli("retarget", str(src), "--out", str(out), "--map", "smpl", "--units-to-m", "0.01", "--license", "CC0")
    err = capsys.readouterr().err
    assert rc == 1 and "broken.bvh" in err  # the broken file is named, the good one still written
    rows = [json.loads(line) for line in (out / "clips.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == ["walk_slow.csv"]
    row = rows[0]
    assert row["fps"] == 30 and row["dof"] == 29 and row["missing_dofs"] == [] and row["license"] == "CC0"
    assert row["captions"] == ["a person walk slow"]
    m = Motion.load(out / "walk_slow.csv")  # fps and captions come from clips.jsonl
    assert m.fps == 30.0 and m.num_frames == row["frames"] and m.captions == ("a person walk slow",)
    assert run_cli("retarget", str(src), "--out", str(out), "--map", "nope") == 2
    assert "unknown skeleton map 'nope'" in capsys.readouterr().err


def test_clip_metadata_for_cmu_names():
    meta = clip_metadata("002_03", None, None, None)
    assert meta["captions"][0] == "a person runs" and "not to resell" in meta["license"]
    assert clip_metadata("02_01", None, None, None)["captions"][0] == "a person walks"
    assert clip_metadata("003_01", ["x"], "MIT", None)["captions"] == ["x"]
    assert caption_from_name("Female1_jumpRope_take2") == ["a person jump rope"]
    assert caption_from_name("0042") == ["a person moves"]


# ---------------------------------------------------------------------- signal helpers
def test_lowpass_has_no_lag_and_speed_caps_hold():
    fps = 60.0
    t = np.arange(240) / fps
    x = np.sin(2 * np.pi * 1.0 * t)[:, None] + 0.05 * np.random.default_rng(0).normal(size=(240, 1))
    y = lowpass(x, fps, 4.0)
    peaks = lambda s: np.argmax(s[60:120, 0]) + 60  # noqa: E731
    assert abs(peaks(y) - peaks(np.sin(2 * np.pi * t)[:, None])) <= 1  # zero phase: no delay
    z = limit_velocity(np.r_[np.zeros(10), np.ones(10) * 5.0][:, None], 0.5)
    assert np.abs(np.diff(z, axis=0)).max() <= 0.5 + 1e-12
    clean = clean_runs(np.array([1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0], bool), min_on=2, min_off=2)
    assert clean.tolist() == [True] * 6 + [False] * 5
