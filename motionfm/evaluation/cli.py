"""``motionfm train evaluator`` / ``eval diffusion``: a thin layer over the evaluation package.

Wire-up from ``motionfm/cli.py``: call :func:`register` with the ``train`` and ``eval`` subparser
groups. Heavy imports happen inside the commands; ``eval diffusion`` is the one place that loads
the generation pipeline (lazily), since :mod:`motionfm.evaluation` itself never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

_ROWS = (("fid", "FID"), ("r_precision_top1", "R-precision top-1"), ("r_precision_top2", "R-precision top-2"),
         ("r_precision_top3", "R-precision top-3"), ("diversity", "diversity"), ("mm_dist", "MM-Dist"))


def _cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from motionfm.evaluation.evaluator import save_evaluator
    from motionfm.evaluation.model import EvaluatorConfig
    from motionfm.evaluation.train import EvaluatorTrainConfig, train_evaluator

    tc = EvaluatorTrainConfig()
    tc = dataclasses.replace(tc, **{k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
                                                      ("seed", args.seed)) if v is not None})
    cfg = EvaluatorConfig(window=args.window)
    t0 = time.perf_counter()
    ev, _ = train_evaluator(args.data, args.out, cfg, tc, dataset_dir=args.dataset_dir, weights=args.weight,
                            exclude_licences=args.exclude_licence)
    print(f"trained in {(time.perf_counter() - t0) / 60:.1f} min")
    if args.export:
        print(f"exported {save_evaluator(args.export, ev)}")
    print(json.dumps(ev.metadata.get("validation_metrics", {}), indent=1))
    return 0


def format_comparison(res: dict) -> str:
    """The table ``eval diffusion`` prints: generated vs real for each metric."""
    g, r = res["generated"], res["real"]
    lines = [f"{res['num_windows']} held-out windows of {len(res['clips'])} clips; R-precision pool {g['pool_size']:.1f} captions "
             f"(chance top-1 {g['chance_top1']:.3f}, top-3 {g['chance_top3']:.3f})",
             f"{'metric':<20} {'generated':>10} {'real':>10}"]
    lines += [f"{label:<20} {g[k]:>10.4f} {r[k]:>10.4f}" for k, label in _ROWS]
    lines.append(f"{'top-3 / real top-3':<20} {res['top3_ratio']:>10.3f}")
    return "\n".join(lines)


def _cmd_eval_diffusion(args: argparse.Namespace) -> int:
    from motionfm.diffusion import DEFAULT_GUIDANCE_SCALE
    from motionfm.evaluation.evaluator import compare_generated, load_evaluator
    from motionfm.pipeline import load_pretrained

    ev = load_evaluator(args.evaluator)
    pipe = load_pretrained(args.checkpoint)
    ids = list(ev.metadata.get("validation_clips", []))
    gen_held = pipe.diffusion.metadata.get("validation_clips")
    if gen_held is not None:
        seen = [i for i in ids if i not in set(gen_held)]
        if seen:  # the diffusion model trained on these: scoring them would flatter it
            print(f"note: skipping {len(seen)} clips the diffusion model trained on: {seen}", file=sys.stderr)
        ids = [i for i in ids if i in set(gen_held)]
    seconds = args.seconds if args.seconds is not None else ev.config.window / ev.config.fps
    w = DEFAULT_GUIDANCE_SCALE if args.guidance_scale is None else args.guidance_scale
    show = not args.json and sys.stderr.isatty()

    def generate(captions: list[str]):
        from tqdm import tqdm

        return [pipe.sample(c, seconds=seconds, seed=args.seed + i, guidance_scale=w)[0]
                for i, c in enumerate(tqdm(captions, desc="sampling", unit="motion", disable=not show))]

    t0 = time.perf_counter()
    res = compare_generated(ev, generate, corpora=args.data, clip_ids=ids, samples=args.samples, seed=args.seed)
    res.update(checkpoint=str(args.checkpoint or "shipped"), evaluator=str(args.evaluator or "shipped"), seconds=seconds,
               guidance_scale=w, wall_s=round(time.perf_counter() - t0, 1))
    print(json.dumps(res, indent=1) if args.json else format_comparison(res))
    return 0


def register(train_group: argparse._SubParsersAction, eval_group: argparse._SubParsersAction) -> None:
    """Add ``evaluator`` to the ``train`` group and ``diffusion`` to the ``eval`` group."""
    t = train_group.add_parser("evaluator", help="train the contrastive text-motion evaluator (FID, R-precision)")
    t.add_argument("--data", nargs="+", required=True, help="corpus folders with clips.jsonl captions")
    from motionfm.data.corpus import add_selection_arguments

    add_selection_arguments(t)
    t.add_argument("--out", default="runs/evaluator", help="run folder (datasets, caption cache, log.jsonl)")
    t.add_argument("--export", help="write the evaluator checkpoint here (e.g. checkpoints/evaluator)")
    t.add_argument("--dataset-dir", help="where the tfds windows are built (default: <out>/datasets)")
    t.add_argument("--window", type=int, default=120, help="window in frames at 30 fps (default 120 = 4 s)")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int, help="also the clip split seed (0 holds out the diffusion model's clips)")
    t.set_defaults(func=_cmd_train)

    e = eval_group.add_parser("diffusion", help="FID, R-precision, diversity, MM-Dist of generated vs real motion")
    e.add_argument("--checkpoint", help="diffusion checkpoint (default: the shipped one)")
    e.add_argument("--evaluator", help="evaluator checkpoint (default: the shipped one)")
    e.add_argument("--data", nargs="+", help="corpus folders holding the held-out clips (default: the evaluator's)")
    e.add_argument("--samples", type=int, help="held-out windows to use, a seeded subset (default: all)")
    e.add_argument("--seconds", type=float, help="length of each generated motion (default: the evaluator's window)")
    e.add_argument("--guidance-scale", type=float,
                   help="classifier-free guidance weight (default: the sampler's, motionfm.diffusion.DEFAULT_GUIDANCE_SCALE)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_cmd_eval_diffusion)


__all__ = ["format_comparison", "register"]
