"""A compact BVH reader: hierarchy, channels and motion, with vectorised forward kinematics.

Why our own and not a PyPI parser: the ones that fit (``bvh``, ``bvhio``, ``bvhtoolbox``,
``pybvh``) either return strings per frame and compute FK in Python loops (seconds per clip) or
bring a scene-graph layer we do not need. BVH is a small format; this reader is ~150 lines,
computes FK for all frames at once with numpy/scipy, accepts any channel order, reads
gzip-compressed files (``.bvh.gz``, recognised by their magic bytes, not the name), and raises
:class:`BvhError` naming the file and the line of the fault.

Conventions: channel rotations are intrinsic in the listed order (``Zrotation Yrotation
Xrotation`` means ``R = Rz @ Ry @ Rx``); any joint may have position channels (MotionBuilder
exports give every joint 6). What those hold differs between exporters, so it is a choice of
:meth:`Bvh.global_transforms`: ``"add"`` (a joint's local translation is ``OFFSET`` plus its
position channels: the iClone CC root's ``OFFSET`` is its rest height and the channels move it) or
``"replace"`` (the channels *are* the local translation and ``OFFSET`` is only the rest pose: the
Bandai-Namco files repeat each bone's ``OFFSET`` in its channels, so adding would double every
bone). :func:`bvh_to_world` converts units (e.g. cm -> m) and the up axis (Y-up -> the project's
Z-up world, by a +90 deg turn about x: ``(x, y, z) -> (x, -z, y)``).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}

UP_AXES = ("y", "z")
"""Up axes a BVH file may use; Z-up is the project's world."""

POSITION_CHANNELS = ("add", "replace")
"""What a joint's position channels mean: added to its ``OFFSET``, or replacing it."""

_GZIP_MAGIC = b"\x1f\x8b"


class BvhError(ValueError):
    """A BVH file that cannot be read. ``str()`` names the file (and the line where known)."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclasses.dataclass(frozen=True, eq=False)
class Bvh:
    """A parsed BVH clip.

    Attributes:
        names: ``(J,)`` joint names in file order (end sites excluded).
        parents: ``(J,)`` parent index of each joint (-1 for the root).
        offsets: ``(J, 3)`` rest offsets from the parent, in file units.
        channels: per joint, its channel names in file order.
        frame_time: seconds per frame.
        motion: ``(T, C)`` channel values (degrees for rotations, file units for positions).
        path: the file read.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time: float
    motion: np.ndarray
    path: str = ""

    @property
    def fps(self) -> float:
        """Frames per second, ``1 / frame_time``, rounded to a whole number when within 0.05 of one
        (files print ``Frame Time: 0.016667`` for 60 fps)."""
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 0.05 else fps

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return self.motion.shape[0]

    def index(self, name: str) -> int:
        """Index of a joint by name (``KeyError`` naming the file if absent)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{self.path or 'BVH'}: no joint named {name!r}") from None

    def global_transforms(self, position_channels: str = "add") -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics in file axes and units.

        Args:
            position_channels: ``"add"``: a joint's local translation is ``OFFSET`` + its position
                channels; ``"replace"``: it is the channels alone (joints without position
                channels keep their ``OFFSET`` either way). See the module docstring.

        Returns:
            ``(pos (T, J, 3), rot (T, J, 3, 3))``: each joint's origin and frame in the world.
        """
        if position_channels not in POSITION_CHANNELS:
            raise ValueError(f"position_channels must be one of {POSITION_CHANNELS}, got {position_channels!r}")
        t, j = self.num_frames, len(self.names)
        pos = np.zeros((t, j, 3))
        rot = np.zeros((t, j, 3, 3))
        col = 0
        for k, chans in enumerate(self.channels):
            local_t = np.broadcast_to(self.offsets[k], (t, 3)).copy()
            order, angle_cols = "", []
            for c in chans:
                if c in _POS:
                    if position_channels == "replace":
                        local_t[:, _POS[c]] = self.motion[:, col]
                    else:
                        local_t[:, _POS[c]] += self.motion[:, col]
                else:
                    order += _ROT[c]
                    angle_cols.append(col)
                col += 1
            if order:
                local_r = Rotation.from_euler(order, self.motion[:, angle_cols], degrees=True).as_matrix()
            else:
                local_r = np.broadcast_to(np.eye(3), (t, 3, 3))
            p = self.parents[k]
            if p < 0:
                pos[:, k], rot[:, k] = local_t, local_r
            else:
                pos[:, k] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local_t)
                rot[:, k] = rot[:, p] @ local_r
        return pos, rot


