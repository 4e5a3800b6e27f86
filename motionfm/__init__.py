"""motionfm: an open generative motion foundation model for the Unitree G1, in JAX."""

import os as _os
import sys as _sys

# The ``motionfm`` command silences XLA's C++ logs, which must happen before jaxlib loads (the
# imports below load it). With the CLI's persistent compilation cache, XLA:CPU's AOT loader logs
# "machine type ... doesn't match ... SIGILL" on every cache hit, also for entries this very host
# compiled: it counts LLVM tuning flags (+prefer-no-gather, +prefer-no-scatter) as CPU features the
# host lacks (openxla/xla#44565). The cache is keyed by the host's CPU features
# (motionfm.cli.host_cpu_key), so the message is false. TF_CPP_MIN_LOG_LEVEL=0 shows the logs again;
# Python use of the package is left alone.
_argv = list(getattr(_sys, "orig_argv", _sys.argv))  # orig_argv: `python -m motionfm.cli` too
if (_sys.argv and _os.path.basename(_sys.argv[0]) == "motionfm") or any(
        a == "-m" and b in ("motionfm.cli", "motionfm.tracker.cli") for a, b in zip(_argv, _argv[1:])):
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from motionfm.motion import JointLimitWarning, Motion, MotionFileError

__version__ = "0.1.0"

__all__ = ["JointLimitWarning", "Motion", "MotionFileError", "__version__", "finetune", "load_pretrained", "run_receding"]


def __getattr__(name: str):
    # ``motionfm.load_pretrained`` & co. without importing JAX models on ``import motionfm``.
    if name == "load_pretrained":
        from motionfm.pipeline import load_pretrained

        return load_pretrained
    if name == "finetune":
        from motionfm.finetuning import finetune

        return finetune
    if name == "run_receding":
        from motionfm.receding import run_receding

        return run_receding
    raise AttributeError(f"module 'motionfm' has no attribute {name!r}")
