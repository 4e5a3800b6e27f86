"""Universal motion tracker for the G1: MJX environment, Brax PPO, numpy policy, MuJoCo evaluation.

Imports only the base (``motionfm.motion``, ``motionfm.robot``, ``motionfm.data``): it tracks any
:class:`~motionfm.motion.Motion`, generated or recorded. Heavy modules (MJX env, brax training)
load lazily, so ``load_policy`` + ``track`` work without brax being imported.
"""

from typing import Any

from motionfm.tracker.config import PRESETS, EnvConfig, PPOConfig, RandomizationConfig, RewardConfig, TrackerConfig
from motionfm.tracker.policy import (
    TrackerPolicy, average_policies, default_checkpoint, inference_latency_ms, load_policy, save_policy,
)

_LAZY = {
    "MotionLibrary": "library", "TrackingEnv": "env", "TrackingWrapper": "env", "make_env": "env",
    "wrap_for_tracking": "env", "train": "train", "load_motions": "train", "split_heldout": "train",
    "track": "rollout", "evaluate_motions": "rollout", "rollout_metrics": "rollout", "save_rollout": "rollout",
    "clip_summary": "rollout", "load_rollout": "rollout",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"motionfm.tracker.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'motionfm.tracker' has no attribute {name!r}")


__all__ = ["PRESETS", "EnvConfig", "PPOConfig", "RandomizationConfig", "RewardConfig", "TrackerConfig", "TrackerPolicy",
           "average_policies", "default_checkpoint", "inference_latency_ms", "load_policy", "save_policy", *_LAZY]
