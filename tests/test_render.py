"""motionfm.render: MP4/GIF videos of motions and rollouts (small: 64x48, 10 frames)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import imageio.v2 as iio2
import numpy as np
import pytest

from motionfm.cli import main
from motionfm.motion import Motion
from motionfm.render import (Extras, RenderError, load_rollout_arrays, render_frames, render_motion, render_rollout,
                             write_video)

W, H = 64, 48
SMALL = dict(width=W, height=H, shadows=False)


@pytest.fixture(scope="module")
def walk(data_dir: Path) -> Motion:
    """Ten frames (30 fps) of a walking clip."""
    return Motion.load(data_dir / "asap/walk_level1.csv", limits="ignore").slice(60, 70)


def read(path: Path) -> np.ndarray:
    """All frames ``(N, H, W, 3)`` of a video file."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)  # ffmpeg's fork+exec once JAX is loaded
        with iio2.get_reader(path) as r:
            return np.stack([np.asarray(f)[..., :3] for f in r])


def background(motion: Motion) -> np.ndarray:
    """The same shots with the robot sunk under the floor: the scene without it."""
    q = motion.qpos.copy()
    q[:, 2] -= 20.0
    _, frames = render_frames(q, motion.fps, **SMALL)
    return np.stack(list(frames))


def changed(a: np.ndarray, b: np.ndarray, tol: int = 40) -> float:
    """Fraction of pixels whose colour differs by more than ``tol`` (any channel)."""
    return float((np.abs(a.astype(int) - b.astype(int)).max(-1) > tol).mean())


def synthetic_rollout(motion: Motion, fell: bool = False) -> dict:
    ref = motion.qpos.copy()
    ref[:, 1] += 0.35  # the reference stands beside the robot and raises its arms
    ref[:, 7 + 15] = -1.5
    ref[:, 7 + 22] = -1.5
    return {"fps": motion.fps, "qpos": motion.qpos, "ref_qpos": ref, "fell": fell, "name": "walk"}


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_motion_video_decodes_to_the_frames_with_the_robot_visible(walk, tmp_path, suffix):
    out = render_motion(walk, tmp_path / f"walk{suffix}", **SMALL)
    assert out == tmp_path / f"walk{suffix}" and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left behind
    frames = read(out)
    assert frames.shape == (10, H, W, 3)
    bg = background(walk)
    for f, b in zip(frames, bg):
        assert 0.02 < changed(f, b) < 0.6  # the robot is in the picture, not the whole picture
    assert changed(frames[0], frames[-1], tol=25) > 0.002  # it moves


def test_video_fps_picks_frames(walk, tmp_path):
    assert read(render_motion(walk, tmp_path / "a.gif", fps=15, **SMALL)).shape[0] == 5  # 0.3 s at 15 fps
    n, _ = render_frames(walk.qpos, walk.fps, video_fps=60, **SMALL)
    assert n == 19
    n, _ = render_frames(walk.qpos, walk.fps, start=0.1, seconds=0.1, **SMALL)
    assert n == 4


def test_rollout_reference_overlay_and_side_layout(walk, tmp_path):
    plain = read(render_motion(walk, tmp_path / "m.mp4", **SMALL))
    overlay = read(render_rollout(synthetic_rollout(walk), tmp_path / "r.mp4", **SMALL))
    assert overlay.shape == plain.shape
    assert changed(overlay[5], plain[5]) > 0.01  # the ghost is drawn
    # a rollout file, side by side: robot on the left, reference on the right
    path = tmp_path / "rollout.npz"
    np.savez(path, **{k: np.asarray(v) for k, v in synthetic_rollout(walk, fell=True).items()})
    side = read(render_rollout(path, tmp_path / "s.mp4", layout="side", **SMALL))
    assert side.shape == plain.shape and changed(side[5], overlay[5]) > 0.01
    assert load_rollout_arrays(path)["fell"] is True


def test_obstacles_waypoints_and_joystick_change_the_image(walk, tmp_path):
    x, y = walk.qpos[5, :2]
    scene = tmp_path / "scene.json"
    scene.write_text(json.dumps({"boxes": [{"center": [x + 0.6, y - 0.6, 0.4], "half_size": [0.2, 0.2, 0.4]}]}))
    plain = read(render_motion(walk, tmp_path / "m.mp4", **SMALL))
    with_box = read(render_motion(walk, tmp_path / "b.mp4", obstacles=scene, **SMALL))
    assert changed(with_box[5], plain[5]) > 0.01
    wp = tmp_path / "wp.json"
    wp.write_text(json.dumps({"waypoints": [{"t": 1.0, "xy": [x + 0.5, y - 0.5]}]}))
    _, a = render_frames(walk.qpos, walk.fps, **SMALL)
    _, b = render_frames(walk.qpos, walk.fps, extras=Extras(), **SMALL)
    assert np.array_equal(next(a), next(b))
    from motionfm.render import load_extras

    _, c = render_frames(walk.qpos, walk.fps, extras=load_extras(None, wp, "1.0,0,0.5"), width=128, height=96)
    _, d = render_frames(walk.qpos, walk.fps, width=128, height=96)
    assert changed(next(c), next(d)) > 0.005


