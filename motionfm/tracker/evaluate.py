"""Sim-to-sim evaluation of a tracker checkpoint, as the benchmark and ``eval tracker`` report it:
the ``stand`` check, then held-out and training clips, overall and per clip family.

Clips are read from the folders the checkpoint was trained from (its metadata's ``sources``,
where they exist on this machine) or the default corpora (:func:`default_sources`); families
come from the checkpoint's ``groups`` or the clips' ``clips.jsonl`` categories.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motionfm.data.corpus import default_data_dir
from motionfm.tracker.policy import TrackerPolicy
from motionfm.tracker.rollout import evaluate_motions, summarize, track
from motionfm.tracker.train import clip_groups, load_motions

REPO = Path(__file__).resolve().parents[2]
RETARGETED = ("cmu_g1", "cmu_mocap_g1", "bandai_g1")
"""Folders under ``runs/data`` (or ``$MOTIONFM_RETARGETED``) that ``motionfm retarget`` fills and the
tracker trains on when present."""


def default_sources() -> list[Path]:
    """The G1 corpus plus every retargeted corpus folder that exists (``runs/data/<name>``)."""
    base = Path(os.environ.get("MOTIONFM_RETARGETED", REPO / "runs" / "data"))
    return [default_data_dir()] + [base / n for n in RETARGETED if (base / n / "clips.jsonl").is_file()]


def spread(names: Sequence[str], k: int) -> list[str]:
    """``k`` of the sorted ``names``, evenly spaced from first to last (all of them when ``k`` is
    not smaller). Not the first ``k``: names sort by source and then by content (``run_*`` before
    ``walk_*``), so the first 33 held-out locomotion clips were 30 dashes and runs and no walk."""
    names = sorted(names)
    if k >= len(names):
        return names
    return [names[int(i)] for i in np.round(np.linspace(0, len(names) - 1, k))]


def stand_check(policy: TrackerPolicy, seconds: float = 10.0) -> dict[str, Any]:
    """Track :func:`~motionfm.tracker.library.stand_motion` for ``seconds``: does it stay up?"""
    from motionfm.tracker.library import stand_motion

    r = track(policy, stand_motion(seconds))
    return {k: r[k] for k in ("success", "fell", "frames", "clip_frames", "mpbpe_cm", "joint_error_rad")}


def evaluate_checkpoint(policy: TrackerPolicy, sources: Sequence[str | os.PathLike] | None = None,
                        max_clips: int = 0, splits: Sequence[str] = ("held_out", "train"), progress: bool = False) -> dict[str, Any]:
    """``{"stand": ..., "eval_held_out": {..., "by_category": {...}, "clips": [...]}, "eval_train": ...}``.

    ``max_clips`` caps the clips of each split: an even share per family, evenly spaced over the
    family's sorted names (:func:`spread`)."""
    meta = policy.metadata
    if sources is None:
        recorded = [Path(s) for s in meta.get("sources", []) if Path(s).is_dir()]
        sources = recorded or default_sources()
    sources = [Path(s) for s in sources]
    groups = {**clip_groups(sources), **meta.get("groups", {})}
    names = {"held_out": set(meta.get("held_out", [])), "train": set(meta.get("clips", [])) - {"stand"}}
    out: dict[str, Any] = {"stand": stand_check(policy), "sources": [str(s) for s in sources]}
    for split in splits:
        wanted = sorted(names[split])
        if max_clips:  # an even share of every family, so a capped run still reports each
            fams = sorted({groups.get(n, "athletic") for n in wanted})
            per = max(1, max_clips // max(1, len(fams)))
            wanted = [n for f in fams for n in spread([w for w in wanted if groups.get(w, "athletic") == f], per)]
        ms = load_motions(sources, names=set(wanted)) if wanted else []
        rep = evaluate_motions(policy, ms, progress=progress)  # one line per clip when progress
        for c in rep["clips"]:
            c["group"] = groups.get(c["name"], "athletic")
        by = {g: summarize([c for c in rep["clips"] if c["group"] == g]) for g in sorted({c["group"] for c in rep["clips"]})}
        out[f"eval_{split}"] = summarize(rep["clips"]) | {"by_category": by, "clips": rep["clips"]}
    return out
