"""A folder of motion files with its optional ``clips.jsonl``: the unit every corpus tool reads.

Also the corpus *selection* every training command shares: licences (each clip's ``license``
field; ``"unknown"`` when absent) that can be excluded, per-corpus sampling weights, the licence
summary every checkpoint records, and the captions (with their left/right mirror images) a
selection trains on.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from motionfm.motion import find_clip_metadata, read_clips_jsonl


def default_data_dir() -> Path:
    """The G1 corpus: ``$MOTIONFM_DATA``, else ``shared/data/g1-open-motion`` beside the checkout."""
    env = os.environ.get("MOTIONFM_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # the checkout (motionfm/data/corpus.py)
    for base in (Path.cwd(), here):
        for cand in (base.parent / "shared/data/g1-open-motion", base / "shared/data/g1-open-motion"):
            if cand.is_dir():
                return cand
    return here.parent / "shared/data/g1-open-motion"


MOTION_SUFFIXES = (".csv", ".npz")
UNKNOWN_LICENCE = "unknown"
"""The licence of a clip whose ``clips.jsonl`` row has no ``license`` (or an empty one)."""


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
        ValueError: two files share a clip id, or a row's ``license`` is not a string.
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
        licence = meta.get("license")
        if licence is not None and not isinstance(licence, str):
            where = f"{index}: the row of {rel.as_posix()!r}" if rel.as_posix() in rows else f"{path}: its clips.jsonl row"
            raise ValueError(f"{where} has 'license' {licence!r} ({type(licence).__name__}); it must be a string "
                             f"(leave it out for {UNKNOWN_LICENCE!r})")
        clip_id = str(meta.get("id") or rel.with_suffix("").as_posix())
        if clip_id in seen:
            raise ValueError(f"{path}: clip id {clip_id!r} is also used by {seen[clip_id]}")
        seen[clip_id] = path
        refs.append(ClipRef(path, clip_id, meta))
    if not refs:
        raise FileNotFoundError(f"{root}: no motion files ({', '.join(MOTION_SUFFIXES)}) found")
    return refs


# ---------------------------------------------------------------------- selection: licences, weights, captions
def clip_licence(meta: Mapping[str, Any]) -> str:
    """A clip's ``license`` (stripped), or :data:`UNKNOWN_LICENCE` when its row has none or an empty one."""
    value = meta.get("license")
    return (value.strip() if isinstance(value, str) else "") or UNKNOWN_LICENCE


def licence_key(name: str) -> str:
    """What licence names are matched by: case-insensitive, surrounding spaces ignored."""
    return name.strip().casefold()


def select_clips(refs: Sequence[ClipRef], exclude_licences: Iterable[str] = ()) -> list[ClipRef]:
    """``refs`` without the clips whose licence (:func:`clip_licence`) is one of ``exclude_licences``."""
    drop = {licence_key(x) for x in exclude_licences}
    return [r for r in refs if licence_key(clip_licence(r.meta)) not in drop]


def check_exclusions(exclude_licences: Iterable[str], refs_by_corpus: Mapping[str, Sequence[ClipRef]]) -> None:
    """Fail on an excluded licence that no clip has: a typo (``CC-BY-NC`` for ``CC-BY-NC-4.0``) would
    otherwise silently keep the very clips it was meant to drop.

    Raises:
        ValueError: naming the licence, the corpora and the licences they do have.
    """
    names = {clip_licence(r.meta) for refs in refs_by_corpus.values() for r in refs}
    for name in exclude_licences:
        if not licence_key(name):
            raise ValueError("an excluded licence is empty (use 'unknown' for clips without a licence)")
        if licence_key(name) not in {licence_key(n) for n in names}:
            raise ValueError(f"excluded licence {name!r} matches no clip of {', '.join(map(str, refs_by_corpus))} "
                             f"(their licences: {', '.join(repr(v) for v in sorted(names))}; matching ignores case)")


def corpus_weights(corpora: Sequence[str | os.PathLike], weights: Sequence[float] | None) -> list[float]:
    """One sampling weight per corpus folder: ``weights`` checked, or 1.0 each when ``None``/empty.

    Raises:
        ValueError: not one weight per folder, or a weight that is not a finite positive number.
    """
    if not weights:
        return [1.0] * len(corpora)
    if len(weights) != len(corpora):
        raise ValueError(f"{len(weights)} weight(s) for {len(corpora)} corpus folder(s) ({', '.join(map(str, corpora))}): "
                         "give one --weight per folder, in the folders' order, or none")
    out = []
    for corpus, w in zip(corpora, weights):
        w = float(w)
        if not math.isfinite(w) or w <= 0:
            raise ValueError(f"{corpus}: weight {w!r} must be a finite number > 0 (leave the folder out instead of weight 0)")
        out.append(w)
    return out


def licence_counts(refs: Iterable[ClipRef]) -> dict[str, int]:
    """Clips per licence, by licence name."""
    return dict(sorted(Counter(clip_licence(r.meta) for r in refs).items()))


