"""The contrastive text-motion evaluator: a motion encoder and a text head into one 256-d space.

Motion side: a window ``(B, W, 67)`` of normalised :func:`~motionfm.tokenizer.features.qpos_to_features`
channels (missing joints zeroed by the joint mask) → per-frame linear → two strided temporal
convolutions (``W / 4`` tokens) → a small pre-LN transformer with padding masks → masked mean pool →
linear → L2 normalisation. Text side: the frozen MiniLM sentence embedding ``(B, 384)`` → MLP →
L2 normalisation. Trained with a symmetric InfoNCE (CLIP) loss and a learnable temperature; see
:func:`clip_loss`.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """Shape of the evaluator.

    Attributes:
        fps: frame rate of the windows (motions are resampled to it).
        window: window length in frames (120 = 4 s at 30 fps); a multiple of 4.
        width: hidden width of the motion encoder.
        depth, heads: transformer layers and attention heads.
        embed_dim: size of the shared embedding space.
        text_dim: size of the sentence embeddings (MiniLM: 384).
        text_hidden: hidden width of the text head.
        dropout: dropout rate in training.
    """

    fps: float = 30.0
    window: int = 120
    width: int = 128
    depth: int = 2
    heads: int = 4
    embed_dim: int = 256
    text_dim: int = 384
    text_hidden: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.window % 4 or self.window < 8:
            raise ValueError(f"window must be a multiple of 4 (>= 8), got {self.window}")


def _l2(x: jax.Array) -> jax.Array:
    return x / jnp.sqrt(jnp.sum(x**2, axis=-1, keepdims=True) + 1e-12)


class _Block(nn.Module):
    width: int
    heads: int
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, train: bool) -> jax.Array:
        attn_mask = nn.make_attention_mask(mask, mask)
        h = nn.MultiHeadDotProductAttention(self.heads, dropout_rate=self.dropout, deterministic=not train)(
            nn.LayerNorm()(x), mask=attn_mask
        )
        x = x + nn.Dropout(self.dropout, deterministic=not train)(h)
        h = nn.Dense(self.width)(nn.gelu(nn.Dense(4 * self.width)(nn.LayerNorm()(x))))
        return x + nn.Dropout(self.dropout, deterministic=not train)(h)


class MotionEncoder(nn.Module):
    """``(x (B, W, 67), frame_mask (B, W)) -> (B, embed_dim)`` unit-norm motion embeddings."""

    cfg: EvaluatorConfig

    @nn.compact
    def __call__(self, x: jax.Array, frame_mask: jax.Array, train: bool = False) -> jax.Array:
        c = self.cfg
        fmask = frame_mask.astype(bool)
        h = nn.Dense(c.width)(x * fmask[..., None])
        for _ in range(2):  # each halves the time axis; SAME padding keeps ceil(T / 2)
            h = nn.gelu(nn.Conv(c.width, (5,), strides=(2,), padding="SAME")(h))
        n = h.shape[1]
        tmask = fmask[:, ::4][:, :n]  # a token counts if the first frame it starts on is real
        pos = self.param("pos", nn.initializers.normal(0.02), (c.window // 4, c.width))
        h = h + pos[None, :n]
        for _ in range(c.depth):
            h = _Block(c.width, c.heads, c.dropout)(h, tmask, train)
        h = nn.LayerNorm()(h)
        w = tmask.astype(h.dtype)[..., None]
        pooled = jnp.sum(h * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)
        return _l2(nn.Dense(c.embed_dim)(pooled))


class TextHead(nn.Module):
    """``(B, text_dim)`` frozen sentence embeddings ``-> (B, embed_dim)`` unit-norm text embeddings."""

    cfg: EvaluatorConfig

    @nn.compact
    def __call__(self, e: jax.Array, train: bool = False) -> jax.Array:
        h = nn.gelu(nn.Dense(self.cfg.text_hidden)(e))
        h = nn.Dropout(self.cfg.dropout, deterministic=not train)(h)
        return _l2(nn.Dense(self.cfg.embed_dim)(h))


class EvaluatorModel(nn.Module):
    """Both towers and the learnable temperature; ``__call__`` returns ``(motion_emb, text_emb, logit_scale)``."""

    cfg: EvaluatorConfig

    def setup(self) -> None:
        self.motion = MotionEncoder(self.cfg)
        self.text = TextHead(self.cfg)
        # CLIP's initial temperature 0.07, stored as log(1 / T)
        self.logit_scale = self.param("logit_scale", nn.initializers.constant(np.log(1 / 0.07)), ())

    def __call__(self, x: jax.Array, frame_mask: jax.Array, text: jax.Array, train: bool = False):
        return self.motion(x, frame_mask, train), self.text(text, train), self.logit_scale

    def embed_motion(self, x: jax.Array, frame_mask: jax.Array) -> jax.Array:
        return self.motion(x, frame_mask, False)

    def embed_text(self, text: jax.Array) -> jax.Array:
        return self.text(text, False)


def clip_loss(
    motion_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array, compatible: jax.Array, valid: jax.Array,
    max_scale: float = 100.0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Symmetric InfoNCE over a batch of matched pairs ``(B, D)``.

    Args:
        motion_emb, text_emb: unit-norm embeddings; row ``i`` of each is a positive pair.
        logit_scale: ``log(1 / temperature)`` (clipped so the scale stays below ``max_scale``).
        compatible: ``(B, B)`` bool, ``[i, j]`` true when caption ``j`` also describes motion ``i``
            (the same text, or another caption of the same clip). Such off-diagonal pairs are
            removed from both softmaxes instead of being pushed apart as negatives.
        valid: ``(B,)`` bool, examples that have a caption (others neither count nor act as negatives).

    Returns:
        ``(loss, metrics)``: mean of the two cross-entropies; ``acc`` is the motion-to-text top-1 accuracy.
    """
    scale = jnp.exp(jnp.minimum(logit_scale, jnp.log(max_scale)))
    logits = scale * motion_emb @ text_emb.T
    eye = jnp.eye(logits.shape[0], dtype=bool)
    drop = (compatible & ~eye) | ~(valid[:, None] & valid[None, :])
    logits = jnp.where(drop & ~eye, -1e9, logits)
    w = valid.astype(jnp.float32)
    diag = jnp.diagonal(logits)
    m2t = jax.nn.logsumexp(logits, axis=1) - diag
    t2m = jax.nn.logsumexp(logits, axis=0) - diag
    loss = jnp.sum((m2t + t2m) * w) / (2 * jnp.maximum(w.sum(), 1))
    acc = jnp.sum((jnp.argmax(logits, axis=1) == jnp.arange(logits.shape[0])) * w) / jnp.maximum(w.sum(), 1)
    return loss, {"loss": loss, "acc": acc, "temperature": 1.0 / scale}
