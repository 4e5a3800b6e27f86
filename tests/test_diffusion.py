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
from motionfm.diffusion.scheduler import add_noise, multistep_coefficients, predict_x0_eps, step, training_target
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


@pytest.mark.parametrize("steps", [8, 12])
def test_dpm_solver_2m_is_second_order_where_ddim_is_first(steps):
    # Gaussian data x0 ~ N(mu, s^2): the exact denoiser E[x0 | x_t] is affine, and the probability-flow
    # ODE keeps (x_t - alpha mu) / sqrt(alpha^2 s^2 + sigma^2) constant, so its exact end is known.
    mu, s = 0.7, 0.3

    def solve(n: int, solver: str) -> float:
        state = set_timesteps(create_state(SchedulerConfig()), n)
        coef = multistep_coefficients(state) if solver == "dpmpp_2m" else jnp.zeros(n)
        x_T = jnp.linspace(-2.0, 2.0, 9)
        x, prev = x_T, jnp.zeros_like(x_T)
        for i in range(n):
            a = state.alphas_cumprod[state.timesteps[i]]
            x0 = mu + jnp.sqrt(a) * s**2 / (a * s**2 + 1 - a) * (x - jnp.sqrt(a) * mu)
            d = x0 + coef[i] * (x0 - prev)  # what the sampler does with the extrapolation
            x, prev = step(state, d, (x - jnp.sqrt(a) * d) / jnp.sqrt(1 - a), i), x0
        a = state.alphas_cumprod[state.timesteps[0]]
        exact = mu + s * (x_T - jnp.sqrt(a) * mu) / jnp.sqrt(a * s**2 + 1 - a)
        return float(jnp.abs(x - exact).max())

    ddim, dpm = solve(steps, "ddim"), solve(steps, "dpmpp_2m")
    assert dpm < 0.8 * ddim
    # doubling the steps: DDIM's error halves at best (first order), 2M's falls ~4x (second order)
    assert solve(2 * steps, "ddim") > 0.45 * ddim and solve(2 * steps, "dpmpp_2m") < 0.35 * dpm
    coef = np.asarray(multistep_coefficients(set_timesteps(create_state(SchedulerConfig()), steps)))
    assert coef[0] == 0 and coef[-1] == 0 and (coef[1:-1] > 0).all()  # first and last steps are first order


def test_sampler_keeps_observations_and_is_seeded():
    model = Denoiser(DEN)
    n, d = 12, DEN.latent_dim
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, n, d)), jnp.zeros(1, jnp.int32), jnp.zeros((1, 384)),
                        jnp.ones(1, bool), jnp.zeros((1, n, d)), jnp.zeros((1, n), bool), jnp.ones((1, n), bool))["params"]
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(3), p.shape), params)  # not zero-init
    sampler = make_sampler(model, SchedulerConfig(), SamplerConfig(num_steps=4, guidance_scale=3.0, solver="ddim"))
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
    dpm = make_sampler(model, SchedulerConfig(), SamplerConfig(num_steps=4, guidance_scale=3.0, solver="dpmpp_2m"))
    e = np.asarray(dpm(params, jax.random.PRNGKey(5), *args))
    np.testing.assert_array_equal(e[np.asarray(mask)], np.asarray(obs)[np.asarray(mask)])
    assert np.isfinite(e).all() and not np.allclose(e, a)
    with pytest.raises(ValueError, match="eta"):
        make_sampler(model, SchedulerConfig(), SamplerConfig(eta=0.5, solver="dpmpp_2m"))
    with pytest.raises(ValueError, match="solver"):
        make_sampler(model, SchedulerConfig(), SamplerConfig(solver="euler"))  # type: ignore[arg-type]
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
    meta = {"tokenizer_checkpoint": "tokenizer", "tokenizer_fingerprint": tokenizer_fingerprint(tiny_tokenizer), "steps": 3}
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
    from motionfm.robot import plant_feet

    planted = pipe.sample("a person walks", seconds=2.0, seed=1, num_samples=2, num_steps=3, plant_feet=True)
    np.testing.assert_allclose(planted[1].qpos, plant_feet(m[1].qpos), atol=1e-6)  # the same sample, its root path moved
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
    # `train diffusion --init-from`: a fresh run continues the checkpoint (parameters, latent
    # normalisation) and counts its steps; a checkpoint of another shape is refused before training.
    from motionfm.cli import main

    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(json.dumps({"model": dataclasses.asdict(DEN), "train": {**{k: getattr(tc, k) for k in (
        "batch_size", "warmup_steps", "window", "stride")}, "steps": 2, "log_every": 1, "ckpt_every": 2}}))
    args = ["train", "diffusion", "--config", str(cfg_file), "--data", str(small_corpus), "--tokenizer", str(ckpts / "tokenizer"),
            "--init-from", str(ckpts / "diffusion")]
    assert main([*args, "--out", str(tmp_path / "warm"), "--export", str(tmp_path / "warm_ckpt")]) == 0
    warm = load_diffusion(tmp_path / "warm_ckpt")
    assert warm.metadata["steps"] == 5 and warm.metadata["init_from"]["steps"] == 3
    np.testing.assert_array_equal(warm.stats.mean, stats.mean)
    base_leaves, warm_leaves = jax.tree.leaves(state.params), jax.tree.leaves(warm.params)
    assert max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(base_leaves, warm_leaves)) < 0.05  # 2 small steps on
    cfg_file.write_text(json.dumps({"model": {**dataclasses.asdict(DEN), "width": 64}, "train": {"window": 32, "stride": 16}}))
    assert main([*args, "--out", str(tmp_path / "wide"), "--export", str(tmp_path / "wide_ckpt")]) == 2
    assert not (tmp_path / "wide").exists() and not (tmp_path / "wide_ckpt").exists()


