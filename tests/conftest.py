"""Shared fixtures: the real corpus in ../shared (tests and CI have it) and small corpora built from it."""

from __future__ import annotations

import os

# Tests that call the CLI in-process turn its compilation cache on; XLA then logs a false "SIGILL"
# warning per cache hit (openxla/xla#44565; the CLI silences it for the `motionfm` command).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# One persistent compilation cache for the whole session, shared by pytest-xdist workers and the
# Python subprocesses tests start (JAX reads JAX_COMPILATION_CACHE_DIR from their inherited
# environment): tests that build the same program (an MJX step, a sampler, a training step) through
# different closures compile it once. It is the CLI's cache ($MOTIONFM_JAX_CACHE, default
# ~/.cache/motionfm/jax, one folder per host CPU), so a second run on this machine starts warm; a
# fresh clone starts cold and still shares within the run.
from motionfm.cli import compilation_cache_dir

if (_cache := compilation_cache_dir()) is not None:
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_cache))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import json
import shutil
from pathlib import Path

import pytest

from motionfm.cli import default_data_dir

DATA = default_data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "clips.jsonl").is_file():
        pytest.fail(f"the G1 corpus is missing at {DATA}; set MOTIONFM_DATA")
    return DATA


@pytest.fixture(scope="session")
def clip_rows(data_dir: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (data_dir / "clips.jsonl").read_text().splitlines())}


@pytest.fixture
def small_corpus(tmp_path: Path, data_dir: Path, clip_rows: dict[str, dict]) -> Path:
    """A copy of three short clips (one 30 fps ASAP clip without wrists) with their clips.jsonl rows."""
    ids = ["asap/Bolt_level1", "g1moves/B_HandsUp", "g1moves/M_ShortMove16"]
    root = tmp_path / "corpus"
    for cid in ids:
        dst = root / clip_rows[cid]["file"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / clip_rows[cid]["file"], dst)
    (root / "clips.jsonl").write_text("".join(json.dumps(clip_rows[c]) + "\n" for c in ids))
    return root
