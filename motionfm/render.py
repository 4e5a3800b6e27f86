"""Videos of G1 motion: Menagerie's meshes through MuJoCo's offscreen renderer, to MP4 or GIF.

:func:`render_motion` films a motion clip; :func:`render_rollout` films a tracker rollout (the
simulated robot, with the reference it tracked drawn as a translucent blue ghost, overlaid on it or
in a panel beside it); :func:`render_file` reads either kind of file and films it (the ``motionfm
render`` command). Guidance goals can be drawn into the scene: obstacles, waypoints and a joystick
command (the formats of :mod:`motionfm.guidance.files`).

The camera follows the pelvis in the ground plane (smoothed over half a second so the gait's sway
does not shake the picture) at a fixed height, distance and azimuth (:class:`Camera`). Video frames
are picked from the motion's frames at the video's rate (no interpolation). Files are encoded by
imageio: MP4 (H.264, yuv420p) with the ffmpeg binary of ``imageio-ffmpeg``, GIF with Pillow; they
are written to a temporary file in the same folder and moved into place, so a failed render never
leaves a half-written file.

Rendering needs an OpenGL context; without a display MuJoCo's EGL backend (Mesa's software
renderer works) is used: ``MUJOCO_GL`` is set to ``egl`` when it is unset.
"""

from __future__ import annotations

import os

if not os.environ.get("MUJOCO_GL"):
    os.environ["MUJOCO_GL"] = "egl"  # headless; must precede MuJoCo's import (see _gl_backend)

import contextlib
import copy
import dataclasses
import functools
import importlib
import io
import math
import secrets
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import mujoco
import numpy as np

from motionfm.motion import Motion
from motionfm.robot import QPOS_DIM, RobotModel, load_g1

Layout = Literal["overlay", "side"]
VIDEO_SUFFIXES = (".mp4", ".gif")
GHOST_RGBA = (0.25, 0.55, 1.0, 0.3)
"""Colour of the reference robot in a rollout video (translucent blue)."""
OBSTACLE_RGBA = (0.95, 0.45, 0.15, 0.55)
WAYPOINT_RGBA = (0.2, 0.85, 0.3, 0.9)
WAYPOINT_DONE_RGBA = (0.2, 0.85, 0.3, 0.3)
JOYSTICK_RGBA = (1.0, 0.85, 0.1, 1.0)
MAX_SIZE = 4096


class RenderError(ValueError):
    """An input or setting that can't be rendered; the message names the file and the fault."""


@dataclasses.dataclass(frozen=True)
class Camera:
    """The following camera.

    Attributes:
        distance: from the look-at point (m).
        azimuth: horizontal viewing angle (deg, MuJoCo's convention; 90 looks along +y).
        elevation: vertical viewing angle (deg, negative looks down).
        height: height of the look-at point (m); fixed, the camera does not bob with the pelvis.
        smoothing: the look-at point follows a moving average of the pelvis xy over this many
            seconds (0: follow it exactly).
    """

    distance: float = 3.2
    azimuth: float = 140.0
    elevation: float = -15.0
    height: float = 0.7
    smoothing: float = 0.5


@dataclasses.dataclass(frozen=True)
class Extras:
    """Guidance goals drawn into the scene (any may be ``None``).

    Attributes:
        obstacles: a :class:`~motionfm.guidance.Obstacles` (drawn translucent orange).
        waypoints: a :class:`~motionfm.guidance.Waypoints` (green discs with poles, faded once
            their time has passed).
        joystick: a :class:`~motionfm.guidance.Joystick`: a yellow arrow at the robot's feet of
            the commanded planar velocity in its heading frame (1 m of arrow per m/s) and, for a
            yaw-rate command, an arc of the turn it asks for in one second.
    """

    obstacles: Any = None
    waypoints: Any = None
    joystick: Any = None


