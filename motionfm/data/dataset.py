"""The motion corpus as a tensorflow-datasets dataset of fixed-length training windows.

:class:`G1Motion` (tfds name ``g1_motion``) reads a folder of motion files (``.csv``/``.npz``,
recursively; any layout :meth:`Motion.load` reads) given as ``manual_dir``, plus an optional
``clips.jsonl`` beside them (``fps``, ``captions``, ``license``, ``missing_dofs``). Each clip is
loaded, resampled to the config's canonical fps and cut into windows of ``window`` frames every
``stride`` frames (plus one window ending on the last frame, so no tail is lost). Clips shorter
than a window become one window padded with their last frame (``frame_mask`` ``False`` there).

Splits are by clip, never by window: clips are ranked by a hash of ``(split_seed, clip_id)`` and
the first ``round(val_fraction * N)`` go to ``validation``, so no clip is in both splits and the
assignment does not depend on file order. Clips whose licence the config excludes
(``exclude_licences``) are dropped *after* the split, so excluding a licence never moves another
clip between train and validation.

Examples (one per window of ``W`` frames):

- ``qpos`` float32 ``(W, 36)``: root xyz, root quaternion wxyz, 29 joints (the window is rotated
  about z to face +x at its first frame and moved above the origin when ``canonicalize``);
- ``joint_mask`` bool ``(29,)``, ``frame_mask`` bool ``(W,)``;
- ``clip_id`` text, ``captions`` sequence of text, ``license`` text, ``start_frame`` int32 (first
  frame of the window in the resampled clip).

Storage is ``array_record`` and reading goes through ``builder.as_data_source()``: neither needs
TensorFlow (``tfds.load``/``as_dataset`` would). Building streams clip by clip; tfds buffers
serialized examples up to 1 GB before spilling them to disk.

Normalisation statistics over the train windows are written as ``stats.json`` in the builder's
``data_dir`` by :func:`build_dataset`; read them with :func:`load_stats`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from scipy.spatial.transform import Rotation

from motionfm.data.corpus import (
    ClipRef, check_exclusions, clip_licence, corpus_weights, licence_counts, licence_key, scan_corpus, select_clips,
    source_counts,
)
from motionfm.data.pipeline import ConcatSource, fetch
from motionfm.motion import Motion
from motionfm.robot.g1 import NUM_JOINTS, QPOS_DIM

STATS_FILE = "stats.json"
_AUTO_NAME = re.compile(r"fps[0-9p]+_w\d+_s\d+_[0-9a-f]{8}")


# ---------------------------------------------------------------------- config
@dataclasses.dataclass(eq=True, kw_only=True)
class G1MotionConfig(tfds.core.BuilderConfig):
    """Windowing and split parameters of a :class:`G1Motion` build (immutable once made).

    Leave ``name`` empty to derive it from the parameters: every distinct config then gets its own
    folder under ``data_dir/g1_motion/``, so a prepared build is never reused with other settings.

    Attributes:
        fps: canonical frame rate every clip is resampled to.
        window: window length ``W`` in frames.
        stride: frames between the starts of consecutive windows.
        val_fraction: fraction of clips (not windows) in the ``validation`` split.
        split_seed: seed of the clip-to-split hash.
        canonicalize: rotate each window to face +x at its first frame, above the origin.
        csv_fps: frame rate of CSV files that no ``clips.jsonl`` row describes (``None``: such a
            file is an error).
        limits: :meth:`Motion.load` policy for joints beyond the G1's limits.
        exclude_licences: licences (``clips.jsonl`` ``license``, case-insensitive; ``"unknown"``
            for clips without one) whose clips the build leaves out.
    """

    # tfds' BuilderConfig is a non-frozen dataclass, so a frozen subclass is not allowed; frozenness
    # is enforced by __setattr__ below instead.
    name: str = ""
    fps: float = 30.0
    window: int = 64
    stride: int = 16
    val_fraction: float = 0.1
    split_seed: int = 0
    canonicalize: bool = True
    csv_fps: float | None = None
    limits: str = "warn"
    exclude_licences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        # Canonical types, so that equal settings give equal names (30 and 30.0 alike).
        for key, kind in (("fps", float), ("window", int), ("stride", int), ("val_fraction", float), ("split_seed", int)):
            set_(key, kind(getattr(self, key)))
        if self.csv_fps is not None:
            set_("csv_fps", float(self.csv_fps))
        if isinstance(self.exclude_licences, str):
            raise TypeError(f"exclude_licences must be a sequence of licence names, not the string {self.exclude_licences!r}")
        set_("exclude_licences", tuple(sorted({licence_key(x) for x in self.exclude_licences})))
        if self.fps <= 0 or self.window < 2 or self.stride < 1 or not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"invalid G1MotionConfig parameters: {self.params()}")
        # Derived names are re-derived, so dataclasses.replace() cannot carry a stale one over.
        if not self.name or _AUTO_NAME.fullmatch(self.name):
            digest = hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()[:8]
            set_("name", f"fps{self.fps:g}_w{self.window}_s{self.stride}_{digest}".replace(".", "p"))
        if self.description is None or self.description.startswith("{"):
            set_("description", json.dumps(self.params(), sort_keys=True))
        set_("_frozen", True)

    def __setattr__(self, key: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {key!r}")
        object.__setattr__(self, key, value)

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    def params(self) -> dict[str, Any]:
        """The parameters that shape the data (everything but tfds' bookkeeping fields)."""
        base = {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)}
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in base}
        if not out["exclude_licences"]:  # left out when empty: builds made before the field keep their names
            del out["exclude_licences"]
        return out


