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


def _norm(*components):
    xp = _xp(components[0])
    return xp.sqrt(sum(c * c for c in components) + 1e-12)  # finite gradient at 0


# The shape functions work component-wise with the obstacle axis first: distances ``(n, ...)`` of
# points ``p (..., 3)``. Trailing axes of size 2-3 (stack, max over xyz) make XLA's CPU backward
# pass several times slower than the arithmetic itself.
def _columns(p, a):
    """``p``'s x, y, z ``(...)`` and a function giving column ``i`` of ``a (n, k)`` as ``(n, 1, ...)``."""
    shape = (-1,) + (1,) * (p.ndim - 1)
    return p[..., 0], p[..., 1], p[..., 2], lambda i: a[:, i].reshape(shape)


def _round_box(q):
    """Signed distance of a box (or cylinder) from per-axis excesses ``q`` (each ``(n, ...)``)."""
    xp = _xp(q[0])
    m = q[0]
    for c in q[1:]:
        m = xp.maximum(m, c)
    return xp.where(m > 0, _norm(*[xp.maximum(c, 0.0) for c in q]), xp.minimum(m, 0.0))


def sdf_spheres(p, spheres):
    """Distances ``(S, ...)`` of points ``p (..., 3)`` to spheres ``(S, 4)``."""
    x, y, z, col = _columns(p, spheres)
    return _norm(x - col(0), y - col(1), z - col(2)) - col(3)


def sdf_boxes(p, boxes):
    """Distances ``(B, ...)`` of points ``p (..., 3)`` to yawed boxes ``(B, 7)``."""
    xp = _xp(p)
    x, y, z, col = _columns(p, boxes)
    dx, dy, dz = x - col(0), y - col(1), z - col(2)
    c, s = xp.cos(col(6)), xp.sin(col(6))
    return _round_box([xp.abs(c * dx + s * dy) - col(3), xp.abs(-s * dx + c * dy) - col(4), xp.abs(dz) - col(5)])


def sdf_cylinders(p, cylinders):
    """Distances ``(C, ...)`` of points ``p (..., 3)`` to vertical cylinders ``(C, 4)`` on the ground."""
    xp = _xp(p)
    x, y, z, col = _columns(p, cylinders)
    h = col(3) / 2
    return _round_box([_norm(x - col(0), y - col(1)) - col(2), xp.abs(z - h) - h])


def sdf_capsules(p, capsules):
    """Distances ``(P, ...)`` of points ``p (..., 3)`` to capsules ``(P, 7)``."""
    xp = _xp(p)
    x, y, z, col = _columns(p, capsules)
    ab = [col(3) - col(0), col(4) - col(1), col(5) - col(2)]
    ap = [x - col(0), y - col(1), z - col(2)]
    ab2 = xp.maximum(sum(c * c for c in ab), 1e-12)
    h = xp.clip(sum(u * v for u, v in zip(ap, ab)) / ab2, 0.0, 1.0)
    return _norm(*[u - h * v for u, v in zip(ap, ab)]) - col(6)


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
        d = xp.concatenate(parts, axis=0)
        if d.shape[0] > 32:
            return xp.min(d, axis=0)
        # A pairwise fold: the backward pass of a min-reduction is ~10x slower on XLA's CPU backend.
        out = d[0]
        for row in d[1:]:
            out = xp.minimum(out, row)
        return out


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
