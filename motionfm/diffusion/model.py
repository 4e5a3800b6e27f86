"""Latent denoiser: a DiT-style transformer over the tokenizer's latent sequence (Flax linen).

Inputs per example: the noisy latents ``x_t (N, d)``, the timestep, a sentence embedding of the text
``(384,)`` with a validity flag (classifier-free guidance drops it), and *observed* latents
``obs (N, d)`` with ``obs_mask (N,)``. Observations enter as extra input channels
``[x_t, obs * m, m]``, so keyframe inpainting and streaming continuation (history = observed prefix)
are one mechanism. Timestep and text condition every block through adaptive LayerNorm with
zero-initialised gates (AdaLN-Zero, DiT), which is cheap for short weak-label captions; padded
positions are masked out of attention.

Optionally (``DenoiserConfig.text_tokens > 0``) every block also cross-attends to the text's
per-token MiniLM states ``(L, 384)``: the pooled embedding barely separates the words motion depends
on ("left"/"right" hand: cosine 0.979), the token states do. The cross-attention output is gated by
a zero-initialised AdaLN gate, so an untrained cross-attention is the identity and such a model
starts as the pooled-only one.
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
        text_tokens: token length ``L`` of the text cross-attention context (its positional table
            size); ``0`` means no cross-attention: the pooled embedding alone conditions the model,
            which is the parameter tree of every checkpoint trained before cross-attention existed
            (their configs lack the key, hence the default). Positive values add per-token text
            conditioning, which separates words the pooled embedding blurs (left/right, hand/foot).
    """

    latent_dim: int = 64
    width: int = 256
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    text_dim: int = 384
    max_tokens: int = 128
    text_tokens: int = 0


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
    """Sinusoidal embedding ``(B, dim)`` of timesteps ``t (B,)``."""
    half = dim // 2
    freqs = jnp.exp(-jnp.log(max_period) * jnp.arange(half) / half)
    args = t.astype(jnp.float32)[:, None] * freqs[None]
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


def _modulate(x: jax.Array, shift: jax.Array, scale: jax.Array) -> jax.Array:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Self-attention, optional cross-attention to text tokens, and MLP, each modulated by the
    condition ``c (B, W)`` and gated (zero-init)."""

    width: int
    heads: int
    mlp_ratio: int

    @nn.compact
    def __call__(self, h: jax.Array, c: jax.Array, attn_mask: jax.Array,
                 context: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
        """``h (B, N, W)`` → ``(B, N, W)``; ``context``: text tokens ``(B, K, W)`` and their mask ``(B, K)``."""
        mod = nn.Dense(6 * self.width, kernel_init=nn.initializers.zeros)(nn.silu(c))
        s1, sc1, g1, s2, sc2, g2 = jnp.split(mod, 6, axis=-1)
        x = _modulate(nn.LayerNorm(use_scale=False, use_bias=False)(h), s1, sc1)
        x = nn.MultiHeadDotProductAttention(num_heads=self.heads)(x, x, mask=attn_mask)
        h = h + g1[:, None] * x
        if context is not None:
            # Named modules: the unnamed ones above and below keep their auto-names, so the
            # parameter tree without cross-attention is exactly the old one.
            ctx, ctx_mask = context
            s3, sc3, g3 = jnp.split(nn.Dense(3 * self.width, kernel_init=nn.initializers.zeros, name="cross_mod")(nn.silu(c)), 3, axis=-1)
            x = _modulate(nn.LayerNorm(use_scale=False, use_bias=False, name="cross_norm")(h), s3, sc3)
            # Only keys are masked (every latent query sees at least the null token, see Denoiser).
            x = nn.MultiHeadDotProductAttention(num_heads=self.heads, name="cross_attn")(x, ctx, mask=ctx_mask[:, None, None, :])
            h = h + g3[:, None] * x
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
        *,
        text_tokens: jax.Array | None = None,
        text_token_mask: jax.Array | None = None,
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
            text_tokens: per-token text states ``(B, L, 384)`` (``TextEncoder.encode_tokens``,
                ``L <= config.text_tokens``); required when ``config.text_tokens > 0``, ignored otherwise.
            text_token_mask: ``(B, L)`` real text tokens; required with ``text_tokens``.

        Raises:
            ValueError: ``config.text_tokens > 0`` and the token arguments are missing or too long.
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
        context = self._text_context(text_tokens, text_token_mask, text_valid) if c.text_tokens > 0 else None
        for _ in range(c.depth):
            h = DiTBlock(c.width, c.heads, c.mlp_ratio)(h, cond, attn_mask, context)
        shift, scale = jnp.split(nn.Dense(2 * c.width, kernel_init=nn.initializers.zeros)(nn.silu(cond)), 2, axis=-1)
        h = _modulate(nn.LayerNorm(use_scale=False, use_bias=False)(h), shift, scale)
        return nn.Dense(c.latent_dim, kernel_init=nn.initializers.zeros)(h)

    def _text_context(self, text_tokens: jax.Array | None, text_token_mask: jax.Array | None,
                      text_valid: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Cross-attention context ``(B, 1 + L, W)`` and its mask ``(B, 1 + L)``, shared by all blocks.

        Position 0 is a learned null token, always valid: it is the whole context of rows with
        ``text_valid`` False (their real tokens are masked out, so classifier-free guidance's
        unconditional branch never sees the text), and every row has at least one key, so an
        all-False ``text_token_mask`` cannot give a NaN softmax.
        """
        c = self.config
        if text_tokens is None or text_token_mask is None:
            raise ValueError(f"this denoiser cross-attends to text tokens (text_tokens={c.text_tokens}): "
                             "pass text_tokens (B, L, 384) and text_token_mask (B, L)")
        b, n = text_token_mask.shape
        if text_tokens.shape != (b, n, c.text_dim) or n > c.text_tokens:
            raise ValueError(f"text_tokens {text_tokens.shape} / text_token_mask {text_token_mask.shape}: "
                             f"expected (B, L, {c.text_dim}) / (B, L) with L <= {c.text_tokens}")
        pos = self.param("text_token_pos", nn.initializers.normal(0.02), (c.text_tokens, c.width))
        null = self.param("null_text_token", nn.initializers.normal(0.02), (c.width,))
        ctx = nn.Dense(c.width, name="text_token_proj")(text_tokens.astype(jnp.float32)) + pos[:n][None]
        ctx = jnp.concatenate([jnp.broadcast_to(null, (b, 1, c.width)), ctx], axis=1)
        mask = jnp.concatenate([jnp.ones((b, 1), bool), text_token_mask.astype(bool) & text_valid[:, None]], axis=1)
        return ctx, mask
