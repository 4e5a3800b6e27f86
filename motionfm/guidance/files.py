"""Files that describe guidance goals (the CLI's ``--obstacles``, ``--waypoints``, ``--keyframes``).

Coordinates are metres in the generated motion's world frame: it starts at the origin facing +x
(z up); times are seconds from its first frame.

**Scene** (``scene.json``; every list optional, at least one obstacle)::

    {"spheres":   [{"center": [x, y, z], "radius": r}],
     "boxes":     [{"center": [x, y, z], "half_size": [hx, hy, hz], "yaw": 0.0}],
     "cylinders": [{"center": [x, y], "radius": r, "height": h}],
     "capsules":  [{"a": [x, y, z], "b": [x, y, z], "radius": r}],
     "margin": 0.03}

Cylinders stand on the ground (``0 <= z <= height``); ``yaw`` (rad, default 0) and ``margin``
(clearance in m, default 0.03) are optional.

**Waypoints** (``waypoints.json``)::

    {"waypoints": [{"t": 3.0, "xy": [2.0, 0.5]}, {"t": 6.0, "xy": [3.0, -0.5]}]}

**Joystick script** (``commands.json``; ``motionfm run``): commands in the robot's heading frame
that change over time, ``t`` in seconds from the start (the first at ``t = 0``), each field optional
(default 0)::

    {"commands": [{"t": 0.0, "vx": 0.5, "vy": 0.0, "yaw_rate": 0.0},
                  {"t": 8.0, "vx": 0.4, "yaw_rate": 0.4}],
     "interpolation": "step"}

``interpolation`` is ``"step"`` (default: each command holds until the next one) or ``"linear"``.

**Keyframes** (``keyframes.npz``): ``times (K,)`` and any of

- ``qpos (K, 36)``: full poses (root xyz, root quaternion **wxyz**, 29 joints in Unitree order);
- ``root (K, 2)`` or ``(K, 3)``: root xy (or xyz) only;
- ``body_names (B,)`` with ``body_pos (K, B, 3)``: positions of named bodies (``G1_BODY_NAMES``);
- ``joint_names (J,)`` with ``joint_pos (K, J)``: angles (rad) of named joints (``G1_JOINT_NAMES``).

Every reader raises :class:`GuidanceFileError` naming the file and what is wrong, and reads the
whole file before returning anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from motionfm.guidance.costs import Joystick, Keyframes, Obstacles, Waypoints


class GuidanceFileError(ValueError):
    """A guidance file that can't be used; the message names the file and the problem."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GuidanceFileError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise GuidanceFileError(f"{path}: not valid JSON ({e})") from None


def _vec(path: Path, where: str, value: Any, n: int, positive: bool = False) -> list[float]:
    try:
        v = np.asarray(value, float).reshape(-1)
    except (TypeError, ValueError):
        raise GuidanceFileError(f"{path}: {where} must be a list of {n} numbers, got {value!r}") from None
    if v.shape != (n,) or not np.isfinite(v).all():
        raise GuidanceFileError(f"{path}: {where} must be {n} finite numbers, got {value!r}")
    if positive and (v <= 0).any():
        raise GuidanceFileError(f"{path}: {where} must be positive, got {value!r}")
    return v.tolist()


_SCENE_KEYS = {"spheres", "boxes", "cylinders", "capsules", "margin"}


def load_scene(path: str | os.PathLike) -> Obstacles:
    """An :class:`~motionfm.guidance.Obstacles` cost from a scene JSON file (format: module docstring)."""
    path = Path(path)
    return scene_from_dict(_json(path), path)


