"""The universal tracker: motion library, tracking environment, rewards, terminations, PPO, export,
plain-MuJoCo rollouts and the command line.

Fast tests use plain MuJoCo and numpy (the observation/reward code is shared by both physics
backends through an ``xp`` argument); tests that compile the environment or brax's PPO are marked
slow. Backend parity and the drive table are in ``test_tracker_physics.py``.
"""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from motionfm.motion import Motion
from motionfm.robot import load_g1
from motionfm.tracker import obs as O
from motionfm.tracker.config import END_EFFECTORS, PRESETS, REWARD_TERMS, TRACKED_BODIES, RewardConfig, TrackerConfig
from motionfm.tracker.library import MotionLibrary, bin_weights, sample_start
from motionfm.tracker.policy import Critic, TrackerPolicy, average_policies, load_policy, policy_from_brax, save_policy
from motionfm.tracker.rollout import load_rollout, rollout_metrics, save_rollout, summarize, track

CFG = PRESETS["test"]
ANCHOR = TRACKED_BODIES.index(CFG.env.anchor_body)
EE = np.array([TRACKED_BODIES.index(b) for b in END_EFFECTORS])


@pytest.fixture(scope="module")
def motions(data_dir) -> list[Motion]:
    """Two short real clips: one 30 fps ASAP clip without wrists, one 60 fps clip."""
    a = Motion.load(data_dir / "asap/walk_level1.csv", limits="ignore").slice(0, 45)
    b = Motion.load(data_dir / "g1moves/B_HandsUp.csv", limits="ignore").slice(0, 90)
    return [a.replace(name="walk"), b.replace(name="hands_up")]


@pytest.fixture(scope="module")
def library(motions) -> MotionLibrary:
    return MotionLibrary.from_motions(motions, fps=50.0, bin_frames=10)


def _mujoco_state(lib: MotionLibrary, frame: int, qpos36=None):
    """Plain-MuJoCo RobotState with the robot placed on a library frame (or on ``qpos36``)."""
    robot = load_g1(CFG.env.model)
    m = robot.mj_model
    d = mujoco.MjData(m)
    q = lib.qpos[frame] if qpos36 is None else qpos36
    d.qpos[:7], d.qpos[robot.joint_qpos_adr] = q[:7], q[7:]
    vadr = np.array([m.jnt_dofadr[m.joint(n).id] for n in robot.joint_names])
    d.qvel[:6], d.qvel[vadr] = lib.qvel[frame, :6], lib.qvel[frame, 6:]
    mujoco.mj_forward(m, d)
    ids = np.array([robot.body_ids[robot.body_names.index(b)] for b in TRACKED_BODIES])
    f = lambda x: np.asarray(x, np.float32)  # noqa: E731
    qq = np.concatenate([d.qpos[:7], d.qpos[robot.joint_qpos_adr]]).astype(np.float32)
    vv = np.concatenate([d.qvel[:6], d.qvel[vadr]]).astype(np.float32)
    return O.robot_state(np, qq, vv, f(d.xpos), f(d.xquat), f(d.cvel), f(d.subtree_com), ids)


def _reference(lib: MotionLibrary, frame: int) -> O.Reference:
    """The reference *on* ``frame`` (what rewards compare against)."""
    fut = np.minimum(frame - 1 + np.asarray(CFG.env.future_frames), lib.clip_last[frame])
    return O.Reference(lib.qpos[fut, 7:], lib.qvel[fut, 6:], lib.body_pos[frame], lib.body_quat[frame],
                       lib.body_lin_vel[frame], lib.body_ang_vel[frame])


# ---------------------------------------------------------------------- motion library
def test_library_layout(library, motions):
    assert library.names == ("walk", "hands_up")
    assert library.clip_start.tolist() == [0, library.clip_len[0]]
    assert library.clip_len.tolist() == [len(m.resample(50.0)) for m in motions]
    n = library.num_frames
    assert library.qpos.shape == (n, 36) and library.qvel.shape == (n, 35)
    assert library.body_pos.shape == (n, len(TRACKED_BODIES), 3) and library.body_quat.shape == (n, len(TRACKED_BODIES), 4)
    assert (library.clip_last[: library.clip_len[0]] == library.clip_len[0] - 1).all()
    assert (library.clip_last[library.clip_len[0]:] == n - 1).all()
    # Canonicalised: every clip starts facing +x above the origin.
    for s in library.clip_start:
        assert np.allclose(library.qpos[s, :2], 0.0, atol=1e-5)


