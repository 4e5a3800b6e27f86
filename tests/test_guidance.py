"""Guidance: signed distances, costs on real motion, goal files and their errors, guided sampling end to end."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motionfm.guidance import (
    GuidanceConfig, GuidanceFileError, Joystick, Keyframes, MotionView, Obstacles, Scene, StanceFoot, Waypoints, load_keyframes, load_scene,
    load_waypoints, parse_joystick, relaxed_log_barrier,
)
from motionfm.motion import Motion
from motionfm.guidance.guide import PassContext
from motionfm.robot import G1_BODY_NAMES, collision_spheres, default_fk, fk_mujoco, load_g1
from motionfm.tokenizer import qpos_to_features


# ----------------------------------------------------------------------------- signed distances
def test_signed_distances_of_each_shape_numpy_and_jax_agree():
    scene = Scene.create(spheres=[[0, 0, 1, 0.5]], boxes=[[3, 0, 0.5, 0.5, 0.2, 0.5, np.pi / 2]],
                         cylinders=[[0, 3, 0.3, 1.0]], capsules=[[0, -3, 0.5, 1, -3, 0.5, 0.2]])
    pts = np.array([[0, 0, 2.0], [0, 0, 1.0], [3, 0.4, 0.5], [3, 0.6, 0.5], [0, 3.5, 0.5], [0, 3, 1.5],
                    [0.5, -3, 1.0], [2.0, -3, 0.5]], np.float32)
    want = [0.5, -0.5, -0.1, 0.1, 0.2, 0.5, 0.3, 0.8]  # box yawed 90°: its 0.5 m half-size lies along y
    np.testing.assert_allclose(scene.sdf(pts), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda p: scene.sdf(p))(jnp.asarray(pts))), want, atol=1e-5)
    empty = Scene.create(cylinders=[[0, 0, 0.1, 1.0]])
    assert np.isfinite(np.asarray(jax.grad(lambda p: empty.sdf(p).sum())(jnp.zeros((2, 3))))).all()
    with pytest.raises(ValueError, match="radius"):
        Scene.create(spheres=[[0, 0, 0, -1.0]])


def test_relaxed_barrier_is_zero_far_away_and_steep_inside():
    d = jnp.array([-0.1, 0.0, 0.05, 0.1, 0.2])
    b = np.asarray(relaxed_log_barrier(d, delta=0.02, active=0.1))
    assert b[-1] == 0 and b[-2] == pytest.approx(0.0, abs=1e-6)
    assert (np.diff(b[:4]) < 0).all() and b[0] > 20  # decreasing, and large inside an obstacle
    g = jax.grad(lambda d: relaxed_log_barrier(d).sum())(d)
    assert np.isfinite(np.asarray(g)).all() and g[0] < g[2] < 0


def test_collision_spheres_cover_the_robot_from_feet_to_head():
    cs = collision_spheres()
    assert len(cs.radius) > 50 and set(np.unique(cs.body)) >= {G1_BODY_NAMES.index("pelvis"), G1_BODY_NAMES.index("torso_link")}
    q = np.zeros((1, 36))
    q[0, 2], q[0, 3] = 0.793, 1.0
    fk = fk_mujoco(q)
    w = cs.world(fk.body_pos, fk.body_rot)[0]
    assert (w[:, 2] - cs.radius).min() == pytest.approx(0.0, abs=0.01)  # soles on the ground
    assert 1.2 < (w[:, 2] + cs.radius).max() < 1.4  # the G1 is ~1.3 m tall
    fkj = default_fk()(jnp.asarray(q, jnp.float32))
    np.testing.assert_allclose(np.asarray(cs.world(fkj.body_pos, fkj.body_rot))[0], w, atol=1e-5)


# ----------------------------------------------------------------------------- costs on real motion
@pytest.fixture(scope="module")
def walk(data_dir) -> Motion:
    return Motion.load(data_dir / "asap/walk_level1.csv", default_fps=30).resample(30).slice(0, 120).canonicalize()


def _view(m: Motion) -> MotionView:
    q = jnp.asarray(m.qpos, jnp.float32)
    fk = default_fk()(q)
    t = jnp.arange(m.num_frames) / m.fps
    return MotionView(q, qpos_to_features(q, m.fps), fk.body_pos, fk.body_rot, t, jnp.ones(m.num_frames), q[0, :2], m.fps)


def test_costs_are_zero_at_their_goal_and_grow_away_from_it(walk):
    view = _view(walk)
    kf = Keyframes.from_motion(walk, [1.0, 3.0])
    assert float(kf(view)) < 1e-8 and kf.evaluate(walk)["keyframe_error_cm"] < 0.01
    moved = Keyframes.root([1.0], walk.root_pos[30:31] + [0.1, 0.0, 0.0])
    assert float(moved(view)) == pytest.approx(0.01, rel=1e-3) and moved.evaluate(walk)["keyframe_error_cm"] == pytest.approx(10, rel=1e-3)
    hand = Keyframes.bodies([2.0], {"left_wrist_yaw_link": fk_mujoco(walk.qpos[60:61]).body_pos[:, 22]})
    assert float(hand(view)) < 1e-8
    with pytest.raises(ValueError, match="unknown body 'left_hand'"):
        Keyframes.bodies([1.0], {"left_hand": [[0, 0, 1]]})

    ev = Joystick.create(vx=1.0).evaluate(walk)
    own = Joystick.create(vx=ev["mean_vx"], vy=ev["mean_vy"])
    assert float(own(view)) < float(Joystick.create(vx=ev["mean_vx"] + 0.5)(view))
    assert 0.2 < ev["mean_vx"] < 1.5  # a walk moves forward in its heading frame

    end = walk.root_pos[-1, :2]
    on_path = Waypoints.create([walk.num_frames / walk.fps - 1 / walk.fps], [end])
    assert on_path.evaluate(walk)["waypoint_error_cm"] < 0.01
    assert float(Waypoints.create([3.0], [end + [0, 1.0]])(view)) > float(on_path(view))

    mid = walk.root_pos[60]
    blocked = Obstacles.create(cylinders=[[mid[0], mid[1], 0.2, 1.0]])
    far = Obstacles.create(cylinders=[[mid[0], mid[1] + 5, 0.2, 1.0]])
    assert blocked.evaluate(walk)["collision"] == 1.0 and far.evaluate(walk)["collision"] == 0.0
    assert float(blocked(view)) > 1.0 and float(far(view)) == 0.0

    # the same legs with the root gliding 0.5 m/s faster: the supporting foot slides, and lifting
    # every foot 20 cm does not hide it but costs more (no contact height to escape above)
    stance = StanceFoot()
    glide_pos = walk.root_pos + np.arange(walk.num_frames)[:, None] * [0.5 / walk.fps, 0.0, 0.0]
    glide, lifted = walk.replace(root_pos=glide_pos), walk.replace(root_pos=glide_pos + [0.0, 0.0, 0.2])
    assert float(stance(_view(glide))) > float(stance(view)) + 0.1
    assert float(stance(_view(lifted))) > float(stance(_view(glide))) + 1.0
    assert stance.evaluate(glide)["stance_foot_cm_s"] > stance.evaluate(walk)["stance_foot_cm_s"] + 30
    assert stance.evaluate(lifted)["stance_foot_height_cm"] == pytest.approx(stance.evaluate(glide)["stance_foot_height_cm"] + 20, abs=0.1)


# ----------------------------------------------------------------------------- files
def test_scene_waypoint_keyframe_files_and_their_errors(tmp_path, walk):
    scene = tmp_path / "scene.json"
    scene.write_text(json.dumps({"cylinders": [{"center": [2, 0], "radius": 0.3, "height": 1}],
                                 "boxes": [{"center": [3, 1, 0.5], "half_size": [0.2, 0.2, 0.5]}], "margin": 0.05}))
    obs = load_scene(scene)
    assert obs.scene.num_obstacles == 2 and obs.margin == 0.05
    for doc, msg in [({"cylinders": [{"center": [2, 0], "radius": -1, "height": 1}]}, r"cylinders\[0\].radius must be positive"),
                     ({"cylinders": [{"center": [2], "radius": 1, "height": 1}]}, r"cylinders\[0\].center must be 2"),
                     ({"spheres": [{"center": [0, 0, 1]}]}, r"spheres\[0\] is missing 'radius'"),
                     ({"cones": []}, "unknown key"), ({}, "no obstacles")]:
        scene.write_text(json.dumps(doc))
        with pytest.raises(GuidanceFileError, match=msg) as e:
            load_scene(scene)
        assert str(scene) in str(e.value)
    scene.write_text("{not json")
    with pytest.raises(GuidanceFileError, match="not valid JSON"):
        load_scene(scene)

    wp = tmp_path / "wp.json"
    wp.write_text(json.dumps({"waypoints": [{"t": 3, "xy": [2, 0.5]}, {"t": 6, "xy": [3, -0.5]}]}))
    assert load_waypoints(wp).evaluate(walk)["waypoint_error_cm"] > 0
    wp.write_text(json.dumps({"waypoints": [{"t": 3, "xy": [2, 0.5]}, {"t": 2, "xy": [3, -0.5]}]}))
    with pytest.raises(GuidanceFileError, match="times must increase"):
        load_waypoints(wp)

    kf = tmp_path / "kf.npz"
    np.savez(kf, times=np.array([1.0, 2.0]), qpos=walk.qpos[[30, 60]], root=np.zeros((2, 2)),
             body_names=np.array(["left_wrist_yaw_link"]), body_pos=np.ones((2, 1, 3)))
    costs = load_keyframes(kf)
    assert len(costs) == 3 and float(costs[0](_view(walk))) < 1e-8
    bad_q = walk.qpos[[30, 60]].copy()
    bad_q[1, 3:7] *= 2
    for arrays, msg in [(dict(qpos=walk.qpos[[30, 60]]), "missing 'times'"),
                        (dict(times=[1.0, 2.0], qpos=walk.qpos[[30]]), r"'qpos' must have shape \(2, 36\)"),
                        (dict(times=[1.0, 2.0], qpos=bad_q), "unit length; keyframe 1"),
                        (dict(times=[1.0], root=[[np.nan, 0.0]]), "NaN"),
                        (dict(times=[1.0], joint_names=["elbow"], joint_pos=[[0.1]]), "unknown joint 'elbow'"),
                        (dict(times=[1.0], body_names=["pelvis"]), "come together")]:
        np.savez(kf, **arrays)
        with pytest.raises(GuidanceFileError, match=msg) as e:
            load_keyframes(kf)
        assert str(kf) in str(e.value)
    assert parse_joystick("0.5,0,0.2").evaluate(walk)["joystick_velocity_error_pct"] >= 0
    with pytest.raises(ValueError, match="VX,VY,YAWRATE"):
        parse_joystick("fast")


# ----------------------------------------------------------------------------- guided sampling
@pytest.fixture(scope="module")
def pipe():
    import motionfm

    return motionfm.load_pretrained()  # the README's entry point (lazy: `import motionfm` stays light)


@pytest.mark.slow
def test_joystick_and_obstacle_guidance_reach_their_goals(pipe):
    text = "a person walks forward"
    joy = Joystick.create(vx=0.4)
    free = pipe.sample(text, seconds=5, seed=3)[0]
    guided = pipe.sample(text, seconds=5, seed=3, guidance=[joy])[0]
    again = pipe.sample(text, seconds=5, seed=3, guidance=[joy])[0]
    np.testing.assert_array_equal(guided.qpos, again.qpos)  # seeded
    assert joy.evaluate(free)["joystick_velocity_error_pct"] > 30  # the model walks faster by itself
    assert joy.evaluate(guided)["joystick_velocity_error_pct"] < 15
    assert guided.num_frames == free.num_frames == 151 and np.isfinite(guided.qpos).all()

    # Guided, then planted afterwards: the guidance moved the root, not the steps. Planted inside the
    # guide (sample(plant_feet=True) with costs), the joystick is met by stepping.
    from motionfm.robot import plant_feet

    after = guided.replace(root_pos=plant_feet(guided.qpos)[:, :3])
    stepped = pipe.sample(text, seconds=5, seed=3, guidance=[joy], plant_feet=True)[0]
    assert joy.evaluate(after)["joystick_velocity_error_pct"] > 50
    assert joy.evaluate(stepped)["joystick_velocity_error_pct"] < 30

    p = free.root_pos[75, :2]
    obs = Obstacles.create(cylinders=[[p[0], p[1] + 0.05, 0.25, 1.0]])
    assert obs.evaluate(free)["collision"] == 1.0
    avoided = pipe.sample(text, seconds=5, seed=3, guidance=[obs])[0]
    assert obs.evaluate(avoided)["min_signed_distance_m"] > 0


@pytest.mark.slow
def test_full_pose_keyframe_within_limits_lbfgs_beats_polyak(pipe, walk):
    text = "a person walks forward"
    key = Keyframes.from_motion(walk, [2.0])
    err = {}
    for method in ("lbfgs", "polyak"):
        cfg = GuidanceConfig(refine_method=method)
        m = pipe.sample(text, seconds=3, seed=1, guidance=[key], guidance_config=cfg)[0]
        err[method] = key.evaluate(m)["keyframe_error_cm"]
    assert err["lbfgs"] < 3.0 and err["lbfgs"] < err["polyak"], err
    # What the costs see is what the user gets: joints inside the G1's limits, even off the data.
    guide = pipe.guide(GuidanceConfig())
    x = 4.0 * jax.random.normal(jax.random.PRNGKey(0), (1, 8, pipe.diffusion.config.latent_dim))
    ctx = PassContext(*(jnp.zeros(s) for s in [(1, 2), (1,), (1,), (1, 32), (1, 2)]))
    lo, hi = load_g1().joint_limits.T
    q = np.asarray(guide.views(x, ctx).qpos[0, :, 7:])
    assert (q >= lo - 1e-6).all() and (q <= hi + 1e-6).all()
    with pytest.raises(ValueError, match="refine_method"):
        GuidanceConfig(refine_method="adam")


@pytest.mark.slow
def test_sample_command_with_goal_flags(tmp_path, capsys):
    from PIL import Image

    from motionfm.cli import _guidance_costs, build_parser, main

    wp = tmp_path / "wp.json"
    wp.write_text(json.dumps({"waypoints": [{"t": 2.5, "xy": [1.5, 0.5]}]}))
    out, png = tmp_path / "m.npz", tmp_path / "path.png"
    assert main(["sample", "--text", "a person walks forward", "--seconds", "3", "--waypoints", str(wp),
                 "--out", str(out), "--plot", str(png)]) == 0
    m = Motion.load(out)
    assert np.linalg.norm(m.root_pos[75, :2] - [1.5, 0.5]) < 0.3
    assert "waypoint_error_cm" in capsys.readouterr().out and np.asarray(Image.open(png).convert("L")).std() > 10
    # --stance-foot-weight adds the cost, alone or beside goals (its effect: benchmarks/diffusion.py)
    assert [type(c) for c in _guidance_costs(build_parser().parse_args(["sample", "--stance-foot-weight", "3"]))] == [StanceFoot]
    costs = _guidance_costs(build_parser().parse_args(["sample", "--waypoints", str(wp), "--stance-foot-weight", "2"]))
    assert [type(c).__name__ for c in costs] == ["Waypoints", "StanceFoot"] and costs[1].weight == 2.0
    bad = tmp_path / "scene.json"
    bad.write_text('{"spheres": [{"center": [1, 0], "radius": 0.2}]}')
    assert main(["sample", "--obstacles", str(bad), "--out", str(tmp_path / "x.npz")]) == 2
    assert "spheres[0].center must be 3" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_a_continuation_is_guided_where_it_is_returned(pipe, walk):
    """Costs of a sample that continues a history see its frames where ``sample`` returns them:
    pinned to the history's last frame. Integrated through the decoded history instead, they sat
    centimetres off, and the receding loop's plans cleared obstacles that were elsewhere."""
    history = walk.slice(40, 104)  # 64 frames, walking off the origin
    hist = pipe.encode_history(history)
    more = jax.random.normal(jax.random.PRNGKey(3), (4, hist.shape[1]))
    full = np.concatenate([hist, np.asarray(more)])[None]
    frame0 = 4 * hist.shape[0] - 1
    returned = pipe._reanchor(pipe.decode(full, 4 * full.shape[1])[0].slice(frame0), history)
    valid = np.zeros((1, 4 * full.shape[1]), np.float32)
    track = history.qpos[None].astype(np.float32)
    for given, tol in ((True, 1e-3), (False, None)):
        ctx = pipe._pass_context(track, 0, frame0, valid, track[:, frame0, :2], given)
        seen = np.asarray(pipe.guide(GuidanceConfig()).views(jnp.asarray(full), ctx).qpos[0, frame0:])
        off = np.abs(seen[:, :3] - returned.qpos[:, :3]).max()
        if tol:
            assert off < tol and np.abs(np.abs((seen[:, 3:7] * returned.qpos[:, 3:7]).sum(-1)) - 1).max() < 1e-5, off
        else:  # the old frame: what the pin fixes is not nothing
            assert off > 0.01, off