DEFAULT_CONFIG = G1MotionConfig()


def split_clips(clip_ids: list[str], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Assign clips to ``train``/``validation`` by a seeded hash of their ids.

    ``validation`` gets ``round(val_fraction * N)`` clips (at least one when ``val_fraction > 0``
    and ``N >= 2``; train always keeps one); it is left out when empty.
    """
    rank = sorted(clip_ids, key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
    n_val = min(max(round(val_fraction * len(rank)), int(val_fraction > 0)), len(rank) - 1)
    val = set(rank[:n_val])
    splits = {"train": [c for c in clip_ids if c not in val], "validation": [c for c in clip_ids if c in val]}
    return {k: v for k, v in splits.items() if v}


def clip_windows(motion: Motion, window: int, stride: int) -> Iterator[tuple[int, Motion, int]]:
    """``(start, piece, valid)`` for each window of a clip: ``piece`` has ``min(window, T)`` frames.

    Starts are ``0, stride, ...`` plus ``T - window`` so the last frames are covered; a clip
    shorter than ``window`` yields itself once (``valid = T``; the caller pads).
    """
    t = motion.num_frames
    if t <= window:
        yield 0, motion, t
        return
    starts = list(range(0, t - window + 1, stride))
    if starts[-1] != t - window:
        starts.append(t - window)
    for s in starts:
        yield s, motion.slice(s, s + window), window


@contextlib.contextmanager
def _tfds_quiet():
    """Around tfds builders: absl's "Using custom data configuration" warnings off, and stdout (where
    tfds prints "Downloading and preparing dataset ..."; it broke ``--json``) swallowed. tfds's
    progress bars (stderr) stay."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        absl.setLevel(level)


class _LocalDatasetInfo(tfds.core.DatasetInfo):
    """tfds' ``DatasetInfo`` for datasets that only exist locally. tfds looks up every new builder's
    info in its GCS bucket (``initialize_from_bucket``), and before finding out that GCS is off it
    makes a ``/tmp/tmp*tfds`` folder that it never removes: one stray folder per build."""

    def initialize_from_bucket(self) -> None:
        return None


