"""Classifier guidance at sampling time: differentiable costs of the decoded motion steer denoising.

    from motionfm.guidance import Joystick, Obstacles, Keyframes, Waypoints
    pipe.sample(text="a person walks forward", seconds=6,
                guidance=[Joystick.create(vx=0.6), Obstacles.create(cylinders=[[2.0, 0.1, 0.3, 1.0]])])

Costs (:mod:`~motionfm.guidance.costs`) are pytrees evaluated on the decoded motion through the
tokenizer decoder and the JAX forward kinematics; :class:`Guide` turns them into the sampler's
``cond_fn``; :mod:`~motionfm.guidance.files` reads the CLI's scene, keyframe and waypoint files.
"""

from motionfm.guidance.costs import (
    Cost, FootSkating, GroundPenetration, JointLimits, Joystick, Keyframes, MotionView, Obstacles, StanceFoot, Waypoints, evaluate,
)
from motionfm.guidance.files import GuidanceFileError, load_keyframes, load_scene, load_waypoints, parse_joystick
from motionfm.guidance.guide import Guide, GuideArgs, GuidanceConfig, PassContext, as_costs
from motionfm.guidance.sdf import Scene, relaxed_log_barrier

__all__ = [
    "Cost", "FootSkating", "GroundPenetration", "Guide", "GuidanceFileError", "GuideArgs", "GuidanceConfig", "JointLimits", "Joystick",
    "Keyframes", "MotionView", "Obstacles", "PassContext", "Scene", "StanceFoot", "Waypoints", "as_costs", "evaluate",
    "load_keyframes", "load_scene", "load_waypoints", "parse_joystick", "relaxed_log_barrier",
]
