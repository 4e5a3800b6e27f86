"""Quantisers for the motion tokenizer (Flax linen), in the vector-quantize-pytorch style.

Each quantiser maps latents ``z (B, N, d)`` to ``QuantizerOutput(quantized, indices, loss, usage)``
and decodes indices back with :meth:`decode_indices`:

- :class:`VectorQuantizer`: one codebook, EMA updates of the code vectors and dead-code reset
  (T2M-GPT); the codebook lives in the ``"quantizer"`` variable collection, updated when that
  collection is mutable during training.
- :class:`ResidualVQ`: several VQs, each quantising what the previous ones left (MoMask, SoundStream).
- :class:`FSQ`: finite scalar quantisation (Mentzer et al. 2023): bounded channels rounded to a
  few levels; no codebook to learn or collapse.

Gradients pass the quantiser straight through (``z + stop_gradient(q - z)``). Under data-parallel
``jit`` the EMA statistics are sums over the (sharded) batch, so every device sees the same update.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class QuantizerOutput(NamedTuple):
    """Result of a quantiser.

    Attributes:
        quantized: ``(B, N, d)`` quantised latents (straight-through gradient to the input).
        indices: ``(B, N)`` code indices, or ``(B, N, L)`` for ``L`` residual levels.
        loss: scalar commitment loss (already weighted).
        usage: ``(K,)`` or ``(L, K)`` code counts in this batch (masked frames excluded).
    """

    quantized: jax.Array
    indices: jax.Array
    loss: jax.Array
    usage: jax.Array


def _masked_mean(x: jax.Array, mask: jax.Array | None) -> jax.Array:
    if mask is None:
        return jnp.mean(x)
    w = jnp.broadcast_to(mask[..., None], x.shape)
    return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1.0)


class VectorQuantizer(nn.Module):
    """A codebook of ``num_codes`` vectors of size ``dim`` with EMA updates and dead-code reset.

    Attributes:
        num_codes: codebook size ``K``.
        dim: code dimension ``d``.
        decay: EMA decay of code counts and sums.
        commitment: weight of ``|z - sg(q)|^2``.
        dead_threshold: a code whose EMA count falls below this is reset to a random latent of the
            current batch (keeps the whole codebook in use on small corpora).
    """

    num_codes: int = 512
    dim: int = 64
    decay: float = 0.99
    commitment: float = 0.02
    dead_threshold: float = 1.0

    def setup(self) -> None:
        init = lambda: jax.random.normal(self.make_rng("params"), (self.num_codes, self.dim)) * 0.1  # noqa: E731
        self.codebook = self.variable("quantizer", "codebook", init)
        self.ema_count = self.variable("quantizer", "ema_count", lambda: jnp.ones((self.num_codes,)))
        self.ema_sum = self.variable("quantizer", "ema_sum", lambda: self.codebook.value.copy())

    def nearest(self, z: jax.Array) -> jax.Array:
        """Indices ``(...)`` of the nearest codes to ``z (..., d)``."""
        cb = self.codebook.value
        d2 = jnp.sum(z**2, -1, keepdims=True) - 2 * z @ cb.T + jnp.sum(cb**2, -1)
        return jnp.argmin(d2, axis=-1)

    def decode_indices(self, indices: jax.Array) -> jax.Array:
        """Code vectors ``(..., d)`` of ``indices (...)``."""
        return self.codebook.value[indices]

    def __call__(self, z: jax.Array, mask: jax.Array | None = None, train: bool = False) -> QuantizerOutput:
        """Quantise ``z (B, N, d)``; ``mask (B, N)`` marks real (not padded) positions."""
        idx = self.nearest(z)
        q = self.decode_indices(idx)
        loss = self.commitment * _masked_mean((z - jax.lax.stop_gradient(q)) ** 2, mask)
        w = jnp.ones(idx.shape) if mask is None else mask.astype(z.dtype)
        onehot = jax.nn.one_hot(idx, self.num_codes, dtype=z.dtype) * w[..., None]  # (B, N, K)
        usage = onehot.sum((0, 1))
        if train and self.is_mutable_collection("quantizer") and not self.is_initializing():
            flat_z = jax.lax.stop_gradient(z).reshape(-1, self.dim)
            sums = jnp.einsum("bnk,bnd->kd", onehot, jax.lax.stop_gradient(z))
            count = self.decay * self.ema_count.value + (1 - self.decay) * usage
            total = self.decay * self.ema_sum.value + (1 - self.decay) * sums
            codebook = total / jnp.maximum(count, 1e-5)[:, None]
            # Dead codes restart at random latents of this batch (T2M-GPT's reset).
            dead = count < self.dead_threshold
            pick = jax.random.choice(self.make_rng("quantizer"), flat_z.shape[0], (self.num_codes,), p=w.reshape(-1) / jnp.maximum(w.sum(), 1))
            fresh = flat_z[pick]
            self.codebook.value = jnp.where(dead[:, None], fresh, codebook)
            self.ema_sum.value = jnp.where(dead[:, None], fresh, total)
            self.ema_count.value = jnp.where(dead, 1.0, count)
        q = z + jax.lax.stop_gradient(q - z)
        return QuantizerOutput(q, idx, loss, usage)


class ResidualVQ(nn.Module):
    """``levels`` VQs on successive residuals; the code of a position is ``(L,)`` indices.

    Attributes:
        levels: number of residual quantisers ``L``.
        quantizer_dropout: during training, use only the first ``l ~ U{1..L}`` levels with this
            probability (MoMask), so coarse codes carry the most information.
    """

    levels: int = 4
    num_codes: int = 512
    dim: int = 64
    decay: float = 0.99
    commitment: float = 0.02
    dead_threshold: float = 1.0
    quantizer_dropout: float = 0.0

    def setup(self) -> None:
        self.vqs = [
            VectorQuantizer(self.num_codes, self.dim, self.decay, self.commitment, self.dead_threshold, name=f"vq_{i}")
            for i in range(self.levels)
        ]

    def decode_indices(self, indices: jax.Array) -> jax.Array:
        """Sum of the levels' code vectors ``(..., d)`` for ``indices (..., L)``."""
        return sum(vq.decode_indices(indices[..., i]) for i, vq in enumerate(self.vqs))

    def __call__(self, z: jax.Array, mask: jax.Array | None = None, train: bool = False) -> QuantizerOutput:
        residual, codes = z, jnp.zeros_like(z)
        keep = self.levels
        if train and self.quantizer_dropout > 0 and not self.is_initializing():
            rng = self.make_rng("quantizer")
            drop = jax.random.uniform(rng) < self.quantizer_dropout
            keep = jnp.where(drop, jax.random.randint(rng, (), 1, self.levels + 1), self.levels)
        idx, losses, usage = [], [], []
        for i, vq in enumerate(self.vqs):
            out = vq(residual, mask, train)
            on = jnp.asarray(i < keep, z.dtype)
            code = jax.lax.stop_gradient(vq.decode_indices(out.indices))
            codes = codes + on * code
            residual = residual - code  # the next level quantises what this one left
            idx.append(out.indices)
            losses.append(out.loss * on)
            usage.append(out.usage)
        quantized = z + jax.lax.stop_gradient(codes - z)  # one straight-through for the whole stack
        return QuantizerOutput(quantized, jnp.stack(idx, -1), sum(losses), jnp.stack(usage))


