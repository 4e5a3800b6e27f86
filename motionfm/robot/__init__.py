"""The Unitree G1: model loading, joint/body order by name, JAX forward kinematics (MJX)."""

from motionfm.robot.g1 import (
    FOOT_BODIES,
    FOOT_SOLE_POINTS,
    G1_BODY_NAMES,
    G1_JOINT_NAMES,
    NUM_BODIES,
    NUM_JOINTS,
    QPOS_DIM,
    VARIANTS,
    CollisionSpheres,
    RobotModel,
    collision_spheres,
    body_position_mask,
    load_g1,
    mirror_qpos,
    robot_from_model,
    model_path,
)
from motionfm.robot.kinematics import FKResult, default_fk, fk_mujoco, foot_points, import_mjx, make_fk, plant_feet, plant_shift

__all__ = [
    "import_mjx",
    "FOOT_BODIES", "FOOT_SOLE_POINTS", "G1_BODY_NAMES", "G1_JOINT_NAMES", "NUM_BODIES",
    "NUM_JOINTS", "QPOS_DIM", "VARIANTS", "CollisionSpheres", "FKResult", "RobotModel", "body_position_mask", "collision_spheres", "default_fk", "fk_mujoco",
    "foot_points", "load_g1", "make_fk", "mirror_qpos", "model_path", "plant_feet", "plant_shift", "robot_from_model",
]