def test_missing_joints_move_in_training_references(motions):
    """Joints a clip did not record (the ASAP walk's wrists) follow random smooth trajectories in
    training libraries, the same ones every build, within the joint limits; recorded joints and
    evaluation libraries are untouched."""
    from motionfm.tracker.library import fill_missing_joints

    walk = motions[0]
    missing = ~walk.joint_mask
    assert missing.sum() == 6
    a, b = fill_missing_joints(walk), fill_missing_joints(walk)
    np.testing.assert_array_equal(a.joint_pos, b.joint_pos)
    np.testing.assert_array_equal(a.joint_pos[:, ~missing], walk.joint_pos[:, ~missing])
    assert (a.joint_pos[:, missing].std(0) > 1e-3).all() and np.abs(np.diff(a.joint_pos[:, missing], axis=0)).max() < 0.2
    lim = load_g1("g1_mjx").joint_limits
    assert ((a.joint_pos >= lim[:, 0]) & (a.joint_pos <= lim[:, 1])).all()
    assert not np.allclose(fill_missing_joints(walk, seed=1).joint_pos, a.joint_pos)
    hands = motions[1]
    assert fill_missing_joints(hands) is hands  # all recorded
    lib = MotionLibrary.from_motions([walk], fps=50.0, missing_joints="random")
    assert lib.qpos[:, 7:][:, missing].std(0).min() > 1e-3
    assert np.abs(MotionLibrary.from_motions([walk], fps=50.0).qpos[:, 7:][:, missing]).max() < 1e-6
    with pytest.raises(ValueError, match="missing_joints"):
        MotionLibrary.from_motions([walk], missing_joints="zero")