# ------------------------------------------------------------------ token-level text cross-attention
DEN_TOK = dataclasses.replace(DEN, text_tokens=8)


def _init(cfg: DenoiserConfig, n: int = 12) -> dict:
    tokens = {"text_tokens": jnp.zeros((1, cfg.text_tokens, 384)), "text_token_mask": jnp.ones((1, cfg.text_tokens), bool)}
    return Denoiser(cfg).init(jax.random.PRNGKey(0), jnp.zeros((1, n, cfg.latent_dim)), jnp.zeros(1, jnp.int32), jnp.zeros((1, 384)),
                              jnp.ones(1, bool), jnp.zeros((1, n, cfg.latent_dim)), jnp.zeros((1, n), bool), jnp.ones((1, n), bool),
                              **(tokens if cfg.text_tokens else {}))["params"]


def _perturb(params: dict) -> dict:  # away from the zero-initialised gates and output layer
    return jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(3), p.shape), params)


def test_without_text_tokens_the_denoiser_is_the_pooled_one(tmp_path):
    paths = ["/".join(str(k.key) for k in path) for path, _ in jax.tree_util.tree_flatten_with_path(_init(DEN))[0]]
    assert not [p for p in paths if "cross" in p or "text_token" in p]
    # a checkpoint written before text_tokens existed (its metadata lacks the key) loads as the pooled model
    save_diffusion(tmp_path / "old", LatentDiffusion(DEN, SchedulerConfig(), _init(DEN), FeatureStats(jnp.zeros(8), jnp.ones(8)), 48))
    meta_file = tmp_path / "old" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    del meta["denoiser"]["text_tokens"]
    meta_file.write_text(json.dumps(meta))
    old = load_diffusion(tmp_path / "old")
    assert old.config.text_tokens == 0
    assert jax.tree.map(np.shape, old.params) == jax.tree.map(np.shape, _init(DEN))
    shipped = load_diffusion()  # and the shipped checkpoint's parameters are the tree its config builds
    n = shipped.window // 4
    fresh = jax.eval_shape(lambda: _init(shipped.config, n))
    assert jax.tree.map(lambda a: a.shape, fresh) == jax.tree.map(np.shape, shipped.params)


def test_text_token_cross_attention():
    b, n, d, L = 3, 12, DEN.latent_dim, DEN_TOK.text_tokens
    params = _perturb(_init(DEN_TOK))
    k = jax.random.split(jax.random.PRNGKey(7), 4)
    x, obs = jax.random.normal(k[0], (b, n, d)), jax.random.normal(k[1], (b, n, d))
    tok_a, tok_b = jax.random.normal(k[2], (b, L, 384)), jax.random.normal(k[3], (b, L, 384))
    mask = jnp.arange(L)[None] < jnp.array([[5], [8], [3]])
    valid = jnp.array([True, False, True])

    def run(p, tokens, tmask=mask, cfg=DEN_TOK):
        return np.asarray(Denoiser(cfg).apply({"params": p}, x, jnp.array([10, 500, 900]), jnp.ones((b, 384)) / 20, valid, obs,
                                              jnp.zeros((b, n), bool).at[:, :2].set(True), jnp.ones((b, n), bool),
                                              text_tokens=tokens, text_token_mask=tmask))

    out_a, out_b = run(params, tok_a), run(params, tok_b)
    assert out_a.shape == (b, n, d) and np.isfinite(out_a).all()
    assert not np.allclose(out_a[valid], out_b[valid], atol=1e-4)  # the tokens matter...
    np.testing.assert_array_equal(out_a[1], out_b[1])  # ...except to unconditional rows (null context)
    assert np.isfinite(run(params, tok_a, jnp.zeros((b, L), bool))).all()  # no text tokens at all: no NaN
    # Zero cross-attention gates (as initialised): the tokens do nothing and the model is the pooled-only one.
    gated = {**params, "DiTBlock_0": {**params["DiTBlock_0"], "cross_mod": jax.tree.map(jnp.zeros_like, params["DiTBlock_0"]["cross_mod"])}}
    np.testing.assert_array_equal(run(gated, tok_a), run(gated, tok_b))
    plain = {k: v for k, v in gated.items() if not k.startswith(("text_token", "null_text_token"))}
    plain["DiTBlock_0"] = {k: v for k, v in plain["DiTBlock_0"].items() if not k.startswith("cross")}
    np.testing.assert_allclose(run(gated, tok_a), run(plain, None, None, DEN), atol=1e-6)
    assert jax.tree.structure(plain) == jax.tree.structure(_init(DEN))
    with pytest.raises(ValueError, match="text_token_mask"):
        run(params, None, None)
    with pytest.raises(ValueError, match="L <= 8"):
        run(params, jnp.zeros((b, L + 1, 384)), jnp.ones((b, L + 1), bool))
    n_tok, n_plain = (sum(a.size for a in jax.tree.leaves(_init(c))) for c in (DEN_TOK, DEN))
    assert (n_tok, n_plain) == (58248, 38248)


