"""Fine-tuning benchmark: does `motionfm finetune` teach a new skill without losing the base ones?

    python benchmarks/finetune.py [--base checkpoints/diffusion] [--skill-from runs/data/bandai_g1 --content run]
        [--replay ../shared/data/g1-open-motion] [--steps 1000] [--eval-samples 48] [--json]

Builds a skill folder from the clips of one content label of a retarget (links to the CSVs and
their clips.jsonl rows), fine-tunes the base diffusion model on it with the base corpus as replay
(`motionfm.finetune`), then scores the base and the fine-tuned model side by side with the
text-motion evaluator (FID, R-precision top-3, MM-Dist, each motion generated from a held-out
window's caption) on two sets: the skill's clips the fine-tuning held out (the new skill), and the
evaluator's held-out clips of the replay corpus (the base skills). Prints both models' figures, the
change on each set, and the real-data ceiling. Targets (issue 16): the skill's scores improve; the
base skills' scores move by less than 10 %.

The base must not have been trained on the skill (or the "new" skill is not new): the script says
so when the skill folder's source corpus is in the base's training data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motionfm.checkpoint import default_checkpoint_dir  # noqa: E402
from motionfm.data.corpus import default_data_dir  # noqa: E402

KEYS = ("fid", "r_precision_top3", "mm_dist")


def skill_folder(source: Path, content: str, out: Path) -> Path:
    """``out`` holding links to the clips of ``source`` whose ``content`` label is ``content``."""
    rows = [json.loads(x) for x in (source / "clips.jsonl").read_text().splitlines() if x.strip()]
    keep = [r for r in rows if r.get("content") == content]
    if not keep:
        raise SystemExit(f"{source}/clips.jsonl: no clip with content {content!r}")
    out.mkdir(parents=True, exist_ok=True)
    for r in keep:
        dst = out / r["file"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.symlink((source / r["file"]).resolve(), dst)
    (out / "clips.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    return out


def scores(pipe, ev, corpora, clip_ids, samples, seed=0):
    from motionfm.evaluation import compare_generated

    seconds = ev.config.window / ev.config.fps
    res = compare_generated(ev, lambda caps: [pipe.sample(c, seconds=seconds, seed=seed + i)[0] for i, c in enumerate(caps)],
                            corpora=corpora, clip_ids=clip_ids, samples=samples, seed=seed)
    return {"generated": {k: res["generated"][k] for k in KEYS}, "real": {k: res["real"][k] for k in KEYS},
            "windows": res["num_windows"], "clips": len(res["clips"])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", help="base diffusion checkpoint (default: the shipped one)")
    p.add_argument("--skill-from", default="runs/data/bandai_g1", help="a retargeted corpus with content labels")
    p.add_argument("--content", default="run", help="the content label of the new skill (default: run)")
    p.add_argument("--replay", nargs="+", default=[str(default_data_dir())], help="corpora of the base skills")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--evaluator", help="evaluator checkpoint (default: the shipped one)")
    p.add_argument("--eval-samples", type=int, default=48, help="held-out windows per set")
    p.add_argument("--work", default="runs/finetune_bench", help="skill folder, run and checkpoint go here")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    from motionfm.diffusion import load_diffusion
    from motionfm.evaluation import load_evaluator
    from motionfm.finetuning import finetune
    from motionfm.pipeline import load_pretrained

    work = Path(args.work)
    skill = skill_folder(Path(args.skill_from), args.content, work / f"skill_{args.content}")
    base_dir = Path(args.base) if args.base else default_checkpoint_dir() / "diffusion"
    base_meta = load_diffusion(base_dir).metadata
    seen = [Path(r["corpus"]).name for r in base_meta.get("data", [])]
    warn = Path(args.skill_from).name in seen
    out = work / f"diffusion_{args.content}"
    t0 = time.perf_counter()
    finetune(skill, out, base=base_dir, replay=args.replay, steps=args.steps, lr=args.lr, progress=not args.json)
    ft_minutes = (time.perf_counter() - t0) / 60
    ft_meta = load_diffusion(out).metadata
    skill_ids = [i for row in ft_meta["data"] if Path(row["corpus"]).name == skill.name for i in row["validation_clips"]]
    ev = load_evaluator(args.evaluator)
    base_ids = ev.metadata.get("validation_clips", [])

    report = {"base": str(base_dir), "skill": args.content, "skill_clips": sum(1 for _ in open(skill / "clips.jsonl")),
              "skill_held_out_clips": len(skill_ids), "steps": args.steps, "finetune_minutes": round(ft_minutes, 2),
              "skill_source_in_base_training_data": warn}
    for name, ckpt in (("base", base_dir), ("finetuned", out)):
        pipe = load_pretrained(ckpt)
        report[name] = {"skill": scores(pipe, ev, [skill], skill_ids, args.eval_samples),
                        "base_skills": scores(pipe, ev, args.replay, base_ids, args.eval_samples)}
    change = {}
    for s in ("skill", "base_skills"):
        b, f = report["base"][s]["generated"], report["finetuned"][s]["generated"]
        change[s] = {k: (f[k] - b[k]) / abs(b[k]) if b[k] else None for k in KEYS}
    report["relative_change"] = change
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    if warn:
        print(f"WARNING: the base was trained on {args.skill_from}: the skill is not new to it")
    print(f"skill '{args.content}': {report['skill_clips']} clips, {len(skill_ids)} held out; "
          f"fine-tuned {args.steps} steps in {ft_minutes:.1f} min from {base_dir}")
    print(f"{'set':<12} {'metric':<18} {'base':>8} {'finetuned':>10} {'change':>8} {'real':>8}")
    for s in ("skill", "base_skills"):
        for k in KEYS:
            b, f = report["base"][s]["generated"][k], report["finetuned"][s]["generated"][k]
            c = change[s][k]
            print(f"{s:<12} {k:<18} {b:>8.3f} {f:>10.3f} {100 * c:>+7.1f}% {report['base'][s]['real'][k]:>8.3f}")
    print("target: skill FID and MM-Dist down, R-precision up; base skills within 10 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
