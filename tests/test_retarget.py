"""Tests of motionfm.retarget: BVH reading, skeleton maps, retargeting and its physical clean-up.

Synthetic data (a procedural SMPL-joint walker) keeps most tests independent of the shared corpus;
the tests on real clips (CMU iClone excerpt, Bandai-Namco and cgspeed CMU ``.bvh.gz``) run when
``shared/data`` is beside the checkout, and read a few short clips from it in place.
"""

from __future__ import annotations

import argparse
import gzip
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
SHARED = Path(__file__).resolve().parents[2] / "shared/data"
CMU_DIR = Path(os.environ.get("MOTIONFM_CMU_BVH", SHARED / "cmu-locomotion-bvh"))
BANDAI_DIR = Path(os.environ.get("MOTIONFM_BANDAI_BVH", SHARED / "bandai-namco-bvh"))
CGSPEED_DIR = Path(os.environ.get("MOTIONFM_CMU_MOCAP_BVH", SHARED / "cmu-mocap-bvh"))
needs_bandai = pytest.mark.skipif(not BANDAI_DIR.is_dir(), reason="shared Bandai-Namco BVH clips not present")
needs_cgspeed = pytest.mark.skipif(not CGSPEED_DIR.is_dir(), reason="shared cgspeed CMU BVH clips not present")
BANDAI_BOW = "dataset-1/dataset-1_bow_active_001.bvh.gz"  # 128 frames, standing, bowing
BANDAI_WALK = "dataset-1/dataset-1_walk_normal_001.bvh.gz"  # 195 frames
CGSPEED_WALK = "08/08_05.bvh.gz"  # 298 frames at 120 fps, walk/stride
CGSPEED_STAND = "06/06_07.bvh.gz"  # basketball dribble that stands still for its first second
CGSPEED_DUPLICATE = "02/02_01.bvh.gz"  # also in cmu-locomotion-bvh


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
    rc = run_cli("retarget", str(src), "--out", str(out), "--map", "smpl", "--units-to-m", "0.01", "--license", "CC0", "--workers", "1")
    err = capsys.readouterr().err
    assert rc == 1 and "broken.bvh" in err  # the broken file is named, the good one still written
    rows = [json.loads(line) for line in (out / "clips.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == ["walk_slow.csv"]
    row = rows[0]
    # SMPL-22 has no fingers: the wrists are not the human's, so they are zero-filled and masked.
    assert row["fps"] == 30 and row["dof"] == 23 and row["license"] == "CC0"
    assert row["missing_dofs"] == [f"{s}_wrist_{a}_joint" for s in ("left", "right") for a in ("roll", "pitch", "yaw")]
    assert row["captions"] == ["a person walk slow"] and row["retarget"]["quality"]["foot_penetration_cm"] < 1.0
    m = Motion.load(out / "walk_slow.csv")  # fps, captions and the mask come from clips.jsonl
    assert m.fps == 30.0 and m.num_frames == row["frames"] and m.captions == ("a person walk slow",)
    assert m.joint_mask.sum() == 23 and not m.joint_pos[:, ~m.joint_mask].any()
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [(r["file"], r["stage"]) for r in rejected] == [("broken.csv", "error")] and "broken.bvh" in rejected[0]["reason"]
    assert run_cli("retarget", str(src), "--out", str(out), "--map", "nope") == 2
    assert "unknown skeleton map 'nope'" in capsys.readouterr().err


def test_clip_metadata_for_cmu_names():
    meta = clip_metadata("002_03", None, None, None)
    assert meta["captions"][0] == "a person runs" and "not to resell" in meta["license"]
    assert clip_metadata("02_01", None, None, None)["captions"][0] == "a person walks"
    assert clip_metadata("003_01", ["x"], "MIT", None)["captions"] == ["x"]
    assert caption_from_name("Female1_jumpRope_take2") == ["a person jump rope"]
    assert caption_from_name("0042") == ["a person moves"]


# ---------------------------------------------------------------------- .bvh.gz corpora
def link_corpus(tmp_path: Path, corpus: Path, files: list[str], extra: dict[str, str] | None = None) -> Path:
    """A folder holding symlinks to a few of ``corpus``'s clips and their ``clips.jsonl`` rows (the
    corpus is read in place, never copied), plus ``extra`` files given as ``{name: text}``."""
    rows = {r["file"]: r for r in map(json.loads, (corpus / "clips.jsonl").read_text().splitlines())}
    root = tmp_path / corpus.name
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).symlink_to(corpus / f)
    (root / "clips.jsonl").write_text("".join(json.dumps(rows[f]) + "\n" for f in files))
    for name, text in (extra or {}).items():
        (root / name).write_bytes(text.encode() if isinstance(text, str) else text)
    return root


def six_channel_bvh(frames: int = 3) -> str:
    """Two joints, both with 6 channels whose positions hold the whole local translation (as the
    Bandai-Namco files do): the child's channels repeat its OFFSET, the root's are absolute."""
    rows = [f"{5 * f} 90 0 0 0 0 0 -40 0 0 0 0" for f in range(frames)]
    return (
        "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 90 -450\n"
        "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        "  JOINT Knee\n  {\n    OFFSET 0 -40 0\n"
        "    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        "    End Site\n    {\n      OFFSET 0 -40 0\n    }\n  }\n}\n"
        f"MOTION\nFrames:\t{frames}\nFrame Time:\t0.0333333\n" + "\n".join(rows) + "\n"
    )