def scene_from_dict(doc: Any, path: str | os.PathLike = "scene") -> Obstacles:
    """:func:`load_scene` of an already parsed scene (``path`` only names it in errors)."""
    if not isinstance(doc, dict):
        raise GuidanceFileError(f"{path}: the scene must be a JSON object with spheres/boxes/cylinders/capsules lists")
    unknown = set(doc) - _SCENE_KEYS
    if unknown:
        raise GuidanceFileError(f"{path}: unknown key(s) {sorted(unknown)}; expected {sorted(_SCENE_KEYS)}")
    rows: dict[str, list[list[float]]] = {k: [] for k in ("spheres", "boxes", "cylinders", "capsules")}
    fields = {
        "spheres": (("center", 3, False), ("radius", 1, True)),
        "boxes": (("center", 3, False), ("half_size", 3, True), ("yaw", 1, False)),
        "cylinders": (("center", 2, False), ("radius", 1, True), ("height", 1, True)),
        "capsules": (("a", 3, False), ("b", 3, False), ("radius", 1, True)),
    }
    for kind, spec in fields.items():
        items = doc.get(kind, [])
        if not isinstance(items, list):
            raise GuidanceFileError(f"{path}: {kind} must be a list")
        for i, item in enumerate(items):
            where = f"{kind}[{i}]"
            if not isinstance(item, dict):
                raise GuidanceFileError(f"{path}: {where} must be an object")
            extra = set(item) - {name for name, _, _ in spec}
            if extra:
                raise GuidanceFileError(f"{path}: {where} has unknown key(s) {sorted(extra)}")
            row: list[float] = []
            for name, n, positive in spec:
                if name not in item:
                    if name == "yaw":
                        row.append(0.0)
                        continue
                    raise GuidanceFileError(f"{path}: {where} is missing {name!r}")
                row += _vec(path, f"{where}.{name}", item[name], n, positive)
            rows[kind].append(row)
    if not any(rows.values()):
        raise GuidanceFileError(f"{path}: the scene has no obstacles")
    margin = doc.get("margin", 0.03)
    if not isinstance(margin, (int, float)) or margin < 0:
        raise GuidanceFileError(f"{path}: margin must be a number >= 0, got {margin!r}")
    return Obstacles.create(**rows, margin=float(margin))


def load_waypoints(path: str | os.PathLike) -> Waypoints:
    """A :class:`~motionfm.guidance.Waypoints` cost from a JSON file (format: module docstring)."""
    path = Path(path)
    doc = _json(path)
    items = doc.get("waypoints") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise GuidanceFileError(f'{path}: expected {{"waypoints": [{{"t": seconds, "xy": [x, y]}}, ...]}} with at least one waypoint')
    times, xy = [], []
    for i, w in enumerate(items):
        if not isinstance(w, dict) or "t" not in w or "xy" not in w:
            raise GuidanceFileError(f"{path}: waypoints[{i}] must be an object with 't' and 'xy'")
        times += _vec(path, f"waypoints[{i}].t", w["t"], 1, positive=True)
        xy.append(_vec(path, f"waypoints[{i}].xy", w["xy"], 2))
    if (np.diff(times) <= 0).any():
        raise GuidanceFileError(f"{path}: waypoint times must increase, got {times}")
    return Waypoints.create(times, xy)


def load_keyframes(path: str | os.PathLike) -> list[Keyframes]:
    """:class:`~motionfm.guidance.Keyframes` costs from an npz file (format: module docstring)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise GuidanceFileError(f"{path}: no such file") from None
    except (ValueError, OSError) as e:
        raise GuidanceFileError(f"{path}: not a readable npz file ({e})") from None
    known = {"times", "qpos", "root", "body_names", "body_pos", "joint_names", "joint_pos"}
    if "times" not in data:
        raise GuidanceFileError(f"{path}: missing 'times' (K,) in seconds")
    unknown = set(data) - known
    if unknown:
        raise GuidanceFileError(f"{path}: unknown array(s) {sorted(unknown)}; expected some of {sorted(known)}")
    times = data["times"]
    if times.ndim != 1 or not len(times) or not np.isfinite(times).all() or (times < 0).any():
        raise GuidanceFileError(f"{path}: 'times' must be a non-empty 1-D array of seconds >= 0, got shape {times.shape}")
    k = len(times)
    out: list[Keyframes] = []

    def check(name: str, a: np.ndarray, shape: tuple) -> np.ndarray:
        if a.shape != shape:
            raise GuidanceFileError(f"{path}: '{name}' must have shape {shape} (K={k} keyframes), got {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise GuidanceFileError(f"{path}: '{name}' must be finite numbers (NaN or inf found)")
        return a

    try:
        if "qpos" in data:
            q = check("qpos", data["qpos"], (k, 36))
            norm = np.linalg.norm(q[:, 3:7], axis=1)
            if (np.abs(norm - 1) > 1e-3).any():
                raise GuidanceFileError(f"{path}: 'qpos' root quaternions (columns 3:7, wxyz) must be unit length; "
                                        f"keyframe {int(np.argmax(np.abs(norm - 1)))} has norm {norm.max():.4f}")
            out.append(Keyframes.poses(times, q))
        if "root" in data:
            r = data["root"]
            check("root", r, (k, r.shape[-1] if r.ndim == 2 and r.shape[-1] in (2, 3) else 2))
            out.append(Keyframes.root(times, r))
        for kind, names_key, values_key, shape in (("bodies", "body_names", "body_pos", (3,)), ("joints", "joint_names", "joint_pos", ())):
            if (names_key in data) != (values_key in data):
                raise GuidanceFileError(f"{path}: '{names_key}' and '{values_key}' come together")
            if names_key in data:
                names = [str(n) for n in data[names_key]]
                v = check(values_key, data[values_key], (k, len(names), *shape))
                targets = {n: v[:, i] for i, n in enumerate(names)}
                out.append(Keyframes.bodies(times, targets) if kind == "bodies" else Keyframes.joints(times, targets))
    except GuidanceFileError:
        raise
    except ValueError as e:  # unknown body/joint names and the like
        raise GuidanceFileError(f"{path}: {e}") from None
    if not out:
        raise GuidanceFileError(f"{path}: no targets: give 'qpos', 'root', 'body_names'+'body_pos' or 'joint_names'+'joint_pos'")
    return out


def parse_joystick(text: str) -> Joystick:
    """A constant :class:`~motionfm.guidance.Joystick` from ``"VX,VY,YAWRATE"`` (m/s, m/s, rad/s)."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or not np.isfinite(values).all():
        raise ValueError(f"--joystick expects VX,VY,YAWRATE (three numbers, m/s, m/s, rad/s), got {text!r}")
    return Joystick.create(*values)


