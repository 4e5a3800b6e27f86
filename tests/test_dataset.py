"""Corpus-as-dataset: tfds build (array_record, no TensorFlow), splits, windows, stats, pipeline."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from motionfm.data.dataset import (
    FEATURE_DIMS,
    G1MotionConfig,
    RunningStats,
    build_dataset,
    compute_split_stats,
    compute_stats,
    load_split,
    load_stats,
    split_clips,
)
from motionfm.cli import default_data_dir
from motionfm.data.pipeline import BatchIterator, shard_batch
from motionfm.robot import mirror_qpos
from motionfm.motion import Motion, MotionFileError
from motionfm.robot.g1 import G1_JOINT_NAMES

DATA = default_data_dir()  # tests and CI have the corpus; a missing one fails (conftest)
WRISTS = [i for i, n in enumerate(G1_JOINT_NAMES) if "wrist" in n]
CONFIG = G1MotionConfig(window=64, stride=16, val_fraction=0.4, split_seed=0)
# (source file, rows kept (None: all), file in the test corpus)
CLIPS = [
    ("asap/side_jump_level1.csv", None, "asap/side_jump_level1.csv"),  # 30 fps, 92 frames, no wrists
    ("asap/walk_level2.csv", None, "asap/walk_level2.csv"),  # 30 fps, 104 frames, no wrists
    ("g1moves/B_AttackKarate.csv", 240, "g1moves/karate.csv"),  # 60 fps -> 120 frames at 30
    ("g1moves/B_BowKarate.csv", 100, "g1moves/short.csv"),  # 60 fps -> 50 frames at 30: padded
]
SHORT_ID, NPZ_ID = "g1moves/short", "extra/rollout"



def _copy_clip(src: str, rows: int | None, dst: Path) -> None:
    lines = (DATA / src).read_text().splitlines()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(lines[:rows]) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Four trimmed CSV clips with a clips.jsonl, plus one npz clip that no row describes."""
    root = tmp_path_factory.mktemp("corpus")
    rows = {r["file"]: r for r in map(json.loads, (DATA / "clips.jsonl").read_text().splitlines())}
    with open(root / "clips.jsonl", "w") as fh:
        for src, n, dst in CLIPS:
            _copy_clip(src, n, root / dst)
            fh.write(json.dumps({**rows[src], "file": dst, "id": dst.removesuffix(".csv")}) + "\n")
    Motion.load(DATA / "asap/walk_level2.csv", limits="ignore").slice(0, 70).save(root / "extra/rollout.npz")
    return root


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    builder = build_dataset(corpus, data_dir, config=CONFIG)
    return builder, data_dir


def _examples(source) -> list[dict]:
    return [source[i] for i in range(len(source))]


def _by_clip(builder) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for split in builder.info.splits:
        for ex in _examples(load_split(builder, split)):
            out.setdefault(ex["clip_id"].decode(), []).append(ex)
    return out


def test_splits_disjoint_by_clip_and_cover_corpus(built):
    builder, data_dir = built
    ids = {s: {ex["clip_id"].decode() for ex in _examples(load_split(data_dir, s, config=CONFIG))} for s in ("train", "validation")}
    assert ids["train"] and ids["validation"] and not ids["train"] & ids["validation"]
    assert ids["train"] | ids["validation"] == {d.removesuffix(".csv") for *_, d in CLIPS} | {NPZ_ID}
    assert len(ids["validation"]) == 2  # round(0.4 * 5)


def test_config_frozen_and_named_by_parameters():
    assert G1MotionConfig(fps=30, window=32).name == G1MotionConfig(fps=30.0, window=32).name
    assert dataclasses.replace(CONFIG, stride=8).name != CONFIG.name != G1MotionConfig().name
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIG.window = 32


def test_split_clips_deterministic_and_seeded():
    ids = [f"clip{i}" for i in range(50)]
    val = lambda ids, seed: set(split_clips(ids, 0.2, seed)["validation"])  # noqa: E731
    assert len(val(ids, 0)) == 10 and val(ids, 0) == val(ids[::-1], 0)  # order-independent
    assert val(ids, 0) != val(ids, 1)
    assert split_clips(["only"], 0.1, 0) == {"train": ["only"]}  # tfds cannot write an empty split


