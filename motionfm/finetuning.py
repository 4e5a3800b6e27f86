"""Fine-tuning on a new skill set: adapt the diffusion model (and optionally the tokenizer) to a
folder of the user's motions with captions.

:func:`finetune` continues the training of a diffusion checkpoint (default the shipped one) on the
user's folder, mixed with ``replay`` corpora (the base skills: drawing some of their windows keeps
the model from forgetting them), through the stages' own ``train`` functions and their one loop
(:mod:`motionfm.training`): resumable from ``<out>.run`` with a progress bar. The result is a
diffusion checkpoint at ``out`` that :func:`motionfm.load_pretrained` loads.

Tokenizer ``freeze`` (default): the base tokenizer and its latent normalisation are kept; only the
denoiser moves. ``train``: the tokenizer is first fine-tuned on the same data (warm start, a lower
learning rate) and written beside the checkpoint (``<out>-tokenizer``); the denoiser then continues
on that tokenizer's latents. Fine-tuning the tracker is ``motionfm train tracker --data DIR ...``,
which resumes from a run folder.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

TOKENIZER_MODES = ("freeze", "train")


def _merge_training_data(base: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The licences a fine-tuned checkpoint inherits: its base's and its new data's."""
    if not base:
        return {**new, "base_training_data": "unrecorded (the base checkpoint lists no licences)"}
    lic = dict(base.get("licences", {}))
    for k, v in new.get("licences", {}).items():
        lic[k] = lic.get(k, 0) + v
    return {**new, "licences": dict(sorted(lic.items())), "base_training_data": base}


