"""A corpus of motions sampled from the shipped generator, for the tracker to train on.

The tracker learns on recorded clips, but what it must execute is generated motion, which slides
its feet about twice as much as real clips (``benchmarks/diffusion.py``) and falls on it (1/8 of
demo-style prompts tracked in the last measurement). This recipe samples ``--seeds`` motions for
each prompt of :data:`PROMPTS` (walks in every direction, turns, gestures, bows, squats) and
writes them with a ``clips.jsonl`` (category, captions, the licence the generator's weights
inherit) so that ``motionfm train tracker --data ...`` can mix them in. Seeds start at
``--first-seed`` (default 1000), away from the seeds the demo and benchmarks use (0-15), and the
tracker's usual held-out split keeps 15 % of these clips out of training for evaluation.

    .venv/bin/python training/generated_corpus.py --out runs/generated/tracker_g1 --seeds 12
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

PROMPTS: tuple[tuple[str, str], ...] = (
    ("walk", "a person walks forward"),
    ("walk", "a person walks forward slowly"),
    ("walk", "a person walks backward"),
    ("walk", "a person walks to the left"),
    ("walk", "a person walks to the right"),
    ("walk", "a person walks and turns left"),
    ("walk", "a person walks and turns right"),
    ("run", "a person runs forward"),
    ("stand", "a person stands still"),
    ("wave", "a person waves with the right hand"),
    ("wave", "a person waves with the left hand"),
    ("raise", "a person raises both hands"),
    ("raise", "a person raises the left hand"),
    ("bow", "a person bows"),
    ("squat", "a person squats down"),
    ("gesture", "a person claps their hands"),
)
"""``(category, prompt)``: the categories map onto the tracker's clip families (walk, run:
locomotion; wave, raise, bow, gesture: gestures; squat: athletic; stand: stand)."""


def licence_of(diffusion_meta: dict) -> str:
    """The licence generated motion inherits: non-commercial once any training clip was."""
    lic = diffusion_meta.get("training_data", {}).get("licences", {})
    return "CC-BY-NC-4.0" if any("NC" in k for k in lic) else "; ".join(sorted(lic)) or "unknown"


def write_corpus(out: Path, write_clips: Callable[[Path], list[dict]]) -> list[dict]:
    """Write a corpus folder atomically: ``write_clips(folder)`` saves the motion files into a
    temporary folder beside ``out`` and returns their ``clips.jsonl`` rows; the folder then replaces
    ``out`` as a whole (nothing half-written there; the temporary folder goes on an error)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        rows = write_clips(tmp)
        (tmp / "clips.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="corpus folder to write (replaced as a whole)")
    p.add_argument("--seeds", type=int, default=12, help="samples per prompt")
    p.add_argument("--first-seed", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--diffusion", help="diffusion checkpoint (default: the shipped one)")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from motionfm.data.quality import inspect_motion
    from motionfm.pipeline import load_pretrained
    from motionfm.robot import load_g1

    pipe = load_pretrained(args.diffusion)
    licence = licence_of(pipe.diffusion.metadata)
    robot = load_g1()
    out = Path(args.out)

    def write_clips(folder: Path) -> list[dict]:
        rows = []
        for category, prompt in tqdm(PROMPTS, desc="sampling", file=sys.stderr):
            motions = pipe.sample(text=prompt, seconds=args.seconds, seed=args.first_seed, num_samples=args.seeds)
            for i, m in enumerate(motions):
                cid = f"{prompt.removeprefix('a person ').replace(' ', '_')}_{args.first_seed + i}"
                m.save(folder / f"{cid}.npz")
                q = inspect_motion(m, robot)
                rows.append({"id": f"generated/{cid}", "file": f"{cid}.npz", "source": "motionfm diffusion (generated)",
                             "license": licence, "fps": m.fps, "frames": m.num_frames, "category": category,
                             "captions": [prompt], "seed": args.first_seed + i,
                             "quality": {k: v for k, v in q.items() if isinstance(v, (int, float, bool))}})
        return rows

    rows = write_corpus(out, write_clips)
    print(f"{len(rows)} generated clips ({len(PROMPTS)} prompts x {args.seeds} seeds, {args.seconds:g} s) -> {out} "
          f"(licence {licence})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
