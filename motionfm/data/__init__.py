"""Corpora as datasets: tfds builders, windows, normalisation statistics, batches, quality report."""

from motionfm.data.quality import QualityThresholds, find_motion_files, format_report, inspect_folder, inspect_motion

__all__ = ["QualityThresholds", "find_motion_files", "format_report", "inspect_folder", "inspect_motion"]