class FSQ(nn.Module):
    """Finite scalar quantisation with ``levels`` per channel (code dim ``len(levels)``).

    Each channel is squashed with ``tanh`` onto ``levels[i]`` integers and rounded (straight-through);
    codes are those integers scaled into ``[-1, 1]``. The implicit codebook has ``prod(levels)`` codes,
    indexed in mixed radix. There is no commitment loss and nothing to collapse.
    """

    levels: Sequence[int] = (8, 5, 5, 5)

    @property
    def num_codes(self) -> int:
        return int(np.prod(self.levels))

    def _consts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lv = np.asarray(self.levels)
        return lv, lv // 2, np.concatenate([[1], np.cumprod(lv[:-1])]).astype(np.int32)

    def decode_indices(self, indices: jax.Array) -> jax.Array:
        """Code vectors ``(..., len(levels))`` in ``[-1, 1]`` of ``indices (...)``."""
        lv, half, basis = self._consts()
        digits = (indices[..., None] // basis) % lv
        return (digits - half) / half

    def __call__(self, z: jax.Array, mask: jax.Array | None = None, train: bool = False) -> QuantizerOutput:
        lv, half, basis = self._consts()
        half_l = (lv - 1) * (1 + 1e-3) / 2
        offset = np.where(lv % 2 == 0, 0.5, 0.0)  # even counts sit on half-integers before the shift
        bounded = jnp.tanh(z + np.arctanh(offset / half_l)) * half_l - offset
        q = bounded + jax.lax.stop_gradient(jnp.round(bounded) - bounded)
        digits = jnp.clip(jnp.round(bounded).astype(jnp.int32) + half, 0, lv - 1)
        idx = jnp.sum(digits * basis, -1)
        w = jnp.ones(idx.shape) if mask is None else mask.astype(z.dtype)
        usage = (jax.nn.one_hot(idx, self.num_codes, dtype=z.dtype) * w[..., None]).sum((0, 1))
        return QuantizerOutput(q / half, idx, jnp.zeros((), z.dtype), usage)