# ---------------------------------------------------------------------------------- setup
def _gl_backend() -> None:
    """Make MuJoCo's renderer use ``MUJOCO_GL`` as set above.

    MuJoCo picks its OpenGL backend when it is imported, and ``import motionfm`` imports MuJoCo, so
    this module's ``MUJOCO_GL=egl`` usually comes too late: MuJoCo then holds GLFW, which needs a
    display. When MuJoCo saw no ``MUJOCO_GL`` at import, its GL-context module is loaded again so
    that it reads the variable now.
    """
    gl = importlib.import_module(mujoco.Renderer.__module__).gl_context
    if getattr(gl, "_MUJOCO_GL", None) == "" and os.environ.get("MUJOCO_GL"):
        importlib.reload(gl)


_gl_backend()


def _guidance():
    """:mod:`motionfm.guidance` (imported on first use: it pulls in JAX and Brax, and Brax's MJX
    import reports a missing optional backend on stderr; that report is not ours to show)."""
    with contextlib.redirect_stderr(io.StringIO()):
        import motionfm.guidance as guidance
    return guidance


@functools.lru_cache(maxsize=4)
def _scene_model(width: int, height: int) -> tuple[mujoco.MjModel, RobotModel]:
    """Menagerie's G1 ``scene`` (meshes, floor, light) with an offscreen buffer of at least
    ``width`` x ``height``, and its name index."""
    robot = load_g1("scene")
    model = copy.copy(robot.mj_model)  # load_g1's model is shared: the buffer size is ours to set
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
    return model, robot


def _check_settings(out: Path, width: int, height: int, fps: float, layout: str) -> None:
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise RenderError(f"{out}: the video must end in .mp4 or .gif, got {out.suffix or 'no suffix'!r}")
    if out.is_dir():
        raise RenderError(f"{out}: is a folder; give a video file name (.mp4 or .gif)")
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, (int, np.integer)) or not 16 <= v <= MAX_SIZE:
            raise RenderError(f"{out}: {name} must be a whole number of pixels from 16 to {MAX_SIZE}, got {v!r}")
    if out.suffix.lower() == ".mp4" and (width % 2 or height % 2):
        raise RenderError(f"{out}: an MP4 (yuv420p) needs an even width and height, got {width}x{height}")
    if not (isinstance(fps, (int, float, np.number)) and math.isfinite(fps) and 0 < fps <= 240):
        raise RenderError(f"{out}: the video fps must be a number in (0, 240], got {fps!r}")
    if layout not in ("overlay", "side"):
        raise RenderError(f"{out}: layout must be 'overlay' or 'side', got {layout!r}")


def load_extras(obstacles: Any, waypoints: Any, joystick: Any) -> Extras:
    """:class:`Extras` from cost objects, file paths (obstacles, waypoints) or ``"VX,VY,YAW"`` /
    three numbers (joystick); files are read by :mod:`motionfm.guidance.files`."""
    if obstacles is None and waypoints is None and joystick is None:
        return Extras()
    g = _guidance()
    if isinstance(obstacles, (str, os.PathLike)):
        obstacles = g.load_scene(obstacles)
    if isinstance(waypoints, (str, os.PathLike)):
        waypoints = g.load_waypoints(waypoints)
    if isinstance(joystick, str):
        joystick = g.parse_joystick(joystick)
    elif joystick is not None and not isinstance(joystick, g.Joystick):
        v = np.asarray(joystick, float).reshape(-1)
        if v.shape != (3,) or not np.isfinite(v).all():
            raise RenderError(f"joystick must be three numbers VX, VY, YAWRATE, got {joystick!r}")
        joystick = g.Joystick.create(*v.tolist())
    for name, value, kind in (("obstacles", obstacles, g.Obstacles), ("waypoints", waypoints, g.Waypoints)):
        if value is not None and not isinstance(value, kind):
            raise RenderError(f"{name} must be a {kind.__name__} or a file path, got {type(value).__name__}")
    return Extras(obstacles, waypoints, joystick)


# ---------------------------------------------------------------------------------- drawing
def _new_geom(scene: mujoco.MjvScene) -> mujoco.MjvGeom | None:
    if scene.ngeom >= scene.maxgeom:
        return None
    scene.ngeom += 1
    return scene.geoms[scene.ngeom - 1]


