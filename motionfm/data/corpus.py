"""A folder of motion files with its optional ``clips.jsonl``: the unit every corpus tool reads."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from motionfm.motion import find_clip_metadata, read_clips_jsonl

MOTION_SUFFIXES = (".csv", ".npz")


@dataclasses.dataclass(frozen=True)
class ClipRef:
    """A motion file of the corpus and its ``clips.jsonl`` row (``{}`` when it has none)."""

    path: Path
    clip_id: str
    meta: Mapping[str, Any]


def scan_corpus(root: str | os.PathLike) -> list[ClipRef]:
    """The motion files under ``root`` (recursively, sorted), with their metadata rows.

    Rows come from ``root/clips.jsonl`` (keyed by path relative to ``root``) or else from a
    ``clips.jsonl`` up to two folders above the file. A clip's id is its row's ``id``, else its
    path relative to ``root`` without suffix.

    Raises:
        FileNotFoundError: ``root`` is not a folder or holds no motion files.
        ValueError: two files share a clip id.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: motion corpus folder not found")
    index = root / "clips.jsonl"
    rows = {r["file"]: r for r in read_clips_jsonl(index)} if index.is_file() else {}
    refs, seen = [], {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix.lower() not in MOTION_SUFFIXES or not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        meta = rows.get(rel.as_posix()) or find_clip_metadata(path) or {}
        clip_id = str(meta.get("id") or rel.with_suffix("").as_posix())
        if clip_id in seen:
            raise ValueError(f"{path}: clip id {clip_id!r} is also used by {seen[clip_id]}")
        seen[clip_id] = path
        refs.append(ClipRef(path, clip_id, meta))
    if not refs:
        raise FileNotFoundError(f"{root}: no motion files ({', '.join(MOTION_SUFFIXES)}) found")
    return refs
