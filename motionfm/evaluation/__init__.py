"""Text-motion evaluation (HumanML3D style): a contrastive evaluator and generation metrics.

:func:`load_evaluator` (shipped ``checkpoints/evaluator`` by default) returns an :class:`Evaluator`
with ``embed_motions``/``embed_texts`` into one 256-d space, ``evaluate(motions, captions)`` (FID,
R-precision, diversity, MM-Dist) and ``real_ceiling()`` (the same on held-out real windows).
:func:`compare_generated` scores a generator passed in as a function (this package never imports
the diffusion stage). :mod:`motionfm.evaluation.kinematics` asks plainer questions: paired-prompt
checks of direction, turning, speed, hands and jumping on kinematic descriptors. Metrics are plain numpy in :mod:`motionfm.evaluation.metrics`; training is
:func:`motionfm.evaluation.train.train_evaluator`.

Names are imported lazily, so ``motionfm.evaluation.cli`` can be registered without loading JAX.
"""

from typing import Any

_NAMES = {
    "fid": ("motionfm.evaluation.metrics", "fid"),
    "r_precision": ("motionfm.evaluation.metrics", "r_precision"),
    "diversity": ("motionfm.evaluation.metrics", "diversity"),
    "mm_dist": ("motionfm.evaluation.metrics", "mm_dist"),
    "EvaluatorConfig": ("motionfm.evaluation.model", "EvaluatorConfig"),
    "EvaluatorModel": ("motionfm.evaluation.model", "EvaluatorModel"),
    "Evaluator": ("motionfm.evaluation.evaluator", "Evaluator"),
    "compare_generated": ("motionfm.evaluation.evaluator", "compare_generated"),
    "held_out_windows": ("motionfm.evaluation.evaluator", "held_out_windows"),
    "load_evaluator": ("motionfm.evaluation.evaluator", "load_evaluator"),
    "save_evaluator": ("motionfm.evaluation.evaluator", "save_evaluator"),
    "EvaluatorTrainConfig": ("motionfm.evaluation.train", "EvaluatorTrainConfig"),
    "Descriptors": ("motionfm.evaluation.kinematics", "Descriptors"),
    "PairedCheck": ("motionfm.evaluation.kinematics", "PairedCheck"),
    "PAIRED_CHECKS": ("motionfm.evaluation.kinematics", "PAIRED_CHECKS"),
    "describe_motion": ("motionfm.evaluation.kinematics", "describe_motion"),
    "train_evaluator": ("motionfm.evaluation.train", "train_evaluator"),
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        module, attr = _NAMES[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
