"""Corpus selection: licence exclusion, per-corpus weights, the licence summary in checkpoints, captions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from motionfm.cli import default_data_dir, main
from motionfm.data import (
    BatchIterator, ConcatSource, G1MotionConfig, build_sources, corpus_captions, corpus_weights, format_licence_summary,
    licence_summary, mirror_caption, scan_corpus,
)

DATA = default_data_dir()
CFG = G1MotionConfig(window=16, stride=16, val_fraction=0.0)
RIGHT = ["a person raises the right hand", "someone lifts the right hand", "an angry person raises the right hand"]
# (file, source clip, clips.jsonl fields): two non-commercial clips (case differs), MIT, no licence, null licence
MIXED = [
    ("nc_a.csv", "asap/side_jump_level1.csv", {"license": "CC-BY-NC-4.0", "source": "bandai", "captions": RIGHT}),
    ("nc_b.csv", "asap/kick_level2.csv", {"license": " cc-by-nc-4.0", "source": "bandai", "captions": ["a person bows"]}),
    ("mit.csv", "asap/walk_level2.csv", {"license": "MIT", "source": "asap", "captions": ["a person walks"]}),
    ("none.csv", "asap/side_jump_level4.csv", {"captions": ["a person jumps to the side"]}),
    ("null.csv", "asap/jump_forward_level2.csv", {"license": None, "captions": []}),
]
OTHER = [("a.csv", "asap/walk_level2.csv", {"license": "MIT", "source": "asap", "captions": ["a person walks"]}),
         ("b.csv", "g1moves/B_BowKarate.csv", {"license": "CC-BY-4.0", "source": "g1moves", "captions": ["a bow"]})]


def _corpus(root: Path, clips: list, frames: int = 40) -> Path:
    """Real clips cut to ``frames`` rows (30 fps; 60 fps sources become 20 frames at 30) with hand-written rows."""
    root.mkdir(parents=True)
    with open(root / "clips.jsonl", "w") as fh:
        for name, src, fields in clips:
            (root / name).write_text("\n".join((DATA / src).read_text().splitlines()[:frames]) + "\n")
            fps = 60 if src.startswith("g1moves") else 30
            fh.write(json.dumps({"id": name.removesuffix(".csv"), "file": name, "fps": fps, **fields}) + "\n")
    return root


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("corpora")
    return _corpus(base / "mixed", MIXED), _corpus(base / "other", OTHER)


def _clip_ids(source) -> Counter:
    return Counter(source[i]["clip_id"].decode() for i in range(len(source)))


def test_licence_exclusion_drops_exactly_those_clips(corpora, tmp_path):
    mixed, other = corpora
    train, val, info = build_sources([mixed], tmp_path, CFG, exclude_licences=["cc-BY-nc-4.0"])
    assert set(_clip_ids(train)) == {"mit", "none", "null"} and val is None  # case and spaces ignored
    (row,) = info
    assert (row["clips"], row["excluded_clips"]) == (3, 2)
    assert row["licences"] == {"MIT": 1, "unknown": 2}  # absent and null count as "unknown"
    assert row["excluded_licences"] == ["cc-by-nc-4.0"]
    train, _, info = build_sources([mixed], tmp_path, CFG, exclude_licences=["unknown"])
    assert set(_clip_ids(train)) == {"nc_a", "nc_b", "mit"}
    assert info[0]["licences"] == {"CC-BY-NC-4.0": 1, "MIT": 1, "cc-by-nc-4.0": 1}  # names as written
    train, _, _ = build_sources([mixed], tmp_path, CFG)
    assert set(_clip_ids(train)) == {c[0].removesuffix(".csv") for c in MIXED}  # nothing excluded: everything
    # windows carry every caption alternative of their clip's row
    ex = next(train[i] for i in range(len(train)) if train[i]["clip_id"] == b"nc_a")
    assert [c.decode() for c in ex["captions"]] == RIGHT


def test_exclusion_never_moves_clips_between_splits(corpora, tmp_path):
    mixed, _ = corpora
    cfg = G1MotionConfig(window=16, stride=16, val_fraction=0.4, split_seed=3)
    _, _, full = build_sources([mixed], tmp_path / "all", cfg)
    _, val, part = build_sources([mixed], tmp_path / "commercial", cfg, exclude_licences=["CC-BY-NC-4.0"])
    kept = {"mit", "none", "null"}
    assert part[0]["validation_clips"] == [c for c in full[0]["validation_clips"] if c in kept]
    if val is not None:
        assert set(_clip_ids(val)) == set(part[0]["validation_clips"])


def test_config_names_of_earlier_builds_are_unchanged():
    # the shipped evaluator's dataset folder: adding the exclusion field must not rename old builds
    assert G1MotionConfig(fps=30, window=120, stride=8, val_fraction=0.1, split_seed=0).name == "fps30_w120_s8_5c36496b"
    assert "exclude_licences" not in G1MotionConfig().params()
    a, b = G1MotionConfig(exclude_licences=["MIT", "mit "]), G1MotionConfig(exclude_licences=("mit",))
    assert a.name == b.name != G1MotionConfig().name and a.exclude_licences == ("mit",)


def test_weights_change_the_mixing_proportions():
    a = [{"k": 0, "i": i} for i in range(10)]
    b = [{"k": 1, "i": i} for i in range(30)]

    def share_of_a(source, epochs=3) -> tuple[float, BatchIterator]:
        it = BatchIterator(source, 5, seed=0, process_index=0, process_count=1)
        idx = np.concatenate([it.indices(s)[0] for s in range(epochs * it.steps_per_epoch)])
        return float(np.mean(idx < 10)), it

    share, it = share_of_a(ConcatSource([a, b]))
    assert share == pytest.approx(10 / 40) and it.epoch_size == 40  # default: in proportion to size
    plain = BatchIterator(a + b, 5, seed=0, process_index=0, process_count=1)
    np.testing.assert_array_equal(it.indices(3)[0], plain.indices(3)[0])  # weight 1: the plan of earlier runs
    share, it = share_of_a(ConcatSource([a, b], weights=[3.0, 0.5]))
    assert it.epoch_size == 30 + 15 and share == pytest.approx(30 / 45)
    epoch = [np.concatenate([it.indices(e * it.steps_per_epoch + s)[0] for s in range(it.steps_per_epoch)]) for e in (0, 1)]
    for e in epoch:
        assert all(n == 3 for n in Counter(e[e < 10]).values())  # every window of `a` three times
        assert len(set(e[e >= 10])) == 15  # half of `b`, no repeats ...
    assert set(epoch[0][epoch[0] >= 10]) != set(epoch[1][epoch[1] >= 10])  # ... and another half next epoch


def test_weights_flow_from_build_sources(corpora, tmp_path):
    mixed, other = corpora
    train, _, info = build_sources([mixed, other], tmp_path, CFG, weights=[0.5, 2.0])
    assert train.weights == (0.5, 2.0) and [r["weight"] for r in info] == [0.5, 2.0]
    summary = licence_summary(info)
    n = [r["train_windows"] for r in info]
    assert summary["corpora"][1]["draw_share"] == pytest.approx(2 * n[1] / (0.5 * n[0] + 2 * n[1]), abs=1e-4)
    assert summary["licences"] == {"CC-BY-4.0": 1, "CC-BY-NC-4.0": 1, "MIT": 2, "cc-by-nc-4.0": 1, "unknown": 2}
    assert {"source": "asap", "license": "MIT", "clips": 2} in summary["sources"] and summary["clips"] == 7


@pytest.mark.parametrize("weights, match", [([1.0], "1 weight.* for 2 corpus folder"), ([1.0, 1.0, 2.0], "3 weight"),
                                            ([1.0, 0.0], "other: weight 0.0 must be"), ([float("nan"), 1.0], "mixed: weight nan")])
def test_bad_weights_are_clear_errors(corpora, weights, match):
    with pytest.raises(ValueError, match=match):
        corpus_weights([str(c) for c in corpora], weights)


def test_bad_selection_is_a_clear_error(corpora, tmp_path):
    mixed, other = corpora
    with pytest.raises(ValueError, match=r"'CC-BY-NC' matches no clip of .*mixed.*'CC-BY-NC-4.0'"):
        build_sources([mixed], tmp_path, CFG, exclude_licences=["CC-BY-NC"])  # a typo must not keep the clips
    with pytest.raises(ValueError, match=r"other: all 2 clips have excluded licences"):
        build_sources([mixed, other], tmp_path, CFG, exclude_licences=["MIT", "CC-BY-4.0"])
    twin = tmp_path / "x" / "mixed"
    twin.parent.mkdir()
    twin.symlink_to(other)
    with pytest.raises(ValueError, match="share the name 'mixed'"):
        build_sources([mixed, twin], tmp_path, CFG)


def test_licence_that_is_not_a_string_names_the_file(tmp_path):
    root = _corpus(tmp_path / "bad", [("a.csv", "asap/walk_level2.csv", {"license": ["MIT", "CC-BY-4.0"]})])
    with pytest.raises(ValueError, match=r"bad/clips.jsonl: the row of 'a.csv' has 'license' \['MIT', 'CC-BY-4.0'\] \(list\)"):
        scan_corpus(root)


def test_cli_flags_bad_values(corpora, tmp_path, capsys):
    mixed, other = corpora
    with pytest.raises(SystemExit):
        main(["data", "build", str(mixed), "--data-dir", str(tmp_path), "--weight", "lots"])
    assert "--weight: invalid float value: 'lots'" in capsys.readouterr().err
    assert main(["data", "build", str(mixed), str(other), "--data-dir", str(tmp_path), "--weight", "1", "--weight", "2",
                 "--weight", "3"]) == 2
    assert "3 weight(s) for 2 corpus folder(s)" in capsys.readouterr().err
    assert main(["data", "build", str(mixed), "--data-dir", str(tmp_path), "--exclude-licence", "GPL"]) == 2
    assert "'GPL' matches no clip" in capsys.readouterr().err


def test_data_build_several_corpora(corpora, tmp_path, capsys):
    mixed, other = corpora
    assert main(["data", "build", str(mixed), str(other), "--data-dir", str(tmp_path), "--window", "16", "--val-fraction", "0",
                 "--weight", "1", "--weight", "0.5", "--exclude-license", "unknown"]) == 0
    out = capsys.readouterr().out
    assert "mixed: 3 clips (2 excluded), weight 1" in out and "other: 2 clips (0 excluded), weight 0.5" in out
    assert "licences: CC-BY-4.0 1 clips, CC-BY-NC-4.0 1 clips, MIT 2 clips, cc-by-nc-4.0 1 clips (excluded: unknown)" in out
    assert (tmp_path / "mixed").is_dir() and (tmp_path / "other").is_dir()  # several folders: one sub-folder each


def test_licence_summary_lands_in_a_tokenizer_checkpoint(corpora, tmp_path, capsys, monkeypatch):
    """The real writer path: ``motionfm train tokenizer`` for 2 steps, exported, then ``motionfm info``."""
    mixed, other = corpora
    conf = tmp_path / "tiny.json"
    conf.write_text(json.dumps({"model": {"quantizer": "rvq", "width": 16, "depth": 1, "code_dim": 8, "num_codes": 16,
                                          "rvq_levels": 1, "window": 16},
                                "train": {"steps": 2, "batch_size": 2, "warmup_steps": 1, "log_every": 1, "ckpt_every": 2,
                                          "stride": 16, "val_fraction": 0.0}}))
    export = tmp_path / "ckpts" / "tokenizer"
    assert main(["train", "tokenizer", "--config", str(conf), "--data", str(mixed), str(other), "--weight", "2",
                 "--weight", "1", "--exclude-licence", "CC-BY-NC-4.0", "--out", str(tmp_path / "run"),
                 "--export", str(export)]) == 0
    meta = json.loads((export / "metadata.json").read_text())
    summary = meta["training_data"]
    assert summary["licences"] == {"CC-BY-4.0": 1, "MIT": 2, "unknown": 2}
    assert summary["excluded_licences"] == ["cc-by-nc-4.0"] and summary["clips"] == 5
    assert [(c["weight"], c["clips"], c["excluded_clips"]) for c in summary["corpora"]] == [(2.0, 3, 2), (1.0, 2, 0)]
    assert {"source": "g1moves", "license": "CC-BY-4.0", "clips": 1} in summary["sources"]
    monkeypatch.setenv("MOTIONFM_CHECKPOINTS", str(export.parent))
    capsys.readouterr()
    assert main(["info"]) == 0
    assert ("checkpoint tokenizer: training-data licences CC-BY-4.0 1 clips, MIT 2 clips, unknown 2 clips "
            "(excluded: cc-by-nc-4.0)") in capsys.readouterr().out


def test_format_licence_summary_of_old_checkpoints():
    assert format_licence_summary(None).startswith("not recorded")
    assert format_licence_summary({"licences": {"MIT": 3}, "excluded_licences": []}) == "MIT 3 clips"


# ---------------------------------------------------------------------- captions
def test_mirror_caption_swaps_sides_and_turning_sense():
    assert mirror_caption("A person raises the right hand and turns left") == "A person raises the left hand and turns right"
    assert mirror_caption("Left, then clockwise") == "Right, then counterclockwise"
    assert mirror_caption("spins counter-clockwise, sidesteps rightwards") == "spins clockwise, sidesteps leftwards"
    assert mirror_caption("a bright, playful dance") == "a bright, playful dance"
    for c in ("turns left", "the right hand", "clockwise"):
        assert mirror_caption(mirror_caption(c)) == c


def test_mirrored_windows_carry_mirrored_captions():
    src = [{"qpos": np.zeros((4, 36), np.float32) + i, "joint_mask": np.ones(29, bool), "captions": list(RIGHT)} for i in range(4)]
    plain = BatchIterator(src, 4, seed=0, process_index=0, process_count=1).batch(0)
    flipped = BatchIterator(src, 4, seed=0, mirror_prob=1.0, process_index=0, process_count=1).batch(0)
    assert all(caps == tuple(RIGHT) for caps in plain["captions"])
    assert all(caps == tuple(c.replace("right", "left") for c in RIGHT) for caps in flipped["captions"])


def test_corpus_captions_follow_the_selection(corpora):
    mixed, _ = corpora
    caps = corpus_captions([mixed], exclude_licences=["unknown"], skip_ids=["mit"])
    assert set(RIGHT) <= set(caps) and {c.replace("right", "left") for c in RIGHT} <= set(caps)  # and their mirror images
    assert "a person walks" not in caps and "a person jumps to the side" not in caps  # held out; excluded
    assert corpus_captions([mixed], mirrored=False) == sorted({c for _, _, f in MIXED for c in f["captions"]})


def _drawn_captions(draw, seed: int, steps: int = 24) -> list[str]:
    """The caption drawn for window 0 each time a trainer's batch holds it (the trainer's own rng protocol)."""
    src = [{"qpos": np.zeros((4, 36), np.float32), "joint_mask": np.ones(29, bool), "window": i,
            "captions": [f"{c} ({i})" for c in RIGHT]} for i in range(4)]
    table = {c: k for k, c in enumerate(sorted({c for e in src for c in e["captions"]}))}
    names = {k: c for c, k in table.items()}
    it = BatchIterator(src, 2, seed=seed, process_index=0, process_count=1)
    rng = np.random.default_rng(seed)
    out = []
    for b in it.iterate():
        rows = draw(b["captions"], table, rng)
        out += [names[r] for r, w in zip(rows, b["window"]) if w == 0]
        if len(out) >= steps // 2:
            return out
    raise AssertionError("unreachable")


@pytest.mark.parametrize("trainer", ["diffusion", "evaluator"])
def test_captions_are_sampled_per_draw_and_seeded(trainer):
    if trainer == "diffusion":
        from motionfm.diffusion.train import caption_indices as draw
    else:
        from motionfm.evaluation.train import caption_batch

        def draw(caps, table, rng):
            return caption_batch(caps, table, rng)[0]
    a = _drawn_captions(draw, seed=1)
    assert len(set(a)) > 1 and set(a) <= {f"{c} (0)" for c in RIGHT}  # the same window, different captions
    assert _drawn_captions(draw, seed=1) == a  # a fixed seed reproduces the draws
    assert _drawn_captions(draw, seed=2) != a


def test_a_named_build_with_other_settings_is_not_silently_reused(corpora, tmp_path):
    from motionfm.data import build_dataset

    mixed, _ = corpora
    build_dataset(mixed, tmp_path, G1MotionConfig(name="mine", window=16, stride=16, val_fraction=0.0))
    with pytest.raises(ValueError, match="already holds config 'mine' built with other settings"):
        build_dataset(mixed, tmp_path, G1MotionConfig(name="mine", window=16, stride=16, val_fraction=0.0,
                                                      exclude_licences=["CC-BY-NC-4.0"]))
