"""Input pipeline: seeded shuffled batches from a random-access source, mirroring, device sharding.

A *source* is anything with ``len()`` and ``source[i]`` returning an example dict (optionally
``__getitems__`` for batched reads): the tfds data source from :func:`~motionfm.data.dataset.load_split`,
or a plain list of dicts in tests. Batches are dicts of numpy arrays with the batch axis first;
text fields become ``str`` arrays (``captions``: an object array of tuples) and stay on the host.

A source may also say how often each of its parts is drawn per epoch (``epoch_parts``, as a
weighted :class:`ConcatSource` does); :class:`BatchIterator` composes its epochs from that.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from motionfm.data.corpus import mirror_caption
from motionfm.robot.g1 import mirror_qpos

Batch = dict[str, np.ndarray]
_NARROW = {np.dtype(np.int64): np.dtype(np.int32), np.dtype(np.float64): np.dtype(np.float32)}


class Source(Protocol):
    """A random-access sequence of example dicts."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Mapping[str, Any]: ...


def fetch(source: Source, indices: Iterable[int]) -> list[Mapping[str, Any]]:
    """Examples ``source[i]`` for ``indices``, in one batched read when the source supports it."""
    indices = [int(i) for i in indices]
    get_many = getattr(source, "__getitems__", None)
    return list(get_many(indices)) if get_many is not None else [source[i] for i in indices]


class ConcatSource:
    """Several random-access sources read as one (e.g. the same split of several corpora).

    ``weights`` (one per source, > 0; default 1 each) set how often a source's examples are drawn:
    each epoch of a :class:`BatchIterator` takes ``round(weight * len(source))`` examples of it (all
    of them ``floor(weight)`` times, plus a fresh random subset for the fraction), so a source's
    share of the draws is ``weight * len / sum(weight * len)``. With all weights 1 an epoch is one
    permutation of everything, i.e. sources mix in proportion to their size.
    """

    def __init__(self, sources: Iterable[Source], weights: Sequence[float] | None = None):
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])
        weights = [1.0] * len(self.sources) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.sources) or not all(np.isfinite(w) and w > 0 for w in weights):
            raise ValueError(f"ConcatSource: need one finite weight > 0 per source ({len(self.sources)}), got {weights}")
        self.weights = tuple(weights)

    @property
    def epoch_parts(self) -> tuple[tuple[int, int, int], ...]:
        """``(offset, size, draws per epoch)`` of each non-empty source."""
        return tuple((int(o), len(s), max(1, round(w * len(s))))
                     for o, s, w in zip(self.offsets, self.sources, self.weights) if len(s))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> Mapping[str, Any]:
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.sources[k][int(i - self.offsets[k])]


def collate(examples: list[Mapping[str, Any]]) -> Batch:
    """Stack example dicts into a batch: arrays ``(B, ...)``; bytes to ``str``; lists to tuples.

    64-bit numbers become 32-bit (JAX's default precision; tfds decodes int scalars as Python ints).
    """
    batch: Batch = {}
    for key in examples[0]:
        values = [e[key] for e in examples]
        if isinstance(values[0], (bytes, str)):
            batch[key] = np.array([v.decode() if isinstance(v, bytes) else v for v in values])
        elif isinstance(values[0], (list, tuple)):  # e.g. captions: ragged, kept as tuples of str
            batch[key] = np.empty(len(values), object)
            for i, v in enumerate(values):
                batch[key][i] = tuple(s.decode() if isinstance(s, bytes) else s for s in v)
        else:
            arr = np.stack([np.asarray(v) for v in values])
            batch[key] = arr.astype(_NARROW.get(arr.dtype, arr.dtype), copy=False)
    return batch


def _parts(source: Source) -> tuple[tuple[int, int, int], ...]:
    """``(offset, size, draws)`` of the source's parts; one part drawn once per epoch by default."""
    parts = getattr(source, "epoch_parts", None)
    return tuple(parts) if parts is not None else ((0, len(source), len(source)),)


