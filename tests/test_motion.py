"""Motion: loading the Unitree CSV and npz layouts, bad input, resampling, mirroring, heading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionfm import JointLimitWarning, Motion, MotionFileError
from motionfm.robot import G1_JOINT_NAMES, fk_mujoco, load_g1

WRISTS = [n for n in G1_JOINT_NAMES if "wrist" in n]


def test_load_csv_with_clips_jsonl(data_dir, clip_rows):
    m = Motion.load(data_dir / "asap/Bolt_level1.csv")
    row = clip_rows["asap/Bolt_level1"]
    assert m.fps == row["fps"] == 30
    assert m.num_frames == row["frames"]
    assert m.captions == tuple(row["captions"])
    assert m.name == "asap/Bolt_level1"
    assert [n for n, ok in zip(G1_JOINT_NAMES, m.joint_mask) if not ok] == WRISTS
    raw = np.loadtxt(data_dir / "asap/Bolt_level1.csv", delimiter=",")
    np.testing.assert_allclose(m.root_quat, raw[:, [6, 3, 4, 5]] / np.linalg.norm(raw[:, 3:7], axis=1, keepdims=True) * np.sign(m.root_quat[:, :1] * raw[:, [6]]), atol=1e-9)
    np.testing.assert_array_equal(m.joint_pos, raw[:, 7:])
    assert Motion.load(data_dir / "g1moves/B_HandsUp.csv").joint_mask.all()


def test_csv_and_npz_round_trip(tmp_path, data_dir):
    m = Motion.load(data_dir / "asap/Bolt_level1.csv")
    m.save(tmp_path / "a.npz")
    back = Motion.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.qpos, m.qpos)
    np.testing.assert_array_equal(back.joint_mask, m.joint_mask)
    assert back.fps == m.fps and back.captions == m.captions
    m.save(tmp_path / "a.csv")
    csv = Motion.load(tmp_path / "a.csv", fps=30)
    np.testing.assert_allclose(csv.qpos, m.qpos, atol=2e-6)
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_beyondmimic_npz_and_joint_reordering(tmp_path, data_dir):
    m = Motion.load(data_dir / "g1moves/B_HandsUp.csv")
    fk = fk_mujoco(m.qpos)
    np.savez(tmp_path / "bm.npz", fps=np.array([60]), joint_pos=m.joint_pos, body_pos_w=fk.body_pos, body_quat_w=fk.body_quat)
    bm = Motion.load(tmp_path / "bm.npz")
    np.testing.assert_allclose(bm.qpos, m.qpos, atol=1e-6)
    order = np.random.default_rng(0).permutation(29)
    np.savez(tmp_path / "shuffled.npz", fps=60.0, root_pos=m.root_pos, root_quat=m.root_quat,
             joint_pos=m.joint_pos[:, order], joint_names=np.array(G1_JOINT_NAMES)[order])
    np.testing.assert_array_equal(Motion.load(tmp_path / "shuffled.npz").joint_pos, m.joint_pos)


def _csv(path: Path, rows: np.ndarray) -> Path:
    np.savetxt(path, rows, delimiter=",", fmt="%.6f")
    return path


def _good_rows(n: int = 10) -> np.ndarray:
    rows = np.zeros((n, 36))
    rows[:, 2] = 0.78
    rows[:, 6] = 1.0  # identity quaternion, xyzw
    return rows


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r[:, :35], "wrong column count at line 1: 35 columns, expected 36"),
        (lambda r: r.__setitem__((3, 9), np.nan) or r, "NaN or inf joint angle at frame 3 (column 9)"),
        (lambda r: r.__setitem__((2, 0), np.inf) or r, "NaN or inf root position at frame 2"),
        (lambda r: r.__setitem__((4, slice(3, 7)), 0.0) or r, "zero root quaternion at frame 4"),
        (lambda r: r.__setitem__((5, 6), 1.5) or r, "non-unit root quaternion at frame 5 (norm 1.5000"),
        (lambda r: r[:1], "at least 2 frames, got 1"),
    ],
)
def test_bad_csv_errors_name_file_and_fault(tmp_path, mutate, message):
    path = _csv(tmp_path / "bad.csv", mutate(_good_rows()))
    with pytest.raises(MotionFileError) as e:
        Motion.load(path, fps=30)
    assert str(path) in str(e.value) and message in str(e.value)


def test_bad_input_other_faults(tmp_path):
    good = _csv(tmp_path / "good.csv", _good_rows())
    with pytest.raises(MotionFileError, match="unknown fps"):
        Motion.load(good)
    (tmp_path / "text.csv").write_text("0," * 35 + "abc\n")
    with pytest.raises(MotionFileError, match=r"non-numeric value 'abc' at line 1, column 36"):
        Motion.load(tmp_path / "text.csv", fps=30)
    (tmp_path / "clips.jsonl").write_text(json.dumps({"file": "good.csv", "fps": 60, "missing_dofs": ["left_pinky_joint"]}) + "\n")
    with pytest.raises(MotionFileError, match="fps mismatch: fps=30 was given but clips.jsonl says 60"):
        Motion.load(good, fps=30)
    with pytest.raises(MotionFileError, match="unknown joint 'left_pinky_joint'"):
        Motion.load(good)
    np.savez(tmp_path / "names.npz", fps=30.0, root_pos=np.zeros((3, 3)), root_quat=np.tile([1.0, 0, 0, 0], (3, 1)),
             joint_pos=np.zeros((3, 29)), joint_names=np.array(["left_elbow"] + list(G1_JOINT_NAMES[1:])))
    with pytest.raises(MotionFileError, match="names.npz: unknown joint 'left_elbow'"):
        Motion.load(tmp_path / "names.npz")
    with pytest.raises(MotionFileError, match="no such file"):
        Motion.load(tmp_path / "absent.csv", fps=30)


def test_joint_limit_policy(tmp_path):
    rows = _good_rows()
    rows[4, 7 + G1_JOINT_NAMES.index("left_knee_joint")] = 3.2  # limit 2.88
    path = _csv(tmp_path / "knee.csv", rows)
    with pytest.warns(JointLimitWarning, match="left_knee_joint = 3.200 at frame 4"):
        Motion.load(path, fps=30)
    with pytest.raises(MotionFileError, match="outside the G1's limits"):
        Motion.load(path, fps=30, limits="error")
    Motion.load(path, fps=30, limits="ignore")
    Motion.load(path, fps=30, limits="error", limit_tolerance=0.5)


def test_save_never_leaves_partial_file(tmp_path, data_dir, monkeypatch):
    m = Motion.load(data_dir / "asap/Bolt_level1.csv")
    target = tmp_path / "out.npz"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        m.save(target)
    assert list(tmp_path.iterdir()) == []


def test_mirror_twice_is_identity_and_mirrors_bodies(data_dir):
    m = Motion.load(data_dir / "g1moves/B_ForwardKarate.csv").slice(0, 300)
    mm = m.mirror().mirror()
    np.testing.assert_array_equal(mm.qpos, m.qpos)
    # The mirrored motion's left bodies are the reflections of the original's right bodies.
    robot = load_g1()
    names = robot.body_names
    twin = [names.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")) for n in names]
    a, b = fk_mujoco(m.qpos).body_pos, fk_mujoco(m.mirror().qpos).body_pos
    np.testing.assert_allclose(b, a[:, twin] * np.array([1, -1, 1]), atol=2e-3)  # model symmetric to ~mm


def test_mirror_signs_follow_joint_axes():
    robot = load_g1()
    for i, name in enumerate(G1_JOINT_NAMES):
        assert G1_JOINT_NAMES[robot.mirror_perm[i]] == name.replace("left", "@").replace("right", "left").replace("@", "right")
        assert robot.mirror_sign[i] == (1 if ("pitch" in name or "knee" in name or "elbow" in name) else -1), name


def test_resample_round_trip_60_30_60(data_dir):
    m = Motion.load(data_dir / "g1moves/B_HandsUp.csv")
    half = m.resample(30)
    assert half.fps == 30 and half.num_frames == (m.num_frames - 1) // 2 + 1
    np.testing.assert_array_equal(half.joint_pos, m.joint_pos[::2])  # 30 fps lands on every other frame
    back = half.resample(60)
    n = back.num_frames
    assert n in (m.num_frames, m.num_frames - 1)
    assert np.abs(back.joint_pos - m.joint_pos[:n]).mean() < 2e-3  # rad
    assert np.linalg.norm(back.root_pos - m.root_pos[:n], axis=1).mean() < 1e-3  # m
    dot = np.abs(np.sum(back.root_quat * m.root_quat[:n], axis=1))
    assert np.degrees(2 * np.arccos(np.clip(dot, 0, 1))).mean() < 0.2
    np.testing.assert_allclose(np.linalg.norm(back.root_quat, axis=1), 1, atol=1e-9)


def test_canonicalize_and_velocities(data_dir):
    m = Motion.load(data_dir / "g1moves/B_ForwardKarate.csv").slice(100, 400)
    c = m.canonicalize()
    assert abs(c.heading()[0]) < 1e-9 and np.allclose(c.root_pos[0, :2], 0) and c.root_pos[0, 2] == m.root_pos[0, 2]
    # heading changes and speeds are invariant to the canonicalising rotation
    np.testing.assert_allclose(np.diff(np.unwrap(c.heading())), np.diff(np.unwrap(m.heading())), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(c.root_lin_vel(), axis=1), np.linalg.norm(m.root_lin_vel(), axis=1), atol=1e-9)
    np.testing.assert_allclose(c.root_ang_vel("body"), m.root_ang_vel("body"), atol=1e-9)
    # angular velocity integrates back to the rotation: yaw rate matches the heading's derivative
    yaw_rate = np.gradient(np.unwrap(m.heading()), 1 / m.fps)
    w = m.root_ang_vel("world")
    assert np.corrcoef(yaw_rate[1:-1], w[1:-1, 2])[0, 1] > 0.95
    assert m.joint_vel().shape == (300, 29)


def test_constructor_validates():
    with pytest.raises(ValueError, match="joint positions must be"):
        Motion(30, np.zeros((5, 3)), np.tile([1.0, 0, 0, 0], (5, 1)), np.zeros((5, 28)))


def test_default_fps_only_fills_in(tmp_path):
    path = _csv(tmp_path / "plain.csv", _good_rows())
    assert Motion.load(path, default_fps=50).fps == 50
    np.savez(tmp_path / "stored.npz", fps=30.0, qpos=np.c_[_good_rows()[:, :3], np.tile([1.0, 0, 0, 0], (10, 1)), np.zeros((10, 29))])
    assert Motion.load(tmp_path / "stored.npz", default_fps=50).fps == 30
