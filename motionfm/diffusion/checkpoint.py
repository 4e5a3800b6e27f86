"""The trained latent diffusion model as one object, and its checkpoint folder (schema ``motionfm.diffusion``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from motionfm.checkpoint import default_checkpoint_dir, load_checkpoint, save_checkpoint
from motionfm.diffusion.model import Denoiser, DenoiserConfig
from motionfm.diffusion.scheduler import SchedulerConfig
from motionfm.tokenizer import FeatureStats

SCHEMA = "motionfm.diffusion"
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class LatentDiffusion:
    """Denoiser parameters with everything needed to sample: shapes, schedule, latent normalisation.

    Attributes:
        config: denoiser shape.
        scheduler: noise schedule and parameterisation.
        params: denoiser parameters.
        stats: normalisation of the tokenizer latents it models.
        window: training window in frames (generation is chunked at this length).
        metadata: the checkpoint's metadata (tokenizer it was trained with, data, metrics, ...).
    """

    config: DenoiserConfig
    scheduler: SchedulerConfig
    params: Any
    stats: FeatureStats
    window: int
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def model(self) -> Denoiser:
        return Denoiser(self.config)


def save_diffusion(path: str | os.PathLike, d: LatentDiffusion) -> Path:
    """Write a diffusion checkpoint folder (atomically)."""
    meta = {
        **d.metadata,
        "denoiser": dataclasses.asdict(d.config),
        "scheduler": dataclasses.asdict(d.scheduler),
        "window": d.window,
        "stats": {"mean": np.asarray(d.stats.mean).tolist(), "std": np.asarray(d.stats.std).tolist()},
    }
    return save_checkpoint(path, {"params": d.params}, meta, SCHEMA, SCHEMA_VERSION)


def load_diffusion(path: str | os.PathLike | None = None) -> LatentDiffusion:
    """Load a diffusion checkpoint (default: the shipped ``checkpoints/diffusion``)."""
    path = Path(path) if path is not None else default_checkpoint_dir() / "diffusion"
    state, meta = load_checkpoint(path, SCHEMA, SCHEMA_VERSION)
    stats = FeatureStats(jnp.asarray(meta["stats"]["mean"], jnp.float32), jnp.asarray(meta["stats"]["std"], jnp.float32))
    # Fields newer than a checkpoint (e.g. ``text_tokens``) are absent from its metadata and take
    # their defaults, which are chosen to be that older model (0: no text cross-attention).
    return LatentDiffusion(DenoiserConfig(**meta["denoiser"]), SchedulerConfig(**meta["scheduler"]), state["params"], stats,
                           int(meta["window"]), meta)
