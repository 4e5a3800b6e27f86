"""The shared training loop (motionfm.training): logging, validation, checkpoints, resume."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from motionfm.training import LoopConfig, latest_step, resume, run_loop


def _step(state, i):
    # a toy "optimiser": w moves by i; the metric is the step index, so averages are checkable
    return {"w": state["w"] + i, "n": state["n"] + 1}, {"loss": jnp.asarray(float(i))}


def _fresh():
    return {"w": jnp.zeros(3), "n": jnp.asarray(0)}


def test_loop_logs_validates_checkpoints_and_resumes(tmp_path):
    assert resume(tmp_path / "ckpt", _fresh())[1] == 0 and not (tmp_path / "ckpt").exists()  # creates nothing
    seen = []
    cfg = LoopConfig(steps=10, log_every=4, ckpt_every=5, validate_every=5, desc="toy")
    state, log = run_loop(_step, _fresh(), 0, cfg, tmp_path, validate=lambda s: {"val_n": float(s["n"])},
                          on_log=lambda d, row: seen.append(d), progress=False)
    assert int(state["n"]) == 10 and float(state["w"][0]) == sum(range(10))
    # rows at 4, 8 and the last step; each averages the metrics since the previous row
    assert [r["step"] for r in log] == [4, 8, 10] == seen
    assert [r["loss"] for r in log] == [1.5, 5.5, 8.5]
    assert "val_n" not in log[0] and log[-1]["val_n"] == 10.0  # validation only on its schedule and at the end
    assert [json.loads(x)["step"] for x in (tmp_path / "log.jsonl").read_text().splitlines()] == [4, 8, 10]
    assert latest_step(tmp_path / "ckpt") == 10

    # a longer run resumes from step 10 with the restored state and appends to the log
    state2, start = resume(tmp_path / "ckpt", _fresh())
    assert start == 10 and int(state2["n"]) == 10
    state2, log2 = run_loop(_step, state2, start, LoopConfig(steps=12, log_every=4, ckpt_every=5), tmp_path, progress=False)
    assert float(state2["w"][0]) == sum(range(12)) and [r["step"] for r in log2] == [12]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 4


def test_interrupted_run_keeps_its_last_checkpoint(tmp_path):
    def boom(state, i):
        if i == 7:
            raise KeyboardInterrupt
        return _step(state, i)

    with pytest.raises(KeyboardInterrupt):
        run_loop(boom, _fresh(), 0, LoopConfig(steps=20, log_every=2, ckpt_every=3), tmp_path, progress=False)
    state, start = resume(tmp_path / "ckpt", _fresh())
    assert start == 6 and int(state["n"]) == 6 and np.allclose(state["w"], sum(range(6)))