def test_library_sampling_is_valid_and_failure_weighted(library):
    lib = library.to_device()
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    uniform = np.asarray(jax.vmap(lambda k: sample_start(lib, k))(keys))
    assert uniform.min() >= 0 and uniform.max() < lib.num_frames
    assert not np.isin(uniform, np.asarray(lib.clip_last)).any()  # never a clip's last frame
    assert len(np.unique(uniform // lib.bin_frames)) == lib.num_bins  # every bin is reachable
    fail = jnp.zeros(lib.num_bins).at[3].set(10.0)
    w = bin_weights(fail, uniform=0.1)
    assert np.isclose(float(w.sum()), 1.0) and float(w[3]) > 0.9
    np.testing.assert_allclose(np.asarray(bin_weights(jnp.zeros(lib.num_bins), 0.1)), 1.0 / lib.num_bins, rtol=1e-6)
    hard = np.asarray(jax.vmap(lambda k: sample_start(lib, k, w))(keys))
    assert np.mean(hard // lib.bin_frames == 3) > 0.85


def test_start_weights_spread_the_uniform_floor_by_clip(motions):
    """A clip weighted 4x gets 4 / 5 of the uniform starts of two equally long clips."""
    plain = MotionLibrary.from_motions(motions, fps=50.0, bin_frames=10)
    per_bin = np.bincount(np.arange(plain.num_frames) // 10, minlength=plain.num_bins)  # a partial last bin
    np.testing.assert_allclose(plain.bin_prior, per_bin / plain.num_frames, rtol=1e-6)
    lib = MotionLibrary.from_motions(motions, fps=50.0, bin_frames=10, start_weights=[("^wal", 4.0), ("walk", 9.0)])
    assert np.isclose(lib.bin_prior.sum(), 1.0) and lib.bin_prior[0] == pytest.approx(4 * lib.bin_prior[-2])  # full bins of each clip
    dev = lib.to_device()
    w = bin_weights(jnp.zeros(lib.num_bins), 0.5, dev.bin_prior)  # no failures yet: the floor alone
    np.testing.assert_allclose(np.asarray(w), lib.bin_prior, rtol=1e-5)
    starts = np.asarray(jax.vmap(lambda k: sample_start(dev, k, w))(jax.random.split(jax.random.PRNGKey(1), 4000)))
    walk_share = np.mean(lib.clip_index[starts] == lib.names.index("walk"))
    assert abs(walk_share - 0.8) < 0.03, walk_share
    with pytest.raises(ValueError, match="bad regex"):
        MotionLibrary.from_motions(motions, fps=50.0, start_weights=[("(", 2.0)])
    with pytest.raises(ValueError, match="must be > 0"):
        MotionLibrary.from_motions(motions, fps=50.0, start_weights=[("walk", 0.0)])


# ---------------------------------------------------------------------- rewards and terminations
def test_reward_is_maximal_on_the_reference(library):
    cfg = RewardConfig(anchor_pos_fine=(1.0, 0.15), feet_pos=(1.0, 0.1))
    frame = 20
    ref = _reference(library, frame)
    on = O.reward_terms(np, _mujoco_state(library, frame), ref, ANCHOR, cfg)
    for k in ("anchor_pos", "anchor_pos_fine", "anchor_ori", "body_pos", "body_ori", "feet_pos"):
        w = getattr(cfg, k)[0]
        assert on[k] == pytest.approx(w, abs=2e-3), k
    # Velocities come from MuJoCo's cvel vs finite differences of the reference: close, not exact.
    assert on["body_lin_vel"] > 0.95 * cfg.body_lin_vel[0] and on["body_ang_vel"] > 0.9 * cfg.body_ang_vel[0]
    assert sum(on.values()) > 0.97 * cfg.max_reward()
    assert tuple(on) == REWARD_TERMS  # the env's episode metrics and max_reward are keyed by REWARD_TERMS
    q = library.qpos[frame].copy()
    q[7:] += 0.3  # a different pose scores lower on every pose term
    off = O.reward_terms(np, _mujoco_state(library, frame, q), ref, ANCHOR, cfg)
    for k in ("body_pos", "body_ori"):
        assert off[k] < on[k] - 0.05
    # The whole robot 7 cm off: the narrow anchor kernel notices, the wide one barely does.
    st = _mujoco_state(library, frame)
    moved = O.reward_terms(np, st._replace(body_pos=st.body_pos + np.array([0.07, 0.0, 0.0])), ref, ANCHOR, cfg)
    assert on["anchor_pos_fine"] - moved["anchor_pos_fine"] > 0.15 > 0.1 > on["anchor_pos"] - moved["anchor_pos"]
    # ... and so does the world-frame feet term, where the anchor-relative body terms do not.
    assert on["feet_pos"] - moved["feet_pos"] > 0.3 and moved["body_pos"] == pytest.approx(on["body_pos"], abs=1e-6)
    # numpy and jax.numpy give the same terms (the MJX env uses the jnp path).
    st = _mujoco_state(library, frame, q)
    jt = O.reward_terms(jnp, O.RobotState(*map(jnp.asarray, st)), O.Reference(*map(jnp.asarray, ref)), ANCHOR, cfg)
    for k in off:
        assert float(jt[k]) == pytest.approx(float(off[k]), rel=1e-4, abs=1e-5)


def test_terminations(library):
    frame = 20
    ref = _reference(library, frame)
    st = _mujoco_state(library, frame)
    args = (ANCHOR, EE, CFG.env.anchor_height_limit, CFG.env.anchor_ori_limit, CFG.env.ee_height_limit)
    assert not O.failed(np, st, ref, *args)
    low = st._replace(body_pos=st.body_pos - np.array([0, 0, 0.3], np.float32))  # whole robot dropped 30 cm
    assert O.failed(np, low, ref, *args)
    tilted = st._replace(body_quat=st.body_quat.copy())
    tilted.body_quat[ANCHOR] = np.array([np.cos(0.8), np.sin(0.8), 0, 0], np.float32)  # 92 degrees of roll
    assert O.failed(np, tilted, ref, *args)
    foot = st._replace(body_pos=st.body_pos.copy())
    foot.body_pos[EE[0], 2] += 0.3  # one foot lifted far off the reference
    assert O.failed(np, foot, ref, *args)


def test_observation_layout_and_numpy_jax_parity(library):
    frame = 20
    st, ref = _mujoco_state(library, frame), _reference(library, frame)
    default = load_g1(CFG.env.model).default_qpos[7:].astype(np.float32)
    a = O.actor_obs(np, st, ref, np.zeros(29, np.float32), default, ANCHOR)
    assert a.shape == (O.actor_obs_size(len(CFG.env.future_frames)),) and np.isfinite(a).all()
    c = O.critic_obs(np, st, ref, a, ANCHOR)
    assert c.shape == (a.size + 4 + 6 * len(TRACKED_BODIES),)
    j = O.actor_obs(jnp, O.RobotState(*map(jnp.asarray, st)), O.Reference(*map(jnp.asarray, ref)), jnp.zeros(29), jnp.asarray(default), ANCHOR)
    np.testing.assert_allclose(np.asarray(j), a, atol=1e-5)
    # On the reference, the anchor error part is zero: position 0, orientation the identity's 6D.
    k = 2 * len(CFG.env.future_frames) * 29
    np.testing.assert_allclose(a[k:k + 3], 0.0, atol=1e-4)
    np.testing.assert_allclose(a[k + 3:k + 9], [1, 0, 0, 0, 1, 0], atol=1e-4)


# ---------------------------------------------------------------------- policy export
def _brax_params(obs_size: int, hidden=(32, 32), seed=0):
    from brax.training.acme import running_statistics, specs

    from motionfm.tracker.train import network_factory

    cfg = dataclasses.replace(CFG, ppo=dataclasses.replace(CFG.ppo, policy_hidden=hidden))
    sizes = {"state": (obs_size,), "privileged_state": (obs_size + 10,)}
    nets = network_factory(cfg)(sizes, 29, preprocess_observations_fn=running_statistics.normalize)
    rng = np.random.default_rng(seed)
    norm = running_statistics.init_state({k: specs.Array(v, jnp.float32) for k, v in sizes.items()})
    norm = running_statistics.update(norm, {k: jnp.asarray(rng.normal(1.0, 2.0, (64,) + v), jnp.float32) for k, v in sizes.items()})
    pol = nets.policy_network.init(jax.random.PRNGKey(seed))
    # per-joint noise as a trained run leaves it (init: one value for every joint)
    pol["params"]["std_logparam"]["log_value"] = jnp.asarray(rng.normal(-1.0, 0.3, 29), jnp.float32)
    params = (norm, pol, nets.value_network.init(jax.random.PRNGKey(seed + 1)))
    return cfg, nets, params


def test_value_output_scale_scales_the_critic_only():
    """``value_output_scale`` multiplies the critic's output (its own learning rate under brax's
    one Adam), leaves the actor as it is, and must be positive."""
    from brax.training.acme import running_statistics

    from motionfm.tracker.train import network_factory

    n = O.actor_obs_size(len(CFG.env.future_frames))
    cfg, nets, params = _brax_params(n)
    scaled = network_factory(dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, value_output_scale=25.0)))(
        {"state": (n,), "privileged_state": (n + 10,)}, 29,
        preprocess_observations_fn=running_statistics.normalize)
    rng = np.random.default_rng(2)
    obs = {"state": jnp.asarray(rng.normal(0, 3, (8, n)), jnp.float32),
           "privileged_state": jnp.asarray(rng.normal(0, 3, (8, n + 10)), jnp.float32)}
    v1, v25 = (np.asarray(m.value_network.apply(params[0], params[2], obs)) for m in (nets, scaled))
    assert np.abs(v1).max() > 1e-3
    np.testing.assert_allclose(v25, 25.0 * v1, rtol=1e-5, atol=1e-6)
    a1, a25 = (np.asarray(m.policy_network.apply(params[0], params[1], obs)) for m in (nets, scaled))
    np.testing.assert_array_equal(a1, a25)
    with pytest.raises(ValueError, match="value_output_scale"):
        network_factory(dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, value_output_scale=0.0)))


