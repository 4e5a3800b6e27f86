"""Physical quality report and the `motionfm data inspect` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionfm import Motion
from motionfm.cli import main
from motionfm.data import QualityThresholds, inspect_folder, inspect_motion
from motionfm.robot import load_g1


def _standing(seconds: float = 2.0, fps: float = 50.0) -> Motion:
    q = np.tile(load_g1().default_qpos, (int(seconds * fps) + 1, 1))
    return Motion.from_qpos(q, fps, name="stand")


def test_standing_pose_passes():
    r = inspect_motion(_standing())
    assert r["verdict"] == "pass", r["flags"]
    assert r["foot_penetration_cm"] < 2.0 and r["foot_skating_cm_s"] == pytest.approx(0, abs=1e-6)
    assert r["contact_fraction"] == 1.0 and r["joint_limit_violation_frames"] == 0


def test_each_fault_is_detected():
    base = _standing()
    q = base.qpos.copy()
    q[:, 2] -= 0.05  # sink 5 cm into the floor
    assert "foot penetration" in " ".join(inspect_motion(Motion.from_qpos(q, 50))["flags"])
    q = base.qpos.copy()
    q[:, 0] += np.arange(len(q)) * 0.5 / 50  # slide at 0.5 m/s with feet on the floor
    r = inspect_motion(Motion.from_qpos(q, 50))
    assert r["foot_skating_cm_s"] == pytest.approx(50, rel=0.02) and "foot skating" in " ".join(r["flags"])
    assert r["stance_foot_speed_cm_s"] == pytest.approx(50, rel=0.02) and r["root_speed_cm_s"] == pytest.approx(50, rel=0.02)
    q[:, 2] += 0.2  # the same slide 20 cm up: no contact, so no skating, but the lower foot still slides
    r = inspect_motion(Motion.from_qpos(q, 50))
    assert r["foot_skating_cm_s"] is None and r["stance_foot_speed_cm_s"] == pytest.approx(50, rel=0.02)
    q = base.qpos.copy()
    q[:, 2] += 0.2
    assert "floating" in " ".join(inspect_motion(Motion.from_qpos(q, 50))["flags"])
    q = base.qpos.copy()
    q[50, 7 + 3] = 2.5  # one-frame knee spike: a capture glitch
    r = inspect_motion(Motion.from_qpos(q, 50))
    assert r["max_joint_vel_rad_s"] > 30 and r["max_joint_vel_joint"] == "left_knee_joint"
    q[50, 7 + 3] = 3.3  # and beyond the knee's 2.88 rad limit
    r = inspect_motion(Motion.from_qpos(q, 50))
    assert r["joint_limit_violation_frames"] == 1 and r["worst_limit_joint"] == "left_knee_joint"
    assert inspect_motion(Motion.from_qpos(q, 50), thresholds=QualityThresholds(max_joint_vel_rad_s=1e3, limit_tolerance_rad=1.0))["flags"] == []


def test_a_real_walk_steps_on_its_stance_foot(data_dir, clip_rows):
    """In a recorded walk the supporting foot stays nearly put while the root travels."""
    row = clip_rows["asap/walk_level1"]
    r = inspect_motion(Motion.load(data_dir / row["file"], default_fps=row["fps"], limits="ignore"))
    assert r["root_speed_cm_s"] > 25 and r["stance_foot_speed_cm_s"] < 0.6 * r["root_speed_cm_s"], r


def test_folder_with_broken_csv_reports_the_rest(small_corpus, capsys):
    broken = small_corpus / "asap/broken.csv"
    broken.write_text("0.1,0.2,0.3\n0.1,0.2,0.3\n")
    (small_corpus / "g1moves/short.csv").write_text((small_corpus / "g1moves/B_HandsUp.csv").read_text().splitlines()[0] + "\n")
    code = main(["data", "inspect", str(small_corpus), "--json", "--fps", "30"])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 1
    by_file = {c["file"]: c for c in report["clips"]}
    assert set(by_file) == {"asap/Bolt_level1.csv", "asap/broken.csv", "g1moves/B_HandsUp.csv", "g1moves/M_ShortMove16.csv", "g1moves/short.csv"}
    assert by_file["asap/broken.csv"]["verdict"] == "error"
    assert str(broken) in by_file["asap/broken.csv"]["error"] and "3 columns, expected 36" in by_file["asap/broken.csv"]["error"]
    assert "at least 2 frames" in by_file["g1moves/short.csv"]["error"]
    assert str(broken) in out.err
    assert report["totals"]["errors"] == 2 and report["totals"]["clips"] == 5
    ok = by_file["g1moves/B_HandsUp.csv"]
    assert ok["fps"] == 60 and ok["verdict"] in ("pass", "flag") and ok["duration_s"] == pytest.approx(7.35, abs=0.02)


def test_inspect_whole_corpus_reports_every_clip(data_dir, clip_rows):
    report = inspect_folder(data_dir)
    assert report["totals"]["clips"] == len(clip_rows) == 102 and report["totals"]["errors"] == 0
    assert {c["id"] for c in report["clips"]} == set(clip_rows)
    assert report["totals"]["duration_s"] / 60 == pytest.approx(31.7, abs=0.2)
    for c in report["clips"]:
        assert c["frames"] == clip_rows[c["id"]]["frames"] and c["fps"] == clip_rows[c["id"]]["fps"]
        assert 0.3 < c["root_height_min_m"] <= c["root_height_max_m"] < 1.5


def test_inspect_text_table(small_corpus, capsys):
    assert main(["data", "inspect", str(small_corpus)]) == 0
    out = capsys.readouterr().out
    assert "asap/Bolt_level1" in out and "3 clips" in out