def test_sampler_with_text_tokens_under_cfg():
    n, d, L = 12, DEN.latent_dim, DEN_TOK.text_tokens
    model = Denoiser(DEN_TOK)
    params = _perturb(_init(DEN_TOK))
    sampler = make_sampler(model, SchedulerConfig(), SamplerConfig(num_steps=4, guidance_scale=3.0))
    args = (jnp.ones((2, 384)) / 20, jnp.array([True, False]), jnp.zeros((2, n, d)), jnp.zeros((2, n), bool), jnp.ones((2, n), bool))
    tmask = jnp.arange(L)[None].repeat(2, 0) < 6
    tok_a, tok_b = (jax.random.normal(jax.random.PRNGKey(s), (2, L, 384)) for s in (1, 2))
    a = np.asarray(sampler(params, jax.random.PRNGKey(5), *args, text_tokens=tok_a, text_token_mask=tmask))
    np.testing.assert_array_equal(a, sampler(params, jax.random.PRNGKey(5), *args, None, tok_a, tmask))  # seeded; positional too
    assert np.isfinite(a).all() and not np.allclose(a, sampler(params, jax.random.PRNGKey(6), *args, text_tokens=tok_a, text_token_mask=tmask))
    b = np.asarray(sampler(params, jax.random.PRNGKey(5), *args, text_tokens=tok_b, text_token_mask=tmask))
    assert not np.allclose(a[0], b[0], atol=1e-4)  # guided by the tokens
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)  # unconditional: both CFG halves use the null context
    with pytest.raises(ValueError, match="text_tokens"):
        sampler(params, jax.random.PRNGKey(5), *args)


def test_loss_with_text_tokens_reaches_the_cross_attention(tiny_tokenizer):
    from motionfm.diffusion.train import make_loss_fn

    b, n, L, C = 4, 8, DEN_TOK.text_tokens, 3
    tc = DiffusionTrainConfig(cond_drop=0.5)
    params = _perturb(_init(DEN_TOK, n))  # zero-init output layer: no gradient would reach the blocks
    params["DiTBlock_0"]["cross_mod"] = jax.tree.map(jnp.zeros_like, params["DiTBlock_0"]["cross_mod"])  # gates as at init
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    table = jax.random.normal(k[0], (C, 384))
    tokens = (jax.random.normal(k[1], (C, L, 384)).astype(jnp.float16), jnp.arange(L)[None].repeat(C, 0) < 4)
    batch = {"latents": jax.random.normal(k[2], (b, n, DEN.latent_dim)), "caption": jnp.array([0, 1, -1, 2]),
             "frame_mask": jnp.ones((b, n * tiny_tokenizer.config.stride), bool)}
    stats = FeatureStats(jnp.zeros(DEN.latent_dim), jnp.ones(DEN.latent_dim))
    loss_fn = make_loss_fn(tiny_tokenizer, Denoiser(DEN_TOK), SchedulerConfig(), tc, stats, table, tokens)
    (loss, _), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params, batch, jax.random.PRNGKey(1))
    assert np.isfinite(float(loss)) and float(loss) > 0
    # Closed gates still get a gradient: the cross-attention can open from its identity start.
    assert float(jnp.abs(grads["DiTBlock_0"]["cross_mod"]["kernel"]).sum()) > 0