def test_numpy_policy_matches_jax_policy(tmp_path):
    from brax.training.agents.ppo import networks as ppo_networks

    n = O.actor_obs_size(len(CFG.env.future_frames))
    cfg, nets, params = _brax_params(n)
    act_jax = ppo_networks.make_inference_fn(nets)(params, deterministic=True)
    obs = np.random.default_rng(1).normal(0, 3, (16, n)).astype(np.float32)
    expected = np.asarray(act_jax({"state": jnp.asarray(obs), "privileged_state": jnp.zeros((16, n + 10))}, jax.random.PRNGKey(0))[0])
    pol = policy_from_brax(params, cfg, {"note": "test"})
    np.testing.assert_allclose(pol.act(obs), expected, atol=1e-4)
    save_policy(tmp_path / "ckpt", pol)
    back = load_policy(tmp_path / "ckpt")
    np.testing.assert_allclose(back.act(obs), expected, atol=1e-4)
    np.testing.assert_array_equal(back.action_log_std, np.asarray(params[1]["params"]["std_logparam"]["log_value"]))
    assert back.metadata["note"] == "test" and back.config == cfg
    assert (tmp_path / "ckpt" / "state").is_dir()  # orbax copy beside the npz
    # the critic travels beside the deployable actor, in its own file
    v = params[2]["params"]
    assert len(back.critic.weights) == len(v) == len(cfg.ppo.value_hidden) + 1 and back.metadata["critic"] is True
    for (w, b), i in zip(back.critic.weights, range(len(v))):
        np.testing.assert_array_equal(w, np.asarray(v[f"hidden_{i}"]["kernel"]))
        np.testing.assert_array_equal(b, np.asarray(v[f"hidden_{i}"]["bias"]))
    np.testing.assert_allclose(back.critic.obs_std, np.asarray(params[0].std["privileged_state"]))
    assert not any(k.startswith("critic") for k in np.load(tmp_path / "ckpt" / "policy.npz").files)
    (tmp_path / "ckpt" / "critic.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="critic.npz"):
        load_policy(tmp_path / "ckpt")
    save_policy(tmp_path / "actor_only", dataclasses.replace(pol, critic=None))
    assert not (tmp_path / "actor_only" / "critic.npz").exists() and load_policy(tmp_path / "actor_only").critic is None


def test_warm_start_params_rebuild_the_exported_policy():
    """An exported policy warm-starts brax PPO: the restored actor acts as the export does; its
    critic comes back as the same value function (rescaled for another ``value_output_scale``);
    without one, or with another layout, the critic starts fresh, its normaliser from the actor's
    statistics."""
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    from motionfm.tracker.train import critic_params, network_factory, warm_start_params

    n = O.actor_obs_size(len(CFG.env.future_frames))
    cfg, nets, params = _brax_params(n)
    pol = policy_from_brax(params, cfg)
    sizes = {"state": (n,), "privileged_state": (n + 10,)}
    warm = warm_start_params(pol, cfg, sizes)
    obs = np.random.default_rng(2).normal(0, 3, (8, n)).astype(np.float32)
    act = ppo_networks.make_inference_fn(nets)(warm[:2], deterministic=True)
    out = np.asarray(act({"state": jnp.asarray(obs), "privileged_state": jnp.zeros((8, n + 10))}, jax.random.PRNGKey(0))[0])
    np.testing.assert_allclose(out, pol.act(obs), atol=1e-4)
    priv = {"state": jnp.asarray(obs), "privileged_state": jnp.asarray(np.random.default_rng(3).normal(0, 3, (8, n + 10)), jnp.float32)}
    values = np.asarray(nets.value_network.apply(params[0], params[2], priv))
    np.testing.assert_allclose(np.asarray(nets.value_network.apply(warm[0], warm[2], priv)), values, rtol=1e-5, atol=1e-5)
    x4 = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, value_output_scale=4.0))
    nets4 = network_factory(x4)(sizes, 29, preprocess_observations_fn=running_statistics.normalize)
    warm4 = warm_start_params(pol, x4, sizes)
    np.testing.assert_allclose(np.asarray(nets4.value_network.apply(warm4[0], warm4[2], priv)), values, rtol=1e-5, atol=1e-5)
    wide = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, value_hidden=(64,)))
    assert critic_params(pol, wide, n + 10)[0] is None and "hidden layers" in critic_params(pol, wide, n + 10)[1]
    feet = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, reward=dataclasses.replace(cfg.env.reward, feet_pos=(1.0, 0.1))))
    far = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, discounting=0.9))
    for other in (feet, far):  # a value function of another reward or discount is not kept
        assert critic_params(pol, other, n + 10)[0] is None and "another reward" in critic_params(pol, other, n + 10)[1]
        assert warm_start_params(pol, other, sizes)[2] is None
    no_critic = dataclasses.replace(pol, critic=None)
    warm = warm_start_params(no_critic, cfg, sizes)
    np.testing.assert_allclose(np.asarray(warm[0].std["privileged_state"][:n]), pol.obs_std)
    assert warm[2] is None and np.all(np.asarray(warm[0].std["privileged_state"][n:]) == 1.0)  # the critic starts fresh
    np.testing.assert_array_equal(np.asarray(warm[1]["params"]["std_logparam"]["log_value"]), pol.action_log_std)
    old = dataclasses.replace(pol, action_log_std=None)  # exported before the noise was kept
    np.testing.assert_allclose(np.asarray(warm_start_params(old, cfg, sizes)[1]["params"]["std_logparam"]["log_value"]),
                               np.full(29, np.log(cfg.ppo.init_noise_std)), rtol=1e-6)
    small = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, policy_hidden=(16, 16)))
    with pytest.raises(ValueError, match="hidden layers"):
        warm_start_params(pol, small, sizes)


