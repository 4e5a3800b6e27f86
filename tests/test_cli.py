"""The `motionfm` command: the main job end to end, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from motionfm.cli import main


@pytest.mark.slow
def test_demo_writes_viewable_results(tmp_path, data_dir, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--clip", str(data_dir / "asap/Bolt_level1.csv"), "--out", str(out), "--gif-seconds", "1"]) == 0
    stem = "asap_Bolt_level1"
    png, gif = Image.open(out / f"{stem}.png"), Image.open(out / f"{stem}.gif")
    assert png.size[0] > 800 and np.asarray(png.convert("L")).std() > 10  # a real picture, not a blank page
    assert gif.n_frames >= 10
    kin = np.load(out / f"{stem}_kinematics.npz")
    assert kin["body_pos"].shape == (131, 30, 3) and kin["qpos"].shape == (131, 36)
    report = json.loads((out / f"{stem}_report.json").read_text())
    assert report["fk_max_abs_err_m"] < 1e-5 and report["verdict"] in ("pass", "flag")
    assert "wrote:" in capsys.readouterr().out
    # ... and executed by the shipped tracker in plain MuJoCo: a rollout anyone can re-check.
    from motionfm.tracker.rollout import load_rollout, rollout_metrics

    roll = load_rollout(out / f"{stem}_rollout.npz")
    assert roll["qpos"].shape[1] == 36 and roll["ref_qpos"].shape == roll["qpos"].shape
    assert 1 < report["tracking"]["frames"] <= report["tracking"]["clip_frames"]
    assert abs(rollout_metrics(roll)["mpbpe_cm"] - report["tracking"]["mpbpe_cm"]) < 1e-6
    assert Image.open(out / f"{stem}_tracked.png").size[0] > 800


def test_bad_clip_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    assert main(["demo", "--clip", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "wrong column count" in err
    assert not (tmp_path / "o").exists()


def test_cli_is_quiet_on_compilation_cache_hits(tmp_path):
    # The second call loads its programs from the persistent cache: XLA:CPU logs a false "machine
    # type doesn't match ... SIGILL" on every hit (openxla/xla#44565) and MJX prints "Failed to import
    # warp" on import; a user sees neither, only our two lines, and stdout is ours alone.
    env = {**os.environ, "MOTIONFM_JAX_CACHE": str(tmp_path / "cache")}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    cmd = [sys.executable, "-m", "motionfm.cli", "sample", "--text", "a person waves", "--seconds", "1",
           "--steps", "2", "--out", str(tmp_path / "s.npz")]
    for _ in range(2):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=str(Path(__file__).parents[1]))
        assert res.returncode == 0, res.stderr[-3000:]
    assert any((tmp_path / "cache").rglob("*")), "nothing was cached: the second call tested no cache hit"
    assert res.stderr == "", res.stderr[-3000:]
    assert res.stdout.splitlines()[-1] == f"wrote {tmp_path / 's.npz'}" and len(res.stdout.splitlines()) == 2
