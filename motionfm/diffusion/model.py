"""Latent denoiser: a DiT-style transformer over the tokenizer's latent sequence (Flax linen).

Inputs per example: the noisy latents ``x_t (N, d)``, the timestep, a sentence embedding of the text
``(384,)`` with a validity flag (classifier-free guidance drops it), and *observed* latents
``obs (N, d)`` with ``obs_mask (N,)``. Observations enter as extra input channels
``[x_t, obs * m, m]``, so keyframe inpainting and streaming continuation (history = observed prefix)
are one mechanism. Timestep and text condition every block through adaptive LayerNorm with
zero-initialised gates (AdaLN-Zero, DiT), which is cheap for short weak-label captions; padded
positions are masked out of attention.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class DenoiserConfig:
    """Shape of the denoiser.

    Attributes:
        latent_dim: tokenizer latent size ``d``.
        width: transformer width.
        depth: transformer blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden size over width.
        text_dim: sentence-embedding size (MiniLM: 384).
        max_tokens: longest latent sequence (positional table size).
    """

    latent_dim: int = 64
    width: int = 256
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    text_dim: int = 384
    max_tokens: int = 128


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
    """Sinusoidal embedding ``(B, dim)`` of timesteps ``t (B,)``."""
    half = dim // 2
    freqs = jnp.exp(-jnp.log(max_period) * jnp.arange(half) / half)
    args = t.astype(jnp.float32)[:, None] * freqs[None]
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


def _modulate(x: jax.Array, shift: jax.Array, scale: jax.Array) -> jax.Array:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Self-attention + MLP, each modulated by the condition ``c (B, W)`` and gated (zero-init)."""

    width: int
    heads: int
    mlp_ratio: int

    @nn.compact
    def __call__(self, h: jax.Array, c: jax.Array, attn_mask: jax.Array) -> jax.Array:
        mod = nn.Dense(6 * self.width, kernel_init=nn.initializers.zeros)(nn.silu(c))
        s1, sc1, g1, s2, sc2, g2 = jnp.split(mod, 6, axis=-1)
        x = _modulate(nn.LayerNorm(use_scale=False, use_bias=False)(h), s1, sc1)
        x = nn.MultiHeadDotProductAttention(num_heads=self.heads)(x, x, mask=attn_mask)
        h = h + g1[:, None] * x
        x = _modulate(nn.LayerNorm(use_scale=False, use_bias=False)(h), s2, sc2)
        x = nn.Dense(self.width)(nn.gelu(nn.Dense(self.width * self.mlp_ratio)(x)))
        return h + g2[:, None] * x


class Denoiser(nn.Module):
    """Predicts the diffusion target (epsilon, x0 or v) of latent sequences."""

    config: DenoiserConfig

    @nn.compact
    def __call__(
        self,
        x_t: jax.Array,
        t: jax.Array,
        text: jax.Array,
        text_valid: jax.Array,
        obs: jax.Array,
        obs_mask: jax.Array,
        token_mask: jax.Array,
    ) -> jax.Array:
        """Model output ``(B, N, d)``.

        Args:
            x_t: noisy latents ``(B, N, d)`` (normalised).
            t: timesteps ``(B,)``.
            text: sentence embeddings ``(B, 384)``.
            text_valid: ``(B,)``; ``False`` uses the learned null condition (CFG's unconditional).
            obs: observed latents ``(B, N, d)`` (any value where unobserved).
            obs_mask: ``(B, N)`` observed positions.
            token_mask: ``(B, N)`` real (not padded) positions.
        """
        c = self.config
        n = x_t.shape[1]
        m = obs_mask.astype(x_t.dtype)[..., None]
        h = nn.Dense(c.width)(jnp.concatenate([x_t, obs * m, m], axis=-1))
        pos = self.param("pos_embedding", nn.initializers.normal(0.02), (c.max_tokens, c.width))
        h = h + pos[:n][None]
        null = self.param("null_text", nn.initializers.normal(0.02), (c.text_dim,))
        text = jnp.where(text_valid[:, None], text, null[None])
        cond = nn.Dense(c.width)(nn.silu(nn.Dense(c.width)(timestep_embedding(t, c.width))))
        cond = cond + nn.Dense(c.width)(nn.silu(nn.Dense(c.width)(text)))
        attn_mask = nn.make_attention_mask(token_mask, token_mask)
        for _ in range(c.depth):
            h = DiTBlock(c.width, c.heads, c.mlp_ratio)(h, cond, attn_mask)
        shift, scale = jnp.split(nn.Dense(2 * c.width, kernel_init=nn.initializers.zeros)(nn.silu(cond)), 2, axis=-1)
        h = _modulate(nn.LayerNorm(use_scale=False, use_bias=False)(h), shift, scale)
        return nn.Dense(c.latent_dim, kernel_init=nn.initializers.zeros)(h)