def test_config_round_trip():
    for cfg in PRESETS.values():
        assert TrackerConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="unknown"):
        TrackerConfig.from_dict({"env": {"nope": 1}})


# ---------------------------------------------------------------------- plain-MuJoCo rollouts
def _zero_policy() -> TrackerPolicy:
    """Zero residual: plays the reference back through the PD servos."""
    n = O.actor_obs_size(len(CFG.env.future_frames))
    w = ((np.zeros((n, 8), np.float32), np.zeros(8, np.float32)), (np.zeros((8, 29), np.float32), np.zeros(29, np.float32)))
    return TrackerPolicy(CFG, np.zeros(n, np.float32), np.ones(n, np.float32), w)


def test_rollout_file_and_metric_recomputation(tmp_path, motions):
    r = track(_zero_policy(), motions[0], stop_on_fall=False)
    T = r["clip_frames"]
    assert r["qpos"].shape == (T, 36) and r["ref_qpos"].shape == (T, 36)
    np.testing.assert_allclose(np.linalg.norm(r["qpos"][:, 3:7], axis=1), 1.0, atol=1e-6)  # wxyz unit quaternions
    np.testing.assert_allclose(r["qpos"][0], r["ref_qpos"][0], atol=1e-6)  # starts on the reference
    path = save_rollout(tmp_path / "roll.npz", r)
    z = load_rollout(path)
    assert float(z["fps"]) == 50.0
    again = rollout_metrics(z)
    for k in ("mpbpe_cm", "mpbpe_local_cm", "joint_error_rad", "success", "fell", "frames"):
        assert again[k] == pytest.approx(r[k]), k
    # The rollout reads back as a Motion (the package's rollout npz layout).
    m = Motion.load(path, limits="ignore")  # unclamped targets may press a joint slightly past its limit
    assert m.fps == 50.0 and m.num_frames == T


