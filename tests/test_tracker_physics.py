"""Deployment actuation (one drive table for both simulators), the plain-MuJoCo training backend
against MJX, grounding of references, clip families and the curriculum."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from motionfm.motion import Motion
from motionfm.robot import G1_JOINT_NAMES, load_g1
from motionfm.robot.actuation import apply_actuation, load_actuation
from motionfm.tracker import obs as O
from motionfm.tracker.config import PRESETS, TRACKED_BODIES
from motionfm.tracker.library import MotionLibrary, ground, ground_offset, stand_motion
from motionfm.tracker.model import action_scale, physics_model, targets

CFG = PRESETS["test"]


@pytest.fixture(scope="module")
def walk(data_dir) -> Motion:
    return Motion.load(data_dir / "asap/walk_level1.csv", limits="ignore").slice(0, 60).replace(name="walk")


# ---------------------------------------------------------------------- the drive table
def test_gains_follow_from_armature_and_effort_limits():
    act = load_actuation()
    w = 2 * np.pi * 10.0
    i = G1_JOINT_NAMES.index("left_knee_joint")
    assert act.motor[i] == "7520-22" and act.armature[i] == pytest.approx(0.0251019)
    assert act.kp[i] == pytest.approx(0.0251019 * w**2) and act.kd[i] == pytest.approx(2 * 2.0 * 0.0251019 * w)
    assert act.effort_limit[i] == 139.0
    wrist = G1_JOINT_NAMES.index("left_wrist_pitch_joint")
    assert act.effort_limit[wrist] == 5.0 and act.kp[wrist] == pytest.approx(0.00425 * w**2)
    # BeyondMimic's action scale: a unit action asks for a quarter of the motor's peak torque.
    np.testing.assert_allclose(act.action_scale * act.kp, 0.25 * act.effort_limit)
    np.testing.assert_allclose(action_scale(CFG.env), act.action_scale, rtol=1e-6)


def test_bad_drive_table_names_the_file_and_fault(tmp_path):
    spec = json.loads(load_actuation().source.read_text())
    del spec["joints"]["left_knee_joint"]
    bad = tmp_path / "drives.json"
    bad.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"drives.json: no motor given for joints \['left_knee_joint'\]"):
        load_actuation(bad)
    spec = json.loads(load_actuation().source.read_text())
    spec["motors"]["4010"]["armature"] = -1.0
    bad.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="drives.json: armature"):
        load_actuation(bad)
    bad.write_text("{ not json")
    with pytest.raises(ValueError, match="drives.json: not a G1 actuator table"):
        load_actuation(bad)


def test_mjx_and_mujoco_models_carry_the_same_drives():
    from motionfm.tracker.physics import MjxPhysics

    act = load_actuation()
    m = physics_model(CFG.env)
    mx = MjxPhysics(m, CFG.env.n_substeps).sys  # what the MJX backend simulates
    dofs = np.array([m.jnt_dofadr[m.joint(n).id] for n in G1_JOINT_NAMES])
    for model in (m, mx):
        np.testing.assert_allclose(np.asarray(model.actuator_gainprm)[:, 0], act.kp, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(model.actuator_biasprm)[:, 1:3], np.stack([-act.kp, -act.kd], 1), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(model.actuator_forcerange), np.stack([-act.effort_limit, act.effort_limit], 1))
        np.testing.assert_allclose(np.asarray(model.dof_armature)[dofs], act.armature, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(model.dof_damping)[dofs], 0.0)
        assert not np.asarray(model.actuator_ctrllimited).any()  # targets are never clamped
        assert np.asarray(model.actuator_forcelimited).all()
    # Another variant (the meshes scene used for sim-to-sim checks) gets the same drives.
    scene = physics_model(CFG.env, "scene")
    np.testing.assert_allclose(scene.actuator_gainprm[:, 0], act.kp, rtol=1e-6)
    assert scene.opt.timestep == CFG.env.sim_dt


def test_targets_past_the_joint_limits_are_not_clamped():
    m = physics_model(CFG.env)
    lo, hi = m.actuator_ctrlrange.T
    scale = action_scale(CFG.env)
    ref = (lo + hi) / 2
    default = np.zeros(29, np.float32)
    action = np.full(29, 100.0, np.float32)
    t = targets(np, CFG.env, action, ref, default, scale, lo, hi)
    assert (t > hi).all()  # far past the upper limits, as sent
    # ... and MuJoCo applies them unclamped: a target past the limit pushes with the full effort limit.
    d = mujoco.MjData(m)
    robot = load_g1(CFG.env.model)
    d.qpos[:] = robot.default_qpos
    d.ctrl[:] = t
    mujoco.mj_forward(m, d)
    np.testing.assert_allclose(d.actuator_force, load_actuation().effort_limit, rtol=1e-6)
    # The old MJCF servos ("model" actuation) clamp, as their MJCF says.
    old = dataclasses.replace(CFG.env, actuation="model")
    assert (targets(np, old, action, ref, default, scale, lo, hi) <= hi + 1e-6).all()


def test_apply_actuation_checks_the_actuator_order():
    m = load_g1("feetonly").mj_model.__copy__()
    with pytest.raises(ValueError, match="expected"):
        apply_actuation(m, load_actuation(), tuple(reversed(G1_JOINT_NAMES)))


# ---------------------------------------------------------------------- references on the floor
def test_references_are_grounded(walk):
    lifted = walk.replace(root_pos=walk.root_pos + np.array([0.0, 0.0, 0.07]))
    assert ground_offset(lifted) == pytest.approx(ground_offset(walk) - 0.07, abs=1e-6)
    np.testing.assert_allclose(ground(lifted).root_pos, ground(walk).root_pos, atol=1e-6)
    assert abs(ground_offset(ground(walk))) < 1e-6
    lib = MotionLibrary.from_motions([lifted], fps=50.0)
    raw = MotionLibrary.from_motions([lifted], fps=50.0, grounded=False)
    assert float(raw.qpos[0, 2] - lib.qpos[0, 2]) == pytest.approx(0.07 - ground_offset(walk), abs=2e-3)
    s = stand_motion(2.0)
    assert s.num_frames == 100 and abs(ground_offset(s)) < 1e-6 and np.ptp(s.qpos, axis=0).max() == 0


# ---------------------------------------------------------------------- clip families and the held-out split
def test_clip_groups_and_split_by_group():
    from motionfm.tracker.train import clip_group, split_heldout

    assert clip_group("walk-turn-left", "dataset-1_walk-turn-left_happy_001") == "locomotion"
    assert clip_group("raise-up-left-hand") == "gestures" and clip_group("byebye") == "gestures"
    assert clip_group("karate", "g1moves/K_Kata1") == "martial_arts" and clip_group("kick") == "martial_arts"
    assert clip_group("dance", "x") == "dance" and clip_group("athletic", "asap/jump_level1") == "athletic"
    assert clip_group(None, "stand") == "stand"
    ms = [Motion(fps=30, root_pos=np.zeros((3, 3)), root_quat=np.tile([1.0, 0, 0, 0], (3, 1)), joint_pos=np.zeros((3, 29)),
                 name=f"{g}_{i}") for g in ("walk", "dance") for i in range(10)]
    groups = {m.name: clip_group(None, m.name) for m in ms}
    train, held = split_heldout(ms, 0.2, 0, groups=groups)
    assert sorted(groups[m.name] for m in held) == ["dance", "dance", "locomotion", "locomotion"]
    assert len(train) + len(held) == 20 and not {m.name for m in train} & {m.name for m in held}


# ---------------------------------------------------------------------- the plain-MuJoCo backend
def test_mujoco_backend_body_state_matches_mujoco(walk):
    """FK + its JVP along qvel give what MuJoCo's xpos/xquat/cvel give (what the MJX backend reads)."""
    from motionfm.tracker.physics import MujocoPhysics

    lib = MotionLibrary.from_motions([walk], fps=50.0)
    m = physics_model(CFG.env)
    phys = MujocoPhysics(m, CFG.env.n_substeps, nthread=1)
    frame = 20
    ps = phys.init(jnp.asarray(lib.qpos[frame]), jnp.asarray(lib.qvel[frame]), jnp.asarray(lib.qpos[frame, 7:]))
    got = jax.jit(phys.robot)(ps)
    robot = load_g1(CFG.env.model)
    d = mujoco.MjData(m)
    d.qpos[:] = np.asarray(ps["qpos"])
    d.qvel[:] = np.asarray(ps["qvel"])
    mujoco.mj_forward(m, d)
    ids = np.array([robot.body_ids[robot.body_names.index(b)] for b in TRACKED_BODIES])
    f = lambda x: np.asarray(x, np.float32)  # noqa: E731
    want = O.robot_state(np, f(got.qpos), f(got.qvel), f(d.xpos), f(d.xquat), f(d.cvel), f(d.subtree_com), ids)
    for name, tol in (("body_pos", 1e-5), ("body_quat", 1e-5), ("body_lin_vel", 1e-4), ("body_ang_vel", 1e-4)):
        np.testing.assert_allclose(np.asarray(getattr(got, name)), getattr(want, name), atol=tol, err_msg=name)
    assert np.abs(want.body_ang_vel).max() > 0.1  # a moving frame: the check is not on zeros


