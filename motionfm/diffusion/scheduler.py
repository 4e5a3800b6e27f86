"""DDIM noise scheduler with immutable state and a pure ``step()`` (diffusers' Flax scheduler design),
and DPM-Solver++(2M)'s multistep correction of the predicted ``x0`` (:func:`multistep_coefficients`).

Everything is a pure function of a :class:`SchedulerState`, so sampling loops are ``lax.scan``-able
and jit-compiled once. The model may predict ``"epsilon"`` (the noise), ``"sample"`` (the clean
sample x0) or ``"v_prediction"`` (``v = sqrt(a) eps - sqrt(1 - a) x0``).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
from flax import struct

Prediction = Literal["epsilon", "sample", "v_prediction"]


@dataclasses.dataclass(frozen=True)
class SchedulerConfig:
    """Training noise schedule and the model's parameterisation.

    Attributes:
        num_train_timesteps: diffusion steps in training ``T``.
        beta_schedule: ``"cosine"`` (Nichol & Dhariwal; good for small latents) or ``"linear"``.
        prediction_type: what the denoiser outputs.
    """

    num_train_timesteps: int = 1000
    beta_schedule: Literal["cosine", "linear"] = "cosine"
    prediction_type: Prediction = "v_prediction"


@struct.dataclass
class SchedulerState:
    """Immutable scheduler state.

    Attributes:
        alphas_cumprod: ``(T,)`` cumulative products of ``1 - beta``.
        timesteps: ``(S,)`` inference timesteps, descending (after :func:`set_timesteps`).
    """

    alphas_cumprod: jax.Array
    timesteps: jax.Array


def create_state(config: SchedulerConfig = SchedulerConfig()) -> SchedulerState:
    """The training schedule (``timesteps`` = every training step, descending)."""
    n = config.num_train_timesteps
    if config.beta_schedule == "cosine":
        s = 0.008
        t = jnp.linspace(0, n, n + 1) / n
        f = jnp.cos((t + s) / (1 + s) * jnp.pi / 2) ** 2
        betas = jnp.clip(1 - f[1:] / f[:-1], 0, 0.999)
    elif config.beta_schedule == "linear":
        betas = jnp.linspace(1e-4, 0.02, n)
    else:
        raise ValueError(f"unknown beta schedule {config.beta_schedule!r}")
    return SchedulerState(jnp.cumprod(1.0 - betas), jnp.arange(n)[::-1])


def set_timesteps(state: SchedulerState, num_inference_steps: int) -> SchedulerState:
    """Evenly spaced inference timesteps ("trailing" spacing: the first step starts at ``T - 1``)."""
    n = state.alphas_cumprod.shape[0]
    steps = jnp.round(jnp.arange(n, 0, -n / num_inference_steps)).astype(jnp.int32) - 1
    return state.replace(timesteps=steps)


def _expand(a: jax.Array, x: jax.Array) -> jax.Array:
    return a.reshape(a.shape + (1,) * (x.ndim - a.ndim))


def add_noise(state: SchedulerState, x0: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    """``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise`` for per-example timesteps ``t (B,)``."""
    a = _expand(state.alphas_cumprod[t], x0)
    return jnp.sqrt(a) * x0 + jnp.sqrt(1 - a) * noise


def training_target(state: SchedulerState, x0: jax.Array, noise: jax.Array, t: jax.Array, prediction: Prediction) -> jax.Array:
    """What the model should output for ``(x0, noise, t)`` under its parameterisation."""
    if prediction == "epsilon":
        return noise
    if prediction == "sample":
        return x0
    a = _expand(state.alphas_cumprod[t], x0)
    return jnp.sqrt(a) * noise - jnp.sqrt(1 - a) * x0


def predict_x0_eps(state: SchedulerState, output: jax.Array, sample: jax.Array, t: jax.Array, prediction: Prediction):
    """``(x0, eps)`` implied by a model ``output`` at ``sample = x_t`` and timestep(s) ``t``."""
    a = _expand(jnp.asarray(state.alphas_cumprod[t]), sample)
    sa, s1a = jnp.sqrt(a), jnp.sqrt(1 - a)
    if prediction == "epsilon":
        eps = output
        x0 = (sample - s1a * eps) / sa
    elif prediction == "sample":
        x0 = output
        eps = (sample - sa * x0) / s1a
    else:
        x0 = sa * sample - s1a * output
        eps = sa * output + s1a * sample
    return x0, eps


def step(
    state: SchedulerState, x0: jax.Array, eps: jax.Array, index: jax.Array, eta: float = 0.0, key: jax.Array | None = None
) -> jax.Array:
    """One DDIM step from inference index ``index`` to ``index + 1``, given the predicted ``x0`` and ``eps``.

    Taking ``(x0, eps)`` rather than the raw output lets callers edit the prediction in between
    (classifier-free guidance, guidance gradients, inpainting). ``eta > 0`` adds DDPM-like noise.
    """
    t = state.timesteps[index]
    t_prev = jnp.where(index + 1 < state.timesteps.shape[0], state.timesteps[jnp.minimum(index + 1, state.timesteps.shape[0] - 1)], -1)
    a = state.alphas_cumprod[t]
    a_prev = jnp.where(t_prev >= 0, state.alphas_cumprod[jnp.maximum(t_prev, 0)], 1.0)
    sigma = eta * jnp.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
    direction = jnp.sqrt(jnp.maximum(1 - a_prev - sigma**2, 0.0)) * eps
    prev = jnp.sqrt(a_prev) * x0 + direction
    if key is not None and eta > 0:
        prev = prev + sigma * jax.random.normal(key, x0.shape, x0.dtype)
    return prev


def multistep_coefficients(state: SchedulerState) -> jax.Array:
    """``(S,)`` DPM-Solver++(2M) weights ``c_i``: step ``i`` uses ``D = x0_i + c_i (x0_i - x0_{i-1})``.

    DPM-Solver++ (Lu et al. 2022) in its data-prediction form: a first-order step from ``t_i`` to
    ``t_{i+1}`` is exactly the deterministic DDIM step (:func:`step` with ``eta=0``) taken with the
    predicted ``x0``; the second-order multistep variant takes the same step with ``D`` instead,
    extrapolated from the previous step's prediction, with ``c_i = 1 / (2 r_i)``, ``r_i = h_{i-1} / h_i``
    and ``h_i = lambda_{t_{i+1}} - lambda_{t_i}`` (``lambda = log(alpha / sigma)``, half the log-SNR).
    The first step has no previous prediction and the last (to ``sigma = 0``, where ``h`` is
    infinite) stays first order (diffusers' ``lower_order_final``): both get ``c = 0``.
    """
    ts = state.timesteps
    a = state.alphas_cumprod[ts]
    lam = 0.5 * (jnp.log(a) - jnp.log1p(-a))  # (S,) lambda at each inference timestep
    h = lam[1:] - lam[:-1]  # (S-1,) h_i for the steps i = 0..S-2 (the last step ends at sigma 0)
    c = h[1:] / (2 * h[:-1])  # 1 / (2 r_i) for i = 1..S-2
    return jnp.concatenate([jnp.zeros(1), c, jnp.zeros(1)])[: ts.shape[0]]