def bvh_to_world(x: np.ndarray, scale: float = 0.01, up: str = "y") -> np.ndarray:
    """Positions ``(..., 3)`` in file units/axes -> metres in the Z-up world.

    Args:
        x: positions in the file's units and axes.
        scale: metres per file unit (0.01 for centimetres).
        up: the file's up axis, ``"y"`` (most BVH) or ``"z"``.
    """
    if up not in UP_AXES:
        raise ValueError(f"unknown up axis {up!r}: use one of {UP_AXES}")
    x = np.asarray(x, np.float64) * scale
    if up == "y":
        x = np.stack([x[..., 0], -x[..., 2], x[..., 1]], axis=-1)
    return x


BVH_SUFFIXES = (".bvh", ".bvh.gz")
"""File names :func:`read_bvh` is pointed at when given a folder (case-insensitive)."""


def is_bvh_name(path: str | os.PathLike) -> bool:
    """Whether ``path``'s name ends in ``.bvh`` or ``.bvh.gz`` (any case)."""
    return Path(path).name.lower().endswith(BVH_SUFFIXES)


def bvh_stem(path: str | os.PathLike) -> str:
    """The clip name of a BVH path: ``"walk.bvh.gz"`` and ``"walk.bvh"`` -> ``"walk"``."""
    name = Path(path).name
    for suffix in (".gz", ".bvh"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _read_text(path: Path) -> str:
    """The file's text, gunzipped first when it starts with the gzip magic bytes."""
    with path.open("rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            # EOFError: a truncated download; zlib.error: corrupt deflate data.
            raise BvhError(path, f"corrupt or truncated gzip data ({e})") from None
    elif path.suffix.lower() == ".gz":
        raise BvhError(path, "named .gz but not gzip-compressed (no gzip magic bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BvhError(path, f"not a text file ({e.reason} at byte {e.start})") from None


def read_bvh(path: str | os.PathLike) -> Bvh:
    """Parse a BVH file, plain or gzip-compressed (``.bvh.gz``).

    Raises:
        BvhError: naming the file and the fault (bad gzip data, missing sections, bad tokens,
            wrong channel counts, non-numeric or non-finite values, fewer than 2 frames).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such BVH file")
    lines = _read_text(path).splitlines()
    tokens: list[tuple[str, int]] = []  # (token, line number) of the hierarchy part
    motion_line = None
    for i, line in enumerate(lines):
        if line.strip().upper() == "MOTION":
            motion_line = i
            break
        tokens.extend((tok, i + 1) for tok in line.split())
    if not tokens or tokens[0][0].upper() != "HIERARCHY":
        raise BvhError(path, "not a BVH file: it does not start with HIERARCHY")

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []  # joint index per open brace (-2 for an end site)
    pending = None  # (kind, name) waiting for its "{"
    k = 1

    def need(n: int, what: str, at: int) -> list[str]:
        if k + n > len(tokens):
            raise BvhError(path, f"line {at}: hierarchy ends inside {what}")
        return [tok for tok, _ in tokens[k : k + n]]

    while k < len(tokens):
        tok, ln = tokens[k]
        word = tok.upper()
        if word in ("ROOT", "JOINT"):
            (name,) = need(1 + 1, word, ln)[1:]
            if word == "ROOT" and stack:
                raise BvhError(path, f"line {ln}: ROOT inside another joint")
            pending = ("joint", name)
            k += 2
        elif word == "END":
            need(2, "End Site", ln)
            pending = ("end", "")
            k += 2
        elif word == "{":
            if pending is None:
                raise BvhError(path, f"line {ln}: '{{' without ROOT, JOINT or End Site")
            if pending[0] == "joint":
                parent = next((s for s in reversed(stack) if s >= 0), -1) if stack else -1
                if stack and stack[-1] == -2:
                    raise BvhError(path, f"line {ln}: joint inside an End Site")
                names.append(pending[1])
                parents.append(parent)
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                stack.append(len(names) - 1)
            else:
                stack.append(-2)
            pending = None
            k += 1
        elif word == "}":
            if not stack:
                raise BvhError(path, f"line {ln}: unbalanced '}}'")
            stack.pop()
            k += 1
        elif word == "OFFSET":
            vals = need(4, "OFFSET", ln)[1:]
            try:
                off = [float(v) for v in vals]
            except ValueError:
                raise BvhError(path, f"line {ln}: non-numeric OFFSET {' '.join(vals)!r}") from None
            if stack and stack[-1] >= 0:
                offsets[stack[-1]] = off
            k += 4
        elif word == "CHANNELS":
            (count,) = need(2, "CHANNELS", ln)[1:]
            if not count.isdigit():
                raise BvhError(path, f"line {ln}: CHANNELS count {count!r} is not a number")
            chans = tuple(need(2 + int(count), "CHANNELS", ln)[2:])
            bad = [c for c in chans if c not in _POS and c not in _ROT]
            if bad:
                raise BvhError(path, f"line {ln}: unknown channel {bad[0]!r}")
            if not stack or stack[-1] < 0:
                raise BvhError(path, f"line {ln}: CHANNELS outside a joint")
            channels[stack[-1]] = chans
            k += 2 + int(count)
        else:
            raise BvhError(path, f"line {ln}: unexpected token {tok!r} in HIERARCHY")
    if stack:
        raise BvhError(path, "HIERARCHY has unclosed '{'")
    if not names:
        raise BvhError(path, "HIERARCHY defines no joints")
    if motion_line is None:
        raise BvhError(path, "no MOTION section")

    header: dict[str, str] = {}
    row = motion_line + 1
    for key in ("FRAMES:", "FRAME TIME:"):
        while row < len(lines) and not lines[row].strip():
            row += 1
        line = lines[row].strip() if row < len(lines) else ""
        if not line.upper().startswith(key):
            raise BvhError(path, f"line {row + 1}: expected '{key.title()}' after MOTION, got {line[:40]!r}")
        header[key] = line[len(key):].strip()
        row += 1
    try:
        n_frames, frame_time = int(header["FRAMES:"]), float(header["FRAME TIME:"])
    except ValueError:
        raise BvhError(path, f"bad Frames/Frame Time values {header['FRAMES:']!r}/{header['FRAME TIME:']!r}") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise BvhError(path, f"Frame Time must be positive, got {frame_time}")
    n_chan = sum(len(c) for c in channels)
    data_lines = [(i + 1, ln) for i, ln in enumerate(lines[row:], start=row) if ln.strip()]
    if len(data_lines) < n_frames:
        raise BvhError(path, f"Frames says {n_frames} but the file has {len(data_lines)} frame lines")
    data_lines = data_lines[:n_frames]
    motion = np.empty((n_frames, n_chan))
    for f, (ln, text) in enumerate(data_lines):
        vals = text.split()
        if len(vals) != n_chan:
            raise BvhError(path, f"line {ln}: {len(vals)} values, expected {n_chan} (the channels of the hierarchy)")
        try:
            motion[f] = [float(v) for v in vals]
        except ValueError:
            raise BvhError(path, f"line {ln}: non-numeric value in frame {f}") from None
    if not np.isfinite(motion).all():
        f = int(np.argwhere(~np.isfinite(motion))[0, 0])
        raise BvhError(path, f"line {data_lines[f][0]}: NaN or inf in frame {f}")
    if n_frames < 2:
        raise BvhError(path, f"a clip needs at least 2 frames, got {n_frames}")
    return Bvh(tuple(names), np.array(parents), np.array(offsets, float), tuple(channels), frame_time, motion, str(path))
