"""Latent diffusion over tokenizer latents: DiT denoiser, DDIM scheduler, guided sampler, training."""

from motionfm.diffusion.checkpoint import LatentDiffusion, load_diffusion, save_diffusion
from motionfm.diffusion.model import Denoiser, DenoiserConfig
from motionfm.diffusion.sampler import DEFAULT_GUIDANCE_SCALE, CondFn, SamplerConfig, cfg_steps, make_sampler
from motionfm.diffusion.scheduler import SchedulerConfig, SchedulerState, add_noise, create_state, set_timesteps, step

__all__ = [
    "DEFAULT_GUIDANCE_SCALE", "CondFn", "Denoiser", "DenoiserConfig", "LatentDiffusion", "SamplerConfig", "SchedulerConfig", "SchedulerState",
    "add_noise", "cfg_steps", "create_state", "load_diffusion", "make_sampler", "save_diffusion", "set_timesteps", "step",
]
