"""The trained tokenizer as one object: encode a Motion to tokens, decode tokens to a Motion.

Checkpoints are folders: ``state/`` (orbax: ``params`` and ``quantizer`` variables) and
``metadata.json`` (``schema``, ``schema_version``, ``motionfm_version``, ``config``, feature
``stats``, and what training recorded: data, steps, metrics). :func:`load_tokenizer` with no path
loads the shipped checkpoint ``checkpoints/tokenizer``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from motionfm.checkpoint import default_checkpoint_dir, load_checkpoint, save_checkpoint
from motionfm.motion import Motion
from motionfm.tokenizer.features import FeatureStats, features_to_qpos, qpos_to_features, start_pose
from motionfm.tokenizer.model import TokenizerConfig, TokenizerModel, pad_to_multiple

SCHEMA = "motionfm.tokenizer"
SCHEMA_VERSION = 1


class Tokens(NamedTuple):
    """A tokenised motion.

    Attributes:
        indices: ``(N,)`` code indices (``(N, L)`` for residual VQ), ``N = ceil(T / stride)``.
        latents: ``(N, d)`` continuous pre-quantisation latents (for latent diffusion).
        num_frames: frames ``T`` of the motion at the tokenizer's fps.
        start_xy: ``(2,)`` pelvis position at frame 0 (the decoder integrates from it).
        start_yaw: heading at frame 0.
    """

    indices: np.ndarray
    latents: np.ndarray
    num_frames: int
    start_xy: np.ndarray
    start_yaw: float


@dataclasses.dataclass(frozen=True, eq=False)
class Tokenizer:
    """A trained motion tokenizer (immutable). Build with :func:`load_tokenizer`.

    Attributes:
        config: the architecture.
        variables: ``{"params": ..., "quantizer": ...}``.
        stats: feature normalisation.
        metadata: the checkpoint's ``metadata.json``.
    """

    config: TokenizerConfig
    variables: dict[str, Any]
    stats: FeatureStats
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def model(self) -> TokenizerModel:
        return TokenizerModel(self.config)

    # ------------------------------------------------------------------ JAX-level (batched, jit-able)
    def encode_features(self, feats: jax.Array) -> jax.Array:
        """Latents ``(B, T/stride, d)`` of unnormalised features ``(B, T, 67)`` (``T`` a multiple of stride)."""
        return self.model.apply(self.variables, self.stats.normalize(feats), method=TokenizerModel.encode)

    def quantize(self, latents: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(quantized (B, N, d), indices)`` of latents ``(B, N, d)``."""
        out = self.model.apply(self.variables, latents, method=TokenizerModel.quantize)
        return out.quantized, out.indices

    def decode_latents(self, latents: jax.Array) -> jax.Array:
        """Unnormalised features ``(B, N*stride, 67)`` of (quantised or continuous) latents ``(B, N, d)``.

        Differentiable: guidance costs take gradients through this and the FK.
        """
        return self.stats.denormalize(self.model.apply(self.variables, latents, method=TokenizerModel.decode))

    def decode_indices(self, indices: jax.Array) -> jax.Array:
        """Unnormalised features ``(B, N*stride, 67)`` of code indices ``(B, N[, L])``."""
        return self.stats.denormalize(self.model.apply(self.variables, indices, method=TokenizerModel.decode_indices))

    # ------------------------------------------------------------------ Motion-level
    @functools.cached_property
    def _encode_jit(self):
        def enc(qpos: jax.Array):
            feats, _ = pad_to_multiple(qpos_to_features(qpos, self.config.fps)[None], self.config.stride)
            z = self.encode_features(feats)
            _, idx = self.quantize(z)
            return z[0], idx[0]

        return jax.jit(enc)

    @functools.cached_property
    def _decode_jit(self):
        def dec(indices: jax.Array, xy: jax.Array, yaw: jax.Array):
            return features_to_qpos(self.decode_indices(indices[None])[0], self.config.fps, xy, yaw)

        return jax.jit(dec)

    def encode(self, motion: Motion) -> Tokens:
        """Tokens of a motion (resampled to the tokenizer's fps first)."""
        m = motion.resample(self.config.fps)
        qpos = jnp.asarray(m.qpos, jnp.float32)
        z, idx = self._encode_jit(qpos)
        xy, yaw = start_pose(qpos)
        return Tokens(np.asarray(idx), np.asarray(z), m.num_frames, np.asarray(xy), float(yaw))

    def decode(self, tokens: Tokens, name: str = "", captions: tuple[str, ...] = ()) -> Motion:
        """The motion of ``tokens``, integrated from their start pose."""
        qpos = self._decode_jit(jnp.asarray(tokens.indices), jnp.asarray(tokens.start_xy), jnp.asarray(tokens.start_yaw))
        return Motion.from_qpos(np.asarray(qpos, np.float64)[: tokens.num_frames], self.config.fps, name=name, captions=captions)

    def reconstruct(self, motion: Motion) -> Motion:
        """``decode(encode(motion))`` (at the tokenizer's fps; the joint mask is kept)."""
        out = self.decode(self.encode(motion), motion.name, motion.captions)
        return out.replace(joint_mask=motion.joint_mask)


# ---------------------------------------------------------------------- checkpoints
def save_tokenizer(path: str | os.PathLike, tokenizer: Tokenizer) -> Path:
    """Write a checkpoint folder (replacing ``path`` only once the new one is complete)."""
    state = {k: tokenizer.variables[k] for k in ("params", "quantizer") if k in tokenizer.variables}
    meta = {
        **tokenizer.metadata,
        "config": dataclasses.asdict(tokenizer.config),
        "stats": {"mean": np.asarray(tokenizer.stats.mean).tolist(), "std": np.asarray(tokenizer.stats.std).tolist()},
    }
    return save_checkpoint(path, state, meta, SCHEMA, SCHEMA_VERSION)


def load_tokenizer(path: str | os.PathLike | None = None) -> Tokenizer:
    """Load a tokenizer checkpoint folder (default: the shipped ``checkpoints/tokenizer``).

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: not a tokenizer checkpoint, or a newer schema than this motionfm reads.
    """
    path = Path(path) if path is not None else default_checkpoint_dir() / "tokenizer"
    variables, meta = load_checkpoint(path, SCHEMA, SCHEMA_VERSION)
    cfg = dict(meta["config"])
    config = TokenizerConfig(**{**cfg, "fsq_levels": tuple(cfg.get("fsq_levels", ()))})
    stats = FeatureStats(jnp.asarray(meta["stats"]["mean"], jnp.float32), jnp.asarray(meta["stats"]["std"], jnp.float32))
    return Tokenizer(config, variables, stats, meta)