@functools.lru_cache(maxsize=4)
def _epoch_plan(seed: int, epoch: int, parts: tuple[tuple[int, int, int], ...], shuffle: bool,
                mirror_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Example order ``(E,)`` and mirror flags ``(E,)`` of one epoch (``E = sum(draws)``): a pure
    function of its args."""
    rng = np.random.default_rng([seed, epoch])
    n = sum(draws for _, _, draws in parts)
    if all(size == draws for _, size, draws in parts):  # unweighted: the plan of every earlier run
        order = rng.permutation(n) if shuffle else np.arange(n)
    else:
        pieces = []
        for offset, size, draws in parts:
            reps, rest = divmod(draws, size)
            runs = [rng.permutation(size) if shuffle else np.arange(size) for _ in range(reps + bool(rest))]
            pieces.append(np.concatenate(runs)[:draws] + offset)  # the last run cut: a random subset
        order = np.concatenate(pieces)
        order = rng.permutation(order) if shuffle else order
    flips = rng.random(n) < mirror_prob
    order.setflags(write=False)
    flips.setflags(write=False)
    return order, flips


@dataclasses.dataclass(frozen=True, eq=False)
class BatchIterator:
    """Reproducible drop-remainder batches over a random-access source.

    Batch ``step`` depends only on ``(seed, step)``: each epoch is a fresh permutation drawn from
    ``(seed, epoch)``, so training can resume at any step with :meth:`iterate`. A source with
    ``epoch_parts`` (a weighted :class:`ConcatSource`) is drawn by its weights. On multi-host
    setups every process yields its own ``batch_size / process_count`` slice of each global batch
    (feed it to :func:`shard_batch`).

    Attributes:
        source: the examples (see :class:`Source`).
        batch_size: global batch size ``B``.
        seed: shuffling and augmentation seed.
        shuffle: permute each epoch (else source order).
        mirror_prob: probability that an example is mirrored (:func:`~motionfm.robot.mirror_qpos`); needs ``qpos``
            and ``joint_mask`` fields. A mirrored example's ``captions`` become their
            :func:`~motionfm.data.corpus.mirror_caption` (left and right swapped).
        num_epochs: stop after this many epochs (``None``: never).
        process_index, process_count: this process's slice (default: JAX's).
    """

    source: Source
    batch_size: int
    seed: int = 0
    shuffle: bool = True
    mirror_prob: float = 0.0
    num_epochs: int | None = None
    process_index: int | None = None
    process_count: int | None = None

    def __post_init__(self) -> None:
        if self.process_index is None:
            object.__setattr__(self, "process_index", jax.process_index())
        if self.process_count is None:
            object.__setattr__(self, "process_count", jax.process_count())
        if self.batch_size <= 0 or self.batch_size % self.process_count:
            raise ValueError(f"batch size {self.batch_size} must be a positive multiple of the {self.process_count} processes")
        if self.epoch_size < self.batch_size:
            raise ValueError(f"an epoch of the source has {self.epoch_size} examples, fewer than one batch of {self.batch_size}")

    @property
    def epoch_size(self) -> int:
        """Examples drawn per epoch: ``len(source)``, or the sum of a weighted source's draws."""
        return sum(draws for _, _, draws in _parts(self.source))

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per epoch (the remainder is dropped)."""
        return self.epoch_size // self.batch_size

    def indices(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Source indices ``(B_local,)`` and mirror flags ``(B_local,)`` of this process's part of ``step``."""
        epoch, i = divmod(step, self.steps_per_epoch)
        order, flips = _epoch_plan(self.seed, epoch, _parts(self.source), self.shuffle, float(self.mirror_prob))
        local = self.batch_size // self.process_count
        lo = i * self.batch_size + self.process_index * local
        return order[lo : lo + local], flips[lo : lo + local]

    def batch(self, step: int) -> Batch:
        """This process's part of batch ``step``: arrays with leading axis ``B_local``."""
        idx, flips = self.indices(step)
        batch = collate(fetch(self.source, idx))
        if flips.any():
            qpos, mask = mirror_qpos(batch["qpos"][flips], batch["joint_mask"][flips])
            batch["qpos"][flips], batch["joint_mask"][flips] = qpos, mask
            if "captions" in batch:  # the hand and direction words describe the mirrored motion too
                for i in np.flatnonzero(flips):
                    batch["captions"][i] = tuple(mirror_caption(c) for c in batch["captions"][i])
        return batch

    def iterate(self, start_step: int = 0) -> Iterator[Batch]:
        """Batches from ``start_step`` on (until ``num_epochs`` is done, if set)."""
        step = start_step
        while self.num_epochs is None or step < self.num_epochs * self.steps_per_epoch:
            yield self.batch(step)
            step += 1

    def __iter__(self) -> Iterator[Batch]:
        return self.iterate()


def data_sharding(mesh: Mesh | None = None) -> NamedSharding:
    """Sharding along the batch axis over ``mesh`` (default: all devices on one ``'data'`` axis)."""
    if mesh is None:
        mesh = Mesh(np.asarray(jax.devices()), ("data",))
    return NamedSharding(mesh, P("data"))


def shard_batch(batch: Mapping[str, Any], sharding: NamedSharding | None = None) -> dict[str, Any]:
    """Place a process-local batch on the devices, split along the batch axis.

    Numeric arrays become global ``jax.Array`` s (``jax.make_array_from_process_local_data``, so
    each host passes only its own slice); text arrays stay numpy on the host.

    Raises:
        ValueError: the local batch size is not divisible by this process's device count.
    """
    sharding = sharding or data_sharding()
    devices = sharding.mesh.devices.flat
    local = sum(d.process_index == jax.process_index() for d in devices)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        value = np.asarray(value)
        if value.dtype.kind in "OSU":
            out[key] = value
            continue
        if value.ndim == 0 or value.shape[0] % local:
            raise ValueError(
                f"batch field {key!r} has shape {value.shape}: its batch axis must be divisible by the "
                f"{local} local devices (global batch size a multiple of the {sharding.mesh.size} devices)"
            )
        out[key] = jax.make_array_from_process_local_data(sharding, value)
    return out