def test_mujoco_backend_steps_a_batch_like_mj_step(walk):
    """The pure_callback batch step equals plain mj_step held at the same targets, env by env."""
    from motionfm.tracker.physics import MujocoPhysics

    lib = MotionLibrary.from_motions([walk], fps=50.0)
    m = physics_model(CFG.env)
    phys = MujocoPhysics(m, CFG.env.n_substeps, nthread=2)
    frames = np.array([5, 20, 40])
    ps = jax.vmap(phys.init)(jnp.asarray(lib.qpos[frames]), jnp.asarray(lib.qvel[frames]), jnp.asarray(lib.qpos[frames, 7:]))
    ctrl = jnp.asarray(lib.qpos[frames + 1, 7:]) + 0.1
    out = jax.jit(jax.vmap(phys.step))(ps, ctrl)
    for i in range(len(frames)):
        d = mujoco.MjData(m)
        d.qpos[:], d.qvel[:], d.ctrl[:] = np.asarray(ps["qpos"][i]), np.asarray(ps["qvel"][i]), np.asarray(ctrl[i])
        for _ in range(CFG.env.n_substeps):
            mujoco.mj_step(m, d)
        np.testing.assert_allclose(np.asarray(out["qpos"][i]), d.qpos, atol=1e-5)
        np.testing.assert_allclose(np.asarray(out["qvel"][i]), d.qvel, atol=1e-3)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known gap, not yet explained: from the same state MJX's robot sinks ~2.5 cm more "
                   "than plain MuJoCo's within 0.2 s (pelvis z 0.745 vs 0.768 m after 10 steps, Euler and implicitfast "
                   "alike), so the backends' contacts differ; strict, so the test fails loudly once they agree")