def test_metrics_of_perfect_and_bad_tracking():
    ref = np.tile(load_g1().default_qpos, (20, 1))
    perfect = rollout_metrics({"qpos": ref, "ref_qpos": ref})
    assert perfect["mpbpe_cm"] == 0.0 and perfect["joint_error_rad"] == 0.0 and perfect["success"] and perfect["meets_target"]
    near = ref.copy()
    near[:, 1] += 0.1  # 10 cm off all along: a success, not within the 5 cm target
    near_m = rollout_metrics({"qpos": near, "ref_qpos": ref})
    assert near_m["success"] and not near_m["meets_target"] and near_m["mpbpe_cm"] == pytest.approx(10.0, abs=0.1)
    assert near_m["meets_target_local"]  # a pure offset is drift: the pose itself is exact
    assert near_m["end_along_cm"] == pytest.approx(0.0, abs=1e-6) and near_m["end_cross_cm"] == pytest.approx(10.0)
    turned = ref.copy()
    turned[:, 3:7] = [np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)]  # the reference faces +y
    behind = turned.copy()
    behind[-1, 1] -= 0.1  # the robot ends 10 cm behind it (along its heading), not beside it
    lag = rollout_metrics({"qpos": behind, "ref_qpos": turned})
    assert lag["end_along_cm"] == pytest.approx(-10.0) and lag["end_cross_cm"] == pytest.approx(0.0, abs=1e-6)
    rows = [lag, near_m, rollout_metrics({"qpos": ref[:10], "ref_qpos": ref[:10], "clip_frames": 20})]
    assert np.isnan(rows[-1]["end_along_cm"])  # no offset for a rollout that fell
    sm = summarize(rows)  # clip means over the rollouts that stayed up
    assert sm["end_along_cm"] == pytest.approx(-5.0) and sm["end_cross_cm"] == pytest.approx(5.0)
    assert sm["end_along_sd_cm"] == pytest.approx(5.0)
    assert perfect["foot_slide_cm_s"] == 0.0 and near_m["foot_slide_cm_s"] == 0.0
    jitter = ref.copy()
    jitter[::2, 0] += 0.01  # the robot jitters 1 cm back and forth at 50 Hz while the reference stands
    assert rollout_metrics({"qpos": jitter, "ref_qpos": ref, "fps": 50.0})["foot_slide_cm_s"] == pytest.approx(50.0, rel=1e-3)
    assert np.isnan(rollout_metrics({"qpos": jitter, "ref_qpos": jitter, "fps": 50.0})["foot_slide_cm_s"])  # never still
    bent = ref.copy()
    bent[:, 7 + 14] += 0.5  # waist pitched forward, both arms raised: ~10 cm of pose error, kept
    bent[:, [7 + 15, 7 + 22]] -= 1.2  # by the drift-free measure
    assert not rollout_metrics({"qpos": bent, "ref_qpos": ref})["meets_target_local"]
    off = ref.copy()
    off[10:, 0] += 0.8  # drifted 0.8 m away: over the 0.5 m success threshold
    bad = rollout_metrics({"qpos": off, "ref_qpos": ref})
    assert not bad["success"] and bad["mpbpe_cm"] == pytest.approx(40.0, abs=0.1) and bad["mpbpe_local_cm"] < 1e-3
    assert not rollout_metrics({"qpos": ref[:10], "ref_qpos": ref[:10], "clip_frames": 20})["success"]  # cut short
    with pytest.raises(ValueError):
        rollout_metrics({"qpos": ref[:, :30], "ref_qpos": ref})


def test_capped_evaluation_spreads_over_the_sorted_clips():
    from motionfm.tracker.evaluate import spread

    names = [f"d/run_{i}" for i in range(6)] + [f"d/walk_{i}" for i in range(6)]
    assert spread(names[::-1], 3) == ["d/run_0", "d/walk_0", "d/walk_5"]  # first, middle, last: walks too
    assert spread(names, 20) == sorted(names) and spread(names, 1) == ["d/run_0"]


def test_curriculum_stage_advances_by_fail_rate_or_after_its_step_budget():
    from motionfm.tracker.train import CURRICULUM, stage_advance

    hist = [{"stage": 0, "steps": 10}, {"stage": 0, "steps": 65}, {"stage": 1, "steps": 100}]
    assert stage_advance(hist, 1, 0.2, 120, 0.25, 100) == "fail_rate"
    assert stage_advance(hist, 1, 0.5, 164, 0.25, 100) is None  # 99 steps since stage 1 began at 65
    assert stage_advance(hist, 1, 0.5, 165, 0.25, 100) == "max_steps"
    assert stage_advance(hist, 1, float("nan"), 165, 0.25, None) is None
    assert stage_advance([], 0, 0.5, 100, 0.25, 100) == "max_steps"  # stage 0 began at step 0
    assert stage_advance(hist, len(CURRICULUM) - 1, 0.0, 10**9, 0.25, 100) is None  # nowhere to go


