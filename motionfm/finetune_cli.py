"""``motionfm finetune``: adapt the diffusion model to a folder of the user's motions
(:func:`motionfm.finetuning.finetune`, also `motionfm.finetune`). The parser imports nothing heavy; the command does when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
examples:
  motionfm finetune --data my_skills/ --out checkpoints/diffusion_my_skills --steps 1000 \\
      --replay ../shared/data/g1-open-motion
  motionfm sample --checkpoint checkpoints/diffusion_my_skills --text "a person does my skill" --out s.npz

The folder holds motion files (Unitree CSV, .npz) and a clips.jsonl with one row per clip
({"file": ..., "fps": ..., "captions": [...], "license": ...}); `motionfm data inspect DIR` checks it.
A stopped run continues from <out>.run when called again with the same arguments.
"""


def _cmd_finetune(args: argparse.Namespace) -> int:
    from motionfm.finetuning import finetune

    out = finetune(args.data, args.out, base=args.checkpoint, replay=args.replay or (), replay_weight=args.replay_weight,
                   steps=args.steps, lr=args.lr, batch_size=args.batch_size, tokenizer=args.tokenizer,
                   tokenizer_steps=args.tokenizer_steps, exclude_licences=args.exclude_licence or (), seed=args.seed,
                   run_dir=args.run_dir, progress=not args.no_progress)
    print(f"wrote {out} (load it: motionfm.load_pretrained({str(Path(out))!r}); "
          f"motionfm sample --checkpoint {out} ...)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``finetune`` subcommand to the ``motionfm`` parser's subparsers."""
    p = subparsers.add_parser(
        "finetune", help="adapt the diffusion model (optionally the tokenizer) to a folder of your motions",
        description="Continue training a diffusion checkpoint on a folder of motions with captions, mixed with "
                    "replay corpora of the base skills; resumable, with a progress bar. Writes a checkpoint that "
                    "motionfm.load_pretrained(path) and `motionfm sample --checkpoint` load.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, nargs="+", help="folder(s) of the new skills (motion files + clips.jsonl)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--steps", type=int, default=1000, help="denoiser steps (default 1000)")
    p.add_argument("--tokenizer", choices=("freeze", "train"), default="freeze",
                   help="keep the base tokenizer (default) or fine-tune it first (written to <out>-tokenizer)")
    p.add_argument("--tokenizer-steps", type=int, default=1000, help="tokenizer steps with --tokenizer train")
    p.add_argument("--replay", nargs="+", metavar="DIR", help="corpora of the base skills drawn beside the new data")
    p.add_argument("--replay-weight", type=float, default=1.0, help="sampling weight of each replay corpus (default 1)")
    p.add_argument("--exclude-licence", "--exclude-license", action="append", metavar="LICENCE",
                   help="leave clips with this licence out (repeatable)")
    p.add_argument("--checkpoint", help="base diffusion checkpoint (default: the shipped one)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, help="default: the base's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", help="resumable run folder (default <out>.run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_finetune)
    return p