def finetune(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    base: str | os.PathLike | None = None,
    replay: Sequence[str | os.PathLike] = (),
    replay_weight: float = 1.0,
    steps: int = 1000,
    lr: float = 1e-4,
    batch_size: int | None = None,
    tokenizer: str = "freeze",
    tokenizer_steps: int = 1000,
    exclude_licences: Sequence[str] = (),
    seed: int = 0,
    run_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Fine-tune a diffusion checkpoint on ``data`` and write the result to ``out``.

    Args:
        data: the new skill set: a folder (or several) of motion files with a ``clips.jsonl``
            giving their captions (the format of every corpus: ``motionfm data inspect`` checks it).
        out: the checkpoint folder to write (``load_pretrained(out)`` loads it).
        base: the diffusion checkpoint to start from (default: the shipped one).
        replay: corpora of the base skills, drawn beside ``data`` so that they are not forgotten.
        replay_weight: sampling weight of each replay corpus relative to the new data's (1 each).
        steps: denoiser steps (resumed runs continue up to it).
        lr: peak learning rate (a short warm-up, then cosine decay, like training).
        batch_size: default the base's.
        tokenizer: ``"freeze"`` or ``"train"`` (module docstring).
        tokenizer_steps: tokenizer steps when ``tokenizer="train"``.
        exclude_licences: licences left out of ``data`` and ``replay``.
        seed: shuffling, caption draws and the clip split.
        run_dir: where the resumable runs live (default ``<out>.run``).
        progress: tqdm bars.

    Returns:
        ``out``.

    Raises:
        ValueError: an unknown ``tokenizer`` mode, a non-positive ``steps``, or a corpus the data
            layer rejects (the error names the folder); nothing is written to ``out`` then.
    """
    import jax

    from motionfm.checkpoint import default_checkpoint_dir
    from motionfm.data import licence_summary
    from motionfm.diffusion import LatentDiffusion, load_diffusion, save_diffusion
    from motionfm.diffusion.train import load_config, training_data
    from motionfm.diffusion.train import train as train_diffusion
    from motionfm.pipeline import diffusion_tokenizer, tokenizer_fingerprint

    if tokenizer not in TOKENIZER_MODES:
        raise ValueError(f"tokenizer must be one of {TOKENIZER_MODES}, got {tokenizer!r}")
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    new = [Path(d) for d in ([data] if isinstance(data, (str, os.PathLike)) else data)]
    for d in [*new, *map(Path, replay)]:
        if not (d / "clips.jsonl").is_file():
            raise ValueError(f"{d}: not a corpus folder (no clips.jsonl with the clips' captions)")
    out = Path(out)
    run = Path(run_dir) if run_dir is not None else out.with_name(out.name + ".run")
    base_dir = Path(base) if base is not None else default_checkpoint_dir() / "diffusion"
    diff = load_diffusion(base_dir)
    tok_dir, tok = diffusion_tokenizer(diff, base_dir)
    tok_dir = tok_dir or default_checkpoint_dir() / "tokenizer"

    corpora = [str(d) for d in [*new, *map(Path, replay)]]
    weights = [1.0] * len(new) + [float(replay_weight)] * len(replay)
    _, base_tc = load_config(str(base_dir / "metadata.json"))  # the base's training settings
    tc = dataclasses.replace(base_tc, steps=steps, lr=lr, warmup_steps=min(100, max(1, steps // 10)), seed=seed,
                             batch_size=batch_size or base_tc.batch_size, window=diff.window,
                             ckpt_every=min(base_tc.ckpt_every, max(50, steps // 5)))
    t0 = time.perf_counter()
    stats = diff.stats
    tok_meta: dict[str, Any] = {"tokenizer": "frozen"}
    if tokenizer == "train":
        from motionfm.tokenizer import save_tokenizer
        from motionfm.tokenizer.train import build_sources as tok_sources
        from motionfm.tokenizer.train import load_config as tok_config
        from motionfm.tokenizer.train import tokenizer_from_run
        from motionfm.tokenizer.train import train as train_tokenizer

        _, ttc = tok_config("small")
        ttc = dataclasses.replace(ttc, **{k: v for k, v in tok.metadata.get("train", {}).items() if hasattr(ttc, k)})
        ttc = dataclasses.replace(ttc, steps=tokenizer_steps, lr=ttc.lr * 0.2, seed=seed)
        src, val, tinfo = tok_sources(corpora, run / "datasets_tokenizer", tok.config, ttc, weights=weights,
                                      exclude_licences=exclude_licences)
        train_tokenizer(tok.config, ttc, src, run / "tokenizer", val_source=val, progress=progress, init_from=tok)
        tok = tokenizer_from_run(run / "tokenizer", {**tok.metadata, "finetuned_on": tinfo, "training_data":
                                                     _merge_training_data(tok.metadata.get("training_data"), licence_summary(tinfo))})
        tok_dir = out.with_name(out.name + "-tokenizer")
        save_tokenizer(tok_dir, tok)
        stats = None  # new latents: their normalisation is measured again
        tok_meta = {"tokenizer": "fine-tuned", "tokenizer_steps": tokenizer_steps}

    src, info, captions, table = training_data(corpora, run, tok, tc, weights, exclude_licences)
    val_ids = [i for row in info for i in row["validation_clips"]]
    if progress:
        parts = ", ".join(f"{Path(r['corpus']).name} {r['train_windows']}" for r in info)
        print(f"finetune: {len(src)} windows ({parts}), "
              f"{len(captions)} captions, {jax.device_count()} device(s), {tc.steps} steps of {tc.batch_size}")
    state, stats, log = train_diffusion(tok, diff.config, diff.scheduler, tc, src, {c: i for i, c in enumerate(captions)},
                                        table, run / "diffusion", stats=stats, progress=progress,
                                        init_params=diff.params)
    meta = {**{k: v for k, v in diff.metadata.items() if k not in ("stats", "denoiser", "scheduler", "window")},
            "train": dataclasses.asdict(tc), "steps": int(state.step), "data": info,
            "training_data": _merge_training_data(diff.metadata.get("training_data"), licence_summary(info)),
            "validation_clips": val_ids, "finetuned_from": str(base_dir), "base_steps": diff.metadata.get("steps"),
            "finetune": {"new_data": [str(d) for d in new], "replay": [str(r) for r in replay], "replay_weight": replay_weight,
                         "lr": lr, **tok_meta},
            "train_hours_this_run": round((time.perf_counter() - t0) / 3600, 3), "final_train_log": log[-1] if log else {},
            "tokenizer_checkpoint": os.path.relpath(Path(tok_dir).resolve(), out.resolve().parent),
            "tokenizer_fingerprint": tokenizer_fingerprint(tok)}
    return save_diffusion(out, LatentDiffusion(diff.config, diff.scheduler, state.params, stats, diff.window, meta))
