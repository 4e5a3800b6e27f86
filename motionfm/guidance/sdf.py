"""Signed distance fields of ground obstacles (JAX and numpy alike) and the relaxed log-barrier.

Obstacles are stored as small arrays so a scene is a pytree: the guided sampler takes it as an
argument, and a new scene of the same sizes reuses the compiled sampler.

======================  ============================================================
``spheres (S, 4)``       centre ``x, y, z``, radius
``boxes (B, 7)``         centre ``x, y, z``, half-sizes ``hx, hy, hz``, yaw (rad)
``cylinders (C, 4)``     axis ``x, y``, radius, height (standing on the ground, ``0 <= z <= h``)
``capsules (P, 7)``      segment ends ``a = x, y, z`` and ``b = x, y, z``, radius
======================  ============================================================
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

_BIG = 1e3  # distance reported when a scene has no obstacle of a kind


def _xp(x):
    return np if isinstance(x, np.ndarray) else jnp


def _safe_norm(v, axis=-1):
    xp = _xp(v)
    return xp.sqrt(xp.sum(v * v, axis=axis) + 1e-12)  # finite gradient at 0


def sdf_spheres(p, spheres):
    """Distances ``(..., S)`` of points ``p (..., 3)`` to spheres ``(S, 4)``."""
    return _safe_norm(p[..., None, :] - spheres[:, :3]) - spheres[:, 3]


def sdf_boxes(p, boxes):
    """Distances ``(..., B)`` of points ``p (..., 3)`` to yawed boxes ``(B, 7)``."""
    xp = _xp(p)
    d = p[..., None, :] - boxes[:, :3]
    c, s = xp.cos(boxes[:, 6]), xp.sin(boxes[:, 6])
    local = xp.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1], d[..., 2]], axis=-1)
    q = xp.abs(local) - boxes[:, 3:6]
    outside = _safe_norm(xp.maximum(q, 0.0))
    inside = xp.minimum(xp.max(q, axis=-1), 0.0)
    return xp.where(xp.max(q, axis=-1) > 0, outside, inside)


def sdf_cylinders(p, cylinders):
    """Distances ``(..., C)`` of points ``p (..., 3)`` to vertical cylinders ``(C, 4)`` on the ground."""
    xp = _xp(p)
    radial = _safe_norm(p[..., None, :2] - cylinders[:, :2]) - cylinders[:, 2]
    h = cylinders[:, 3] / 2
    vertical = xp.abs(p[..., None, 2] - h) - h
    q = xp.stack([radial, vertical], axis=-1)
    outside = _safe_norm(xp.maximum(q, 0.0))
    inside = xp.minimum(xp.max(q, axis=-1), 0.0)
    return xp.where(xp.max(q, axis=-1) > 0, outside, inside)


def sdf_capsules(p, capsules):
    """Distances ``(..., P)`` of points ``p (..., 3)`` to capsules ``(P, 7)``."""
    xp = _xp(p)
    a, b, r = capsules[:, :3], capsules[:, 3:6], capsules[:, 6]
    ab = b - a
    ap = p[..., None, :] - a
    h = xp.clip(xp.sum(ap * ab, -1) / xp.maximum(xp.sum(ab * ab, -1), 1e-12), 0.0, 1.0)
    return _safe_norm(ap - h[..., None] * ab) - r


@struct.dataclass
class Scene:
    """Obstacles on the ground (see the module docstring for the array layouts)."""

    spheres: jnp.ndarray
    boxes: jnp.ndarray
    cylinders: jnp.ndarray
    capsules: jnp.ndarray

    @classmethod
    def create(cls, spheres=(), boxes=(), cylinders=(), capsules=()) -> "Scene":
        """A scene from lists of rows (any may be empty); values are checked for sign and shape."""

        def rows(x, n, name):
            a = np.asarray(x, np.float32).reshape(-1, n) if len(x) else np.zeros((0, n), np.float32)
            if not np.isfinite(a).all():
                raise ValueError(f"{name}: values must be finite")
            return a

        s, b = rows(spheres, 4, "spheres"), rows(boxes, 7, "boxes")
        c, p = rows(cylinders, 4, "cylinders"), rows(capsules, 7, "capsules")
        for name, size in (("spheres radius", s[:, 3:]), ("boxes half-size", b[:, 3:6]), ("cylinders radius/height", c[:, 2:]),
                           ("capsules radius", p[:, 6:])):
            if (size <= 0).any():
                raise ValueError(f"{name} must be positive")
        return cls(s, b, c, p)

    @property
    def num_obstacles(self) -> int:
        return sum(int(np.shape(a)[0]) for a in (self.spheres, self.boxes, self.cylinders, self.capsules))

    def sdf(self, p):
        """Signed distance ``(...)`` of points ``p (..., 3)`` to the nearest obstacle (m; < 0 inside)."""
        xp = np if isinstance(p, np.ndarray) and isinstance(self.spheres, np.ndarray) else jnp
        parts = [f(p, a) for f, a in ((sdf_spheres, self.spheres), (sdf_boxes, self.boxes),
                                      (sdf_cylinders, self.cylinders), (sdf_capsules, self.capsules)) if np.shape(a)[0]]
        if not parts:
            return xp.full(p.shape[:-1], _BIG, p.dtype)
        return xp.min(xp.concatenate(parts, axis=-1), axis=-1)


def relaxed_log_barrier(d, delta: float = 0.02, active: float = 0.1):
    """Relaxed log-barrier of a signed distance ``d`` (m), zero beyond ``active``.

    ``-log(d)`` for ``d >= delta`` and its quadratic continuation below (Hauser's relaxation: finite
    and steep for penetration, ``d < 0``, so gradients exist even inside an obstacle), shifted to
    be 0 at ``active`` (a kink there, harmless for gradient steps).
    """
    xp = _xp(d)
    log_part = -xp.log(xp.maximum(d, delta))
    quad = 0.5 * (((d - 2 * delta) / delta) ** 2 - 1.0) - np.log(delta)
    b = xp.where(d >= delta, log_part, quad)
    return xp.where(d < active, b + np.log(active), 0.0)
