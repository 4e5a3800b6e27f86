"""Top-down pictures of guided motions: root paths with the obstacles, waypoints and keyframes they aimed at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from motionfm.guidance.costs import Cost, Keyframes, Obstacles, Waypoints
from motionfm.motion import Motion


def draw_goals(ax, costs: Sequence[Cost]) -> None:
    """Draw obstacles (ground footprints), waypoints and root/body keyframes of ``costs`` on a matplotlib axis."""
    from matplotlib import patches

    for c in costs:
        if isinstance(c, Obstacles):
            s = c.scene
            for x, y, z, r in np.asarray(s.spheres):
                ax.add_patch(patches.Circle((x, y), r, color="0.4", alpha=0.6))
            for x, y, r, _h in np.asarray(s.cylinders):
                ax.add_patch(patches.Circle((x, y), r, color="0.4", alpha=0.6))
            for x, y, _z, hx, hy, _hz, yaw in np.asarray(s.boxes):
                corner = np.array([x, y]) - np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]) @ [hx, hy]
                ax.add_patch(patches.Rectangle(corner, 2 * hx, 2 * hy, angle=np.degrees(yaw), color="0.4", alpha=0.6))
            for ax_, ay, _az, bx, by, _bz, r in np.asarray(s.capsules):
                ax.plot([ax_, bx], [ay, by], color="0.4", alpha=0.6, lw=2, solid_capstyle="round")
                ax.add_patch(patches.Circle((ax_, ay), r, color="0.4", alpha=0.6))
                ax.add_patch(patches.Circle((bx, by), r, color="0.4", alpha=0.6))
        elif isinstance(c, Waypoints):
            xy = np.asarray(c.xy)
            ax.scatter(xy[:, 0], xy[:, 1], marker="*", s=160, color="tab:red", zorder=5, label="waypoints")
            for t, (x, y) in zip(np.asarray(c.times), xy):
                ax.annotate(f"{t:g} s", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
        elif isinstance(c, Keyframes):
            m = np.asarray(c.root_mask)[:, :2].all(1)
            if m.any():
                p = np.asarray(c.root_pos)[m]
                ax.scatter(p[:, 0], p[:, 1], marker="x", s=80, color="tab:purple", zorder=5, label="root keyframes")


def plot_paths(
    motions: Sequence[Motion],
    path: str | os.PathLike,
    costs: Sequence[Cost] = (),
    labels: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Write a top-down PNG of the root paths of ``motions`` over the goals of ``costs``; returns the path."""
    from motionfm.viz import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    draw_goals(ax, costs)
    for i, m in enumerate(motions):
        p = m.root_pos[:, :2]
        ax.plot(p[:, 0], p[:, 1], lw=1.5, label=labels[i] if labels else None)
        ax.plot(*p[0], "o", color="k", ms=3)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if labels or any(isinstance(c, (Waypoints, Keyframes)) for c in costs):
        ax.legend(fontsize=8, loc="best")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