def test_windows_shapes_dtypes_and_layout(built):
    builder, _ = built
    clips = _by_clip(builder)
    for exs in clips.values():
        for ex in exs:
            assert ex["qpos"].shape == (64, 36) and ex["qpos"].dtype == np.float32
            assert ex["joint_mask"].shape == (29,) and ex["joint_mask"].dtype == bool
            assert ex["frame_mask"].shape == (64,) and ex["frame_mask"].dtype == bool
            np.testing.assert_allclose(np.linalg.norm(ex["qpos"][:, 3:7], axis=-1), 1.0, atol=1e-5)
            np.testing.assert_allclose(ex["qpos"][0, :2], 0.0, atol=1e-6)  # canonicalized window
    # 92 frames: starts 0, 16 and 28 (the tail); 104 frames: 0, 16, 32, 40.
    assert sorted(int(e["start_frame"]) for e in clips["asap/side_jump_level1"]) == [0, 16, 28]
    assert sorted(int(e["start_frame"]) for e in clips["asap/walk_level2"]) == [0, 16, 32, 40]
    side = clips["asap/side_jump_level1"][0]
    assert side["license"] == b"MIT" and b"a person jumps to the side" in side["captions"]
    npz = clips[NPZ_ID][0]  # no clips.jsonl row: captions and mask come from the npz itself
    assert npz["license"] == b"" and b"a person walks forward" in npz["captions"] and not npz["joint_mask"][WRISTS].any()


def test_short_clip_is_padded_not_dropped(built):
    (ex,) = _by_clip(built[0])[SHORT_ID]
    valid = int(ex["frame_mask"].sum())
    assert valid == 50 and ex["frame_mask"][:valid].all() and int(ex["start_frame"]) == 0
    np.testing.assert_array_equal(ex["qpos"][valid:], np.broadcast_to(ex["qpos"][valid - 1], (64 - valid, 36)))


def test_joint_mask_false_for_asap_wrists(built):
    clips = _by_clip(built[0])
    for ex in clips["asap/walk_level2"]:
        assert not ex["joint_mask"][WRISTS].any() and ex["joint_mask"].sum() == 23
    assert all(ex["joint_mask"].all() for ex in clips["g1moves/karate"])


def test_stats_file_train_only(built):
    builder, data_dir = built
    path = Path(builder.data_dir) / "stats.json"
    assert path.is_file()
    stats = load_stats(data_dir, config=CONFIG)
    assert set(stats) == set(FEATURE_DIMS)
    for name, s in stats.items():
        assert s.mean.shape == s.std.shape == (FEATURE_DIMS[name],)
        assert np.isfinite(s.mean).all() and (s.std >= 1e-3).all()
    train = _examples(load_split(builder, "train"))
    # Counts are the valid train frames, so validation windows and padding never entered.
    assert stats["root_height"].count[0] == sum(int(e["frame_mask"].sum()) for e in train)
    expected = sum(int(e["frame_mask"].sum()) * e["joint_mask"].astype(int) for e in train)
    np.testing.assert_array_equal(stats["joint_pos"].count, expected)
    again = compute_split_stats(load_split(builder, "train"), CONFIG.fps)
    np.testing.assert_allclose(again["joint_vel"].mean, stats["joint_vel"].mean)


def test_compute_stats_masks_floor_and_streaming():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 10, 4)) * [1.0, 2.0, 0.0, 1.0] + [0.0, 1.0, 5.0, 0.0]
    frames = rng.random((6, 10, 1)) < 0.7
    channels = np.array([True, True, True, False])
    s = compute_stats(x, frames & channels)
    sel = x[np.broadcast_to(frames, x.shape)].reshape(-1, 4)
    np.testing.assert_allclose(s.mean[:3], sel[:, :3].mean(0))
    np.testing.assert_allclose(s.std[:2], sel[:, :2].std(0))
    assert s.std[2] == 1e-3 and (s.mean[3], s.std[3], s.count[3]) == (0.0, 1.0, 0.0)  # floor; unseen
    acc = RunningStats.zeros(4)
    for i in range(6):
        acc.update(x[i], frames[i] & channels)
    streamed = acc.finalize()
    np.testing.assert_allclose(streamed.mean, s.mean)
    np.testing.assert_allclose(streamed.std, s.std)
    np.testing.assert_allclose(s.denormalize(s.normalize(x)), x)


def test_batch_iterator_reproducible_and_seeded(built):
    source = load_split(built[0], "train")
    take = lambda it, n: [b for _, b in zip(range(n), it)]  # noqa: E731
    a, b = take(BatchIterator(source, 4, seed=3), 3), take(BatchIterator(source, 4, seed=3), 3)
    c = take(BatchIterator(source, 4, seed=4), 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["qpos"], y["qpos"])
        assert list(x["clip_id"]) == list(y["clip_id"])
    assert any(not np.array_equal(x["qpos"], y["qpos"]) for x, y in zip(a, c))
    it = BatchIterator(source, 4, seed=3)
    assert a[0]["qpos"].shape == (4, 64, 36) and a[0]["start_frame"].dtype == np.int32
    epochs = [np.concatenate([it.indices(e * it.steps_per_epoch + i)[0] for i in range(it.steps_per_epoch)]) for e in (0, 1)]
    assert all(len(set(e)) == len(e) == it.steps_per_epoch * 4 for e in epochs)  # drop remainder, no repeats
    assert not np.array_equal(epochs[0], epochs[1])  # a new permutation each epoch
    np.testing.assert_array_equal(it.batch(7)["qpos"], next(it.iterate(start_step=7))["qpos"])  # resumable
    assert len(list(BatchIterator(source, 4, num_epochs=2))) == 2 * it.steps_per_epoch