# ---------------------------------------------------------------------- command line
def test_cli_errors(tmp_path, capsys):
    from motionfm.tracker.cli import main

    ckpt = tmp_path / "ckpt"
    save_policy(ckpt, _zero_policy())
    assert main(["track", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "r.npz"), "--checkpoint", str(ckpt)]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    assert main(["track", str(bad), "--fps", "30", "--out", str(tmp_path / "r.npz"), "--checkpoint", str(ckpt)]) == 2
    assert "wrong column count" in capsys.readouterr().err
    assert main(["eval", "tracker", "--data", str(tmp_path / "nope"), "--checkpoint", str(ckpt), "--json"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["eval", "tracker", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "nockpt")]) == 2
    assert "no tracker checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_average_of_one_runs_exports(tmp_path, capsys):
    """``motionfm average``: the mean of the normalisers and weights, a loadable export that names
    its sources; policies of other shapes or other held-out clips are refused, naming the folders."""
    from motionfm.tracker.cli import main

    rng = np.random.default_rng(0)
    zero = _zero_policy()
    folders = []
    for i in range(3):
        w = tuple((rng.normal(size=a.shape).astype(np.float32), rng.normal(size=b.shape).astype(np.float32)) for a, b in zero.weights)
        critic = Critic(rng.normal(size=40).astype(np.float32), rng.uniform(0.5, 2, 40).astype(np.float32),
                        ((rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)),
                         (rng.normal(size=(8, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))))
        pol = dataclasses.replace(zero, obs_mean=rng.normal(size=zero.obs_mean.shape).astype(np.float32), weights=w,
                                  metadata={"held_out": ["a", "b"], "training": {"env_steps": 1000 * (i + 1)}},
                                  action_log_std=rng.normal(-1.0, 0.3, 29).astype(np.float32), critic=critic)
        folders.append(str(save_policy(tmp_path / f"p{i}", pol)))
    pols = [load_policy(f) for f in folders]
    assert main(["average", *folders, "--out", str(tmp_path / "avg")]) == 0
    assert "averaged 3 policies" in capsys.readouterr().out
    avg = load_policy(tmp_path / "avg")
    np.testing.assert_allclose(avg.weights[0][0], np.mean([p.weights[0][0] for p in pols], 0), atol=1e-6)
    np.testing.assert_allclose(avg.obs_mean, np.mean([p.obs_mean for p in pols], 0), atol=1e-6)
    np.testing.assert_allclose(avg.action_log_std, np.mean([p.action_log_std for p in pols], 0), atol=1e-6)
    assert average_policies([pols[0], dataclasses.replace(pols[1], action_log_std=None)]).action_log_std is None
    np.testing.assert_allclose(avg.critic.weights[1][0], np.mean([p.critic.weights[1][0] for p in pols], 0), atol=1e-6)
    np.testing.assert_allclose(avg.critic.obs_std, np.mean([p.critic.obs_std for p in pols], 0), atol=1e-6)
    assert average_policies([pols[0], dataclasses.replace(pols[1], critic=None)]).critic is None
    assert [a["env_steps"] for a in avg.metadata["averaged_from"]] == [1000, 2000, 3000]
    assert avg.metadata["training"]["env_steps"] == 3000 and avg.config == CFG
    other = dataclasses.replace(pols[0], metadata={**pols[0].metadata, "held_out": ["c"]})
    save_policy(tmp_path / "other", other)
    assert main(["average", folders[0], str(tmp_path / "other"), "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "held-out" in err and str(tmp_path / "other") in err and not (tmp_path / "bad").exists()
    small = dataclasses.replace(zero, weights=((np.zeros((zero.obs_mean.size, 4), np.float32), np.zeros(4, np.float32)),
                                               (np.zeros((4, 29), np.float32), np.zeros(29, np.float32))))
    with pytest.raises(ValueError, match="shapes"):
        average_policies([pols[0], small])


def test_cli_track_writes_rollout(tmp_path, data_dir, capsys):
    from motionfm.tracker.cli import main

    ckpt = tmp_path / "ckpt"
    save_policy(ckpt, _zero_policy())
    clip = tmp_path / "clip.npz"
    Motion.load(data_dir / "asap/walk_level1.csv", limits="ignore").slice(0, 30).save(clip)
    assert main(["track", str(clip), "--out", str(tmp_path / "r.npz"), "--checkpoint", str(ckpt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    z = np.load(tmp_path / "r.npz")
    assert z["qpos"].shape == z["ref_qpos"].shape and z["qpos"].shape[1] == 36
    again = rollout_metrics(load_rollout(tmp_path / "r.npz"))  # every metric printed, recomputed from the file
    assert set(again) <= set(out) and {"name", "policy_ms", "model", "out"} <= set(out)
    for k, v in again.items():
        assert out[k] == pytest.approx(v, nan_ok=True), k


# ---------------------------------------------------------------------- MJX environment and PPO (slow: compiles)
@pytest.fixture(scope="module")
def env(library):
    from motionfm.tracker.env import TrackingEnv

    return TrackingEnv(library, CFG.env)


@pytest.mark.slow
def test_env_reset_step_shapes_purity_and_reward(env, library):
    reset_at, step = jax.jit(env.reset_at), jax.jit(env.step)
    s = reset_at(jax.random.PRNGKey(0), 20)
    assert {k: v.shape for k, v in s.obs.items()} == env.observation_size
    s2 = reset_at(jax.random.PRNGKey(0), 20)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(s), jax.tree.leaves(s2)))  # pure
    a = jnp.zeros(29)
    n1, n2 = step(s, a), step(s, a)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(n1), jax.tree.leaves(n2)))
    assert n1.reward.shape == () and n1.done.shape == () and int(n1.info["frame"]) == 21
    assert np.isfinite(float(n1.reward)) and float(n1.done) == 0.0
    # Right after a reset on the reference, one PD step keeps the robot close: near-maximal reward.
    assert float(n1.reward) > 0.8 * CFG.env.reward.max_reward()
    assert float(n1.metrics["body_pos_err_m"]) < 0.03
    # A clip's last frame ends the episode as a truncation, not a failure.
    last = int(library.clip_last[0])
    e = step(reset_at(jax.random.PRNGKey(1), last - 1), a)
    assert float(e.done) == 1.0 and float(e.info["truncation"]) == 1.0 and float(e.info["terminated"]) == 0.0


@pytest.mark.slow
def test_wrapper_resets_and_counts_failures(env):
    from motionfm.tracker.env import wrap_for_tracking

    w = wrap_for_tracking(env)
    n = 8
    s = jax.jit(w.reset)(jax.random.split(jax.random.PRNGKey(0), n))
    step = jax.jit(w.step)
    big = jnp.full((n, 29), 6.0)  # violent actions: the robots fall and are reset
    fails = 0.0
    for _ in range(40):
        s = step(s, big)
        fails += float(s.info["terminated"].sum())
        assert np.isfinite(np.asarray(s.obs["state"])).all()
    assert fails > 0 and float(s.info["adaptive_fail"].sum()) > 0
    assert s.info["adaptive_fail"].shape == (env.lib.num_bins,)
    assert float(s.info["episode_metrics"]["length"].max()) <= 40


@pytest.mark.slow
def test_randomized_models(library):
    from motionfm.tracker.config import ROBUST
    from motionfm.tracker.env import TrackingEnv, randomize_model

    env = TrackingEnv(library, dataclasses.replace(CFG.env, backend="mjx"))  # model randomisation is MJX's
    sys_v, axes = randomize_model(ROBUST, env.sys, jax.random.split(jax.random.PRNGKey(0), 3))
    assert sys_v.geom_friction.shape == (3,) + env.sys.geom_friction.shape
    assert axes.body_mass == 0 and axes.dof_damping == 0 and axes.body_pos is None  # only randomised fields vary
    assert not np.allclose(sys_v.actuator_gainprm[0], sys_v.actuator_gainprm[1])


def test_chunk_learning_rate_continues_where_the_run_left_it(tmp_path):
    """brax restarts its adaptive-KL rate at ``learning_rate`` every call: a chunk continuing a run
    starts at the run's last rate, a warm start at the export's (else brax's floor), scratch at the
    configured rate."""
    from motionfm.tracker.train import ADAPTIVE_KL_MIN_LR, chunk_learning_rate

    p = dataclasses.replace(PRESETS["cpu"].ppo, learning_rate=1e-3, learning_rate_schedule="ADAPTIVE_KL")
    assert chunk_learning_rate(p, tmp_path) == 1e-3  # from scratch
    assert chunk_learning_rate(p, tmp_path, {"from": "x", "env_steps": 5}) == ADAPTIVE_KL_MIN_LR
    assert chunk_learning_rate(p, tmp_path, {"from": "x", "learning_rate": 4e-5}) == pytest.approx(4e-5)
    rows = [{"step": 1, "episode/learning_rate": 2e-4}, {"step": 2, "episode/learning_rate": 3e-5}, {"step": 2, "eval/x": 1.0}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert chunk_learning_rate(p, tmp_path, {"from": "x", "learning_rate": 4e-5}) == pytest.approx(3e-5)
    (tmp_path / "log.jsonl").write_text(json.dumps({"step": 3, "episode/learning_rate": 0.5}) + "\n")
    assert chunk_learning_rate(p, tmp_path) == 1e-3  # never above the configured rate
    assert chunk_learning_rate(dataclasses.replace(p, learning_rate_schedule="NONE"), tmp_path) == 1e-3
