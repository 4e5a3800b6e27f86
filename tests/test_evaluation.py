"""The text-motion evaluator: metrics against closed forms, and the shipped checkpoint on real data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from motionfm.evaluation import metrics


# ---------------------------------------------------------------------- metrics (pure numpy)
def _exact_gaussian(mean: np.ndarray, std: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` samples whose sample mean and (unbiased) covariance are exactly ``mean`` and ``diag(std^2)``."""
    z = np.random.default_rng(seed).normal(size=(n, len(mean)))
    q, _ = np.linalg.qr(z - z.mean(0))  # orthonormal, zero-mean columns
    q -= q.mean(0)
    q /= np.linalg.norm(q, axis=0)
    return mean + q * std * np.sqrt(n - 1)


def test_fid_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(400, 16))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_a_shifted_set_is_the_squared_shift():
    x = np.random.default_rng(1).normal(size=(400, 8))
    c = np.linspace(-1, 1, 8)
    assert metrics.fid(x, x + c) == pytest.approx(float(c @ c), rel=1e-6)
    assert metrics.fid(x, x + c) > 0.1


def test_fid_1d_closed_form():
    x = np.random.default_rng(2).normal(1.0, 2.0, size=(500, 1))
    y = 0.5 * x - 3.0  # another Gaussian: mean and std known from x's sample statistics
    m1, s1 = x.mean(), x.std(ddof=1)
    m2, s2 = y.mean(), y.std(ddof=1)
    assert metrics.fid(x, y) == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-6)


def test_fid_diagonal_gaussians_closed_form():
    mu1, sd1 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 0.5, 2.0, 0.1])
    mu2, sd2 = np.array([0.3, 1.0, -1.0, 0.0]), np.array([2.0, 0.5, 1.0, 0.3])
    a, b = _exact_gaussian(mu1, sd1, 300, 3), _exact_gaussian(mu2, sd2, 200, 4)
    np.testing.assert_allclose(np.cov(a, rowvar=False), np.diag(sd1**2), atol=1e-9)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((sd1 - sd2) ** 2)
    assert metrics.fid(a, b) == pytest.approx(expected, rel=1e-6)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_r_precision_perfect_match_is_one():
    t = _unit(np.random.default_rng(5).normal(size=(200, 32)))
    rp = metrics.r_precision(t, t, top_k=(1, 2, 3), pool=32, seed=0)
    assert rp == {1: 1.0, 2: 1.0, 3: 1.0}
    assert metrics.mm_dist(t, t) == pytest.approx(0.0)


def test_r_precision_random_is_chance():
    rng = np.random.default_rng(6)
    m, t = _unit(rng.normal(size=(3000, 64))), _unit(rng.normal(size=(3000, 64)))
    rp = metrics.r_precision(m, t, top_k=(1, 3), pool=32, seed=0)
    assert rp[1] == pytest.approx(1 / 32, abs=0.012)
    assert rp[3] == pytest.approx(3 / 32, abs=0.02)


def test_r_precision_same_caption_items_are_not_negatives():
    """Another item of the motion's own caption group must never count as a wrong answer."""
    rng = np.random.default_rng(7)
    centres = _unit(rng.normal(size=(40, 16)))
    groups = np.repeat(np.arange(40), 5)  # 5 items per caption
    m = centres[groups]
    t = _unit(m + 0.05 * rng.normal(size=m.shape))  # each item's text is a slightly different copy
    assert metrics.r_precision(m, t, (1,), pool=32, seed=0, groups=groups)[1] == 1.0
    # treated as 200 different captions, the copies of the own caption compete and often win
    assert metrics.r_precision(m, t, (1,), pool=32, seed=0)[1] < 0.9
    # by default, identical text embeddings are one caption
    assert (metrics.pool_sizes(centres[groups], 32) == 32).all()
    assert (metrics.pool_sizes(centres[groups][:50], 32) == 10).all()  # only 10 distinct captions: the pool shrinks
    assert metrics.chance(np.array([10, 32]), (1, 3)) == pytest.approx({1: (0.1 + 1 / 32) / 2, 3: (0.3 + 3 / 32) / 2})
    assert metrics.r_precision(centres[groups][:50], centres[groups][:50], (1,))[1] == 1.0


def test_r_precision_also_true_captions_are_not_negatives():
    """A clip's paraphrase ("someone walks" for "a person walks") is not a wrong answer when declared."""
    rng = np.random.default_rng(9)
    base = _unit(rng.normal(size=(30, 16)))
    para = _unit(base + 0.05 * rng.normal(size=base.shape))  # paraphrase of each caption, nearly the same
    m = np.concatenate([base, base])
    t = np.concatenate([base, para])  # the same 30 motions, once with each caption
    labels = [f"a{i}" for i in range(30)] + [f"b{i}" for i in range(30)]
    also = [{f"b{i}"} for i in range(30)] + [{f"a{i}"} for i in range(30)]
    assert metrics.r_precision(m, t, (1,), 32, 0, labels)[1] < 0.9  # the paraphrase often wins
    assert metrics.r_precision(m, t, (1,), 32, 0, labels, also)[1] == 1.0
    assert (metrics.pool_sizes(t, 32, labels, also) == 32).all()
    assert (metrics.pool_sizes(t, 64, labels, also) == 59).all()