def test_mirroring_matches_motion_and_is_involution(built):
    source = load_split(built[0], "train")
    plain = BatchIterator(source, 4, seed=1).batch(0)
    flipped = BatchIterator(source, 4, seed=1, mirror_prob=1.0).batch(0)
    q, m = mirror_qpos(plain["qpos"], plain["joint_mask"])
    np.testing.assert_array_equal(flipped["qpos"], q)
    np.testing.assert_array_equal(flipped["joint_mask"], m)
    q2, m2 = mirror_qpos(q, m)
    np.testing.assert_array_equal(q2, plain["qpos"])
    np.testing.assert_array_equal(m2, plain["joint_mask"])
    motion = Motion.from_qpos(plain["qpos"][0], 30.0, joint_mask=plain["joint_mask"][0]).mirror()
    np.testing.assert_allclose(q[0], motion.qpos, atol=1e-6)
    np.testing.assert_array_equal(m[0], motion.joint_mask)


def test_shard_batch_one_device(built):
    import jax

    batch = BatchIterator(load_split(built[0], "train"), 4).batch(0)
    sharded = shard_batch(batch)
    assert isinstance(sharded["qpos"], jax.Array) and sharded["qpos"].shape == (4, 64, 36)
    np.testing.assert_array_equal(np.asarray(sharded["qpos"]), batch["qpos"])
    assert isinstance(sharded["clip_id"], np.ndarray)  # text stays on the host


def test_shard_batch_two_cpu_devices():
    code = textwrap.dedent(
        """
        import jax, numpy as np
        from motionfm.data.pipeline import BatchIterator, shard_batch
        assert jax.device_count() == 2
        src = [{"qpos": np.full((8, 36), i, np.float32), "joint_mask": np.ones(29, bool), "clip_id": f"c{i}"} for i in range(10)]
        batch = BatchIterator(src, 4, seed=0, mirror_prob=0.5).batch(0)
        out = shard_batch(batch)
        assert len(out["qpos"].sharding.device_set) == 2
        assert [s.data.shape for s in out["qpos"].addressable_shards] == [(2, 8, 36)] * 2
        np.testing.assert_array_equal(np.asarray(out["qpos"]), batch["qpos"])
        try:
            shard_batch({"qpos": np.zeros((3, 8, 36), np.float32)})
        except ValueError as e:
            assert "divisible" in str(e)
        else:
            raise AssertionError("odd batch was accepted")
        print("OK")
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


def test_broken_csv_names_the_file(tmp_path):
    corpus = tmp_path / "corpus"
    _copy_clip("asap/walk_level2.csv", None, corpus / "good.csv")
    (corpus / "bad").mkdir()
    (corpus / "bad/broken.csv").write_text("0.0,1.0,2.0\n")
    with pytest.raises(MotionFileError, match="broken.csv"):
        build_dataset(corpus, tmp_path / "out", config=G1MotionConfig(csv_fps=30))


def test_corpus_without_clips_jsonl(tmp_path):
    corpus = tmp_path / "corpus"
    _copy_clip("g1moves/B_BowKarate.csv", 130, corpus / "bow.csv")
    with pytest.raises(MotionFileError, match="bow.csv: unknown fps"):
        build_dataset(corpus, tmp_path / "out", config=G1MotionConfig())
    builder = build_dataset(corpus, tmp_path / "out", config=G1MotionConfig(csv_fps=60, window=32))
    assert list(builder.info.splits) == ["train"]  # a single clip: no validation split
    exs = _examples(load_split(builder, "train"))
    for ex in exs:
        assert ex["clip_id"] == b"bow" and ex["captions"] == [] and ex["joint_mask"].all() and ex["license"] == b""
    # 130 rows at 60 fps -> 65 frames at 30 fps; W=32, stride 16: starts 0, 16, 32 and the tail 33.
    assert sorted(int(e["start_frame"]) for e in exs) == [0, 16, 32, 33]


def test_new_builder_leaves_no_temp_folder(tmp_path, monkeypatch):
    """tfds looks up a new builder's info on GCS through a temp folder it never removes; ours
    are local, so nothing may be left in the temp dir."""
    import tempfile

    from motionfm.data.dataset import G1Motion

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    G1Motion(data_dir=tmp_path / "out", config=G1MotionConfig(window=32))
    assert list(scratch.iterdir()) == []
