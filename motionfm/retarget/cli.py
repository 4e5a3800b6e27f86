"""``motionfm retarget``: BVH files -> G1 Unitree CSVs plus a ``clips.jsonl``.

Wired into the main parser with ``register(subparsers)``::

    motionfm retarget INPUT(.bvh|.bvh.gz|dir) --out DIR [--map NAME] [--caption TEXT] [--license TEXT]
                      [--source TEXT] [--units-to-m F] [--up y|z] [--no-cleanup] [--workers N]
                      [--keep-flagged] [--retry-rejected]

Every clip is retargeted with the physical clean-up and then judged by the corpus quality report
(:func:`motionfm.data.quality.inspect_motion`); a flagged clip is left out of the output and listed
in ``rejected.jsonl`` with its reasons, as is a file that cannot be read. When INPUT is a folder
with a ``clips.jsonl``, each clip's row there gives its source, licence, captions and labels, and
rows marked ``also_in_cmu_locomotion_bvh`` are skipped (that trial is already in the corpus).

Clips run in a process pool (``--workers``, default all cores). ``clips.jsonl`` and
``rejected.jsonl`` are rewritten atomically after every clip, so an interrupted run can be rerun
with the same ``--out``: clips already listed in either are skipped.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import functools
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

CMU_CLIPS_FILE = Path(__file__).with_name("cmu_clips.json")

CARRIED_FIELDS = ("content", "style", "description")
"""Labels copied from an input ``clips.jsonl`` row into the output row where present."""

DUPLICATE_FLAG = "also_in_cmu_locomotion_bvh"
"""An input row with this ``true`` is a trial the corpus already holds in another rig: skipped."""

PLAUSIBLE_LEG_M = (0.5, 1.2)
"""Human hip-knee-ankle lengths (m) that are people; outside, the map's units are wrong."""

QUALITY_KEYS = ("foot_penetration_cm", "foot_float_cm", "foot_skating_cm_s", "max_joint_vel_rad_s")
"""Quality-report figures kept in each output row's ``retarget.quality``."""

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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


