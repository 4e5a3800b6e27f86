"""Corpora as datasets: tfds builder, windows, normalisation statistics, batches, quality report,
and the corpus selection (licence exclusion, per-corpus weights, licence summary) training shares.

The tfds builder (:mod:`motionfm.data.dataset`) is imported lazily: the quality report and the
pipeline do not need tensorflow-datasets loaded.
"""

from typing import Any

from motionfm.data.corpus import (
    MOTION_SUFFIXES, UNKNOWN_LICENCE, ClipRef, add_selection_arguments, check_exclusions, clip_licence, corpus_captions,
    corpus_weights, format_licence_summary, licence_summary, mirror_caption, scan_corpus, select_clips,
)
from motionfm.data.pipeline import Batch, BatchIterator, ConcatSource, Source, collate, data_sharding, fetch, shard_batch
from motionfm.data.quality import QualityThresholds, format_report, inspect_folder, inspect_motion

_DATASET_NAMES = (
    "DEFAULT_CONFIG", "FEATURE_DIMS", "STATS_FILE", "G1Motion", "G1MotionConfig", "RunningStats", "Stats",
    "build_dataset", "build_sources", "clip_windows", "compute_split_stats", "compute_stats", "load_split", "load_stats",
    "motion_features", "split_clips",
)


def __getattr__(name: str) -> Any:
    if name in _DATASET_NAMES:
        from motionfm.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'motionfm.data' has no attribute {name!r}")


__all__ = [
    "MOTION_SUFFIXES", "Batch", "BatchIterator", "ClipRef", "ConcatSource", "QualityThresholds", "Source", "collate",
    "data_sharding", "fetch", "format_report", "inspect_folder", "inspect_motion", "scan_corpus", "shard_batch",
    "UNKNOWN_LICENCE", "add_selection_arguments", "check_exclusions", "clip_licence", "corpus_captions", "corpus_weights",
    "format_licence_summary", "licence_summary", "mirror_caption", "select_clips",
    *_DATASET_NAMES,
]
