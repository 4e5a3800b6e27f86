"""Retarget every CMU locomotion BVH clip onto the G1 and print per-clip figures.

    .venv/bin/python benchmarks/retarget_cmu.py [BVH_DIR] [--json FILE]

BVH_DIR defaults to ``$MOTIONFM_CMU_BVH`` or ``../shared/data/cmu-locomotion-bvh`` beside the
checkout. Each clip is retargeted twice: raw IK (no clean-up) and the full pipeline, and both are
measured with :func:`motionfm.data.quality.inspect_motion` (its default contact test: lowest sole
point below 2.5 cm). Columns:

- ``pen``: worst foot penetration (cm), raw -> clean;
- ``skate``: mean horizontal sole speed while in contact (cm/s), raw -> clean;
- ``float``: median height of the lower foot (cm), clean;
- ``travel``: robot root displacement / (human hip-centre displacement x leg-length ratio);
- ``root z``: pelvis height range (m); ``jv``: fastest joint (rad/s); ``ik``: IK seconds.

The last lines check the issue's targets: every clip retargets, penetration < 1 cm, skating
< 5 cm/s, travel within 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def default_dir() -> Path:
    """``$MOTIONFM_CMU_BVH`` or ``shared/data/cmu-locomotion-bvh`` beside the checkout."""
    env = os.environ.get("MOTIONFM_CMU_BVH")
    if env:
        return Path(env)
    for base in (HERE.parent.parent, HERE.parent, Path.cwd().parent, Path.cwd()):
        cand = base / "shared/data/cmu-locomotion-bvh"
        if cand.is_dir():
            return cand
    return HERE.parent.parent / "shared/data/cmu-locomotion-bvh"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 when every target is met."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bvh_dir", nargs="?", type=Path, default=None)
    p.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    args = p.parse_args(argv)
    folder = args.bvh_dir or default_dir()
    files = sorted(folder.glob("*.bvh"))
    if not files:
        print(f"no .bvh files in {folder} (set MOTIONFM_CMU_BVH or pass the folder)", file=sys.stderr)
        return 2

    from motionfm.data.quality import inspect_motion
    from motionfm.retarget import CleanupConfig, RetargetConfig, retarget_bvh
    from motionfm.robot import load_g1

    robot = load_g1()
    raw_cfg, clean_cfg = RetargetConfig(cleanup=CleanupConfig(enabled=False)), RetargetConfig()
    head = (f"{'clip':<8} {'frames':>6} {'s':>5} {'scale':>5} {'pen cm raw->clean':>18} {'skate cm/s raw->clean':>22} "
            f"{'float':>5} {'travel':>6} {'root z':>9} {'jv':>5} {'ik s':>5}  verdict")
    print(head + "\n" + "-" * len(head))
    rows, errors = [], []
    t_all = time.perf_counter()
    for path in files:
        try:
            raw = retarget_bvh(path, config=raw_cfg, robot=robot)
            clean = retarget_bvh(path, config=clean_cfg, robot=robot)
        except Exception as e:  # report and go on: the point is to see every clip
            errors.append(f"{path.name}: {e}")
            print(f"{path.stem:<8} ERROR {e}")
            continue
        qr, qc = inspect_motion(raw.motion, robot), inspect_motion(clean.motion, robot)
        m, info = clean.motion, clean.info
        row = {"clip": path.stem, "frames": m.num_frames, "duration_s": round(m.duration, 3), "scale": info["scale"],
               "raw": qr, "clean": qc, "info": info}
        rows.append(row)
        sk = lambda q: "-" if q["foot_skating_cm_s"] is None else f"{q['foot_skating_cm_s']:.1f}"  # noqa: E731
        print(f"{path.stem:<8} {m.num_frames:>6} {m.duration:>5.1f} {info['scale']:>5.3f} "
              f"{qr['foot_penetration_cm']:>8.2f} -> {qc['foot_penetration_cm']:<6.2f} "
              f"{sk(qr):>10} -> {sk(qc):<8} {qc['foot_float_cm']:>5.2f} {info['travel_ratio']:>6.3f} "
              f"{qc['root_height_min_m']:.2f}-{qc['root_height_max_m']:.2f} {qc['max_joint_vel_rad_s']:>5.1f} "
              f"{info['ik_s']:>5.2f}  {qc['verdict']}")
    elapsed = time.perf_counter() - t_all
    print("-" * len(head))
    total = sum(r["duration_s"] for r in rows)
    pen = max((r["clean"]["foot_penetration_cm"] for r in rows), default=float("nan"))
    skate = max((r["clean"]["foot_skating_cm_s"] or 0.0 for r in rows), default=float("nan"))
    travel = max((abs(r["info"]["travel_ratio"] - 1) for r in rows if r["info"]["travel_ratio"]), default=float("nan"))
    checks = {
        "all clips retarget": not errors,
        f"penetration < 1 cm (worst {pen:.2f})": pen < 1.0,
        f"skating < 5 cm/s (worst {skate:.2f})": skate < 5.0,
        f"root travel within 10% (worst {100 * travel:.1f}%)": travel < 0.10,
    }
    print(f"{len(rows)}/{len(files)} clips, {total:.1f} s of motion, raw + clean pipelines in {elapsed:.1f} s "
          f"(IK of the clean pass {sum(r['info']['ik_s'] for r in rows):.1f} s)")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    if args.json:
        args.json.write_text(json.dumps({"folder": str(folder), "clips": rows, "errors": errors,
                                         "checks": checks, "seconds": elapsed}, indent=1))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
