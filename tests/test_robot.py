"""The G1 model and JAX forward kinematics (MJX) against plain MuJoCo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from motionfm import Motion
from motionfm.robot import (
    FOOT_SOLE_POINTS, G1_BODY_NAMES, G1_JOINT_NAMES, default_fk, fk_mujoco, foot_points, load_g1, make_fk, plant_feet,
    robot_from_model,
)


def test_model_names_limits_and_order():
    robot = load_g1()
    m = robot.mj_model
    hinge = [m.joint(j).name for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    assert tuple(hinge) == G1_JOINT_NAMES
    assert [m.body(int(b)).name for b in robot.body_ids] == list(G1_BODY_NAMES)
    assert robot.joint_limits.shape == (29, 2) and (robot.joint_limits[:, 0] < robot.joint_limits[:, 1]).all()
    assert robot.default_qpos.shape == (36,) and robot.default_qpos[2] == pytest.approx(0.79, abs=0.01)
    assert robot.parent_index[0] == -1 and G1_BODY_NAMES[robot.parent_index[G1_BODY_NAMES.index("torso_link")]] == "waist_roll_link"


def test_variants_share_kinematics():
    a, b = load_g1("g1"), load_g1("g1_mjx")
    q = np.tile(a.default_qpos, (5, 1))
    q[:, 7:] += np.random.default_rng(0).normal(0, 0.3, (5, 29))
    np.testing.assert_allclose(fk_mujoco(q, a).body_pos, fk_mujoco(q, b).body_pos, atol=1e-9)
    with pytest.raises(ValueError, match="unknown G1 variant"):
        load_g1("h1")


def test_sole_points_match_menagerie_foot_spheres():
    m = load_g1("g1").mj_model
    foot = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "left_ankle_roll_link")
    spheres = [m.geom_pos[g] - [0, 0, m.geom_size[g][0]] for g in range(m.ngeom)
               if m.geom_bodyid[g] == foot and m.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE]
    np.testing.assert_allclose(sorted(map(tuple, spheres)), sorted(map(tuple, FOOT_SOLE_POINTS)), atol=1e-9)


def test_jax_fk_matches_mujoco_on_real_motion(data_dir):
    qpos = Motion.load(data_dir / "g1moves/B_ForwardKarate.csv").qpos[::7]  # 300+ real poses
    rng = np.random.default_rng(1)
    rand = np.tile(load_g1().default_qpos, (64, 1))
    rand[:, :3] += rng.normal(0, 2, (64, 3))
    quat = rng.normal(size=(64, 4))
    rand[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    rand[:, 7:] = rng.uniform(*load_g1().joint_limits.T, (64, 29))
    for q, backend in ((qpos, "tree"), (rand, "tree"), (qpos, "mjx")):
        got, ref = make_fk(backend=backend)(q), fk_mujoco(q)
        np.testing.assert_allclose(np.asarray(got.body_pos), ref.body_pos, atol=1e-5)
        dot = np.abs(np.sum(np.asarray(got.body_quat) * ref.body_quat, -1))
        np.testing.assert_allclose(dot, 1.0, atol=1e-5)
        np.testing.assert_allclose(np.asarray(got.body_rot), ref.body_rot, atol=1e-5)


def test_fk_batched_shapes_and_gradients():
    fk = default_fk()
    q = jnp.tile(jnp.asarray(load_g1().default_qpos, jnp.float32), (2, 3, 1))
    out = fk(q)
    assert out.body_pos.shape == (2, 3, 30, 3) and out.body_quat.shape == (2, 3, 30, 4)
    assert foot_points(out, load_g1()).shape == (2, 3, 2, 4, 3)
    hand = G1_BODY_NAMES.index("left_wrist_yaw_link")
    elbow = 7 + G1_JOINT_NAMES.index("left_elbow_joint")

    def hand_height(qq):
        return fk(qq).body_pos[hand, 2]

    q0 = jnp.asarray(load_g1().default_qpos, jnp.float32)
    g = jax.grad(hand_height)(q0)
    eps = 1e-3
    fd = (hand_height(q0.at[elbow].add(eps)) - hand_height(q0.at[elbow].add(-eps))) / (2 * eps)
    assert g[2] == pytest.approx(1.0, abs=1e-4)  # moving the root up moves the hand up
    assert g[elbow] == pytest.approx(float(fd), rel=2e-2, abs=1e-3)
    assert float(jnp.abs(g[7 + G1_JOINT_NAMES.index("right_elbow_joint")])) == 0.0


def test_fk_maps_joints_and_bodies_by_name_not_position(data_dir):
    """A model whose left leg is declared after the rest gets the same FK: qpos and bodies go by name."""
    robot = load_g1()
    spec = mujoco.MjSpec.from_file(str(robot.path))
    leg = spec.copy().body("left_hip_pitch_link")
    spec.delete(spec.body("left_hip_pitch_link"))
    spec.body("pelvis").add_frame().attach_body(leg, "moved_", "")
    for item in list(spec.bodies) + list(spec.joints):  # keep the original names, now declared last
        item.name = item.name.removeprefix("moved_")
    for item in list(spec.actuators) + list(spec.sensors):  # FK needs neither
        spec.delete(item)
    moved = robot_from_model(spec.compile())
    assert list(moved.joint_qpos_adr) != list(robot.joint_qpos_adr)
    assert list(moved.body_ids) != list(robot.body_ids)
    q = Motion.load(data_dir / "g1moves/B_HandsUp.csv").qpos[::20]
    np.testing.assert_allclose(np.asarray(make_fk(moved)(q).body_pos), fk_mujoco(q, robot).body_pos, atol=1e-5)
    np.testing.assert_allclose(fk_mujoco(q, moved).body_pos, fk_mujoco(q, robot).body_pos, atol=1e-9)


def test_plant_feet_removes_a_glide_and_keeps_real_steps(data_dir):
    robot = load_g1()
    walk = Motion.load(data_dir / "asap/walk_level1.csv").resample(30).slice(0, 180)
    q = walk.qpos

    def stance_speed(qp):  # planar speed (m/frame) of the lowest sole point, every frame
        s = foot_points(fk_mujoco(qp, robot), robot).reshape(len(qp), -1, 3)
        low = s[:-1, :, 2].argmin(-1)
        return np.linalg.norm(np.diff(s[..., :2], axis=0)[np.arange(len(low)), low], axis=-1)

    planted = plant_feet(q, robot)
    travel = np.linalg.norm(q[-1, :2] - q[0, :2])
    # A real walk: its steps carry it, so planting keeps most of the path (this clip's own feet
    # slide ~9 cm/s at the median, which planting removes: 1.77 m of travel become ~1.25 m).
    assert travel > 1.0 and np.linalg.norm(planted[-1, :2] - planted[0, :2]) > 0.6 * travel
    assert np.median(stance_speed(planted)) < 0.5 * np.median(stance_speed(q))
    np.testing.assert_array_equal(planted[0], q[0])
    np.testing.assert_array_equal(planted[:, 2:], q[:, 2:])  # height, orientation and joints untouched
    # The same walk gliding an extra 1 m/s forward (a moonwalk): planted, the glide is gone.
    glide = q.copy()
    glide[:, 0] += np.arange(len(q)) / 30.0
    assert np.median(stance_speed(glide)) * 30 > 0.8
    fixed = plant_feet(glide, robot)
    assert np.median(stance_speed(fixed)) * 30 < 0.1
    added = glide[-1, 0] - q[-1, 0]  # 5 m of glide; the contact gate (~0.95 at this clip's sole heights) keeps < 10 %
    assert np.abs(fixed[:, :2] - planted[:, :2]).max() < 0.1 * added
    # In the air (everything 0.5 m up) nothing supports the robot: the path is left alone.
    air = glide.copy()
    air[:, 2] += 0.5
    np.testing.assert_allclose(plant_feet(air, robot)[:, :2], air[:, :2], atol=1e-6)
