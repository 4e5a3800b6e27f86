"""One training loop for every stage: steps, metric logging, validation, checkpoints, progress bar.

The tokenizer, diffusion and evaluator trainers differ in their model, loss and batches; what they
share is here, once: resume from the latest orbax checkpoint of a run folder (:func:`resume`), then
:func:`run_loop` calls the stage's ``step(state, i)`` for ``i = start .. steps - 1``, averages the
metrics it returns every ``log_every`` steps into ``log.jsonl`` (with ``step`` and ``steps_per_s``),
adds the stage's ``validate(state)`` figures every ``validate_every`` steps, saves a checkpoint every
``ckpt_every`` steps and at the end (so a run stopped at any moment loses at most ``ckpt_every``
steps), and shows a tqdm bar. The tracker trains with brax's PPO, which has its own loop.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import orbax.checkpoint as ocp

S = TypeVar("S")
Metrics = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Schedule of :func:`run_loop`.

    Attributes:
        steps: total steps of the run (a resumed run continues up to it).
        log_every: steps per ``log.jsonl`` row (the metrics are averaged over them).
        ckpt_every: steps between checkpoints (``None``: none; the final state is still returned).
        validate_every: steps between ``validate`` calls (default ``ckpt_every``; always at the end).
        desc: label of the progress bar.
    """

    steps: int
    log_every: int = 25
    ckpt_every: int | None = 500
    validate_every: int | None = None
    desc: str = "train"


def checkpoint_manager(ckpt_dir: str | os.PathLike, create: bool = True) -> ocp.CheckpointManager:
    """The orbax manager of a run's ``ckpt/`` folder (the last two checkpoints kept)."""
    return ocp.CheckpointManager(Path(ckpt_dir).absolute(),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=2, create=create))


def latest_step(ckpt_dir: str | os.PathLike) -> int | None:
    """Step of the latest checkpoint in ``ckpt_dir`` (``None`` when there is none; creates nothing)."""
    if not Path(ckpt_dir).is_dir():
        return None
    return checkpoint_manager(ckpt_dir, create=False).latest_step()


def resume(ckpt_dir: str | os.PathLike, state: S) -> tuple[S, int]:
    """``(state, start)``: the latest checkpoint of ``ckpt_dir`` restored into ``state``'s structure
    and its step, or ``(state, 0)`` when there is none (nothing is created then).

    Args:
        ckpt_dir: a run's checkpoint folder.
        state: a freshly initialised state (any pytree): the structure, dtypes and shapes to restore into.
    """
    step = latest_step(ckpt_dir)
    if step is None:
        return state, 0
    restored = checkpoint_manager(ckpt_dir, create=False).restore(step, args=ocp.args.StandardRestore(state))
    return restored, int(step)


def _mean(rows: list[Metrics]) -> dict[str, float]:
    return {k: float(np.mean([float(r[k]) for r in rows])) for k in rows[0]}


def run_loop(
    step: Callable[[S, int], tuple[S, Metrics]],
    state: S,
    start: int,
    cfg: LoopConfig,
    out_dir: str | os.PathLike,
    *,
    validate: Callable[[S], dict[str, float]] | None = None,
    postfix: Callable[[dict[str, float]], dict[str, str]] | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
) -> tuple[S, list[dict[str, float]]]:
    """Run ``step`` from ``start`` to ``cfg.steps``, logging, validating and checkpointing.

    Args:
        step: ``step(state, i) -> (state, metrics)``, ``i`` the 0-based index of the step; the
            metrics are scalars (arrays are fine: they are read only at log points, so the device
            runs ahead between them).
        state: the state at ``start`` (from :func:`resume`).
        start: steps already done.
        cfg: the schedule.
        out_dir: run folder: ``log.jsonl`` (appended) and ``ckpt/`` (orbax, when ``ckpt_every``).
        validate: ``validate(state) -> figures`` merged into the log row every ``validate_every``
            steps and at the end.
        postfix: the progress bar's postfix from a log row.
        on_log: called with ``(step, row)`` after every log row.
        progress: show a tqdm bar.

    Returns:
        ``(state, log)``: the final state and the rows logged by this call.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manager = checkpoint_manager(out / "ckpt") if cfg.ckpt_every else None
    every_val = cfg.validate_every or cfg.ckpt_every or cfg.steps
    log: list[dict[str, float]] = []
    bar = None
    if progress and start < cfg.steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=cfg.desc, unit="step", dynamic_ncols=True)
    t0, acc = time.perf_counter(), []
    try:
        for i in range(start, cfg.steps):
            state, metrics = step(state, i)
            acc.append(metrics)
            done = i + 1
            last = done == cfg.steps
            if done % cfg.log_every == 0 or last:
                row = _mean(acc)
                row.update(step=done, steps_per_s=len(acc) / (time.perf_counter() - t0))
                if validate is not None and (done % every_val == 0 or last):
                    row.update(validate(state))
                acc = []
                log.append(row)
                with open(out / "log.jsonl", "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                if bar is not None and postfix is not None:
                    bar.set_postfix(postfix(row))
                if on_log is not None:
                    on_log(done, row)
                t0 = time.perf_counter()  # validation and logging are not training time
            if bar is not None:
                bar.update(1)
            if manager is not None and (done % cfg.ckpt_every == 0 or last):
                manager.save(done, args=ocp.args.StandardSave(state))
    finally:
        if manager is not None:
            manager.wait_until_finished()  # an interrupted run keeps its last complete checkpoint
        if bar is not None:
            bar.close()
    return state, log