def _add(scene: mujoco.MjvScene, kind: mujoco.mjtGeom, size, pos, rgba, mat=None) -> None:
    """A geom; ``size`` as in MJCF (``mjv_initGeom`` expands it: a cylinder is ``(r, half-height, 0)``)."""
    g = _new_geom(scene)
    if g is None:
        return
    mat = np.eye(3) if mat is None else np.asarray(mat, float)
    mujoco.mjv_initGeom(g, kind, np.asarray(size, float), np.asarray(pos, float), mat.reshape(9), np.asarray(rgba, np.float32))
    g.category = mujoco.mjtCatBit.mjCAT_DECOR
    g.transparent = int(rgba[3] < 1)


def _connect(scene: mujoco.MjvScene, kind: mujoco.mjtGeom, width: float, a, b, rgba) -> None:
    g = _new_geom(scene)
    if g is None:
        return
    mujoco.mjv_initGeom(g, kind, np.zeros(3), np.zeros(3), np.eye(3).reshape(9), np.asarray(rgba, np.float32))
    mujoco.mjv_connector(g, kind, width, np.asarray(a, float), np.asarray(b, float))
    g.category = mujoco.mjtCatBit.mjCAT_DECOR
    g.transparent = int(rgba[3] < 1)


def _yaw_mat(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _heading(quat_wxyz: np.ndarray) -> float:
    w, x, y, z = quat_wxyz
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@dataclasses.dataclass(frozen=True)
class _Goals:
    """The goals of :class:`Extras` as numpy arrays (layouts of :mod:`motionfm.guidance.sdf`)."""

    spheres: np.ndarray
    boxes: np.ndarray
    cylinders: np.ndarray
    capsules: np.ndarray
    wp_times: np.ndarray
    wp_xy: np.ndarray
    joystick: Any

    @classmethod
    def of(cls, extras: Extras) -> "_Goals":
        sc, w = getattr(extras.obstacles, "scene", None), extras.waypoints
        rows = lambda name, n: np.asarray(getattr(sc, name), float).reshape(-1, n) if sc is not None else np.zeros((0, n))  # noqa: E731
        return cls(
            rows("spheres", 4), rows("boxes", 7), rows("cylinders", 4), rows("capsules", 7),
            np.asarray(w.times, float).reshape(-1) if w is not None else np.zeros(0),
            np.asarray(w.xy, float).reshape(-1, 2) if w is not None else np.zeros((0, 2)),
            extras.joystick,
        )

    def draw(self, scene: mujoco.MjvScene, t: float, qpos: np.ndarray) -> None:
        """Add the goals at time ``t`` (s) for the robot at ``qpos (36,)`` to ``scene``."""
        G = mujoco.mjtGeom
        for x, y, z, r in self.spheres:
            _add(scene, G.mjGEOM_SPHERE, (r, r, r), (x, y, z), OBSTACLE_RGBA)
        for x, y, z, hx, hy, hz, yaw in self.boxes:
            _add(scene, G.mjGEOM_BOX, (hx, hy, hz), (x, y, z), OBSTACLE_RGBA, _yaw_mat(yaw))
        for x, y, r, h in self.cylinders:
            _add(scene, G.mjGEOM_CYLINDER, (r, h / 2, 0.0), (x, y, h / 2), OBSTACLE_RGBA)
        for row in self.capsules:
            _connect(scene, G.mjGEOM_CAPSULE, row[6], row[:3], row[3:6], OBSTACLE_RGBA)
        for tw, (x, y) in zip(self.wp_times, self.wp_xy):
            rgba = WAYPOINT_DONE_RGBA if t > tw else WAYPOINT_RGBA
            _add(scene, G.mjGEOM_CYLINDER, (0.12, 0.004, 0.0), (x, y, 0.004), rgba)
            _connect(scene, G.mjGEOM_CAPSULE, 0.012, (x, y, 0.0), (x, y, 0.6), rgba)
        if self.joystick is not None:
            vx, vy, wz = np.asarray(self.joystick.command(np.array([t], np.float32)), float).reshape(3)
            yaw = _heading(qpos[3:7])
            base = np.array([qpos[0], qpos[1], 0.03])
            v = _yaw_mat(yaw)[:2, :2] @ np.array([vx, vy])
            if np.hypot(*v) > 1e-3:
                _connect(scene, G.mjGEOM_ARROW, 0.025, base, base + np.array([v[0], v[1], 0.0]), JOYSTICK_RGBA)
            if abs(wz) > 1e-3:  # the heading the yaw rate reaches in 1 s, as an arc of radius 0.45 m
                angles = yaw + np.linspace(0.0, wz, max(2, int(abs(wz) / 0.15) + 2))
                pts = base + 0.45 * np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], -1)
                for a, b in zip(pts[:-1], pts[1:]):
                    _connect(scene, G.mjGEOM_CAPSULE, 0.012, a, b, JOYSTICK_RGBA)
                _connect(scene, G.mjGEOM_ARROW, 0.02, pts[-2], pts[-1] + (pts[-1] - pts[-2]) * 0.5, JOYSTICK_RGBA)


