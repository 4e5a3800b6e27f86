"""Fine-tuning (motionfm.finetune, `motionfm finetune`)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from motionfm.cli import main


def test_bad_inputs_are_clear_errors_and_write_nothing(tmp_path, capsys):
    import motionfm

    finetune = motionfm.finetune  # the public entry point (motionfm.finetuning.finetune)

    empty = tmp_path / "no_captions"
    empty.mkdir()
    out = tmp_path / "ft"
    with pytest.raises(ValueError, match="no_captions: not a corpus folder"):
        finetune(empty, out, steps=2)
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        finetune(empty, out, tokenizer="thaw")
    assert main(["finetune", "--data", str(empty), "--out", str(out), "--steps", "2"]) == 2
    assert "no_captions: not a corpus folder" in capsys.readouterr().err
    assert not out.exists() and not out.with_name("ft.run").exists()


@pytest.mark.slow
def test_finetune_resumes_and_loads_through_the_pipeline(tmp_path, small_corpus):
    from motionfm.diffusion import load_diffusion
    from motionfm.finetuning import finetune
    from motionfm.pipeline import load_pretrained

    out = tmp_path / "ft"
    assert finetune(small_corpus, out, steps=4, batch_size=8, progress=False) == out
    run_log = out.with_name("ft.run") / "diffusion" / "log.jsonl"
    assert json.loads(run_log.read_text().splitlines()[-1])["step"] == 4
    # called again with more steps it continues from the run folder, not from the base
    finetune(small_corpus, out, steps=6, batch_size=8, progress=False)
    assert [json.loads(x)["step"] for x in run_log.read_text().splitlines()][-1] == 6
    ft, base = load_diffusion(out), load_diffusion()
    meta = ft.metadata
    assert meta["steps"] == 6 and meta["finetune"]["tokenizer"] == "frozen" and meta["finetuned_from"].endswith("diffusion")
    assert meta["tokenizer_fingerprint"] == base.metadata["tokenizer_fingerprint"]
    # the licences it inherits: the base's and the 3 new clips'
    base_lic = base.metadata["training_data"]["licences"]
    lic = meta["training_data"]["licences"]
    assert sum(lic.values()) == sum(base_lic.values()) + 3 and set(base_lic) <= set(lic)
    assert meta["training_data"]["base_training_data"]["licences"] == base_lic
    # moved from the base, but only a little (6 steps at a small learning rate)
    diffs = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(jax.tree.leaves(ft.params), jax.tree.leaves(base.params))]
    assert 0 < max(diffs) < 0.05
    np.testing.assert_allclose(np.asarray(ft.stats.mean), np.asarray(base.stats.mean))  # frozen tokenizer: same latents
    pipe = load_pretrained(out)
    m = pipe.sample("a person raises both hands", 2.0, seed=0, num_steps=4)[0]
    assert m.num_frames >= 60 and np.isfinite(m.qpos).all()
