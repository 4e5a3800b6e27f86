"""The motion tokenizer network: temporal conv encoder/decoder around a quantiser (Flax linen).

``(B, T, 67)`` normalised features → encoder (4x temporal downsampling) → latents ``(B, T/4, d)``
→ quantiser → decoder → ``(B, T, 67)``. ``T`` must be a multiple of 4 (callers pad, see
:func:`pad_to_multiple`). The layout follows T2M-GPT's VQ-VAE: strided convs down, nearest-neighbour
upsampling + conv up, dilated residual blocks at every scale.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from motionfm.tokenizer.features import FEATURE_DIM
from motionfm.tokenizer.quantizers import FSQ, QuantizerOutput, ResidualVQ, VectorQuantizer


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    """Architecture of the tokenizer and the motion it reads.

    Attributes:
        quantizer: ``"vq"`` (one EMA codebook), ``"rvq"`` (residual VQ) or ``"fsq"``.
        width: channels of the conv trunk.
        depth: residual blocks per scale (dilations 1, 3, 9, ...).
        downsample: number of x2 temporal downsamplings (2: 4x).
        code_dim: latent size ``d`` for VQ/RVQ (FSQ uses ``len(fsq_levels)``).
        num_codes: codebook size (per level for RVQ).
        rvq_levels: residual levels.
        quantizer_dropout: RVQ level dropout probability during training.
        fsq_levels: FSQ levels per channel.
        commitment: VQ commitment weight.
        fps: frame rate the tokenizer works at.
        window: training window length in frames.
    """

    quantizer: Literal["vq", "rvq", "fsq"] = "rvq"
    width: int = 128
    depth: int = 2
    downsample: int = 2
    code_dim: int = 64
    num_codes: int = 256
    rvq_levels: int = 4
    quantizer_dropout: float = 0.2
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)
    commitment: float = 0.02
    fps: float = 30.0
    window: int = 64

    @property
    def stride(self) -> int:
        """Frames per latent token (``2 ** downsample``)."""
        return 2**self.downsample

    @property
    def latent_dim(self) -> int:
        """Size of one latent token."""
        return len(self.fsq_levels) if self.quantizer == "fsq" else self.code_dim


class Conv(nn.Module):
    """Stride-1 'SAME' temporal convolution as one matmul over shifted copies of the input.

    The same parameters (``kernel (k, C_in, C_out)``, ``bias``) and outputs as ``nn.Conv``; used
    where the decoder's gradient is taken inside loops (guidance), because XLA's CPU backend runs
    a convolution's input gradient inside a while loop ~2.5x slower than at top level, and a
    matmul's not at all.
    """

    features: int
    kernel_size: tuple[int, ...]
    kernel_dilation: tuple[int, ...] = (1,)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        (k,), (d,) = self.kernel_size, self.kernel_dilation
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if k == 1:
            return x @ kernel[0] + bias
        left = d * (k - 1) // 2
        t = x.shape[-2]
        xp = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(left, d * (k - 1) - left), (0, 0)])
        taps = jnp.concatenate([xp[..., j * d : j * d + t, :] for j in range(k)], axis=-1)  # (..., T, k*C_in)
        return taps @ kernel.reshape(k * x.shape[-1], self.features) + bias


class ResBlock(nn.Module):
    """Pre-activation dilated residual block over time: ``x + conv1(relu(conv3_dilated(relu(x))))``."""

    width: int
    dilation: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = Conv(self.width, (3,), kernel_dilation=(self.dilation,))(nn.relu(x))
        return x + Conv(self.width, (1,))(nn.relu(h))


class Encoder(nn.Module):
    """``(B, T, C) -> (B, T / 2**downsample, out_dim)``."""

    width: int
    depth: int
    downsample: int
    out_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(self.width, (3,))(x))
        for _ in range(self.downsample):
            x = nn.Conv(self.width, (4,), strides=(2,), padding=((1, 1),))(x)
            for d in range(self.depth):
                x = ResBlock(self.width, 3**d)(x)
        return nn.Conv(self.out_dim, (3,))(x)


class Decoder(nn.Module):
    """``(B, N, d) -> (B, N * 2**downsample, out_dim)``."""

    width: int
    depth: int
    downsample: int
    out_dim: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        x = nn.relu(Conv(self.width, (3,))(z))
        for _ in range(self.downsample):
            for d in reversed(range(self.depth)):
                x = ResBlock(self.width, 3**d)(x)
            x = Conv(self.width, (3,))(jnp.repeat(x, 2, axis=1))
        x = nn.relu(Conv(self.width, (3,))(x))
        return Conv(self.out_dim, (3,))(x)


class TokenizerModel(nn.Module):
    """Encoder, quantiser and decoder. Variables: ``params`` and ``quantizer`` (codebook EMA state)."""

    config: TokenizerConfig

    def setup(self) -> None:
        c = self.config
        self.encoder = Encoder(c.width, c.depth, c.downsample, c.latent_dim)
        self.decoder = Decoder(c.width, c.depth, c.downsample, FEATURE_DIM)
        if c.quantizer == "vq":
            self.quantizer = VectorQuantizer(c.num_codes, c.code_dim, commitment=c.commitment)
        elif c.quantizer == "rvq":
            self.quantizer = ResidualVQ(c.rvq_levels, c.num_codes, c.code_dim, commitment=c.commitment,
                                        quantizer_dropout=c.quantizer_dropout)
        elif c.quantizer == "fsq":
            self.quantizer = FSQ(tuple(c.fsq_levels))
        else:
            raise ValueError(f"unknown quantizer {c.quantizer!r}: use 'vq', 'rvq' or 'fsq'")

    def encode(self, x: jax.Array) -> jax.Array:
        """Continuous pre-quantisation latents ``(B, T/stride, d)`` of normalised features ``(B, T, 67)``."""
        return self.encoder(x)

    def quantize(self, z: jax.Array, mask: jax.Array | None = None, train: bool = False) -> QuantizerOutput:
        """Quantise latents ``(B, N, d)``; ``mask (B, N)`` marks real tokens."""
        return self.quantizer(z, mask, train)

    def decode(self, q: jax.Array) -> jax.Array:
        """Normalised features ``(B, N*stride, 67)`` of (quantised) latents ``(B, N, d)``."""
        return self.decoder(q)

    def decode_indices(self, indices: jax.Array) -> jax.Array:
        """Normalised features of code indices ``(B, N)`` (``(B, N, L)`` for RVQ)."""
        return self.decoder(self.quantizer.decode_indices(indices))

    def __call__(self, x: jax.Array, frame_mask: jax.Array | None = None, train: bool = False):
        """Reconstruct ``x (B, T, 67)``; returns ``(x_hat (B, T, 67), QuantizerOutput)``."""
        z = self.encode(x)
        token_mask = None if frame_mask is None else frame_mask[:, :: self.config.stride]
        out = self.quantize(z, token_mask, train)
        return self.decode(out.quantized), out


def pad_to_multiple(x: jax.Array, multiple: int, axis: int = 1) -> tuple[jax.Array, int]:
    """Pad ``x`` along ``axis`` by repeating its last entry up to a multiple of ``multiple``."""
    n = x.shape[axis]
    pad = (-n) % multiple
    if pad:
        last = jax.lax.slice_in_dim(x, n - 1, n, axis=axis)
        x = jnp.concatenate([x, jnp.repeat(last, pad, axis=axis)], axis=axis)
    return x, n


PRESETS: dict[str, TokenizerConfig] = {
    "small": TokenizerConfig(width=192, code_dim=128, rvq_levels=12, quantizer_dropout=0.1),
    "small-rvq4": TokenizerConfig(),
    "small-vq": TokenizerConfig(quantizer="vq", num_codes=512),
    "small-fsq": TokenizerConfig(quantizer="fsq", fsq_levels=(8, 5, 5, 5)),
    "large": TokenizerConfig(width=512, depth=3, code_dim=512, num_codes=512, rvq_levels=6, window=96),
}
"""Named configurations: ``small*`` train on 2 CPU cores in under an hour; ``large`` is for GPUs."""