def _label(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``frame`` with ``lines`` of text in its top-left corner (skipped on frames under 120 px)."""
    if frame.shape[0] < 120 or not lines:
        return frame
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    size = max(10, frame.shape[0] // 26)
    font = ImageFont.load_default(size=size)
    draw.multiline_text((size // 2, size // 2), "\n".join(lines), font=font, fill=(255, 255, 255),
                        stroke_width=max(1, size // 10), stroke_fill=(0, 0, 0))
    return np.asarray(img)


# ---------------------------------------------------------------------------------- frames
def _frame_index(num_frames: int, fps: float, video_fps: float, start: float, seconds: float | None) -> np.ndarray:
    """Source frame of each video frame ``(N,)``: the nearest one at ``start + k / video_fps``."""
    duration = (num_frames - 1) / fps
    if not (math.isfinite(start) and 0 <= start <= duration):
        raise RenderError(f"start must be within the clip (0 to {duration:.2f} s), got {start!r}")
    end = duration if seconds is None else min(duration, start + seconds)
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise RenderError(f"seconds must be a positive number, got {seconds!r}")
    n = int(math.floor((end - start) * video_fps + 1e-6)) + 1
    t = start + np.arange(n) / video_fps
    return np.clip(np.rint(t * fps).astype(int), 0, num_frames - 1)


def _follow(qpos: np.ndarray, fps: float, cam: Camera) -> np.ndarray:
    """Look-at points ``(T, 3)``: the pelvis xy (moving average over ``cam.smoothing`` s), fixed z."""
    xy = np.asarray(qpos[:, :2], float)
    k = int(round(cam.smoothing * fps))
    if k > 1:
        from scipy.ndimage import uniform_filter1d

        xy = uniform_filter1d(xy, size=k, axis=0, mode="nearest")
    return np.concatenate([xy, np.full((len(xy), 1), cam.height)], -1)


def render_frames(
    qpos: np.ndarray,
    fps: float,
    *,
    ref_qpos: np.ndarray | None = None,
    layout: Layout = "overlay",
    width: int = 640,
    height: int = 360,
    video_fps: float = 30.0,
    start: float = 0.0,
    seconds: float | None = None,
    extras: Extras | None = None,
    camera: Camera | None = None,
    shadows: bool = True,
    labels: Sequence[str] = (),
) -> tuple[int, Iterator[np.ndarray]]:
    """The video frames of a motion, as ``(N, iterator of (height, width, 3) uint8 RGB)``.

    Args:
        qpos: ``(T, 36)`` the robot (root xyz, root quaternion wxyz, 29 joints in
            :data:`~motionfm.robot.G1_JOINT_NAMES` order).
        fps: frame rate of ``qpos``.
        ref_qpos: ``(T, 36)`` a second robot drawn as a translucent ghost (a rollout's reference).
        layout: ``"overlay"``: the ghost in the same scene; ``"side"``: two panels, each with a
            camera following its own robot (robot left, reference right).
        video_fps: frames per second of the video; frames are picked, not interpolated.
        start, seconds: the part of the clip to film (s).
        extras: goals to draw (:class:`Extras`).
        labels: text in the top-left corner (above the time); shown on frames >= 120 px high.

    The renderer is closed when the iterator is exhausted or closed.
    """
    qpos = np.asarray(qpos, float)
    ghost = None if ref_qpos is None else np.asarray(ref_qpos, float)
    cam_cfg = camera or Camera()
    goals = _Goals.of(extras or Extras())
    index = _frame_index(len(qpos), fps, video_fps, start, seconds)
    side = ghost is not None and layout == "side"
    panel_w = (width + 1) // 2 if side else width
    model, robot = _scene_model(panel_w, height)
    look = _follow(qpos, fps, cam_cfg)
    look_ref = _follow(ghost, fps, cam_cfg) if side else None

    def to_mj(data: mujoco.MjData, q: np.ndarray) -> None:
        data.qpos[:7] = q[:7]
        data.qpos[robot.joint_qpos_adr] = q[7:]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)  # the light's direction: unlit scenes without it

    def frames() -> Iterator[np.ndarray]:
        data, data_ref = mujoco.MjData(model), mujoco.MjData(model)
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.distance, cam.azimuth, cam.elevation = cam_cfg.distance, cam_cfg.azimuth, cam_cfg.elevation
        option, perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
        with mujoco.Renderer(model, height, panel_w) as renderer:
            scene = renderer.scene
            scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows
            scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False  # doubles the cost, adds little

            def tint(first: int) -> None:  # the robot geoms from `first` on become the ghost
                for i in range(first, scene.ngeom):
                    g = scene.geoms[i]
                    if g.category == mujoco.mjtCatBit.mjCAT_DYNAMIC:
                        g.rgba[:] = GHOST_RGBA
                        g.transparent, g.castshadow = 1, 0

            def shot(data_main: mujoco.MjData, lookat: np.ndarray, q: np.ndarray, t: float,
                     ghost_main: bool = False, data_ghost: mujoco.MjData | None = None) -> np.ndarray:
                cam.lookat[:] = lookat
                renderer.update_scene(data_main, cam)
                if ghost_main:
                    tint(0)
                if data_ghost is not None:
                    n0 = scene.ngeom
                    mujoco.mjv_addGeoms(model, data_ghost, option, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
                    tint(n0)
                goals.draw(scene, t, q)
                return renderer.render()

            for k, i in enumerate(index):
                t = float(i / fps)
                to_mj(data, qpos[i])
                if ghost is not None:
                    to_mj(data_ref, ghost[i])
                if side:
                    left = shot(data, look[i], qpos[i], t)
                    right = shot(data_ref, look_ref[i], ghost[i], t, ghost_main=True)
                    left = _label(left, [*labels, f"{t:.2f} s", "robot"])
                    right = _label(right, ["reference"])
                    right[:, :1] = 0  # a dividing line
                    frame = np.concatenate([left[:, : width - panel_w], right], axis=1)
                else:
                    frame = shot(data, look[i], qpos[i], t, data_ghost=data_ref if ghost is not None else None)
                    frame = _label(frame, [*labels, f"{t:.2f} s"])
                yield np.ascontiguousarray(frame)

    return len(index), frames()


# ---------------------------------------------------------------------------------- writing
def write_video(frames: Iterator[np.ndarray], num_frames: int, out: str | os.PathLike, fps: float,
                progress: bool | None = None) -> Path:
    """Encode ``frames`` (``(H, W, 3)`` uint8) to ``out`` (``.mp4``: H.264 via imageio-ffmpeg;
    ``.gif``: Pillow) at ``fps``, through a temporary file in the same folder moved into place
    at the end. ``progress``: a tqdm bar on stderr (default: when stderr is a terminal)."""
    import imageio.v2 as iio2
    import imageio.v3 as iio3
    from tqdm import tqdm

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise RenderError(f"{out}: the video must end in .mp4 or .gif")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part{suffix}")
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=num_frames, desc=f"rendering {out.name}", unit="frame", disable=not show, leave=False)
    try:
        if suffix == ".mp4":
            writer = iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
                                     macro_block_size=2, ffmpeg_log_level="error", quality=7)
            try:
                with warnings.catch_warnings():
                    # ffmpeg starts by fork+exec (subprocess); JAX, once loaded (the goals import it),
                    # warns about any fork, though nothing runs in the child before the exec
                    warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
                    for frame in frames:
                        writer.append_data(frame)
                        bar.update()
            finally:
                writer.close()
        else:
            with iio3.imopen(tmp, "w", extension=".gif") as writer:
                for frame in frames:
                    writer.write(frame, duration=1000.0 / fps, loop=0)
                    bar.update()
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        bar.close()
        if hasattr(frames, "close"):
            frames.close()  # closes the renderer of an unfinished render_frames iterator
    return out


# ---------------------------------------------------------------------------------- public
def _video(qpos: np.ndarray, fps: float, out: str | os.PathLike, *, ref_qpos=None, layout: Layout = "overlay",
           width: int, height: int, video_fps: float, start: float, seconds: float | None, obstacles, waypoints,
           joystick, camera: Camera | None, shadows: bool, labels: Sequence[str], progress: bool | None) -> Path:
    out = Path(out)
    _check_settings(out, width, height, video_fps, layout)
    extras = load_extras(obstacles, waypoints, joystick)
    try:
        n, frames = render_frames(qpos, fps, ref_qpos=ref_qpos, layout=layout, width=width, height=height,
                                  video_fps=video_fps, start=start, seconds=seconds, extras=extras, camera=camera,
                                  shadows=shadows, labels=labels)
    except RenderError as e:
        raise RenderError(f"{out}: {e}") from None
    return write_video(frames, n, out, video_fps, progress)


def render_motion(
    motion: Motion,
    out: str | os.PathLike,
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 30.0,
    start: float = 0.0,
    seconds: float | None = None,
    obstacles: Any = None,
    waypoints: Any = None,
    joystick: Any = None,
    camera: Camera | None = None,
    shadows: bool = True,
    label: bool = True,
    progress: bool | None = None,
) -> Path:
    """Film a motion clip to ``out`` (``.mp4`` or ``.gif``) and return the path.

    Args:
        motion: the clip (``motion.qpos`` ``(T, 36)`` at ``motion.fps``).
        out: the video file; its folder is created.
        width, height: video size in pixels (even for MP4).
        fps: video frame rate; frames are picked from the clip's.
        start, seconds: the part of the clip to film (s; default all of it).
        obstacles: a :class:`~motionfm.guidance.Obstacles` or a scene ``.json`` path.
        waypoints: a :class:`~motionfm.guidance.Waypoints` or a waypoints ``.json`` path.
        joystick: a :class:`~motionfm.guidance.Joystick`, ``"VX,VY,YAWRATE"`` or three numbers.
        camera: the following camera's settings (:class:`Camera`).
        shadows: draw shadows (about half the rendering time with Mesa's software GL).
        label: the clip's name and the time in the corner (frames >= 120 px high).
        progress: a progress bar on stderr (default: when stderr is a terminal).

    Raises:
        RenderError: a bad setting (naming ``out``); guidance files raise
            :class:`~motionfm.guidance.GuidanceFileError` naming the file.
    """
    return _video(motion.qpos, motion.fps, out, width=width, height=height, video_fps=fps, start=start,
                  seconds=seconds, obstacles=obstacles, waypoints=waypoints, joystick=joystick, camera=camera,
                  shadows=shadows, labels=[motion.name] if label and motion.name else [], progress=progress)


def load_rollout_arrays(path: str | os.PathLike) -> dict[str, Any]:
    """The arrays of a tracker rollout ``.npz`` (:mod:`motionfm.tracker.rollout`), checked:
    ``fps``, ``qpos (T, 36)``, ``ref_qpos (T, 36)`` (finite, unit root quaternions), ``fell``.

    Raises:
        RenderError: naming the file and the fault.
    """
    path = Path(path)
    if not path.is_file():
        raise RenderError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise RenderError(f"{path}: not a readable .npz file ({e})") from None
    return _check_rollout(data, str(path))


def _check_rollout(r: Mapping[str, Any], where: str) -> dict[str, Any]:
    missing = {"fps", "qpos", "ref_qpos"} - set(r)
    if missing:
        raise RenderError(f"{where}: not a tracker rollout (missing {sorted(missing)})")
    try:
        fps = float(np.asarray(r["fps"]).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise RenderError(f"{where}: fps must be a number, got {r['fps']!r}") from None
    if not (math.isfinite(fps) and fps > 0):
        raise RenderError(f"{where}: fps must be positive, got {fps:g}")
    out: dict[str, Any] = {"fps": fps, "fell": bool(np.asarray(r.get("fell", False)))}
    for key in ("qpos", "ref_qpos"):
        a = np.asarray(r[key])
        if a.ndim != 2 or a.shape[1] != QPOS_DIM or len(a) < 1:
            raise RenderError(f"{where}: {key} must be (T, {QPOS_DIM}), got {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise RenderError(f"{where}: {key} has non-finite values (NaN or inf)")
        norm = np.linalg.norm(a[:, 3:7], axis=-1)
        if (np.abs(norm - 1) > 1e-2).any():
            t = int(np.argmax(np.abs(norm - 1)))
            raise RenderError(f"{where}: {key} root quaternion (columns 3:7, wxyz) of frame {t} has norm {norm[t]:.3f}, not 1")
        out[key] = a.astype(float)
    if out["qpos"].shape != out["ref_qpos"].shape:
        raise RenderError(f"{where}: qpos {out['qpos'].shape} and ref_qpos {out['ref_qpos'].shape} differ in length")
    out["name"] = str(np.asarray(r.get("name", "")))
    return out


def render_rollout(
    rollout: Mapping[str, Any] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: Layout = "overlay",
    width: int = 640,
    height: int = 360,
    fps: float = 30.0,
    start: float = 0.0,
    seconds: float | None = None,
    obstacles: Any = None,
    waypoints: Any = None,
    joystick: Any = None,
    camera: Camera | None = None,
    shadows: bool = True,
    label: bool = True,
    progress: bool | None = None,
) -> Path:
    """Film a tracker rollout: the simulated robot (``qpos (T, 36)``) with its reference
    (``ref_qpos (T, 36)``) as a translucent blue ghost, overlaid (``layout="overlay"``) or in a
    panel of its own on the right (``"side"``, each panel following its robot).

    ``rollout`` is the dict of :func:`motionfm.tracker.rollout.track` or a rollout ``.npz`` path;
    the other arguments are those of :func:`render_motion`.

    Raises:
        RenderError: a bad rollout (naming the file) or setting.
    """
    if isinstance(rollout, (str, os.PathLike)):
        r = load_rollout_arrays(rollout)
    else:
        r = _check_rollout(rollout, str(rollout.get("name") or "rollout"))
    labels = [r["name"]] if label and r["name"] else []
    if label and r["fell"]:
        labels.append(f"fell at {(len(r['qpos']) - 1) / r['fps']:.2f} s")
    return _video(r["qpos"], r["fps"], out, ref_qpos=r["ref_qpos"], layout=layout, width=width, height=height,
                  video_fps=fps, start=start, seconds=seconds, obstacles=obstacles, waypoints=waypoints,
                  joystick=joystick, camera=camera, shadows=shadows, labels=labels, progress=progress)


def is_rollout_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ``.npz`` with a tracker rollout's ``ref_qpos`` (unreadable: ``False``)."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "ref_qpos" in z.files
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def render_file(path: str | os.PathLike, out: str | os.PathLike, *, motion_fps: float | None = None,
                **kwargs: Any) -> Path:
    """Film a motion file (``.npz``, or ``.csv`` with a ``clips.jsonl`` or ``motion_fps``) or a
    tracker rollout ``.npz`` (recognised by its ``ref_qpos``): :func:`render_rollout` or
    :func:`render_motion` with ``kwargs``. Rollout-only ``layout`` is ignored for a motion.

    Raises:
        MotionFileError, RenderError: naming the file and the fault.
    """
    if is_rollout_file(path):
        return render_rollout(path, out, **kwargs)
    kwargs.pop("layout", None)
    motion = Motion.load(path, motion_fps, limits="ignore")
    return render_motion(motion, out, **kwargs)