def source_counts(refs: Iterable[ClipRef]) -> list[dict[str, Any]]:
    """Clips per (``source``, licence) pair: ``[{"source", "license", "clips"}]``, sorted."""
    counts = Counter((str(r.meta.get("source") or UNKNOWN_LICENCE), clip_licence(r.meta)) for r in refs)
    return [{"source": s, "license": lic, "clips": n} for (s, lic), n in sorted(counts.items())]


def licence_summary(info: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What a checkpoint records about its training data, from :func:`~motionfm.data.build_sources`' rows.

    Returns ``{"licences": {licence: clips}, "sources": [{"source", "license", "clips"}],
    "corpora": [{"corpus", "weight", "clips", "excluded_clips", "draw_share"}], "excluded_licences": [...],
    "clips": total}``. Clips count the selected clips of every corpus (train and held-out alike: the
    held-out ones pick the checkpoint too); ``draw_share`` is the corpus's expected fraction of the
    training windows drawn (weight x train windows, normalised).
    """
    licences: Counter = Counter()
    sources: Counter = Counter()
    excluded: set[str] = set()
    mass = [row.get("weight", 1.0) * row.get("train_windows", 0) for row in info]
    corpora = []
    for row, m in zip(info, mass):
        licences.update(row.get("licences", {}))
        sources.update({(s["source"], s["license"]): s["clips"] for s in row.get("sources", [])})
        excluded.update(row.get("excluded_licences", []))
        corpora.append({"corpus": row["corpus"], "weight": row.get("weight", 1.0), "clips": row.get("clips"),
                        "excluded_clips": row.get("excluded_clips", 0), "draw_share": round(m / sum(mass), 4) if sum(mass) else None})
    return {"licences": dict(sorted(licences.items())),
            "sources": [{"source": s, "license": lic, "clips": n} for (s, lic), n in sorted(sources.items())],
            "corpora": corpora, "excluded_licences": sorted(excluded), "clips": sum(licences.values())}


def format_licence_summary(summary: Mapping[str, Any] | None) -> str:
    """One line for people: ``"CC-BY-4.0 54 clips, MIT 48 clips (excluded: cc-by-nc-4.0)"``."""
    if not summary or "licences" not in summary:
        return "not recorded (trained before motionfm recorded training-data licences)"
    text = ", ".join(f"{lic} {n} clips" for lic, n in summary["licences"].items()) or "no clips"
    return text + (f" (excluded: {', '.join(summary['excluded_licences'])})" if summary.get("excluded_licences") else "")


_LATERAL = re.compile(r"\b(left|right|counter-?clockwise|anti-?clockwise|clockwise)(?=(?:wards?)?\b)", re.IGNORECASE)
_MIRROR_WORD = {"left": "right", "right": "left", "clockwise": "counterclockwise"}


def mirror_caption(text: str) -> str:
    """The caption of the left/right mirror image: ``left``/``right`` swapped, and the turning sense.

    Mirroring a window that "raises the right hand" makes one that raises the left hand; its
    caption must say so, or the hand and direction labels of a mirrored half of the data are wrong.
    (``right`` in "right away" is swapped too; motion captions do not use it.)
    """
    def swap(m: re.Match) -> str:
        word = m.group(0)
        out = _MIRROR_WORD.get(word.lower(), "clockwise")  # counter-/anti-clockwise -> clockwise
        return out.capitalize() if word[0].isupper() else out

    return _LATERAL.sub(swap, text)


def corpus_captions(
    corpora: Sequence[str | os.PathLike],
    exclude_licences: Iterable[str] = (),
    skip_ids: Iterable[str] = (),
    mirrored: bool = True,
) -> list[str]:
    """Sorted distinct ``clips.jsonl`` captions of the selected clips of ``corpora`` (not ``skip_ids``).

    With ``mirrored`` also their :func:`mirror_caption` images, which mirrored training windows carry.
    """
    skip = set(skip_ids)
    exclude = tuple(exclude_licences)
    caps = {str(c) for corpus in corpora for r in select_clips(scan_corpus(corpus), exclude) if r.clip_id not in skip
            for c in r.meta.get("captions", [])}
    return sorted(caps | ({mirror_caption(c) for c in caps} if mirrored else set()))


def add_selection_arguments(parser: Any) -> None:
    """The corpus-selection flags of ``data build`` and the ``train`` commands (one definition)."""
    parser.add_argument("--weight", type=float, action="extend", nargs="+", metavar="W",
                        help="sampling weights of the corpus folders, in the folders' order (one per folder, or none: "
                             "1 each; '--weight 3 1' or '--weight 3 --weight 1'); a folder's windows are drawn W times "
                             "as often as at weight 1")
    parser.add_argument("--exclude-licence", "--exclude-license", dest="exclude_licence", action="append", default=[],
                        metavar="LICENCE", help="leave out clips whose clips.jsonl 'license' is LICENCE (case-insensitive, "
                                                "repeatable; 'unknown': clips without one), e.g. CC-BY-NC-4.0")
