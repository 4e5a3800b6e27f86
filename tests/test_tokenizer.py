"""Motion tokenizer: features, quantisers, training (resume, 2 devices), checkpoints, evaluation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motionfm import Motion
from motionfm.tokenizer import (
    FSQ, PRESETS, ResidualVQ, TokenizerConfig, VectorQuantizer, feature_mask, features_to_qpos,
    load_tokenizer, qpos_to_features, save_tokenizer,
)
from motionfm.tokenizer.evaluate import evaluate_folder, evaluate_motions
from motionfm.tokenizer.features import FEATURE_SLICES, start_pose
from motionfm.tokenizer.train import TrainConfig, build_sources, tokenizer_from_run, train

TINY = TokenizerConfig(quantizer="rvq", width=32, depth=1, code_dim=16, num_codes=32, rvq_levels=2, window=16)
TINY_TRAIN = TrainConfig(steps=6, batch_size=4, warmup_steps=2, log_every=3, ckpt_every=3, stride=8, val_fraction=0.34)


def test_features_invert_exactly_and_ignore_heading(data_dir):
    m = Motion.load(data_dir / "g1moves/B_ForwardKarate.csv").resample(30).slice(0, 200)
    q = jnp.asarray(m.qpos, jnp.float32)
    f = qpos_to_features(q, 30.0)
    assert f.shape == (200, 67)
    xy, yaw = start_pose(q)
    back = np.asarray(features_to_qpos(f, 30.0, xy, yaw))
    np.testing.assert_allclose(back[:, :3], m.qpos[:, :3], atol=1e-4)
    np.testing.assert_allclose(np.abs(np.sum(back[:, 3:7] * m.qpos[:, 3:7], 1)), 1, atol=1e-5)
    np.testing.assert_allclose(back[:, 7:], m.qpos[:, 7:], atol=1e-5)
    turned = m.canonicalize(50)  # rotated and moved: the features must not change
    np.testing.assert_allclose(np.asarray(qpos_to_features(jnp.asarray(turned.qpos, jnp.float32), 30.0)), np.asarray(f), atol=2e-4)
    mask = np.asarray(feature_mask(m.joint_mask.copy() & (np.arange(29) != 3)))
    assert mask[FEATURE_SLICES["joint_pos"]][3] == 0 and mask[FEATURE_SLICES["joint_vel"]][3] == 0 and mask.sum() == 65


@pytest.mark.parametrize("quantizer", [VectorQuantizer(32, 8), ResidualVQ(3, 32, 8), FSQ((5, 4, 3))])
def test_quantizer_contract(quantizer):
    z = jax.random.normal(jax.random.PRNGKey(0), (2, 10, 8 if not isinstance(quantizer, FSQ) else 3))
    v = quantizer.init({"params": jax.random.PRNGKey(1), "quantizer": jax.random.PRNGKey(2)}, z)
    out = quantizer.apply(v, z)
    assert out.quantized.shape == z.shape and out.loss.shape == ()
    np.testing.assert_allclose(quantizer.apply(v, out.indices, method=quantizer.decode_indices), out.quantized, atol=1e-5)
    grad = jax.grad(lambda x: quantizer.apply(v, x).quantized.sum())(z)
    if isinstance(quantizer, FSQ):  # straight through the rounding, not through the tanh bound
        bound = lambda x: jnp.tanh(x + jnp.arctanh(jnp.array([0.0, 0.5, 0.0]) / ((jnp.array([5, 4, 3]) - 1) * 1.001 / 2)))  # noqa: E731
        expected = jax.grad(lambda x: (bound(x) * ((jnp.array([5, 4, 3]) - 1) * 1.001 / 2) / jnp.array([2, 2, 1])).sum())(z)
        np.testing.assert_allclose(grad, expected, rtol=1e-5)
    else:
        np.testing.assert_allclose(grad, 1.0)  # straight-through
    assert float(out.usage.sum()) == 20 * (3 if isinstance(quantizer, ResidualVQ) else 1)


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (3, 9), (1, 1)])
def test_matmul_conv_is_flax_conv(kernel, dilation):
    from flax import linen as nn

    from motionfm.tokenizer.model import Conv

    x = jax.random.normal(jax.random.PRNGKey(0), (2, 20, 6))
    ref = nn.Conv(5, (kernel,), kernel_dilation=(dilation,), padding="SAME")
    v = ref.init(jax.random.PRNGKey(1), x)
    v = jax.tree.map(lambda p: p + 0.1, v)  # non-zero bias too
    mine = Conv(5, (kernel,), kernel_dilation=(dilation,))
    assert jax.tree.map(jnp.shape, mine.init(jax.random.PRNGKey(1), x)) == jax.tree.map(jnp.shape, v)  # checkpoints load
    np.testing.assert_allclose(mine.apply(v, x), ref.apply(v, x), atol=1e-5)


def test_ema_codebook_learns_and_resets_dead_codes():
    vq = VectorQuantizer(16, 2, decay=0.5, dead_threshold=0.5)
    centres = jnp.array([[3.0, 3.0], [-3.0, 3.0], [0.0, -3.0]])
    z = jnp.repeat(centres, 20, axis=0)[None] + 0.01 * jax.random.normal(jax.random.PRNGKey(0), (1, 60, 2))
    v = vq.init({"params": jax.random.PRNGKey(1), "quantizer": jax.random.PRNGKey(2)}, z)
    for i in range(20):
        _, upd = vq.apply(v, z, None, True, rngs={"quantizer": jax.random.PRNGKey(i)}, mutable=["quantizer"])
        v = {**v, **upd}
    out = vq.apply(v, z)
    assert float(jnp.abs(out.quantized - z).max()) < 0.1  # codes moved onto the three clusters


def test_train_resume_export_load_and_evaluate(tmp_path, small_corpus):
    train_src, val_src, info = build_sources([small_corpus], tmp_path / "ds", TINY, TINY_TRAIN)
    assert val_src is not None and info[0]["train_windows"] == len(train_src)
    half = dataclasses.replace(TINY_TRAIN, steps=3)
    _, stats, log = train(TINY, half, train_src, tmp_path / "run", val_source=val_src, progress=False)
    assert log[-1]["step"] == 3 and "val_mpjpe_mm" in log[-1] and np.isfinite(log[-1]["loss"])
    _, _, log2 = train(TINY, TINY_TRAIN, train_src, tmp_path / "run", progress=False)  # resumes at step 3
    assert [r["step"] for r in log2] == [6]
    tok = tokenizer_from_run(tmp_path / "run", {"validation_clips": ["asap/Bolt_level1"]})
    assert tok.metadata["steps"] == 6
    path = save_tokenizer(tmp_path / "ckpt", tok)
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["schema"] == "motionfm.tokenizer" and meta["schema_version"] == 1 and meta["config"]["quantizer"] == "rvq"
    back = load_tokenizer(path)
    m = Motion.load(small_corpus / "g1moves/B_HandsUp.csv")
    a, b = tok.reconstruct(m), back.reconstruct(m)
    np.testing.assert_allclose(a.qpos, b.qpos, atol=1e-5)
    assert a.fps == 30 and a.num_frames == m.resample(30).num_frames
    tokens = back.encode(m)
    assert tokens.indices.shape == (int(np.ceil(a.num_frames / 4)), 2) and tokens.latents.shape[1] == 16
    grown = dataclasses.replace(TINY, rvq_levels=3)  # fine-tune with one more residual level
    state, grown_stats, _ = train(grown, dataclasses.replace(TINY_TRAIN, steps=1), train_src, tmp_path / "grown",
                                  progress=False, init_from=back)
    np.testing.assert_array_equal(grown_stats.mean, back.stats.mean)
    assert set(state.quantizer["quantizer"]) == {"vq_0", "vq_1", "vq_2"}

    short = m.resample(30).slice(0, 7)  # shorter than a window: padded, not dropped
    rep = evaluate_motions(back, [short, m])
    assert rep["num_clips"] == 2 and rep["clips"][0]["frames"] == 7 and rep["frames"] == 7 + a.num_frames
    for key in ("mpjpe_mm", "root_relative_mpjpe_mm", "joint_rmse_rad", "codebook_usage", "perplexity"):
        assert np.isfinite(rep[key]) and rep[key] >= 0
    assert 0 < rep["codebook_usage"] <= 1 and 1 <= rep["perplexity"] <= 32
    json.dumps(rep)  # the CLI prints it as JSON
    (small_corpus / "bad.csv").write_text("1,2\n")
    folder = evaluate_folder(back, small_corpus, fps=30)
    assert folder["num_clips"] == 3 and folder["errors"][0]["file"].endswith("bad.csv")
    assert evaluate_folder(back, small_corpus, only=["asap/Bolt_level1"])["num_clips"] == 1

    with pytest.raises(FileNotFoundError, match="no tokenizer checkpoint"):
        load_tokenizer(tmp_path / "nothing")
    meta["schema_version"] = 99
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="newer than this motionfm reads"):
        load_tokenizer(path)


def test_presets_build():
    from motionfm.tokenizer import TokenizerModel

    x = jax.ShapeDtypeStruct((1, 16, 67), jnp.float32)
    for name, cfg in PRESETS.items():  # traced, not run: shapes and parameter trees of every preset
        model = TokenizerModel(cfg)
        v = jax.eval_shape(lambda x: model.init({"params": jax.random.PRNGKey(0), "quantizer": jax.random.PRNGKey(1)}, x), x)
        y, _ = jax.eval_shape(model.apply, v, x)
        assert y.shape == x.shape, name


def test_warm_start_grows_the_residual_stack():
    import optax

    from motionfm.tokenizer import TokenizerModel
    from motionfm.tokenizer.train import init_state, warm_start

    small = init_state(TokenizerModel(TINY), TINY, TINY_TRAIN)
    grown_cfg = dataclasses.replace(TINY, rvq_levels=3)
    fresh = init_state(TokenizerModel(grown_cfg), grown_cfg, dataclasses.replace(TINY_TRAIN, seed=1))
    grown = warm_start(fresh, {"params": small.params, "quantizer": small.quantizer}, optax.adam(1e-3))
    jax.tree.map(np.testing.assert_array_equal, grown.params, small.params)
    q, q_small, q_fresh = (s.quantizer["quantizer"] for s in (grown, small, fresh))
    for level in ("vq_0", "vq_1"):
        np.testing.assert_array_equal(q[level]["codebook"], q_small[level]["codebook"])
    np.testing.assert_array_equal(q["vq_2"]["codebook"], q_fresh["vq_2"]["codebook"])  # the new level starts fresh
    wide_cfg = dataclasses.replace(TINY, width=48)
    wide = init_state(TokenizerModel(wide_cfg), wide_cfg, TINY_TRAIN)
    with pytest.raises(ValueError, match="network differs"):
        warm_start(wide, {"params": small.params, "quantizer": small.quantizer}, optax.adam(1e-3))


def test_config_file_sets_model_and_training(tmp_path):
    import argparse

    from motionfm.cli import _tokenizer_configs

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": dataclasses.asdict(TINY), "train": dataclasses.asdict(TINY_TRAIN)}))
    args = argparse.Namespace(config=str(path), steps=9, batch_size=None, lr=None, seed=None)
    cfg, tc = _tokenizer_configs(args)
    assert cfg == TINY and tc == dataclasses.replace(TINY_TRAIN, steps=9)  # the command line wins over the file
    path.write_text(json.dumps({"model": dataclasses.asdict(TINY), "train": {"lr": 1e-3, "w_fkk": 1.0}}))
    with pytest.raises(ValueError, match=r"config.json: unknown TrainConfig fields \['w_fkk'\]"):
        _tokenizer_configs(args)


@pytest.mark.slow
def test_training_step_runs_data_parallel_on_two_devices(small_corpus, tmp_path):
    script = textwrap.dedent(f"""
        import jax, dataclasses
        assert jax.device_count() == 2, jax.devices()
        from tests.test_tokenizer import TINY, TINY_TRAIN
        from motionfm.tokenizer.train import build_sources, train
        tr, va, _ = build_sources([{str(small_corpus)!r}], {str(tmp_path / 'ds')!r}, TINY, TINY_TRAIN)
        state, _, log = train(TINY, dataclasses.replace(TINY_TRAIN, steps=3), tr, {str(tmp_path / 'run')!r}, progress=False)
        print("sharding", state.params["encoder"]["Conv_0"]["kernel"].sharding)
        print("loss", log[-1]["loss"])
    """)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "loss" in res.stdout


def test_eval_cli_stdout_is_one_json_object(small_corpus):
    # a fresh process: MJX prints "Failed to import warp" to stdout on first import, which broke --json
    res = subprocess.run([sys.executable, "-m", "motionfm.cli", "eval", "tokenizer", "--data", str(small_corpus), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)
    assert report["num_clips"] == 3 and np.isfinite(report["mpjpe_mm"]) and 0 < report["codebook_usage"] <= 1
