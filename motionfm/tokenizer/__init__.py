"""VQ motion tokenizer: heading-invariant features, conv encoder/decoder, VQ/RVQ/FSQ quantisers.

Public entry points: :func:`load_tokenizer` (shipped checkpoint by default) returning a
:class:`Tokenizer` with ``encode``/``decode``/``reconstruct`` on :class:`~motionfm.Motion` and
batched JAX ``encode_features``/``decode_latents`` for the diffusion and guidance stages.
Training lives in :mod:`motionfm.tokenizer.train`, metrics in :mod:`motionfm.tokenizer.evaluate`.
"""

from motionfm.tokenizer.features import (
    FEATURE_DIM, FEATURE_SLICES, FeatureStats, feature_mask, features_to_qpos, heading, heading_velocity, qpos_to_features,
    start_pose,
)
from motionfm.tokenizer.model import PRESETS, TokenizerConfig, TokenizerModel
from motionfm.tokenizer.quantizers import FSQ, QuantizerOutput, ResidualVQ, VectorQuantizer
from motionfm.tokenizer.tokenizer import Tokenizer, Tokens, load_tokenizer, save_tokenizer

__all__ = [
    "FEATURE_DIM", "FEATURE_SLICES", "FSQ", "FeatureStats", "PRESETS", "QuantizerOutput", "ResidualVQ", "Tokenizer",
    "TokenizerConfig", "TokenizerModel", "Tokens", "VectorQuantizer", "feature_mask", "features_to_qpos",
    "heading", "heading_velocity", "load_tokenizer", "qpos_to_features", "save_tokenizer", "start_pose",
]