def test_mjx_and_mujoco_backends_step_alike(walk):
    """The same task stepped by both backends from the same state stays within a centimetre."""
    from motionfm.tracker.env import make_env

    lib = MotionLibrary.from_motions([walk], fps=50.0)
    got = {}
    for backend in ("mujoco", "mjx"):
        env = make_env(lib, dataclasses.replace(CFG.env, backend=backend))

        def run(key, env=env):  # reset and 10 steps in one program: one compile per backend, not two
            s = env.reset_at(key, 10)
            return jax.lax.fori_loop(0, 10, lambda _, s: env.step(s, jnp.zeros(29)), s)

        s = jax.jit(run)(jax.random.PRNGKey(0))
        got[backend] = (s, env.robot(s.pipeline_state))
    (sa, ra), (sb, rb) = got["mujoco"], got["mjx"]
    assert int(sa.info["frame"]) == int(sb.info["frame"]) == 20
    assert np.abs(np.asarray(ra.body_pos - rb.body_pos)).max() < 0.01
    assert float(sa.reward) == pytest.approx(float(sb.reward), abs=0.1)
    assert set(sa.metrics) == set(sb.metrics) and "fail" in sa.metrics


@pytest.mark.slow
def test_curriculum_advances_exports_and_plots(tmp_path, walk, data_dir):
    from motionfm.tracker.policy import load_policy
    from motionfm.tracker.train import train_curriculum

    dance = Motion.load(data_dir / "g1moves/B_HandsUp.csv", limits="ignore").slice(0, 60).replace(name="g1moves/B_DanceMove")
    groups = {"walk": "locomotion", "g1moves/B_DanceMove": "dance"}
    logs: list[str] = []
    # advance_at > 1: every chunk counts as good enough, so the stage moves on after each.
    pol = train_curriculum(CFG, [walk, dance], groups, tmp_path / "run", chunk_steps=160, chunks=2, export=tmp_path / "ckpt",
                           held_out=["x"], sources=["somewhere"], advance_at=1.01, log=logs.append,
                           licences={"walk": "MIT", "g1moves/B_DanceMove": "CC-BY-4.0"}, keep_exports=True)
    # Brax PPO ran without NaN through both chunks, and the export is the policy trained
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert rows and all(np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
    assert all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in pol.weights)
    # the second chunk resumed the first one's brax checkpoint in the same run folder
    state = json.loads((tmp_path / "run" / "run.json").read_text())
    assert state["chunks"] == 2 and state["total_steps"] >= 320
    assert list((tmp_path / "run" / "ckpt").glob("chunk_001/*"))
    assert any("from" in line and "chunk_000" in line for line in logs)
    cur = json.loads((tmp_path / "run" / "curriculum.json").read_text())
    assert cur["stage"] == 2 and [(h["stage"], h["reason"]) for h in cur["history"]] == [(0, "fail_rate"), (1, "fail_rate")]
    assert any("stage 0" in line and "2 clips" in line for line in logs)  # stand + walk; the dance waits
    saved = load_policy(tmp_path / "ckpt")
    assert saved.num_params == pol.num_params
    assert saved.metadata["curriculum"]["stage"] == 2 and saved.metadata["held_out"] == ["x"]
    assert "stand" in saved.metadata["clips"] and saved.config.env.backend == "mujoco"
    assert saved.metadata["training_data"]["licences"] == {"CC-BY-4.0": 1, "MIT": 1}
    assert (tmp_path / "ckpt" / "training_progress.png").stat().st_size > 5000
    # keep_exports: each chunk's export kept beside it, named by its env steps (for `motionfm average`)
    kept = sorted(tmp_path.glob("ckpt_*"), key=lambda p: int(p.name.split("_")[1]))
    assert len(kept) == 2
    assert int(kept[-1].name.split("_")[1]) == saved.metadata["training"]["env_steps"]
    np.testing.assert_array_equal(load_policy(kept[-1]).weights[0][0], saved.weights[0][0])