def test_diversity():
    x = np.random.default_rng(8).normal(size=(1000, 16))
    # E|a - b| for independent N(0, I_16) is about sqrt(2 * 16)
    assert metrics.diversity(x, 300, seed=0) == pytest.approx(np.sqrt(32), rel=0.05)
    assert metrics.diversity(np.ones((50, 4)), 300) == 0.0


# ---------------------------------------------------------------------- the shipped evaluator
@pytest.fixture(scope="module")
def evaluator():
    from motionfm.evaluation import load_evaluator

    return load_evaluator()


def test_shipped_evaluator_embeds_deterministically(evaluator, data_dir):
    from motionfm.motion import Motion

    clip = Motion.load(data_dir / "asap/side_jump_level1.csv")  # 30 fps, no wrists, shorter than a window
    long = Motion.load(data_dir / "g1moves/B_HandsUp.csv")  # 60 fps, longer than a window
    e1 = evaluator.embed_motions([clip, long])
    e2 = evaluator.embed_motions([long.slice(0, 300), clip])  # only the first window counts
    assert e1.shape == (2, evaluator.config.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e1, e2[::-1], atol=1e-5)
    # heading invariance: the same motion turned about z embeds the same (windows are canonicalised)
    from scipy.spatial.transform import Rotation

    rz = Rotation.from_euler("z", 1.3)
    q = np.array(clip.root_quat)  # scipy wants writable buffers
    turned = clip.replace(root_pos=rz.apply(np.array(clip.root_pos)) + [2.0, -1.0, 0.0],
                          root_quat=(rz * Rotation.from_quat(q[:, [1, 2, 3, 0]])).as_quat()[:, [3, 0, 1, 2]])
    np.testing.assert_allclose(evaluator.embed_motions([turned])[0], e1[0], atol=1e-4)
    t = evaluator.embed_texts(["a person walks forward", "a person walks forward", "a person dances"])
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(t[0], t[1], atol=1e-6)


def test_shipped_evaluator_ranks_held_out_real_windows_above_chance(evaluator, data_dir):
    assert "g1moves/J_Dance1_Modern" in evaluator.metadata["validation_clips"]
    res = evaluator.real_ceiling([data_dir], seed=0)
    assert res["num"] >= 50 and res["pool_size"] >= 10
    assert res["r_precision_top3"] > 2 * res["chance_top3"]
    assert res["r_precision_top1"] > 2 * res["chance_top1"]
    assert res["mm_dist"] < 1.4  # matched pairs are closer than random unit vectors (~1.41)
    assert res["fid"] < 0.5 * res["diversity"] ** 2  # other real crops sit close to the reference


# ---------------------------------------------------------------------- command line
def test_cli_commands_are_registered():
    from motionfm.cli import build_parser

    p = build_parser()
    a = p.parse_args(["train", "evaluator", "--data", "d1", "d2", "--steps", "5", "--out", "o", "--export", "e"])
    assert a.data == ["d1", "d2"] and a.steps == 5 and a.export == "e"
    a = p.parse_args(["eval", "diffusion", "--samples", "4", "--seconds", "2", "--json"])
    assert a.samples == 4 and a.seconds == 2.0 and a.json and a.checkpoint is None


def test_format_comparison():
    from motionfm.evaluation.cli import format_comparison

    row = {"fid": 0.2, "r_precision_top1": 0.3, "r_precision_top2": 0.4, "r_precision_top3": 0.5, "diversity": 1.1,
           "mm_dist": 1.0, "pool_size": 17.0, "chance_top1": 0.06, "chance_top3": 0.18}
    text = format_comparison({"generated": row, "real": {**row, "r_precision_top3": 0.8}, "top3_ratio": 0.625,
                              "num_windows": 10, "clips": ["a", "b"]})
    assert "R-precision top-3" in text and "0.625" in text and "10 held-out windows of 2 clips" in text


@pytest.mark.slow
def test_train_evaluator_checkpoints_and_resumes(tmp_path, small_corpus):
    # The evaluator trains through motionfm.training.run_loop like the other stages: a checkpoint at
    # every validation, and a second call with more steps continues from the last one.
    from motionfm.evaluation.model import EvaluatorConfig
    from motionfm.evaluation.train import EvaluatorTrainConfig, train_evaluator

    cfg = EvaluatorConfig(window=60, width=32, depth=1, heads=2, embed_dim=16, text_hidden=32)
    tc = EvaluatorTrainConfig(steps=4, batch_size=8, warmup_steps=1, log_every=2, eval_every=2)
    out = tmp_path / "ev"
    ev, log = train_evaluator([small_corpus], out, cfg, tc, progress=False)
    assert [r["step"] for r in log] == [2, 4] and np.isfinite(log[-1]["loss"])
    assert sorted(p.name for p in (out / "ckpt").iterdir() if p.name.isdigit()) == ["2", "4"]
    ev2, log2 = train_evaluator([small_corpus], out, cfg, dataclasses.replace(tc, steps=6), progress=False)
    assert [r["step"] for r in log2] == [6]  # resumed at 4, not retrained from 0
    rows = [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert rows == [2, 4, 6]
    emb = ev2.embed_sentences(np.zeros((1, cfg.text_dim), np.float32))
    assert emb.shape == (1, cfg.embed_dim) and np.isfinite(emb).all()
