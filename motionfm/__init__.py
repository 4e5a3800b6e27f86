"""motionfm: an open generative motion foundation model for the Unitree G1, in JAX."""

from motionfm.motion import JointLimitWarning, Motion, MotionFileError

__version__ = "0.1.0"

__all__ = ["JointLimitWarning", "Motion", "MotionFileError", "__version__", "load_pretrained"]


def __getattr__(name: str):
    # ``motionfm.load_pretrained`` without importing JAX models on ``import motionfm``.
    if name == "load_pretrained":
        from motionfm.pipeline import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'motionfm' has no attribute {name!r}")
