"""Checkpoint folders shared by every stage: orbax ``state/`` plus a versioned ``metadata.json``.

``metadata.json`` always carries ``schema`` (which stage), ``schema_version`` (its layout) and
``motionfm_version``; the stage adds its config, normalisation and training record. A folder is
written beside its destination and moved into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np


def default_checkpoint_dir() -> Path:
    """``$MOTIONFM_CHECKPOINTS`` or the repository's ``checkpoints/`` folder."""
    env = os.environ.get("MOTIONFM_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "checkpoints"


def save_checkpoint(
    path: str | os.PathLike,
    state: Any,
    metadata: dict[str, Any],
    schema: str,
    version: int,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``state`` (a pytree of arrays) and ``metadata`` to the folder ``path``, atomically.

    ``extra(folder)`` may write further files (e.g. a deployment export) into the folder before it
    is moved into place.
    """
    import orbax.checkpoint as ocp

    from motionfm import __version__

    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        ckptr = ocp.StandardCheckpointer()
        ckptr.save(tmp / "state", jax.tree.map(np.asarray, state))
        ckptr.wait_until_finished()
        meta = {**metadata, "schema": schema, "schema_version": version, "motionfm_version": __version__}
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=1))
        if extra is not None:
            extra(tmp)
        tmp.chmod(0o755)  # mkdtemp makes the folder private; a checkpoint is meant to be shared
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_metadata(path: str | os.PathLike, schema: str, version: int) -> dict[str, Any]:
    """``metadata.json`` of a checkpoint folder, checked to be ``schema`` at most ``version``.

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: another stage's checkpoint, or a newer layout than this motionfm reads.
    """
    path = Path(path)
    meta_path = path / "metadata.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: no {schema.split('.')[-1]} checkpoint (metadata.json missing)")
    meta = json.loads(meta_path.read_text())
    if meta.get("schema") != schema:
        raise ValueError(f"{path}: not a {schema} checkpoint (schema {meta.get('schema')!r})")
    if int(meta.get("schema_version", 0)) > version:
        raise ValueError(
            f"{path}: checkpoint schema version {meta['schema_version']} is newer than this motionfm reads ({version}); upgrade motionfm"
        )
    return meta


def load_checkpoint(path: str | os.PathLike, schema: str, version: int) -> tuple[Any, dict[str, Any]]:
    """``(state, metadata)`` of a checkpoint folder (state as JAX arrays)."""
    import orbax.checkpoint as ocp

    meta = read_metadata(path, schema, version)
    state = ocp.StandardCheckpointer().restore((Path(path) / "state").absolute())
    return jax.tree.map(jax.numpy.asarray, state), meta
