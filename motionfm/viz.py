"""Pictures of motion: a summary figure (PNG) and a stick-figure animation (GIF), via matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from motionfm.motion import Motion
from motionfm.robot import FKResult, RobotModel, foot_points, load_g1


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _bones(fk_pos: np.ndarray, robot: RobotModel) -> list[tuple[np.ndarray, np.ndarray]]:
    """Line segments ``((T, 3), (T, 3))`` from each body to its parent."""
    return [(fk_pos[:, robot.parent_index[i]], fk_pos[:, i]) for i in range(len(robot.body_names)) if robot.parent_index[i] >= 0]


def plot_motion(
    motion: Motion, fk: FKResult, path: str | os.PathLike, robot: RobotModel | None = None, contact_height_cm: float = 2.5
) -> Path:
    """Write a summary figure: side-view filmstrip, root path from above, foot heights, joints.

    Args:
        motion: the clip.
        fk: its forward kinematics (numpy arrays, ``body_pos`` ``(T, 30, 3)``).
        path: output image (``.png``).
    """
    plt = _pyplot()
    robot = robot or load_g1()
    pos = np.asarray(fk.body_pos)
    soles = np.asarray(foot_points(FKResult(pos, np.asarray(fk.body_quat), np.asarray(fk.body_rot)), robot))
    t = np.arange(motion.num_frames) / motion.fps
    fig = plt.figure(figsize=(14, 9), constrained_layout=True)
    grid = fig.add_gridspec(3, 2, height_ratios=[1.3, 1, 1])
    fig.suptitle(f"{motion.name or 'motion'}: {motion.duration:.1f} s at {motion.fps:g} fps"
                 + (f" - \"{motion.captions[0]}\"" if motion.captions else ""))

    ax = fig.add_subplot(grid[0, :])  # filmstrip: side views, spread along x
    frames = np.linspace(0, motion.num_frames - 1, 8).astype(int)
    for k, f in enumerate(frames):
        shift = k * 1.0 - pos[f, 0, 0]
        for a, b in _bones(pos[f : f + 1], robot):
            ax.plot([a[0, 0] + shift, b[0, 0] + shift], [a[0, 2], b[0, 2]], color="tab:blue", lw=2)
        ax.scatter(soles[f, ..., 0].ravel() + shift, soles[f, ..., 2].ravel(), s=4, color="k")
        ax.text(k * 1.0, -0.12, f"{t[f]:.1f}s", ha="center", fontsize=8)
    ax.axhline(0, color="gray", lw=1)
    ax.set_aspect("equal")
    ax.set_ylim(-0.2, 1.6)
    ax.set_yticks([0, 0.5, 1.0, 1.5])
    ax.set_xticks([])
    ax.set_title("side view (x-z), 8 frames")

    ax = fig.add_subplot(grid[1:, 0])  # root path from above, with heading arrows
    ax.plot(pos[:, 0, 0], pos[:, 0, 1], color="tab:blue", lw=1.5, label="pelvis")
    for s, c in ((0, "tab:green"), (1, "tab:red")):
        ax.plot(soles[:, s, :, 0].mean(-1), soles[:, s, :, 1].mean(-1), color=c, lw=0.8, alpha=0.7,
                label="left foot" if s == 0 else "right foot")
    yaw = motion.heading()
    step = max(1, motion.num_frames // 12)
    ax.quiver(pos[::step, 0, 0], pos[::step, 0, 1], np.cos(yaw[::step]), np.sin(yaw[::step]), width=0.004, color="k")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(fontsize=8)
    ax.set_title("top view: root path and heading")

    ax = fig.add_subplot(grid[1, 1])
    low = soles[..., 2].min(-1) * 100
    ax.plot(t, low[:, 0], color="tab:green", label="left foot")
    ax.plot(t, low[:, 1], color="tab:red", label="right foot")
    ax.axhline(contact_height_cm, color="gray", ls="--", lw=0.8, label="contact threshold")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("lowest sole point (cm)")
    ax.legend(fontsize=8)
    ax.set_title("foot heights")

    ax = fig.add_subplot(grid[2, 1])
    im = ax.imshow(motion.joint_pos.T, aspect="auto", cmap="coolwarm", vmin=-2, vmax=2,
                   extent=[0, t[-1], motion.joint_pos.shape[1] - 0.5, -0.5])
    ax.set_yticks([0, 6, 12, 15, 22], ["L leg", "R leg", "waist", "L arm", "R arm"], fontsize=8)
    ax.set_xlabel("time (s)")
    fig.colorbar(im, ax=ax, label="joint angle (rad)")
    ax.set_title("joint angles")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def animate_motion(
    motion: Motion, fk: FKResult, path: str | os.PathLike, robot: RobotModel | None = None, fps: float = 15.0,
    max_seconds: float = 10.0,
) -> Path:
    """Write a 3-D stick-figure animation (``.gif``) following the robot, at most ``max_seconds`` long."""
    plt = _pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    robot = robot or load_g1()
    pos = np.asarray(fk.body_pos)
    n = min(motion.num_frames, int(max_seconds * motion.fps) + 1)
    frames = np.arange(0, n, max(1, round(motion.fps / fps)))
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="3d")
    lines = [ax.plot([], [], [], color="tab:blue", lw=2)[0] for _ in _bones(pos[:1], robot)]
    trail = ax.plot([], [], [], color="gray", lw=0.8)[0]

    def draw(f: int):
        c = pos[f, 0]
        for line, (a, b) in zip(lines, _bones(pos[f : f + 1], robot)):
            line.set_data_3d([a[0, 0], b[0, 0]], [a[0, 1], b[0, 1]], [a[0, 2], b[0, 2]])
        trail.set_data_3d(pos[: f + 1, 0, 0], pos[: f + 1, 0, 1], np.zeros(f + 1))
        ax.set_xlim(c[0] - 0.8, c[0] + 0.8)
        ax.set_ylim(c[1] - 0.8, c[1] + 0.8)
        ax.set_zlim(0, 1.6)
        ax.set_title(f"{motion.name}  t = {f / motion.fps:.2f} s", fontsize=9)
        return lines

    ax.set_box_aspect((1, 1, 1))
    anim = FuncAnimation(fig, draw, frames=frames, blit=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return path
