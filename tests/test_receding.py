"""Receding-horizon execution (motionfm.receding, `motionfm run`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionfm.cli import main
from motionfm.guidance import Joystick, Obstacles
from motionfm.guidance.files import GuidanceFileError, load_joystick_script
from motionfm.guidance.sdf import Scene
from motionfm.receding import collisions, random_scenario, receding_metrics, scenario_goals, start_state, window_joystick

FPS = 50.0


def _walk(seconds: float, vx: float) -> np.ndarray:
    """The standing pose carried forward at ``vx`` m/s along +x: ``(T, 36)`` at 50 Hz."""
    q0, _ = start_state(FPS)
    n = int(round(seconds * FPS)) + 1
    q = np.repeat(q0[None], n, 0)
    q[:, 0] += vx * np.arange(n) / FPS
    return q


def test_window_joystick_shifts_the_script_to_the_plan_start(tmp_path):
    script = tmp_path / "c.json"
    script.write_text(json.dumps({"commands": [{"t": 0, "vx": 0.5}, {"t": 3, "vx": 0.2, "yaw_rate": 0.4}],
                                  "interpolation": "linear"}))
    j = load_joystick_script(script)
    w = window_joystick(j, 2.0, 2.0)  # plan time 0 = run time 2 s
    np.testing.assert_allclose(np.asarray(w.command(np.array([0.0, 1.0, 2.0]))),
                               np.asarray(j.command(np.array([2.0, 3.0, 4.0]))), atol=1e-6)
    assert float(np.asarray(w.command(np.array([1.0])))[0, 2]) == pytest.approx(0.4)
    # every window has the same number of knots, so re-plans reuse one compiled sampler
    sizes = {window_joystick(j, t0, 2.0).times.shape for t0 in (0.0, 1.0, 2.0, 2.5, 4.0)}
    assert sizes == {(4,)}


def test_random_scenarios_are_seeded_valid_goal_files():
    scenarios = [random_scenario(seed) for seed in range(90_000, 90_000 + 40 * 100, 100)]
    assert random_scenario(90_000) == scenarios[0]  # deterministic in the seed
    assert json.loads(json.dumps(scenarios)) == scenarios  # JSON: a clips.jsonl row can carry it
    with_obstacles = 0
    for sc in scenarios:
        joystick, obstacles = scenario_goals(sc)
        times = [c["t"] for c in sc["joystick"]["commands"]]
        assert times[0] == 0 and all(3.0 <= t <= 17.0 for t in times[1:]) and 2 <= len(times) <= 4
        vx = np.asarray(joystick.command(np.asarray(times)))[:, 0]
        assert ((-0.3 <= vx) & (vx <= 0.7)).all()
        if obstacles is not None:
            with_obstacles += 1
            centres = np.asarray(obstacles.scene.cylinders)[:, :2]
            assert ((centres[:, 0] >= 1.5) & (centres[:, 0] <= 5.0) & (np.abs(centres[:, 1]) <= 0.5)).all()
    assert 10 <= with_obstacles <= 35  # 60 % of scenarios have obstacles
    assert len({sc["text"] for sc in scenarios}) > 1
    bad = {**scenarios[0], "joystick": {"commands": [{"t": 1.0, "vx": 0.5}]}}
    with pytest.raises(GuidanceFileError, match="scenario joystick: the first command must be at t = 0"):
        scenario_goals(bad)


def test_metrics_from_arrays_joystick_collisions_and_falls():
    q = _walk(4.0, 0.5)
    cmd = np.tile([0.5, 0.0, 0.0], (len(q), 1))
    arrays = {"fps": FPS, "qpos": q, "ref_qpos": q, "command": cmd, "fell": False, "clip_frames": len(q),
              "plan_latency_s": np.array([5.0, 0.5, 0.5, 0.5]), "track_wall_s": np.full(4, 0.2), "wall_s": 8.0}
    m = receding_metrics(arrays)
    assert m["sim_s"] == pytest.approx(4.0) and m["replans"] == 4 and not m["fell"]
    assert m["real_time_factor"] == pytest.approx(0.5) and m["real_time_factor_warm"] == pytest.approx(4.0 / 3.0)
    assert m["plan_latency_s"]["median_after_first"] == pytest.approx(0.5)
    assert m["joystick"]["velocity_error"] < 0.05 and m["joystick"]["mean_vx"] == pytest.approx(0.5, abs=0.02)
    assert m["tracking"]["mpbpe_cm"] == pytest.approx(0.0, abs=1e-6) and m["collisions"] is None
    # standing still against the same command: the closed-loop error is the whole command
    still = dict(arrays, qpos=_walk(4.0, 0.0))
    assert receding_metrics(still)["joystick"]["velocity_error"] == pytest.approx(1.0, abs=0.05)

    # plans that each walk at 0.5 m/s from where a robot marching in place stands: the tracked plan
    # frames jump back at every re-plan; each segment measured on its own, the plans asked for 0.5
    seg = np.concatenate([_walk(4.0, 0.0)[:1]] + [_walk(1.0, 0.5)[1:] for _ in range(4)])
    planned_arrays = lambda arr, ref: dict(arr, ref_qpos=ref, segment_start=np.arange(4) * 50)  # noqa: E731
    planned = receding_metrics(planned_arrays(still, seg))
    assert planned["joystick_plan"]["mean_vx"] == pytest.approx(0.5, abs=0.02)
    assert planned["joystick_plan"]["velocity_error"] < 0.05 and planned["joystick"]["velocity_error"] > 0.9
    assert receding_metrics(dict(still, ref_qpos=seg))["joystick_plan"]["mean_vx"] < 0.45  # across the jumps
    # a fall 22 frames into the last segment (shorter than the 25-frame joystick window) still measures
    fell = {k: v[:173] if k in ("qpos", "ref_qpos", "command") else v for k, v in planned_arrays(still, seg).items()}
    m = receding_metrics(dict(fell, fell=True))
    assert m["fell"] and m["joystick_plan"]["mean_vx"] == pytest.approx(0.5, abs=0.05)

    # a pillar at x = 1 m: the walking robot passes through it, the standing one stays clear
    pillar = Obstacles(Scene.create(cylinders=[[1.0, 0.0, 0.2, 1.0]]))
    scene = pillar.scene
    hit = collisions(q, FPS, scene)
    assert hit["collision_events"] == 1 and hit["collision_frames"] > 0 and hit["min_signed_distance_m"] < 0
    assert 1.0 < hit["first_collision_s"] < 2.0 and hit["collision_bodies"]
    clear = collisions(_walk(4.0, 0.0), FPS, scene)
    assert clear["collision_frames"] == 0 and clear["first_collision_s"] is None and clear["min_signed_distance_m"] > 0.3
    # in the loop's metrics, the robot's collisions and the tracked plan's, each measured on its own
    cyl = {f"obstacle_{k}": np.asarray(getattr(scene, k), np.float32) for k in ("spheres", "boxes", "cylinders", "capsules")}
    strayed = receding_metrics(dict(arrays, qpos=q, ref_qpos=_walk(4.0, 0.0), **cyl))  # the plan stood clear
    assert strayed["collisions"]["collision_frames"] > 0 and strayed["collisions_plan"]["collision_frames"] == 0
    assert receding_metrics(dict(arrays, qpos=_walk(4.0, 0.0), ref_qpos=q, **cyl))["collisions_plan"]["collision_events"] == 1


def test_cli_rejects_bad_inputs_before_loading_anything(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"commands": [{"t": 1, "vx": 0.5}]}))
    assert main(["run", "--joystick-script", str(bad), "--seconds", "2", "--out", str(tmp_path / "r.npz")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "t = 0" in err
    assert main(["run", "--seconds", "2", "--out", str(tmp_path / "r.mp4")]) == 2
    assert "must end in .npz" in capsys.readouterr().err
    assert main(["run", "--seconds", "2", "--stance-weight", "-1", "--out", str(tmp_path / "r.npz")]) == 2
    assert "--stance-weight" in capsys.readouterr().err
    assert main(["run", "--seconds", "2", "--plan-clearance", "-0.1", "--out", str(tmp_path / "r.npz")]) == 2
    assert "--plan-clearance" in capsys.readouterr().err
    assert main(["run", "--seconds", "2", "--out", str(tmp_path / "r.npz"), "--tracker", str(tmp_path / "no_policy")]) == 2
    assert "no_policy" in capsys.readouterr().err
    assert not list(tmp_path.glob("r.*"))
    with pytest.raises(GuidanceFileError):
        load_joystick_script(bad)


class _Planned(Exception):
    pass


def test_every_plan_is_guided_to_step_by_default():
    """Each re-plan's costs: the extra ones, the stance-foot regulariser (unless weight 0), the joystick
    window, the obstacles with the plan clearance added to their margin; a stub pipeline records them
    and stops the run at the first plan."""
    from types import SimpleNamespace

    from motionfm.guidance import StanceFoot
    from motionfm.receding import PLAN_CLEARANCE_M, STANCE_WEIGHT, run_receding

    seen = []

    def sample(text, seconds, seed, history, guidance, num_steps):
        seen.append(guidance)
        raise _Planned

    policy = SimpleNamespace(config=SimpleNamespace(env=SimpleNamespace(fps=50, future_frames=(1, 5))))
    pipe = SimpleNamespace(sample=sample, tracker=policy)
    joystick = Joystick.profile([0.0], np.array([[0.4, 0.0, 0.0]], np.float32))
    obstacles = Obstacles(Scene.create(cylinders=[[2.5, 0.0, 0.25, 1.0]]))
    for weight, kinds in [(None, [StanceFoot, Joystick, Obstacles]), (2.0, [StanceFoot, Joystick, Obstacles]), (0.0, [Joystick, Obstacles])]:
        kw = {} if weight is None else {"stance_weight": weight}
        with pytest.raises(_Planned):
            run_receding(pipe, "a person walks forward", 2.0, joystick=joystick, obstacles=obstacles, progress=False, **kw)
        assert [type(c) for c in seen[-1]] == kinds
        if kinds[0] is StanceFoot:
            assert seen[-1][0].weight == (STANCE_WEIGHT if weight is None else weight)
        planned = seen[-1][-1]  # the same obstacles, planned around with room for the tracker
        assert planned.margin == pytest.approx(obstacles.margin + PLAN_CLEARANCE_M) and planned.scene is obstacles.scene
    with pytest.raises(_Planned):
        run_receding(pipe, "a person walks forward", 2.0, obstacles=obstacles, plan_clearance=0.0, progress=False)
    assert seen[-1][-1].margin == obstacles.margin
    with pytest.raises(ValueError, match="stance_weight"):
        run_receding(pipe, "a person walks forward", 2.0, stance_weight=-1.0, progress=False)
    with pytest.raises(ValueError, match="plan_clearance"):
        run_receding(pipe, "a person walks forward", 2.0, plan_clearance=-0.1, progress=False)


@pytest.mark.slow
def test_run_re_plans_from_the_simulated_state_in_one_simulation(tmp_path):
    from motionfm.pipeline import load_pretrained
    from motionfm.receding import run_receding

    pipe = load_pretrained()
    joystick = Joystick.profile([0.0, 1.0], np.array([[0.4, 0.0, 0.0], [0.4, 0.0, 0.3]], np.float32))
    obstacles = Obstacles(Scene.create(cylinders=[[2.5, 0.0, 0.25, 1.0]]))
    res = run_receding(pipe, "a person walks forward", 2.0, horizon_s=2.0, execute_s=1.0, joystick=joystick,
                       obstacles=obstacles, num_steps=4, progress=False)
    n = len(res.qpos)
    assert res.expected_frames == 101 and (n == 101 or res.fell)
    assert list(res.segment_start) == [0, 50][: len(res.plans)] and len(res.plan_latency_s) == len(res.plans)
    # one continuing simulation: no jump at the re-plan, and the second plan continued what was executed
    step = np.abs(np.diff(res.qpos[:, :3], axis=0)).max(1)
    assert step.max() < 0.05, step.max()
    if len(res.plans) > 1:
        np.testing.assert_allclose(res.histories[1].qpos[-1], res.qpos[50], atol=1e-5)
        assert np.linalg.norm(res.plans[1].qpos[0, :2] - res.qpos[50, :2]) < 0.1  # the plan starts where the robot is
    path = res.save(tmp_path / "run.npz")
    with np.load(path) as f:
        again = receding_metrics(dict(f))
        assert f["command"].shape == (n, 3) and f["obstacle_cylinders"].shape[0] == 1
        assert float(f["stance_weight"]) == res.stance_weight
        assert float(f["plan_clearance"]) == res.plan_clearance
    assert again["tracking"] == pytest.approx(res.metrics["tracking"])
    assert again["joystick"]["velocity_error"] == pytest.approx(res.metrics["joystick"]["velocity_error"])
    assert again["collisions"]["collision_frames"] == res.metrics["collisions"]["collision_frames"]
    assert res.metrics["replans"] == len(res.plans) and res.metrics["real_time_factor"] > 0