@pytest.mark.slow
def test_warm_start_trains_the_critic_first_with_the_actor_held(tmp_path, walk, monkeypatch):
    """A warm start from an export without a critic first fits one with the actor's parameters held
    fixed and hands it to the chunk; from an export with its critic it goes straight on; the
    export records what the next warm start needs."""
    from motionfm.tracker import train as T
    from motionfm.tracker.policy import policy_from_brax

    # the critic's output scaled as well (its own rate, PPOConfig.value_output_scale): trains through brax alike
    cfg = dataclasses.replace(CFG, ppo=dataclasses.replace(CFG.ppo, critic_warmup_steps=80, value_output_scale=4.0))
    first, _ = T.train(CFG, [stand_motion(), walk], tmp_path / "a", num_timesteps=80, run_evals=False, log=lambda _: None)
    first.metadata["training"]["env_steps"] = 5_000_000  # as if trained longer: its statistics weigh that much
    assert first.critic is not None  # exports keep their critic
    actor_only = dataclasses.replace(first, critic=None)  # as exported before they did (the shipped policy)
    seen = {}
    real = T._critic_warmup

    def spy(ppo, common, cfg_, warm, *a, **k):
        out = real(ppo, common, cfg_, warm, *a, **k)
        seen["in"], seen["out"] = warm, out
        return out

    monkeypatch.setattr(T, "_critic_warmup", spy)
    logs: list[str] = []
    policy, rows = T.train(cfg, [stand_motion(), walk], tmp_path / "b", num_timesteps=80, run_evals=False,
                           init_policy=actor_only, init_from="first", log=logs.append)
    same = jax.tree_util.tree_map(lambda a, b: bool(np.array_equal(a, b)), seen["in"][1], seen["out"][1])
    assert all(jax.tree_util.tree_leaves(same))  # the actor did not move during the warm-up
    assert seen["in"][2] is None and all(np.isfinite(v).all() for v in jax.tree_util.tree_leaves(seen["out"][2]))
    assert any("critic warm-up" in line for line in logs)
    assert (tmp_path / "b" / "critic_warmup.jsonl").read_text().strip()
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["init"]["critic_warmup_steps"] == 80 and run["init"]["from"] == "first"
    assert run["init"]["critic"].startswith("fresh (the export has no critic")
    # the actor keeps its export's statistics, weighed as the samples it was trained on; the
    # critic's are measured on the warm-up's samples (the privileged extras started at unit ones)
    assert int(seen["in"][0].count.lo) == 5_000_000 and int(seen["out"][0].count.lo) == 5_000_000
    np.testing.assert_array_equal(policy_from_brax(seen["out"], cfg).obs_mean, first.obs_mean)
    na = first.obs_mean.size
    extras_in, extras_out = (np.asarray(w[0].std["privileged_state"][na:]) for w in (seen["in"], seen["out"]))
    assert np.all(extras_in == 1.0) and not np.allclose(extras_out, 1.0) and np.all(np.isfinite(extras_out))
    assert rows and all(np.isfinite(w).all() for w, _ in policy.weights)
    final = policy.metadata["training"]["final_train"]
    assert final["learning_rate"] > 0 and final["action_std"] > 0
    # the export's own critic: no warm-up, the chunk starts from it
    seen.clear()
    from brax.training.agents.ppo import train as ppo

    calls, brax_train = [], ppo.train
    monkeypatch.setattr(ppo, "train", lambda **kw: calls.append(kw) or brax_train(**kw))
    T.train(cfg, [stand_motion(), walk], tmp_path / "c", num_timesteps=80, run_evals=False,
            init_policy=first, init_from="first", log=lambda _: None)
    assert len(calls) == 1 and calls[0]["restore_value_fn"] is True
    kept = calls[0]["restore_params"][2]["params"]
    np.testing.assert_allclose(np.asarray(kept["hidden_0"]["kernel"]), first.critic.weights[0][0])
    run = json.loads((tmp_path / "c" / "run.json").read_text())
    assert not seen and not (tmp_path / "c" / "critic_warmup.jsonl").exists()
    assert run["init"]["critic"] == "kept" and "critic_warmup_steps" not in run["init"]