def test_bad_inputs_name_the_file_and_write_nothing(walk, tmp_path):
    out = tmp_path / "v" / "x.mp4"
    with pytest.raises(RenderError, match=r"x\.avi: the video must end in \.mp4 or \.gif"):
        render_motion(walk, tmp_path / "x.avi", **SMALL)
    with pytest.raises(RenderError, match="even width and height"):
        render_motion(walk, out, width=65, height=48)
    with pytest.raises(RenderError, match="start must be within the clip"):
        render_motion(walk, out, start=5.0, **SMALL)
    bad = tmp_path / "bad.npz"
    np.savez(bad, fps=50.0, qpos=np.zeros((4, 35)), ref_qpos=np.zeros((4, 35)))
    with pytest.raises(RenderError, match=r"bad\.npz: qpos must be \(T, 36\)"):
        render_rollout(bad, out, **SMALL)
    q = walk.qpos.copy()
    q[3, 0] = np.nan
    np.savez(bad, fps=30.0, qpos=q, ref_qpos=walk.qpos)
    with pytest.raises(RenderError, match=r"bad\.npz: qpos has non-finite values"):
        render_rollout(bad, out, **SMALL)
    np.savez(bad, fps=30.0, qpos=walk.qpos, ref_qpos=walk.qpos[:5])
    with pytest.raises(RenderError, match="differ in length"):
        render_rollout(bad, out, **SMALL)
    scene = tmp_path / "scene.json"
    scene.write_text('{"boxes": [}')
    with pytest.raises(ValueError, match=r"scene\.json: not valid JSON"):
        render_motion(walk, out, obstacles=scene, **SMALL)
    assert not out.parent.exists() or not any(out.parent.iterdir())

    def frames():  # an encoder input that fails half-way
        yield np.zeros((H, W, 3), np.uint8)
        raise RuntimeError("boom")

    out.parent.mkdir(exist_ok=True)
    with pytest.raises(RuntimeError, match="boom"):
        write_video(frames(), 2, out, 30.0)
    assert not any(out.parent.iterdir())  # neither the video nor its temporary file


def test_cli_render_writes_the_file_and_reports_bad_input(walk, tmp_path, capsys):
    clip = tmp_path / "walk.npz"
    walk.save(clip)
    out = tmp_path / "walk.gif"
    assert main(["render", str(clip), "--out", str(out), "--width", str(W), "--height", str(H), "--no-shadows"]) == 0
    assert read(out).shape == (10, H, W, 3)
    assert f"wrote {out}" in capsys.readouterr().out
    csv = tmp_path / "nofps.csv"
    walk.save(csv)  # a CSV with no clips.jsonl: the frame rate is unknown
    assert main(["render", str(csv), "--out", str(tmp_path / "c.mp4")]) == 2
    err = capsys.readouterr().err
    assert "nofps.csv" in err and "--motion-fps" in err
    assert main(["render", str(csv), "--out", str(tmp_path / "c.mp4"), "--motion-fps", "30", "--fps", "10",
                 "--width", str(W), "--height", str(H), "--no-shadows"]) == 0
    assert read(tmp_path / "c.mp4").shape == (4, H, W, 3)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    assert main(["render", str(garbage), "--out", str(tmp_path / "g.mp4")]) == 2
    assert "garbage.npz: not a readable .npz file" in capsys.readouterr().err
    assert not (tmp_path / "g.mp4").exists()


def test_cli_in_a_fresh_headless_process_is_quiet(walk, tmp_path):
    # mujoco is imported (by `import motionfm`) before MUJOCO_GL=egl is set: the renderer must still
    # get EGL; and neither ffmpeg, MJX (imported with the goals) nor the renderer print anything.
    clip = tmp_path / "walk.npz"
    walk.save(clip)
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "PYOPENGL_PLATFORM")}
    cmd = [sys.executable, "-m", "motionfm.cli", "render", str(clip), "--out", str(tmp_path / "q.mp4"),
           "--width", str(W), "--height", str(H), "--joystick", "0.5,0,0"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=str(Path(__file__).parents[1]))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr == ""
    assert res.stdout.startswith(f"wrote {tmp_path / 'q.mp4'}") and res.stdout.count("\n") == 1