def clip_metadata(
    stem: str, captions: list[str] | None, license_: str | None, source: str | None, row: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``category``, ``captions``, ``license`` and ``source`` of a clip, plus the labels in
    :data:`CARRIED_FIELDS`.

    Given values come first; then the clip's row in the input folder's ``clips.jsonl`` (``row``:
    its ``category``, else its ``content`` label, is the category); without a row, the CMU clip list
    (``cmu_clips.json``, for ``002_01``-style names), then the file name.
    """
    if row is not None:
        meta = {
            "category": row.get("category") or row.get("content") or "mocap",
            "captions": captions or list(row.get("captions") or caption_from_name(stem)),
            "license": license_ or row.get("license") or "unknown (pass --license)",
            "source": source or row.get("source") or "BVH motion capture",
        }
        return meta | {k: row[k] for k in CARRIED_FIELDS if row.get(k) is not None}
    table = _cmu_table()
    key = re.sub(r"^0*(\d+)_(\d+)$", lambda m: f"{int(m.group(1)):03d}_{m.group(2)}", stem)
    found = table["clips"].get(key)
    return {
        "category": found["category"] if found else "mocap",
        "captions": captions or (found["captions"] if found else caption_from_name(stem)),
        "license": license_ or (table["license"] if found else "unknown (pass --license)"),
        "source": source or (table["source"] if found else "BVH motion capture"),
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_lines(path: Path, lines: list[str]) -> None:
    """Write JSON ``lines`` (already serialised, no newlines) to ``path`` atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; an index is as readable as any file
        with os.fdopen(fd, "w") as fh:
            fh.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Index:
    """A JSONL index keyed by ``file``, rewritten whole and atomically on every change.

    Rows are kept serialised, so a rewrite costs the bytes, not a JSON dump of every row
    (a 3,000-clip corpus rewrites ~2 MB per clip instead of re-encoding 3,000 rows).
    """

    def __init__(self, path: Path):
        from motionfm.motion import read_clips_jsonl

        self.path = path
        self.lines = {r["file"]: json.dumps(r) for r in read_clips_jsonl(path)} if path.is_file() else {}

    def __contains__(self, file: str) -> bool:
        return file in self.lines

    def row(self, file: str) -> dict[str, Any]:
        return json.loads(self.lines[file])

    def put(self, row: dict[str, Any]) -> None:
        self.lines[row["file"]] = json.dumps(row)
        self._write()

    def drop(self, file: str) -> None:
        if self.lines.pop(file, None) is not None:
            self._write()

    def _write(self) -> None:
        _write_lines(self.path, [self.lines[k] for k in sorted(self.lines)])


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Pool workers inherit this environment when they start: one BLAS thread each, so N workers
    use N cores, not N x the BLAS pool (the IK's matrices are tiny anyway)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def retarget_one(job: dict[str, Any]) -> dict[str, Any]:
    """Retarget, judge and (if it passes) save one clip. Runs in a pool worker.

    Args:
        job: ``path`` (the BVH), ``rel`` (output CSV path relative to ``out``), ``out``, ``map``,
            ``units_to_m``, ``up``, ``cleanup``, ``keep_flagged``, ``meta`` (from :func:`clip_metadata`).

    Returns:
        ``{"status": "ok", "row": clips.jsonl row, "info": ...}`` or
        ``{"status": "rejected", "stage": "quality" | "error", "reason": text, ...}``.
    """
    from motionfm.data.quality import inspect_motion
    from motionfm.retarget.bvh import BvhError
    from motionfm.retarget.cleanup import CleanupConfig
    from motionfm.retarget.core import RetargetConfig, retarget_bvh
    from motionfm.retarget.ik import RetargetError
    from motionfm.robot import G1_JOINT_NAMES, load_g1

    path, rel, meta = Path(job["path"]), Path(job["rel"]), job["meta"]
    head = {"id": rel.with_suffix("").as_posix(), "file": rel.as_posix(), "from": job["from"]}
    t0 = time.perf_counter()
    robot = load_g1()  # cached per process
    config = RetargetConfig(cleanup=CleanupConfig(enabled=job["cleanup"]))
    try:
        res = retarget_bvh(path, job["map"], config, robot, captions=meta["captions"], units_to_m=job["units_to_m"], up=job["up"])
    except (BvhError, KeyError, ValueError, RetargetError) as e:
        return head | {"status": "rejected", "stage": "error", "reason": e.args[0] if isinstance(e, KeyError) else str(e)}
    m = res.motion
    quality = inspect_motion(m, robot)
    reasons = list(quality["flags"])
    leg = res.info["human_leg_m"]
    if not PLAUSIBLE_LEG_M[0] <= leg <= PLAUSIBLE_LEG_M[1]:
        reasons.append(f"human leg {leg:.2f} m is not a person's: wrong units for this rig (--units-to-m)?")
    figures = {k: quality[k] for k in QUALITY_KEYS}
    seconds = round(time.perf_counter() - t0, 3)
    if reasons and not job["keep_flagged"]:
        return head | {"status": "rejected", "stage": "quality", "reason": "; ".join(reasons), "quality": figures,
                       "frames": m.num_frames, "duration_s": round(m.duration, 3), "seconds": seconds}
    m.save(Path(job["out"]) / rel)
    row = {
        "id": head["id"], "file": head["file"], "source": meta["source"], "license": meta["license"],
        "fps": int(m.fps) if m.fps.is_integer() else m.fps, "frames": m.num_frames, "duration_s": round(m.duration, 3),
        "dof": len(G1_JOINT_NAMES) - len(res.missing_dofs), "missing_dofs": list(res.missing_dofs),
        "category": meta["category"], "captions": list(m.captions),
        **{k: meta[k] for k in CARRIED_FIELDS if k in meta},
        "retarget": {k: res.info[k] for k in ("scale", "dropped_bind_frames", "travel_ratio", "contact_fraction")}
        | {"cleanup": job["cleanup"], "from": job["from"], "quality": figures, "flags": reasons},
    }
    return head | {"status": "ok", "row": row, "scale": res.scale, "travel_ratio": res.info["travel_ratio"],
                   "ik_s": res.info["ik_s"], "seconds": seconds}


def _discover(src: Path) -> list[Path]:
    if src.is_dir():
        from motionfm.retarget.bvh import is_bvh_name

        return sorted(p for p in src.rglob("*") if is_bvh_name(p) and p.is_file())
    return [src]


def _output_rel(path: Path, src: Path) -> Path:
    """``dataset-1/walk.bvh.gz`` -> ``dataset-1/walk.csv`` (relative to the input folder)."""
    from motionfm.retarget.bvh import bvh_stem

    rel = path.relative_to(src) if src.is_dir() else Path(path.name)
    return rel.with_name(bvh_stem(rel) + ".csv")


def _cmd_retarget(args: argparse.Namespace) -> int:
    from motionfm.motion import MotionFileError, read_clips_jsonl
    from motionfm.retarget.bvh import bvh_stem
    from motionfm.retarget.skeleton import get_map

    t_start = time.perf_counter()
    src, out = Path(args.input), Path(args.out)
    err = functools.partial(print, file=sys.stderr, flush=True)
    if args.map is not None:
        try:
            get_map(args.map)
        except KeyError as e:
            err(f"motionfm retarget: error: {e.args[0]}")
            return 2
    if args.workers is not None and args.workers < 1:
        err(f"motionfm retarget: error: --workers must be >= 1, got {args.workers}")
        return 2
    if not src.exists():
        err(f"motionfm retarget: error: {src}: no such file or folder")
        return 2
    files = _discover(src)
    if not files:
        err(f"motionfm retarget: error: {src}: no .bvh or .bvh.gz files")
        return 2
    listing: dict[str, dict[str, Any]] = {}
    if src.is_dir() and (src / "clips.jsonl").is_file():
        try:
            listing = {r["file"]: r for r in read_clips_jsonl(src / "clips.jsonl")}
        except MotionFileError as e:
            err(f"motionfm retarget: error: {e}")
            return 2
    out.mkdir(parents=True, exist_ok=True)
    index, rejected = _Index(out / "clips.jsonl"), _Index(out / "rejected.jsonl")
    cleanup = not args.no_cleanup

    jobs, done, duplicates = [], 0, 0
    for path in files:
        from_rel = path.relative_to(src).as_posix() if src.is_dir() else path.name
        row = listing.get(from_rel)
        if row is not None and row.get(DUPLICATE_FLAG) is True:
            duplicates += 1
            continue
        rel = _output_rel(path, src).as_posix()
        if rel in index and (out / rel).is_file() and index.row(rel).get("retarget", {}).get("cleanup", cleanup) == cleanup:
            done += 1
            continue
        if rel in rejected and not args.retry_rejected:
            done += 1
            continue
        meta = clip_metadata(bvh_stem(path), args.caption, args.license, args.source, row)
        jobs.append({"path": str(path), "rel": rel, "from": from_rel, "out": str(out), "map": args.map,
                     "units_to_m": args.units_to_m, "up": args.up, "cleanup": cleanup,
                     "keep_flagged": args.keep_flagged, "meta": meta})
    workers = min(args.workers or default_workers(), max(len(jobs), 1))
    print(f"{len(files)} BVH files: {len(jobs)} to retarget with {workers} worker(s), {done} done before "
          f"(in clips.jsonl or rejected.jsonl), {duplicates} duplicates skipped", flush=True)
    print(f"{'clip':<36} {'frames':>6} {'s':>6} {'scale':>6} {'travel':>7} {'ik s':>5}  result", flush=True)

    counts = {"ok": 0, "quality": 0, "error": 0}
    seconds_out = 0.0

    def record(res: dict[str, Any]) -> None:
        nonlocal seconds_out
        name = Path(res["file"]).stem[:36]
        if res["status"] == "ok":
            row = res["row"]
            index.put(row)  # after every clip, so an interrupted run keeps its index
            rejected.drop(row["file"])
            counts["ok"] += 1
            seconds_out += row["duration_s"]
            travel = "-" if res["travel_ratio"] is None else f"{res['travel_ratio']:.3f}"
            flags = f" (kept: {'; '.join(row['retarget']['flags'])})" if row["retarget"]["flags"] else ""
            print(f"{name:<36} {row['frames']:>6} {row['duration_s']:>6.1f} {res['scale']:>6.3f} {travel:>7} "
                  f"{res['ik_s']:>5.1f}  ok{flags}", flush=True)
        else:
            counts[res["stage"]] += 1
            rejected.put({k: v for k, v in res.items() if k != "status"})
            index.drop(res["file"])
            (out / res["file"]).unlink(missing_ok=True)  # a stale CSV from an earlier run would look accepted
            if res["stage"] == "error":
                err(f"{name:<36} ERROR  {res['reason']}")
            else:
                print(f"{name:<36} {res['frames']:>6} {res['duration_s']:>6.1f} {'':>6} {'':>7} {'':>5}  rejected: {res['reason']}", flush=True)

    if workers <= 1:
        for job in jobs:
            record(retarget_one(job))
    else:
        # spawn, not fork: the parent has imported JAX (via motionfm.motion), which must not be forked.
        ctx = multiprocessing.get_context("spawn")
        with _single_threaded_children(), cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = {pool.submit(retarget_one, job): job for job in jobs}
            try:
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        res = fut.result()
                    except Exception as e:  # a bug or a dead worker: record it, keep the other clips going
                        res = {"id": Path(job["rel"]).with_suffix("").as_posix(), "file": job["rel"], "from": job["from"],
                               "status": "rejected", "stage": "error", "reason": f"{type(e).__name__}: {e}"}
                    record(res)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    total_min = sum(json.loads(line)["duration_s"] for line in index.lines.values()) / 60
    print(f"{counts['ok']}/{len(jobs)} clips retargeted ({seconds_out / 60:.1f} min) into {out}; "
          f"{counts['quality']} rejected by the quality check, {counts['error']} errors (see {out / 'rejected.jsonl'}); "
          f"{done} done before, {duplicates} duplicates skipped; index {index.path}: {len(index.lines)} clips, "
          f"{total_min:.1f} min; {time.perf_counter() - t_start:.0f} s", flush=True)
    return 1 if counts["error"] else 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``retarget`` subcommand to the ``motionfm`` parser's subparsers."""
    p = subparsers.add_parser("retarget", help="retarget human motion capture (BVH) onto the G1")
    p.add_argument("input", help="a .bvh/.bvh.gz file or a folder of them (searched recursively; its clips.jsonl, "
                                 "if any, gives each clip's source, licence, captions and labels)")
    p.add_argument("--out", required=True, help="output folder for the CSVs, clips.jsonl and rejected.jsonl")
    p.add_argument("--map", help="skeleton map (cmu_cc, smpl, bandai_namco, cmu_cgspeed; default: the one that fits the joint names)")
    p.add_argument("--caption", action="append", help="caption (repeatable; default: input clips.jsonl, clip list or file name)")
    p.add_argument("--license", help="licence text for clips.jsonl (default: input clips.jsonl or the CMU clip list)")
    p.add_argument("--source", help="source text for clips.jsonl (default: input clips.jsonl)")
    p.add_argument("--units-to-m", type=float, help="metres per BVH unit (default: the map's, cm for cmu_cc)")
    p.add_argument("--up", choices=("y", "z"), help="the BVH's up axis (default: the map's)")
    p.add_argument("--no-cleanup", action="store_true", help="raw IK: no contact pinning, grounding or speed caps")
    p.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    p.add_argument("--keep-flagged", action="store_true",
                   help="write clips the quality check flags too (their flags go in the row) instead of rejecting them")
    p.add_argument("--retry-rejected", action="store_true", help="retarget clips listed in rejected.jsonl again")
    p.set_defaults(func=_cmd_retarget)
    return p