# ---------------------------------------------------------------------- builder
class G1Motion(tfds.core.GeneratorBasedBuilder):
    """Fixed-length G1 motion windows from a folder of motion files (see the module docstring).

    Use :func:`build_dataset` to build (it also writes the normalisation stats), or directly::

        builder = G1Motion(data_dir=out, config=G1MotionConfig(window=32))
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=corpus))
        train = builder.as_data_source("train")
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [DEFAULT_CONFIG]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Pass the folder of motion files (.csv/.npz, optional clips.jsonl) as manual_dir, e.g. "
        "build_dataset(manual_dir, data_dir) or DownloadConfig(manual_dir=...)."
    )

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # tfds resolves this through `importlib_resources`, which it only installs on Python < 3.9.
        return epath.Path(__file__)

    def __init__(self, *, file_format: str = "array_record", **kwargs: Any):
        # tfds' default (tfrecord) needs TensorFlow to write; array_record does not.
        super().__init__(file_format=file_format, **kwargs)

    def _create_builder_config(self, builder_config, version):
        # tfds rejects a config *equal* to a registered one unless it is the same object.
        registered = self.builder_configs.get(getattr(builder_config, "name", None))
        if isinstance(builder_config, G1MotionConfig) and builder_config == registered:
            builder_config = registered
        return super()._create_builder_config(builder_config, version)

    @property
    def config(self) -> G1MotionConfig:
        """The build's :class:`G1MotionConfig`."""
        return self.builder_config

    def _info(self) -> tfds.core.DatasetInfo:
        w = self.config.window
        return _LocalDatasetInfo(
            builder=self,
            description="Fixed-length Unitree G1 motion windows (qpos, masks, captions).",
            features=tfds.features.FeaturesDict(
                {
                    "qpos": tfds.features.Tensor(shape=(w, QPOS_DIM), dtype=np.float32),
                    "joint_mask": tfds.features.Tensor(shape=(NUM_JOINTS,), dtype=np.bool_),
                    "frame_mask": tfds.features.Tensor(shape=(w,), dtype=np.bool_),
                    "clip_id": tfds.features.Text(),
                    "captions": tfds.features.Sequence(tfds.features.Text()),
                    "start_frame": tfds.features.Scalar(dtype=np.int32),
                    "license": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        refs = scan_corpus(dl_manager.manual_dir)
        splits = split_clips([r.clip_id for r in refs], self.config.val_fraction, self.config.split_seed)
        kept = {r.clip_id: r for r in select_clips(refs, self.config.exclude_licences)}
        chosen = {name: [kept[c] for c in ids if c in kept] for name, ids in splits.items()}
        if not chosen.get("train"):
            raise ValueError(f"{dl_manager.manual_dir}: no training clip is left once licences "
                             f"{list(self.config.exclude_licences)} are excluded")
        return {name: self._generate_examples(clips) for name, clips in chosen.items() if clips}

    def _generate_examples(self, refs: list[ClipRef]) -> Iterator[tuple[str, dict[str, Any]]]:
        cfg = self.config
        for ref in refs:  # one clip in memory at a time
            motion = self._load(ref)
            if motion is None:
                continue
            for start, piece, valid in clip_windows(motion, cfg.window, cfg.stride):
                if cfg.canonicalize:
                    piece = piece.canonicalize(0)
                qpos = piece.qpos
                qpos = np.concatenate([qpos, np.repeat(qpos[-1:], cfg.window - valid, axis=0)])
                yield f"{ref.clip_id}@{start}", {
                    "qpos": qpos.astype(np.float32),
                    "joint_mask": motion.joint_mask,
                    "frame_mask": np.arange(cfg.window) < valid,
                    "clip_id": ref.clip_id,
                    "captions": list(motion.captions),
                    "start_frame": start,
                    "license": str(ref.meta.get("license", "")),
                }

    def _load(self, ref: ClipRef) -> Motion | None:
        """The clip at the canonical fps, or ``None`` (with a warning) if under one frame long."""
        cfg = self.config
        motion = Motion.load(ref.path, default_fps=cfg.csv_fps, limits=cfg.limits, metadata=ref.meta)
        if motion.duration * cfg.fps < 1 - 1e-6:
            warnings.warn(f"{ref.path}: skipped, {motion.duration:.4f} s is shorter than one frame at {cfg.fps:g} fps")
            return None
        return motion.resample(cfg.fps)


# ---------------------------------------------------------------------- normalisation statistics
@dataclasses.dataclass(frozen=True)
class Stats:
    """Per-channel normalisation statistics: ``mean``, ``std`` (floored) and ``count``, each ``(C,)``."""

    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` over the last axis ``(..., C)``."""
        return (x - self.mean) / self.std

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize`."""
        return x * self.std + self.mean

    def to_json(self) -> dict[str, list[float]]:
        return {k: np.asarray(getattr(self, k)).tolist() for k in ("mean", "std", "count")}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Stats":
        return cls(*(np.asarray(d[k], np.float64) for k in ("mean", "std", "count")))


@dataclasses.dataclass
class RunningStats:
    """Streaming masked per-channel mean/variance (Chan et al.'s parallel update, float64)."""

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def zeros(cls, channels: int) -> "RunningStats":
        return cls(*(np.zeros(channels) for _ in range(3)))

    def update(self, x: np.ndarray, mask: np.ndarray | None = None) -> "RunningStats":
        """Add ``x`` ``(..., C)``; ``mask`` (bool, broadcastable to ``x``, e.g. ``(W, 1)`` frame mask or
        ``(C,)`` channel mask) selects the entries that count."""
        x = np.asarray(x, np.float64)
        c = x.shape[-1]
        w = np.ones_like(x) if mask is None else np.broadcast_to(np.asarray(mask, np.float64), x.shape)
        x, w = x.reshape(-1, c), w.reshape(-1, c)
        n = w.sum(0)
        mean = (w * x).sum(0) / np.maximum(n, 1)
        m2 = (w * (x - mean) ** 2).sum(0)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / np.maximum(total, 1)
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / np.maximum(total, 1)
        self.count = total
        return self

    def finalize(self, min_std: float = 1e-3) -> Stats:
        """:class:`Stats` with ``std >= min_std``; channels never seen get mean 0, std 1."""
        seen = self.count > 0
        std = np.sqrt(self.m2 / np.maximum(self.count, 1))
        return Stats(np.where(seen, self.mean, 0.0), np.where(seen, np.maximum(std, min_std), 1.0), self.count.copy())


def compute_stats(x: np.ndarray, mask: np.ndarray | None = None, min_std: float = 1e-3) -> Stats:
    """Per-channel mean/std of ``x`` ``(..., C)`` over the entries where ``mask`` is true.

    ``mask`` broadcasts against ``x`` (``(..., 1)`` for frame masks, ``(C,)`` for channel masks).
    """
    x = np.asarray(x)
    return RunningStats.zeros(x.shape[-1]).update(x, mask).finalize(min_std)


FEATURE_DIMS = {"joint_pos": NUM_JOINTS, "joint_vel": NUM_JOINTS, "root_height": 1, "root_lin_vel": 3, "root_ang_vel": 3}
"""Channels of the features :func:`motion_features` returns (and ``stats.json`` describes)."""


def motion_features(qpos: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """Per-frame features of a ``(T, 36)`` qpos clip (``T >= 2``), each ``(T, C)``.

    ``joint_pos``/``joint_vel`` (29), ``root_height`` (1), and the root's linear and angular
    velocity in its heading frame (rotated by minus the yaw, so heading-invariant), (3) each.
    """
    m = Motion.from_qpos(qpos, fps)
    to_heading = Rotation.from_euler("z", -m.heading()[:, None])
    return {
        "joint_pos": m.joint_pos,
        "joint_vel": m.joint_vel(),
        "root_height": m.root_pos[:, 2:],
        "root_lin_vel": to_heading.apply(m.root_lin_vel()),
        "root_ang_vel": to_heading.apply(m.root_ang_vel("world")),
    }


def compute_split_stats(source: Any, fps: float, min_std: float = 1e-3, chunk: int = 256) -> dict[str, Stats]:
    """:func:`motion_features` statistics over every window of a random-access ``source``.

    Padding frames never count; joint channels count only where ``joint_mask`` is true.
    """
    acc = {k: RunningStats.zeros(c) for k, c in FEATURE_DIMS.items()}
    for lo in range(0, len(source), chunk):
        for ex in fetch(source, range(lo, min(lo + chunk, len(source)))):
            valid = int(np.sum(ex["frame_mask"]))  # the mask is a prefix
            for k, v in motion_features(ex["qpos"][:valid], fps).items():
                acc[k].update(v, ex["joint_mask"] if k.startswith("joint") else None)
    return {k: a.finalize(min_std) for k, a in acc.items()}


# ---------------------------------------------------------------------- convenience
def _resolve(data_dir_or_builder: Any, config: G1MotionConfig | str | None = None) -> tfds.core.DatasetBuilder:
    """A builder from a builder, a prepared dataset folder, or a ``data_dir`` root (+ config)."""
    if isinstance(data_dir_or_builder, tfds.core.DatasetBuilder):
        return data_dir_or_builder
    path = Path(data_dir_or_builder).expanduser()
    if (path / "dataset_info.json").is_file():
        return tfds.builder_from_directory(path)
    with _tfds_quiet():
        builder = G1Motion(data_dir=path, config=config)
    if not builder.is_prepared():
        raise FileNotFoundError(f"{builder.data_dir}: no prepared g1_motion dataset; run build_dataset() first")
    return builder


def build_dataset(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    config: G1MotionConfig | str | None = None,
    min_std: float = 1e-3,
) -> G1Motion:
    """Build (or reuse) the windows of ``manual_dir`` under ``data_dir`` and their train stats.

    Returns the prepared builder; ``builder.data_dir`` holds the array_record shards and
    ``stats.json``.
    """
    with _tfds_quiet():
        builder = G1Motion(data_dir=data_dir, config=config)
        if not builder.is_prepared():  # one line of ours instead of tfds's
            print(f"building the windows of {manual_dir} in {builder.data_dir} (once: later runs reuse them)",
                  file=sys.stderr, flush=True)
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)))
    stored = builder.info.config_description or ""
    # tfds reuses a prepared build by config name alone: a user-named config with other settings
    # (another window, or licences now excluded) would silently read the old windows.
    if stored.startswith("{") and json.loads(stored) != json.loads(json.dumps(builder.config.params())):
        raise ValueError(f"{builder.data_dir}: already holds config {builder.config.name!r} built with other settings "
                         f"({stored}); choose another name or remove that folder")
    stats_path = Path(builder.data_dir) / STATS_FILE
    if not stats_path.is_file():
        train = builder.as_data_source("train")
        stats = compute_split_stats(train, builder.config.fps, min_std)
        doc = {"split": "train", "num_windows": len(train), "config": builder.config.params(),
               "features": {k: s.to_json() for k, s in stats.items()}}
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, stats_path)  # never leave a half-written stats file
    return builder


def load_split(data_dir_or_builder: Any, split: str = "train", config: G1MotionConfig | str | None = None):
    """The random-access source (``len``, ``[i]``, ``__getitems__``) of a prepared split.

    ``data_dir_or_builder``: a builder, the prepared dataset folder (holding ``dataset_info.json``),
    or the ``data_dir`` given to :func:`build_dataset` together with its ``config``.
    """
    builder = _resolve(data_dir_or_builder, config)
    if split not in builder.info.splits:
        raise KeyError(f"{builder.data_dir}: no split {split!r} (has {sorted(builder.info.splits)})")
    return builder.as_data_source(split)


def load_stats(data_dir_or_builder: Any, config: G1MotionConfig | str | None = None) -> dict[str, Stats]:
    """The train-split :class:`Stats` per feature (:data:`FEATURE_DIMS`) of a prepared dataset."""
    path = Path(_resolve(data_dir_or_builder, config).data_dir) / STATS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no normalisation stats; build with build_dataset()")
    return {k: Stats.from_json(v) for k, v in json.loads(path.read_text())["features"].items()}


def build_sources(
    corpora: Sequence[str | os.PathLike],
    dataset_dir: str | os.PathLike,
    config: G1MotionConfig,
    weights: Sequence[float] | None = None,
    exclude_licences: Sequence[str] = (),
    flat: bool = False,
) -> tuple[ConcatSource, ConcatSource | None, list[dict[str, Any]]]:
    """Build (or reuse) the windows of several corpus folders and read their splits as one.

    The one corpus selection of ``motionfm data build`` and every ``train`` command. Each corpus
    is built under ``dataset_dir/<folder name>`` (with ``flat``, a single corpus directly in
    ``dataset_dir``, the layout of ``motionfm data build DIR``).

    Args:
        corpora: corpus folders (motion files + ``clips.jsonl``).
        dataset_dir: where the tfds windows are built.
        config: windowing and split; ``exclude_licences`` is added to its own.
        weights: sampling weight per corpus (default 1 each): see :class:`ConcatSource`. Only the
            train source is weighted; validation reads every held-out window once.
        exclude_licences: licences whose clips are left out (see :class:`G1MotionConfig`).
        flat: build a single corpus directly in ``dataset_dir``.

    Returns:
        The train source, the validation source (``None`` if no corpus has one) and, per corpus,
        ``corpus``, ``dataset``, ``<split>_windows``, ``validation_clips`` (the held-out clip ids),
        ``weight``, ``clips`` (selected), ``excluded_clips``, ``licences`` (clips per licence),
        ``sources`` (clips per ``source`` and licence) and ``excluded_licences``: the rows
        :func:`~motionfm.data.licence_summary` reads.

    Raises:
        ValueError: a weight per folder missing or extra, two folders with the same name, an
            excluded licence that no clip has, or a folder with every clip excluded.
    """
    weights = corpus_weights(corpora, weights)
    if flat and len(corpora) != 1:
        raise ValueError(f"flat=True builds one corpus, not {len(corpora)}")
    names = [Path(c).name for c in corpora]
    for name in {n for n in names if names.count(n) > 1}:  # they would share, and silently reuse, one build
        raise ValueError(f"corpus folders {', '.join(str(c) for c in corpora if Path(c).name == name)} share the "
                         f"name {name!r}: their windows would be built in the same folder; rename or link one")
    refs = {str(c): scan_corpus(c) for c in corpora}
    check_exclusions((*config.exclude_licences, *exclude_licences), refs)  # before normalising: errors quote the user
    config = dataclasses.replace(config, exclude_licences=(*config.exclude_licences, *exclude_licences))
    trains, vals, info = [], [], []
    for (corpus, all_refs), weight in zip(refs.items(), weights):
        kept = select_clips(all_refs, config.exclude_licences)
        if not kept:
            raise ValueError(f"{corpus}: all {len(all_refs)} clips have excluded licences "
                             f"({', '.join(sorted({clip_licence(r.meta) for r in all_refs}))}); leave the folder out")
        builder = build_dataset(corpus, Path(dataset_dir) if flat else Path(dataset_dir) / Path(corpus).name, config=config)
        trains.append(builder.as_data_source("train"))
        if "validation" in builder.info.splits:
            vals.append(builder.as_data_source("validation"))
        held = split_clips([r.clip_id for r in all_refs], config.val_fraction, config.split_seed).get("validation", [])
        kept_ids = {r.clip_id for r in kept}
        info.append({"corpus": corpus, "dataset": str(builder.data_dir),
                     **{f"{k}_windows": v.num_examples for k, v in builder.info.splits.items()},
                     "validation_clips": [c for c in held if c in kept_ids],
                     "weight": weight, "clips": len(kept), "excluded_clips": len(all_refs) - len(kept),
                     "licences": licence_counts(kept), "sources": source_counts(kept),
                     "excluded_licences": list(config.exclude_licences)})
    return ConcatSource(trains, weights), (ConcatSource(vals) if vals else None), info
