"""``motionfm retarget``: BVH files -> G1 Unitree CSVs plus a ``clips.jsonl``.

Wired into the main parser with ``register(subparsers)``::

    motionfm retarget INPUT(.bvh|dir) --out DIR [--map NAME] [--caption TEXT] [--license TEXT]
                      [--units-to-m F] [--up y|z] [--no-cleanup]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

CMU_CLIPS_FILE = Path(__file__).with_name("cmu_clips.json")


@functools.lru_cache(maxsize=1)
def _cmu_table() -> dict[str, Any]:
    return json.loads(CMU_CLIPS_FILE.read_text())


def caption_from_name(stem: str) -> list[str]:
    """Weak captions from a file name: ``"Female1_walk_fast"`` -> ``["a person walk fast"]``.

    Digits and rig/take words are dropped; a name with no words left gives ``["a person moves"]``.
    """
    words = [w for w in re.split(r"[^A-Za-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)) if w]
    words = [w.lower() for w in words if w.lower() not in {"take", "subject", "clip", "bvh", "female", "male", "mocap"}]
    return [f"a person {' '.join(words)}"] if words else ["a person moves"]


def clip_metadata(stem: str, captions: list[str] | None, license_: str | None, source: str | None) -> dict[str, Any]:
    """``category``, ``captions``, ``license`` and ``source`` of a clip: given values first, then the
    CMU clip list (``cmu_clips.json``, for ``002_01``-style names), then the file name."""
    table = _cmu_table()
    key = re.sub(r"^0*(\d+)_(\d+)$", lambda m: f"{int(m.group(1)):03d}_{m.group(2)}", stem)
    row = table["clips"].get(key)
    return {
        "category": row["category"] if row else "mocap",
        "captions": captions or (row["captions"] if row else caption_from_name(stem)),
        "license": license_ or (table["license"] if row else "unknown (pass --license)"),
        "source": source or (table["source"] if row else "BVH motion capture"),
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` to ``path`` atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cmd_retarget(args: argparse.Namespace) -> int:
    from motionfm.motion import read_clips_jsonl
    from motionfm.retarget.bvh import BvhError
    from motionfm.retarget.cleanup import CleanupConfig
    from motionfm.retarget.core import RetargetConfig, retarget_bvh
    from motionfm.retarget.ik import RetargetError
    from motionfm.retarget.skeleton import get_map
    from motionfm.robot import G1_JOINT_NAMES

    src, out = Path(args.input), Path(args.out)
    if args.map is not None:
        try:
            get_map(args.map)
        except KeyError as e:
            print(f"motionfm retarget: error: {e.args[0]}", file=sys.stderr)
            return 2
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
        if not files:
            print(f"motionfm retarget: error: {src}: no .bvh files", file=sys.stderr)
            return 2
    elif src.is_file():
        files = [src]
    else:
        print(f"motionfm retarget: error: {src}: no such file or folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    config = RetargetConfig(cleanup=CleanupConfig(enabled=not args.no_cleanup))
    index = out / "clips.jsonl"
    rows = {r["file"]: r for r in read_clips_jsonl(index)} if index.is_file() else {}
    failures = 0
    print(f"{'clip':<24} {'frames':>6} {'s':>5} {'scale':>6} {'travel':>7} {'ik s':>5}  file")
    for path in files:
        rel = path.relative_to(src).with_suffix(".csv") if src.is_dir() else Path(path.stem + ".csv")
        meta = clip_metadata(path.stem, args.caption, args.license, args.source)
        try:
            res = retarget_bvh(path, args.map, config, captions=meta["captions"], units_to_m=args.units_to_m, up=args.up)
        except (BvhError, KeyError, ValueError, RetargetError) as e:
            failures += 1
            msg = e.args[0] if isinstance(e, KeyError) else str(e)
            print(f"{path.stem:<24} ERROR  {msg}", file=sys.stderr)
            continue
        m = res.motion
        target = out / rel
        m.save(target)
        rows[rel.as_posix()] = {
            "id": rel.with_suffix("").as_posix(), "file": rel.as_posix(), "source": meta["source"],
            "license": meta["license"], "fps": int(m.fps) if m.fps.is_integer() else m.fps, "frames": m.num_frames, "duration_s": round(m.duration, 3),
            "dof": len(G1_JOINT_NAMES), "missing_dofs": [], "category": meta["category"], "captions": list(m.captions),
            "retarget": {k: res.info[k] for k in ("scale", "dropped_bind_frames", "travel_ratio", "contact_fraction")}
            | {"cleanup": not args.no_cleanup, "from": path.name},
        }
        _write_jsonl(index, list(rows.values()))  # after every clip, so an interrupted run keeps its index
        travel = "-" if res.info["travel_ratio"] is None else f"{res.info['travel_ratio']:.3f}"
        print(f"{path.stem:<24} {m.num_frames:>6} {m.duration:>5.1f} {res.scale:>6.3f} {travel:>7} {res.info['ik_s']:>5.1f}  {target}")
    print(f"{len(files) - failures}/{len(files)} clips retargeted into {out} (index: {index})")
    return 1 if failures else 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``retarget`` subcommand to the ``motionfm`` parser's subparsers."""
    p = subparsers.add_parser("retarget", help="retarget human motion capture (BVH) onto the G1")
    p.add_argument("input", help="a .bvh file or a folder of them (searched recursively)")
    p.add_argument("--out", required=True, help="output folder for the CSVs and clips.jsonl")
    p.add_argument("--map", help="skeleton map (cmu_cc, smpl; default: the one that fits the joint names)")
    p.add_argument("--caption", action="append", help="caption (repeatable; default: clip list or file name)")
    p.add_argument("--license", help="licence text for clips.jsonl (default: from the CMU clip list)")
    p.add_argument("--source", help="source text for clips.jsonl")
    p.add_argument("--units-to-m", type=float, help="metres per BVH unit (default: the map's, cm for cmu_cc)")
    p.add_argument("--up", choices=("y", "z"), help="the BVH's up axis (default: the map's)")
    p.add_argument("--no-cleanup", action="store_true", help="raw IK: no contact pinning, grounding or speed caps")
    p.set_defaults(func=_cmd_retarget)
    return p
