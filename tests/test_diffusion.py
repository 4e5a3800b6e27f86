"""Latent diffusion: DDIM scheduler algebra, sampler masks/CFG, training, checkpoints, the pipeline."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motionfm import Motion
from motionfm.diffusion import (
    Denoiser, DenoiserConfig, LatentDiffusion, SamplerConfig, SchedulerConfig, create_state, load_diffusion, make_sampler,
    cfg_steps, save_diffusion, set_timesteps,
)
from motionfm.diffusion.scheduler import add_noise, predict_x0_eps, step, training_target
from motionfm.diffusion.train import DiffusionTrainConfig, caption_indices, train
from motionfm.pipeline import MotionPipeline, load_pretrained, tokenizer_fingerprint
from motionfm.text import load_text_encoder
from motionfm.tokenizer import FeatureStats, Tokenizer, TokenizerConfig, TokenizerModel, save_tokenizer

TOK = TokenizerConfig(quantizer="rvq", width=32, depth=1, code_dim=8, num_codes=16, rvq_levels=2, window=16)
DEN = DenoiserConfig(latent_dim=8, width=32, depth=1, heads=2, max_tokens=16)


@pytest.fixture(scope="module")
def tiny_tokenizer() -> Tokenizer:
    """An untrained tokenizer: enough to exercise every shape and code path."""
    v = TokenizerModel(TOK).init({"params": jax.random.PRNGKey(0), "quantizer": jax.random.PRNGKey(1)}, jnp.zeros((1, 16, 67)))
    return Tokenizer(TOK, v, FeatureStats(jnp.zeros(67), jnp.ones(67)))


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_scheduler_parameterisations_agree(prediction):
    sched = SchedulerConfig(num_train_timesteps=100, prediction_type=prediction)
    state = create_state(sched)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (3, 5, 4))
    noise = jax.random.normal(jax.random.PRNGKey(1), x0.shape)
    t = jnp.array([0, 50, 99])
    xt = add_noise(state, x0, noise, t)
    got_x0, got_eps = predict_x0_eps(state, training_target(state, x0, noise, t, prediction), xt, t, prediction)
    np.testing.assert_allclose(got_x0, x0, atol=2e-3)
    np.testing.assert_allclose(got_eps, noise, atol=2e-3)
    assert 0 < float(state.alphas_cumprod[-1]) < float(state.alphas_cumprod[0]) <= 1


def test_ddim_with_a_perfect_model_recovers_the_sample():
    state = set_timesteps(create_state(SchedulerConfig(num_train_timesteps=1000)), 10)
    assert state.timesteps.shape == (10,) and int(state.timesteps[0]) == 999 and (np.diff(state.timesteps) < 0).all()
    x0 = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 3))
    noise = jax.random.normal(jax.random.PRNGKey(1), x0.shape)
    x = add_noise(state, x0, noise, jnp.full((2,), state.timesteps[0]))
    for i in range(10):
        t = state.timesteps[i]
        a = state.alphas_cumprod[t]
        eps = (x - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a)
        x = step(state, x0, eps, i)
    np.testing.assert_allclose(x, x0, atol=1e-4)


def test_sampler_keeps_observations_and_is_seeded():
    model = Denoiser(DEN)
    n, d = 12, DEN.latent_dim
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, n, d)), jnp.zeros(1, jnp.int32), jnp.zeros((1, 384)),
                        jnp.ones(1, bool), jnp.zeros((1, n, d)), jnp.zeros((1, n), bool), jnp.ones((1, n), bool))["params"]
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(3), p.shape), params)  # not zero-init
    sampler = make_sampler(model, SchedulerConfig(), SamplerConfig(num_steps=4, guidance_scale=3.0))
    obs = jax.random.normal(jax.random.PRNGKey(2), (2, n, d))
    mask = jnp.zeros((2, n), bool).at[:, :3].set(True).at[1, 7].set(True)
    args = (jnp.ones((2, 384)) / 20, jnp.array([True, False]), obs, mask, jnp.ones((2, n), bool))
    a = sampler(params, jax.random.PRNGKey(5), *args)
    b = sampler(params, jax.random.PRNGKey(5), *args)
    c = sampler(params, jax.random.PRNGKey(6), *args)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(np.asarray(a)[np.asarray(mask)], np.asarray(obs)[np.asarray(mask)])
    assert np.isfinite(np.asarray(a)).all()
    seen = []
    guided = make_sampler(model, SchedulerConfig(), SamplerConfig(num_steps=4), cond_fn=lambda x0, t, args: seen.append(1) or 0.1 * x0)
    assert not np.allclose(guided(params, jax.random.PRNGKey(5), *args), sampler(params, jax.random.PRNGKey(5), *args)) and seen


def test_cfg_interval_and_guidance_schedule():
    model = Denoiser(DEN)
    n, d = 8, DEN.latent_dim
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, n, d)), jnp.zeros(1, jnp.int32), jnp.zeros((1, 384)),
                        jnp.ones(1, bool), jnp.zeros((1, n, d)), jnp.zeros((1, n), bool), jnp.ones((1, n), bool))["params"]
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(3), p.shape), params)
    sched = SchedulerConfig()
    steps = cfg_steps(sched, SamplerConfig(num_steps=20, cfg_interval=(0.5, 2.5)))
    assert steps.tolist() == [False] * 5 + [True] * 10 + [False] * 5  # sigma 2.43 ... 0.52 on the cosine schedule
    assert cfg_steps(sched, SamplerConfig(num_steps=20)).all()
    args = (jnp.ones((2, 384)) / 20, jnp.array([True, True]), jnp.zeros((2, n, d)), jnp.zeros((2, n), bool), jnp.ones((2, n), bool))
    run = lambda cfg, fn=None: np.asarray(make_sampler(model, sched, cfg, fn)(params, jax.random.PRNGKey(5), *args))  # noqa: E731
    # CFG nowhere in the interval is the conditional model alone (w = 1); somewhere, it changes the sample.
    cond_only = run(SamplerConfig(num_steps=6, guidance_scale=1.0))
    np.testing.assert_allclose(run(SamplerConfig(num_steps=6, guidance_scale=3.0, cfg_interval=(1e6, 1e7))), cond_only, atol=1e-6)
    assert not np.allclose(run(SamplerConfig(num_steps=6, guidance_scale=3.0, cfg_interval=(0.5, 2.5))), cond_only, atol=1e-3)
    # cond_fn is applied at the steps at or below cond_max_timestep only: a constant shift per call shows how many.
    shift = lambda x0, t, a: -0.01 * jnp.ones_like(x0)  # noqa: E731
    base = run(SamplerConfig(num_steps=6, guidance_scale=1.0, cond_max_timestep=-1), shift)
    np.testing.assert_allclose(base, cond_only, atol=1e-6)
    late = run(SamplerConfig(num_steps=6, guidance_scale=1.0, cond_max_timestep=500), shift)
    every = run(SamplerConfig(num_steps=6, guidance_scale=1.0), shift)
    assert 0 < np.abs(late - cond_only).mean() < np.abs(every - cond_only).mean()


def test_config_presets_and_files(tmp_path):
    from motionfm.diffusion.train import PRESETS, load_config

    model, tc = load_config("small")
    assert (model.width, model.depth, model.max_tokens, tc.window) == (256, 4, 64, 128)  # the shipped model's recipe
    assert load_config("large")[0].width > model.width and PRESETS["large"][1].window // 4 <= PRESETS["large"][0].max_tokens
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"model": {"depth": 2}, "train": {"steps": 10}}))
    m2, t2 = load_config(str(f))
    assert (m2.depth, m2.width, t2.steps, t2.batch_size) == (2, 256, 10, tc.batch_size)
    f.write_text(json.dumps({"model": {"colour": "red"}}))
    with pytest.raises(ValueError, match="cfg.json"):
        load_config(str(f))
    with pytest.raises(FileNotFoundError, match="neither a preset"):
        load_config("huge")
    from motionfm.cli import main

    assert main(["train", "diffusion", "--config", "huge", "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_caption_indices_pick_known_captions():
    rng = np.random.default_rng(0)
    caps = np.empty(3, object)
    caps[0], caps[1], caps[2] = ("a", "b"), (), ("zzz",)
    idx = caption_indices(caps, {"a": 0, "b": 1}, rng)
    assert idx[0] in (0, 1) and idx[1] == -1 and idx[2] == -1


def test_train_export_and_sample_through_the_pipeline(tmp_path, small_corpus, tiny_tokenizer):
    from motionfm.data import G1MotionConfig, build_dataset

    tc = DiffusionTrainConfig(steps=3, batch_size=4, warmup_steps=1, window=32, stride=16, log_every=3, ckpt_every=3)
    src = build_dataset(small_corpus, tmp_path / "ds", config=G1MotionConfig(window=32, stride=16)).as_data_source("train")
    captions = sorted({c for i in range(len(src)) for c in src[i]["captions"]})
    captions = [c.decode() if isinstance(c, bytes) else c for c in captions]
    text = load_text_encoder()
    table = text.encode(captions)
    state, stats, log = train(tiny_tokenizer, DEN, SchedulerConfig(), tc, src, {c: i for i, c in enumerate(captions)}, table,
                              tmp_path / "run", progress=False)
    assert int(state.step) == 3 and np.isfinite(log[-1]["loss"])
    # Cached latents (the default) are the per-step encodings of the same, possibly mirrored, windows.
    from motionfm.diffusion.train import cache_latents, encode_windows
    from motionfm.robot import mirror_qpos

    z = cache_latents(tiny_tokenizer, src, chunk=4, progress=False)
    q = np.stack([src[i]["qpos"] for i in range(len(src))])
    mq, _ = mirror_qpos(q, np.stack([src[i]["joint_mask"] for i in range(len(src))]))
    np.testing.assert_allclose(z[:, 0], np.asarray(encode_windows(tiny_tokenizer, q)), atol=1e-5)
    np.testing.assert_allclose(z[:, 1], np.asarray(encode_windows(tiny_tokenizer, mq)), atol=1e-5)
    _, _, log_enc = train(tiny_tokenizer, DEN, SchedulerConfig(), tc, src, {c: i for i, c in enumerate(captions)}, table,
                          tmp_path / "run_encoded", progress=False, cache=False)
    assert log_enc[-1]["loss"] == pytest.approx(log[-1]["loss"], rel=1e-4)
    ckpts = tmp_path / "checkpoints"
    save_tokenizer(ckpts / "tokenizer", tiny_tokenizer)
    meta = {"tokenizer_checkpoint": "tokenizer", "tokenizer_fingerprint": tokenizer_fingerprint(tiny_tokenizer)}
    save_diffusion(ckpts / "diffusion", LatentDiffusion(DEN, SchedulerConfig(), state.params, stats, tc.window, meta))
    assert json.loads((ckpts / "diffusion/metadata.json").read_text())["schema"] == "motionfm.diffusion"
    pipe = load_pretrained(ckpts / "diffusion")
    assert isinstance(pipe, MotionPipeline) and pipe.chunk_tokens == 8
    m = pipe.sample("a person walks", seconds=2.0, seed=1, num_samples=2, num_steps=3)
    assert len(m) == 2 and m[0].num_frames == 61 and m[0].fps == 30 and m[0].captions == ("a person walks",)
    np.testing.assert_allclose(m[0].root_pos[0, :2], 0, atol=1e-5)
    assert not m[0].joint_limit_violations().any() and not m[1].joint_limit_violations().any()
    again = pipe.sample("a person walks", seconds=2.0, seed=1, num_samples=2, num_steps=3)
    np.testing.assert_array_equal(again[1].qpos, m[1].qpos)  # seeded
    hist = Motion.load(small_corpus / "asap/Bolt_level1.csv")
    cont = pipe.sample(None, seconds=1.0, seed=0, history=hist, num_steps=3)[0]
    h = hist.resample(30)
    np.testing.assert_allclose(cont.root_pos[0, :2], h.root_pos[-1, :2], atol=1e-4)  # continues where it ended
    with pytest.raises(ValueError, match="seconds must be positive"):
        pipe.sample("x", seconds=0)
    other = dataclasses.replace(tiny_tokenizer, variables=jax.tree.map(lambda v: v + 1, tiny_tokenizer.variables))
    save_tokenizer(tmp_path / "other_tok", other)
    with pytest.raises(ValueError, match="not the one the diffusion model was trained with"):
        load_pretrained(ckpts / "diffusion", tokenizer=tmp_path / "other_tok")
    assert load_diffusion(ckpts / "diffusion").window == 32