STEP_RAMP_S = 1e-3
"""A step of a ``"step"`` joystick script becomes a linear ramp this short (:meth:`Joystick.profile`
interpolates between knots)."""

_COMMAND_KEYS = {"t", "vx", "vy", "yaw_rate"}


def load_joystick_script(path: str | os.PathLike) -> Joystick:
    """A time-varying :class:`~motionfm.guidance.Joystick` from a joystick script (format: module
    docstring); times are seconds from the start of the run."""
    path = Path(path)
    return joystick_from_dict(_json(path), path)


def joystick_from_dict(doc: Any, path: str | os.PathLike = "joystick script") -> Joystick:
    """:func:`load_joystick_script` of an already parsed script (``path`` only names it in errors)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("commands"), list) or not doc["commands"]:
        raise GuidanceFileError(f'{path}: expected {{"commands": [{{"t": seconds, "vx": m/s, "vy": m/s, "yaw_rate": rad/s}}, ...]}} '
                                "with at least one command")
    unknown = set(doc) - {"commands", "interpolation"}
    if unknown:
        raise GuidanceFileError(f"{path}: unknown key(s) {sorted(unknown)}; expected 'commands' and optionally 'interpolation'")
    interp = doc.get("interpolation", "step")
    if interp not in ("step", "linear"):
        raise GuidanceFileError(f"{path}: interpolation must be 'step' or 'linear', got {interp!r}")
    times, rows = [], []
    for i, c in enumerate(doc["commands"]):
        where = f"commands[{i}]"
        if not isinstance(c, dict) or "t" not in c:
            raise GuidanceFileError(f"{path}: {where} must be an object with 't' (seconds) and any of vx, vy, yaw_rate")
        extra = set(c) - _COMMAND_KEYS
        if extra:
            raise GuidanceFileError(f"{path}: {where} has unknown key(s) {sorted(extra)}; expected {sorted(_COMMAND_KEYS)}")
        t = _vec(path, f"{where}.t", c["t"], 1)[0]
        if t < 0:
            raise GuidanceFileError(f"{path}: {where}.t must be >= 0, got {t!r}")
        times.append(t)
        rows.append([_vec(path, f"{where}.{k}", c.get(k, 0.0), 1)[0] for k in ("vx", "vy", "yaw_rate")])
    if times[0] != 0:
        raise GuidanceFileError(f"{path}: the first command must be at t = 0, got t = {times[0]:g}")
    if (np.diff(times) <= 0).any():
        raise GuidanceFileError(f"{path}: command times must increase, got {times}")
    if interp == "step":  # hold each command, then ramp to the next over STEP_RAMP_S
        t_knots, c_knots = [times[0]], [rows[0]]
        for t, prev, row in zip(times[1:], rows[:-1], rows[1:]):
            if t - STEP_RAMP_S > t_knots[-1]:
                t_knots.append(t - STEP_RAMP_S)
                c_knots.append(prev)
            t_knots.append(t)
            c_knots.append(row)
        times, rows = t_knots, c_knots
    return Joystick.profile(times, np.asarray(rows, np.float32))
