"""DDIM sampling of latent sequences: classifier-free guidance, inpainting by mask, guidance hooks.

One :func:`make_sampler` call builds a jit-compiled ``lax.scan`` over the inference steps. At every
step the model's output is combined as ``u + w (c - u)`` (classifier-free guidance, both halves in
one batch), turned into a predicted clean sample ``x0``, optionally corrected by ``cond_fn``
(guided-diffusion's hook, here ``cond_fn(x0, t, cond_args) -> delta``: a correction to subtract,
e.g. scaled cost gradients of the decoded motion w.r.t. the normalised latents; ``cond_args`` is
any pytree passed to the sampler, so new guidance targets don't recompile), then observed
positions are re-imposed (inpainting/continuation) and DDIM steps to the next noise level.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from motionfm.diffusion.model import Denoiser
from motionfm.diffusion.scheduler import SchedulerConfig, create_state, predict_x0_eps, set_timesteps, step

CondFn = Callable[[jax.Array, jax.Array, Any], jax.Array]
"""``cond_fn(x0 (B, N, d), t (), cond_args) -> (B, N, d)``: a correction to subtract from ``x0``."""


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Inference settings.

    Attributes:
        num_steps: DDIM steps (20 by default).
        guidance_scale: classifier-free guidance weight ``w`` (1 = conditional only).
        eta: DDIM stochasticity (0 = deterministic).
    """

    num_steps: int = 20
    guidance_scale: float = 2.5
    eta: float = 0.0


def make_sampler(
    model: Denoiser, scheduler: SchedulerConfig, config: SamplerConfig = SamplerConfig(), cond_fn: Optional[CondFn] = None
) -> Callable[..., jax.Array]:
    """A jitted ``sample(params, key, text, text_valid, obs, obs_mask, token_mask, cond_args=None) -> x0 (B, N, d)``.

    Arguments of the returned function: denoiser ``params``; a PRNG ``key``; ``text (B, 384)`` and
    ``text_valid (B,)``; observed latents ``obs (B, N, d)`` with ``obs_mask (B, N)``; and
    ``token_mask (B, N)`` of real positions; ``cond_args`` for ``cond_fn``. Latents are in the
    denoiser's normalised space.
    """
    state = set_timesteps(create_state(scheduler), config.num_steps)
    pred = scheduler.prediction_type
    w = config.guidance_scale

    def sample(params, key, text, text_valid, obs, obs_mask, token_mask, cond_args=None):
        b = obs.shape[0]
        key, k0 = jax.random.split(key)
        x = jax.random.normal(k0, obs.shape, obs.dtype)
        m = obs_mask[..., None].astype(obs.dtype)

        def body(carry, i):
            x, key = carry
            t = state.timesteps[i]
            tt = jnp.full((2 * b,), t)
            out = model.apply(
                {"params": params}, jnp.concatenate([x, x]), tt, jnp.concatenate([text, text]),
                jnp.concatenate([text_valid, jnp.zeros_like(text_valid)]), jnp.concatenate([obs, obs]),
                jnp.concatenate([obs_mask, obs_mask]), jnp.concatenate([token_mask, token_mask]),
            )
            out = out[b:] + w * (out[:b] - out[b:])
            x0, eps = predict_x0_eps(state, out, x, t, pred)
            if cond_fn is not None:
                x0 = x0 - cond_fn(x0, t, cond_args)
            x0 = m * obs + (1 - m) * x0
            a = state.alphas_cumprod[t]
            eps = (x - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a)  # consistent with the edited x0
            key, k = jax.random.split(key)
            x = step(state, x0, eps, i, config.eta, k)
            return (x, key), None

        (x, _), _ = jax.lax.scan(body, (x, key), jnp.arange(config.num_steps))
        return m * obs + (1 - m) * x

    return jax.jit(sample)