def test_train_and_sample_with_text_tokens(tmp_path, small_corpus, tiny_tokenizer, monkeypatch):
    from motionfm.data import G1MotionConfig, build_dataset
    from motionfm.text import embed_caption_tokens

    tc = DiffusionTrainConfig(steps=2, batch_size=4, warmup_steps=1, window=32, stride=16, log_every=2, ckpt_every=2)
    src = build_dataset(small_corpus, tmp_path / "ds", config=G1MotionConfig(window=32, stride=16)).as_data_source("train")
    captions = sorted({c.decode() if isinstance(c, bytes) else c for i in range(len(src)) for c in src[i]["captions"]})
    text = load_text_encoder()
    state, stats, log = train(tiny_tokenizer, DEN_TOK, SchedulerConfig(), tc, src, {c: i for i, c in enumerate(captions)},
                              text.encode(captions), tmp_path / "run", progress=False)
    assert int(state.step) == 2 and np.isfinite(log[-1]["loss"]) and "cross_attn" in state.params["DiTBlock_0"]
    # The token table is cached beside the run; a second read does not need the encoder.
    tokens, mask = embed_caption_tokens(captions, 8, tmp_path / "run/caption_tokens.npz", text)
    assert tokens.shape == (len(captions), 8, 384) and tokens.dtype == np.float16 and mask.shape == (len(captions), 8)
    monkeypatch.setattr("motionfm.text.encoder.load_text_encoder", lambda *a: pytest.fail("cache miss"))
    again, _ = embed_caption_tokens(captions, 8, tmp_path / "run/caption_tokens.npz")
    np.testing.assert_array_equal(again, tokens)
    monkeypatch.undo()
    ckpts = tmp_path / "checkpoints"
    save_tokenizer(ckpts / "tokenizer", tiny_tokenizer)
    meta = {"tokenizer_checkpoint": "tokenizer", "tokenizer_fingerprint": tokenizer_fingerprint(tiny_tokenizer)}
    save_diffusion(ckpts / "diffusion", LatentDiffusion(DEN_TOK, SchedulerConfig(), state.params, stats, tc.window, meta))
    pipe = load_pretrained(ckpts / "diffusion")
    assert pipe.diffusion.config == DEN_TOK
    m = pipe.sample("a person raises the left hand", seconds=1.0, seed=1, num_samples=2, num_steps=2)
    assert len(m) == 2 and np.isfinite(m[0].qpos).all()
    assert np.isfinite(pipe.sample(None, seconds=1.0, seed=1, num_samples=2, num_steps=2)[0].qpos).all()  # same compiled shapes


def test_foot_contact_loss_measures_sliding_of_planted_feet(data_dir):
    """On a real walk decoded by the shipped tokenizer the term equals the planar speed² of the
    sole centres on contact frames (plain-MuJoCo FK); a copy whose root glides twice as far as the
    feet step costs more, its gradient reaches the latents, and no signal weight means no cost."""
    from motionfm.diffusion.train import encode_windows, foot_contact_loss
    from motionfm.robot import fk_mujoco, foot_points, load_g1
    from motionfm.tokenizer import features_to_qpos, load_tokenizer

    tok = load_tokenizer()
    walk = Motion.load(data_dir / "asap/walk_level1.csv", limits="ignore").resample(tok.config.fps).canonicalize()
    q = walk.qpos[:64].astype(np.float32)
    glide = q.copy()
    glide[:, :2] *= 2.0
    z = encode_windows(tok, jnp.asarray(np.stack([q, glide])))  # (2, 16, d)
    ident = FeatureStats(jnp.zeros(z.shape[-1]), jnp.ones(z.shape[-1]))
    mask = jnp.ones((1, 64), bool)
    real = float(foot_contact_loss(tok, ident, z[:1], z[:1], mask, jnp.ones(1), 0.025))

    dec = np.asarray(features_to_qpos(tok.decode_latents(z[:1])[0], tok.config.fps), np.float64)
    soles = foot_points(fk_mujoco(dec), load_g1())
    contact = soles[..., 2].min(-1)[:-1] < 0.025
    v = np.diff(soles.mean(-2)[..., :2], axis=0) * tok.config.fps
    assert contact.any()
    np.testing.assert_allclose(real, (v**2).sum(-1)[contact].mean(), rtol=2e-3)

    slid = float(foot_contact_loss(tok, ident, z[1:], z[:1], mask, jnp.ones(1), 0.025))
    assert slid > 1.5 * real, (slid, real)
    assert float(foot_contact_loss(tok, ident, z[1:], z[:1], mask, jnp.zeros(1), 0.025)) == 0.0
    g = jax.grad(lambda x: foot_contact_loss(tok, ident, x, z[:1], mask, jnp.ones(1), 0.025))(z[1:])
    assert np.isfinite(np.asarray(g)).all() and float(jnp.abs(g).sum()) > 0