def test_gz_and_six_channel_reading(tmp_path):
    text = six_channel_bvh()
    plain = tmp_path / "six.bvh"
    plain.write_text(text)
    packed = tmp_path / "six.bvh.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    a, b = read_bvh(plain), read_bvh(packed)
    assert b.channels == a.channels and len(b.channels[1]) == 6 and b.fps == 30.0
    np.testing.assert_array_equal(a.motion, b.motion)
    pos, _ = b.global_transforms("replace")  # channels are the translation: knee 40 below the hips
    np.testing.assert_allclose(pos[2], [[10, 90, 0], [10, 50, 0]], atol=1e-9)
    pos, _ = b.global_transforms("add")  # OFFSET + channels: every bone counted twice
    np.testing.assert_allclose(pos[2], [[10, 180, -450], [10, 100, -450]], atol=1e-9)
    with pytest.raises(ValueError, match="position_channels"):
        b.global_transforms("sum")


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("cut.bvh.gz", gzip.compress(six_channel_bvh(40).encode())[:200], "corrupt or truncated gzip data"),
        ("plain.bvh.gz", six_channel_bvh().encode(), "named .gz but not gzip-compressed"),
        ("short.bvh.gz", gzip.compress(six_channel_bvh().replace("0 -40 0 0 0 0\n", "0 -40 0\n", 1).encode()),
         "line 19: 9 values, expected 12"),
        ("binary.bvh", b"\xff\xfe\x00HIERARCHY", "not a text file"),
    ],
)
def test_malformed_gz_names_file_and_fault(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(BvhError) as e:
        read_bvh(path)
    assert str(path) in str(e.value) and message in str(e.value)


@needs_bandai
@needs_cgspeed
def test_map_detection_for_both_rigs():
    bandai = read_bvh(BANDAI_DIR / BANDAI_BOW)
    assert len(bandai.names) == 22 and all(len(c) == 6 for c in bandai.channels) and bandai.fps == 30.0
    assert detect_map(bandai.names).name == "bandai_namco" and get_map("bandai").position_channels == "replace"
    cgspeed = read_bvh(CGSPEED_DIR / CGSPEED_WALK)
    assert len(cgspeed.names) == 31 and cgspeed.fps == 120.0
    assert detect_map(cgspeed.names).name == "cmu_cgspeed" and get_map("cgspeed").position_channels == "add"
    kp = keypoints_from_bvh(bandai)
    assert kp.name == "dataset-1_bow_active_001" and not kp.has("left_index")  # no fingers in this rig
    # "replace" is what makes the skeleton human: ankles near the floor, hips ~0.9 m above them.
    for k, (lo, hi) in {"pelvis": (0.85, 1.0), "left_ankle": (0.05, 0.2), "neck": (1.25, 1.5)}.items():
        assert lo < np.median(kp[k][:, 2]) < hi, k


def standing_g1(path: Path, frames: int):
    kp = keypoints_from_bvh(read_bvh(path))
    return retarget_keypoints(type(kp)(kp.fps, kp.positions[:frames], name=kp.name))


@needs_bandai
@needs_cgspeed
def test_leg_length_scale_gives_a_g1_pelvis_height():
    # The first second of a bow (Bandai, cm) and half a second of standing (cgspeed, 1/0.45 inch):
    # the root is scaled by G1 leg / human leg, so the G1 stands at its own pelvis height either way.
    for path, frames, leg in ((BANDAI_DIR / BANDAI_BOW, 30, 0.80), (CGSPEED_DIR / CGSPEED_STAND, 60, 0.87)):
        res = standing_g1(path, frames)
        assert res.info["human_leg_m"] == pytest.approx(leg, abs=0.04), path
        assert res.scale == pytest.approx(0.624 / res.info["human_leg_m"], rel=0.03)
        assert 0.74 < np.median(res.motion.root_pos[:, 2]) < 0.81, path
        assert res.missing_dofs and not res.motion.joint_limit_violations(1e-6).any()


def run_quiet(capsys, *argv: str) -> tuple[int, str, str]:
    rc = run_cli(*argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@needs_bandai
@needs_cgspeed
def test_cli_carries_metadata_skips_duplicates_and_rejects(tmp_path, capsys):
    bandai = link_corpus(tmp_path, BANDAI_DIR, [BANDAI_BOW])
    giant = tmp_path / "giant.bvh"  # SMPL names in cm read as metres: an 84 m leg, not a person
    write_star_bvh(giant, smpl_walker(1.0), SMPL22, 30.0)
    cmu = link_corpus(tmp_path, CGSPEED_DIR, [CGSPEED_WALK, CGSPEED_DUPLICATE],
                      {"08/giant.bvh": giant.read_text(), "08/bad.bvh.gz": b"\x1f\x8b\x08 not really"})
    out_b, out_c = tmp_path / "bandai_g1", tmp_path / "cmu_g1"
    assert run_quiet(capsys, "retarget", str(bandai), "--out", str(out_b), "--workers", "1")[0] == 0
    (row,) = map(json.loads, (out_b / "clips.jsonl").read_text().splitlines())
    assert row["file"] == "dataset-1/dataset-1_bow_active_001.csv" and (out_b / row["file"]).is_file()
    assert row["license"] == "CC-BY-NC-4.0" and row["source"].startswith("BandaiNamcoResearchInc")
    assert (row["category"], row["content"], row["style"]) == ("bow", "bow", "active")
    assert row["captions"][0] == "an energetic person bows" and row["fps"] == 30 and row["dof"] == 23
    assert Motion.load(out_b / row["file"]).captions[0] == "an energetic person bows"

    rc, text, err = run_quiet(capsys, "retarget", str(cmu), "--out", str(out_c), "--workers", "1")
    assert rc == 1 and "bad.bvh.gz" in err and "gzip" in err  # the broken file named, the others done
    rows = [json.loads(line) for line in (out_c / "clips.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == ["08/08_05.csv"]  # 02_01 is a duplicate, giant is rejected
    assert rows[0]["description"] == "walk/stride" and "not to resell" in rows[0]["license"]
    assert rows[0]["fps"] == 120 and rows[0]["captions"] and rows[0]["category"] == "mocap"
    rejected = {r["file"]: r for r in map(json.loads, (out_c / "rejected.jsonl").read_text().splitlines())}
    assert rejected["08/giant.csv"]["stage"] == "quality" and "not a person's" in rejected["08/giant.csv"]["reason"]
    assert rejected["08/bad.csv"]["stage"] == "error" and set(rejected) == {"08/giant.csv", "08/bad.csv"}
    assert not (out_c / "08/giant.csv").exists() and not (out_c / "02").exists()
    summary = text.strip().splitlines()[-1]
    assert "1/3 clips retargeted" in summary and "1 rejected by the quality check, 1 errors" in summary
    assert "1 duplicates skipped" in summary


@needs_bandai
def test_resume_skips_done_clips_with_a_process_pool(tmp_path, capsys):
    src = link_corpus(tmp_path, BANDAI_DIR, [BANDAI_BOW, BANDAI_WALK])
    out = tmp_path / "g1"
    rc, text, _ = run_quiet(capsys, "retarget", str(src), "--out", str(out), "--workers", "2")
    assert rc == 0 and "2/2 clips retargeted" in text and "with 2 worker(s)" in text
    index = (out / "clips.jsonl").read_text()
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")}
    rc, text, _ = run_quiet(capsys, "retarget", str(src), "--out", str(out))
    assert rc == 0 and "0 to retarget" in text and "2 done before" in text
    assert (out / "clips.jsonl").read_text() == index and stamp == {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")}
    (out / "dataset-1/dataset-1_bow_active_001.csv").unlink()  # a lost CSV is retargeted again, alone
    rc, text, _ = run_quiet(capsys, "retarget", str(src), "--out", str(out), "--workers", "1")
    assert "1 to retarget" in text and "1 done before" in text and (out / "clips.jsonl").read_text() == index
    assert not list(out.rglob(".*"))  # no temporary files left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "clips.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


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