def test_planted_views_are_the_planted_motion(pipe):
    """With ``GuidanceConfig(plant_feet=True)`` costs see what ``robot.plant_feet`` makes of the
    same motion: root path, body positions and the heading-frame root velocity features."""
    from motionfm.robot import plant_feet

    x = jax.random.normal(jax.random.PRNGKey(2), (2, 8, pipe.diffusion.config.latent_dim))
    ctx = PassContext(jnp.asarray([[0.0, 0.0], [1.0, -2.0]]), jnp.asarray([0.0, 1.0]), jnp.zeros(2), jnp.ones((2, 32)),
                      jnp.zeros((2, 2)))
    plain = pipe.guide(GuidanceConfig()).views(x, ctx)
    planted = pipe.guide(GuidanceConfig(plant_feet=True)).views(x, ctx)
    for b in range(2):
        want = plant_feet(np.asarray(plain.qpos[b], np.float64))
        assert np.abs(want[:, :2] - np.asarray(plain.qpos[b, :, :2])).max() > 0.01  # the shift is not nothing
        np.testing.assert_allclose(np.asarray(planted.qpos[b]), want, atol=2e-3)
        np.testing.assert_allclose(np.asarray(planted.body_pos[b] - plain.body_pos[b])[:, :, :2],
                                   np.broadcast_to((want - np.asarray(plain.qpos[b]))[:, None, :2], (32, 30, 2)), atol=2e-3)
        vel = np.asarray(qpos_to_features(jnp.asarray(want, jnp.float32), pipe.fps))[:-1, 1:3]
        np.testing.assert_allclose(np.asarray(planted.feats[b, :-1, 1:3]), vel, atol=2e-2)
