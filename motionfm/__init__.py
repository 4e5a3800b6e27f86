"""motionfm: an open generative motion foundation model for the Unitree G1, in JAX."""

from motionfm.motion import JointLimitWarning, Motion, MotionFileError

__version__ = "0.1.0"

__all__ = ["JointLimitWarning", "Motion", "MotionFileError", "__version__"]
