"""Receding-horizon execution: generate, track part of it in physics, re-plan from the real state.

BeyondMimic's deployment loop, sim-to-sim. Every ``execute_s`` seconds of simulated time:

1. the last ``history_s`` seconds the robot **actually executed** (its simulated ``qpos`` at the
   control rate; before the start, the standing pose it starts from) become the ``history`` of
   :meth:`~motionfm.pipeline.MotionPipeline.sample`, so the new plan continues from where the
   robot really is (root xy and heading exactly, the pose through the history's latents);
2. a ``horizon_s`` plan is sampled with the guidance costs of that re-plan's time window: the
   joystick script's commands from now on (shifted to the plan's time 0, in the robot's heading
   frame), the obstacles in the world frame (the history's frame *is* the world frame; their margin
   widened by :data:`PLAN_CLEARANCE_M`, room for the tracker's deviation from the plan) and the
   :class:`~motionfm.guidance.StanceFoot` regulariser (:data:`STANCE_WEIGHT`), so the plan steps;
3. the tracker executes the first ``execute_s`` of the plan in one continuing plain-MuJoCo
   simulation (:func:`motionfm.tracker.rollout.track` with ``init_state``/``last_action`` of the
   previous segment's end), and the loop repeats until ``seconds`` or a fall.

Figures (:func:`receding_metrics`, recomputed from the arrays alone): per re-plan sampling latency,
the loop's real-time factor (simulated / wall seconds), the closed-loop joystick velocity error
(the robot's actual root velocity in its heading frame, averaged over the joystick cost's window,
against the command at that moment, relative to the mean commanded speed; the same measure on the
executed plan frames tells the generator's share), obstacle collisions (the G1's collision spheres,
placed by FK of the real ``qpos``, inside an obstacle; the obstacles are goals, not simulated
bodies) and falls (the run stops at the first).

The result saves as a tracker rollout file (:func:`motionfm.tracker.rollout.save_rollout`'s keys,
the reference being the executed part of each plan) plus the loop's arrays, so
``motionfm render run.npz`` films it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motionfm.guidance import Cost, Joystick, Obstacles, StanceFoot
from motionfm.guidance.sdf import Scene
from motionfm.motion import Motion
from motionfm.pipeline import MotionPipeline
from motionfm.robot import G1_BODY_NAMES, collision_spheres, fk_mujoco
from motionfm.tracker.library import stand_motion
from motionfm.tracker.rollout import rollout_metrics, track

DEFAULT_TEXT = "a person walks forward"
HISTORY_S = 2.1
"""Seconds of executed motion given as history: 64 frames at 30 fps (16 tokenizer tokens of 4
frames; the sampler observes the last ``history_tokens`` of them) whose last frame falls exactly on
the current control step (2.1 s is a whole number of frames at both 30 and 50 fps)."""

HORIZON_S = 2.0
"""Seconds of each plan. 3 s plans start avoiding an obstacle earlier: the robot entered one in 3 of
29 runs with obstacles, against 9 with 2 s plans, but fell in 19 of 52 runs, against 15
(``benchmarks/tracker.py --receding-seeds 12 --loop-scenarios 40``, 286.7 M tracker;
docs/architecture.md). A fall is the worse failure, so plans stay 2 s; ``--horizon 3`` trades."""

STANCE_WEIGHT = 1.0
"""Weight of the :class:`~motionfm.guidance.StanceFoot` regulariser guiding every plan (0: off). The
generator's walks glide (stance foot ~0.9 m/s, 1.0-1.2 m/s for "walks and turns right" told to go
straight) and the tracker cannot follow a glide; guided, the plans step and more loop runs stay up
(84 of 92 against 66 without, the tracker of 383 M steps), at the price of a looser joystick: the stepping robot
walks slower. Measurements: ``benchmarks/tracker.py --receding-seeds 12 --loop-scenarios 80
[--loop-stance-weight 0]``, docs/architecture.md."""

PLAN_CLEARANCE_M = 0.10
"""Metres added to the obstacles' ``margin`` when planning: a tracker strays from the plan it
executes (root 10-12 cm off by the end of an executed second, the shipped tracker in the example
loop), so a plan that only just clears an obstacle takes the robot's body into it. With 0.10 the
example (``examples/run_obstacles.json``, margin 0.05, seeds 0-23) had entries in 3 runs, not 6,
with the shipped tracker, and in 5, not 15, with a closer-tracking candidate; joystick error
unchanged (0.33). Collisions are still measured against the obstacles themselves
(docs/architecture.md)."""


@dataclasses.dataclass(frozen=True, eq=False)
class RecedingResult:
    """One receding-horizon run.

    Attributes:
        fps: control rate of the arrays (the tracker's, 50 Hz).
        qpos: ``(T, 36)`` the simulated robot, one continuing simulation (frame 0: the start state).
        ref_qpos: ``(T, 36)`` the plan frames it tracked (each segment's executed part of its plan).
        command: ``(T, 3)`` the joystick command ``vx, vy, yaw_rate`` at each frame (``None`` without one).
        segment_start: ``(K,)`` frame of ``qpos`` where each re-plan took over.
        plan_latency_s: ``(K,)`` wall seconds of each re-plan's sampling (history encoding included;
            the first includes XLA compilation).
        track_wall_s: ``(K,)`` wall seconds of each segment's physics rollout.
        wall_s: wall seconds of the whole loop.
        fell: whether the robot fell (the run stopped there).
        expected_frames: frames a full run has (``round(seconds * fps) + 1``).
        histories: the history motion given to each re-plan (control rate, world frame).
        plans: each re-plan's sampled motion (the tokenizer's fps, world frame).
        metrics: :func:`receding_metrics` of the arrays, plus the timing figures.
        joystick, obstacles: the goals of the run (``None`` when not given).
        text, seed, horizon_s, execute_s, stance_weight, plan_clearance: the run's settings.
    """

    fps: float
    qpos: np.ndarray
    ref_qpos: np.ndarray
    command: np.ndarray | None
    segment_start: np.ndarray
    plan_latency_s: np.ndarray
    track_wall_s: np.ndarray
    wall_s: float
    fell: bool
    expected_frames: int
    histories: list[Motion]
    plans: list[Motion]
    metrics: dict[str, Any]
    joystick: Joystick | None
    obstacles: Obstacles | None
    text: str | None
    seed: int
    horizon_s: float
    execute_s: float
    stance_weight: float
    plan_clearance: float

    @property
    def sim_s(self) -> float:
        """Simulated seconds."""
        return (len(self.qpos) - 1) / self.fps

    def rollout(self) -> dict[str, Any]:
        """The run as a tracker rollout dict (:func:`motionfm.tracker.rollout.save_rollout`'s keys)."""
        return {"fps": self.fps, "qpos": self.qpos, "ref_qpos": self.ref_qpos, "joint_mask": np.ones(29, bool),
                "fell": self.fell, "clip_frames": self.expected_frames, "name": f"receding: {self.text or 'unconditional'}"}

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything the file holds: the rollout keys and the loop's arrays (see :meth:`save`)."""
        r = self.rollout()
        out = {"fps": np.array(r["fps"]), "qpos": r["qpos"], "ref_qpos": r["ref_qpos"], "joint_mask": r["joint_mask"],
               "fell": np.array(bool(r["fell"])), "clip_frames": np.array(int(r["clip_frames"])), "name": np.array(r["name"]),
               "segment_start": self.segment_start, "plan_latency_s": self.plan_latency_s,
               "track_wall_s": self.track_wall_s, "wall_s": np.array(self.wall_s), "text": np.array(self.text or ""),
               "seed": np.array(self.seed), "horizon_s": np.array(self.horizon_s), "execute_s": np.array(self.execute_s),
               "stance_weight": np.array(self.stance_weight), "plan_clearance": np.array(self.plan_clearance)}
        if self.command is not None:
            out["command"] = self.command
        if self.obstacles is not None:
            for k in ("spheres", "boxes", "cylinders", "capsules"):
                out[f"obstacle_{k}"] = np.asarray(getattr(self.obstacles.scene, k), np.float32)
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the run (``.npz``, atomically): a tracker rollout file (``fps``, ``qpos``,
        ``ref_qpos``, ``joint_mask``, ``fell``, ``clip_frames``, ``name``) plus ``segment_start (K,)``,
        ``plan_latency_s (K,)``, ``track_wall_s (K,)``, ``wall_s``, the settings, with a joystick
        ``command (T, 3)`` and with obstacles ``obstacle_{spheres,boxes,cylinders,capsules}`` (the
        scene's rows)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
        try:
            np.savez_compressed(tmp, **self.arrays())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


KNOT_BUCKET = 4
"""Window profiles have a multiple of this many knots, so re-plans whose windows hold different
numbers of script knots share one compiled guided sampler (each new count compiled it again: ~15 s)."""


def window_joystick(joystick: Joystick, start_s: float, horizon_s: float) -> Joystick:
    """The commands of ``joystick`` (times from the run's start) over ``[start_s, start_s + horizon_s]``,
    as a profile whose time 0 is ``start_s`` (a plan's time 0: its history's last frame).

    Knots past the horizon pad the profile to a multiple of :data:`KNOT_BUCKET` knots; they hold the
    horizon's command, so the commands inside the plan are unchanged."""
    knots = np.asarray(joystick.times, np.float64) - start_s
    local = np.unique(np.concatenate([[0.0, horizon_s], knots[(knots > 0) & (knots < horizon_s)]]))
    commands = np.asarray(joystick.command(local + start_s))
    pad = -len(local) % KNOT_BUCKET
    local = np.concatenate([local, horizon_s + np.arange(1, pad + 1)])
    commands = np.concatenate([commands, np.repeat(commands[-1:], pad, 0)])
    return Joystick.profile(local, commands, weight=joystick.weight, yaw_weight=joystick.yaw_weight, window=joystick.window)


SCENARIO_TEXTS = ("a person walks forward", "a person walks forward", "a person walks forward slowly",
                  "a person walks and turns left", "a person walks and turns right")
"""Prompts of :func:`random_scenario` (the loop's default, :data:`DEFAULT_TEXT`, twice as often)."""


def random_scenario(seed: int, seconds: float = 20.0) -> dict[str, Any]:
    """A random run of the loop, as JSON: ``{"text", "joystick": joystick script, "obstacles":
    scene or None}`` (the formats of ``motionfm run --joystick-script`` / ``--obstacles``).

    The script holds 2-4 commands, the first at 0 s, the others at random times 3 s from either end:
    forward 0-0.7 m/s (backward to -0.3 m/s in 15 %), sideways +-0.25 m/s in 30 %, turning
    +-0.5 rad/s in half. 0, 1 or 2 cylinders (40/40/20 %) of radius 0.15-0.35 m stand 1.5-5 m ahead
    within 0.5 m of the start line. Deterministic in ``seed``; :func:`scenario_goals` turns it into
    costs. The tracker's loop corpus (``training/loop_corpus.py``) draws seeds from 1000 on, the
    benchmark (``benchmarks/tracker.py --loop-scenarios``) from 90 000 on."""
    rng = np.random.default_rng(seed)
    times = np.unique(np.round(np.concatenate([[0.0], rng.uniform(3.0, max(seconds - 3.0, 4.0), rng.integers(1, 4))]), 1))
    commands = []
    for t in times:
        vx = rng.uniform(-0.3, 0.0) if rng.random() < 0.15 else rng.uniform(0.0, 0.7)
        vy = rng.uniform(-0.25, 0.25) if rng.random() < 0.3 else 0.0
        yaw = rng.uniform(-0.5, 0.5) if rng.random() < 0.5 else 0.0
        commands.append({"t": float(t), "vx": round(vx, 2), "vy": round(vy, 2), "yaw_rate": round(yaw, 2)})
    obstacles = None
    n = rng.choice(3, p=[0.4, 0.4, 0.2])
    if n:
        obstacles = {"cylinders": [{"center": [round(rng.uniform(1.5, 5.0), 2), round(rng.uniform(-0.5, 0.5), 2)],
                                    "radius": round(rng.uniform(0.15, 0.35), 2), "height": 1.0} for _ in range(n)],
                     "margin": 0.05}
    return {"text": str(rng.choice(SCENARIO_TEXTS)), "joystick": {"commands": commands, "interpolation": "step"},
            "obstacles": obstacles}


def scenario_goals(scenario: dict[str, Any]) -> tuple[Joystick, Obstacles | None]:
    """The ``(joystick, obstacles)`` costs of a :func:`random_scenario`."""
    from motionfm.guidance.files import joystick_from_dict, scene_from_dict

    obstacles = scenario.get("obstacles")
    return (joystick_from_dict(scenario["joystick"], "scenario joystick"),
            scene_from_dict(obstacles, "scenario obstacles") if obstacles else None)


def start_state(fps: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """The robot's state before the run: Menagerie's ``stand`` keyframe, grounded, at the origin
    facing +x, at rest: ``(qpos (36,), qvel (35,))``."""
    return stand_motion(1.0, fps).qpos[0].astype(np.float64), np.zeros(35)


def run_receding(
    pipe: MotionPipeline,
    text: str | None = DEFAULT_TEXT,
    seconds: float = 20.0,
    *,
    horizon_s: float = HORIZON_S,
    execute_s: float = 1.0,
    history_s: float = HISTORY_S,
    joystick: Joystick | None = None,
    obstacles: Obstacles | None = None,
    extra_guidance: Sequence[Cost] = (),
    stance_weight: float = STANCE_WEIGHT,
    plan_clearance: float = PLAN_CLEARANCE_M,
    seed: int = 0,
    num_steps: int | None = None,
    policy=None,
    init_state: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
) -> RecedingResult:
    """Run the receding-horizon loop (module docstring) for ``seconds`` of simulated time.

    Args:
        pipe: the generator (:func:`motionfm.load_pretrained`).
        text: what the robot should do (``None``: unconditional), the same for every re-plan.
        seconds: simulated duration of the run.
        horizon_s: length of each plan (default :data:`HORIZON_S`; at least ``execute_s`` plus the
            tracker's look-ahead).
        execute_s: how much of each plan the tracker executes before re-planning (a multiple of the
            control period, 0.02 s).
        history_s: seconds of executed motion each re-plan continues (default :data:`HISTORY_S`).
        joystick: heading-frame velocity commands, times from the run's start (e.g.
            :func:`motionfm.guidance.files.load_joystick_script`).
        obstacles: obstacles in the world frame (the robot starts at the origin facing +x).
        extra_guidance: further costs, applied to every plan as they are (time 0 = the re-plan).
        stance_weight: weight of the :class:`~motionfm.guidance.StanceFoot` regulariser on every plan
            (default :data:`STANCE_WEIGHT`; 0: off), so plans step instead of gliding.
        plan_clearance: metres added to the obstacles' margin for planning (default
            :data:`PLAN_CLEARANCE_M`), room for the tracker's deviation from the plan; collisions are
            measured against ``obstacles`` as given.
        seed: the run's seed (re-plan ``k`` samples with ``seed + k``).
        num_steps: inference steps per plan (``None``: the pipeline's, ``pipe.num_steps``).
        policy: the tracker (default ``pipe.tracker``, the shipped one).
        init_state: the robot's ``(qpos (36,), qvel (35,))`` at the start (default :func:`start_state`);
            it has been standing still there for ``history_s`` when the run starts.
        progress: a tqdm bar over re-plans.

    Returns:
        A :class:`RecedingResult`; its ``metrics`` hold the figures.
    """
    policy = policy if policy is not None else pipe.tracker
    cfg = policy.config.env
    fps = float(cfg.fps)
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if not stance_weight >= 0:
        raise ValueError(f"stance_weight must be >= 0, got {stance_weight}")
    if not plan_clearance >= 0:
        raise ValueError(f"plan_clearance must be >= 0, got {plan_clearance}")
    exec_steps = int(round(execute_s * fps))
    if exec_steps < 1 or abs(exec_steps / fps - execute_s) > 1e-6:
        raise ValueError(f"execute_s must be a positive multiple of the control period {1 / fps:g} s, got {execute_s}")
    lookahead = max(cfg.future_frames) / fps
    if horizon_s + 1e-9 < execute_s + lookahead:
        raise ValueError(f"horizon_s ({horizon_s}) must be at least execute_s ({execute_s}) plus the tracker's look-ahead ({lookahead:g} s)")
    hist_frames = int(round(history_s * fps)) + 1
    if hist_frames < 3:
        raise ValueError(f"history_s must cover a few control steps, got {history_s}")
    total_steps = int(round(seconds * fps))
    # The plans keep clear by the scene's margin plus room for the tracker's deviation from them.
    planned_obstacles = obstacles.replace(margin=obstacles.margin + plan_clearance) if obstacles is not None else None
    # Costs every plan shares (the joystick window and the obstacles follow, per re-plan).
    fixed_costs: list[Cost] = [*extra_guidance, *([StanceFoot(stance_weight)] if stance_weight > 0 else [])]

    q0, v0 = start_state(fps) if init_state is None else (np.asarray(init_state[0], np.float64), np.asarray(init_state[1], np.float64))
    # Executed frames at the control rate: the standing pre-roll, then the simulation (starting with q0).
    preroll = np.repeat(q0[None], hist_frames - 1, 0)
    qpos, ref = [q0[None]], [q0[None]]
    qvel, action = v0, None
    starts, latency, track_wall, histories, plans = [], [], [], [], []
    fell, step = False, 0
    n_plans = -(-total_steps // exec_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_plans, desc="re-plans", unit="plan")
    t_loop = time.perf_counter()
    try:
        for k in range(n_plans):
            executed = np.concatenate([preroll, *qpos])
            history = Motion.from_qpos(executed[-hist_frames:], fps, name="executed")
            now = step / fps
            costs = list(fixed_costs)
            if joystick is not None:
                costs.append(window_joystick(joystick, now, horizon_s))
            if planned_obstacles is not None:
                costs.append(planned_obstacles)
            ts = time.perf_counter()
            plan = pipe.sample(text, horizon_s, seed=seed + k, history=history, guidance=costs or None, num_steps=num_steps)[0]
            latency.append(time.perf_counter() - ts)
            steps = min(exec_steps, total_steps - step)
            ts = time.perf_counter()
            r = track(policy, plan, init_state=(qpos[-1][-1], qvel), last_action=action, max_steps=steps, stop_on_fall=True)
            track_wall.append(time.perf_counter() - ts)
            starts.append(step)
            histories.append(history)
            plans.append(plan)
            qpos.append(r["qpos"][1:])  # frame 0 is the state it started from (the previous frame)
            ref.append(r["ref_qpos"][1:])
            qvel, action = r["final_qvel"], r["final_action"]
            step += len(r["qpos"]) - 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(t=f"{step / fps:.1f}s", plan=f"{latency[-1]:.2f}s", fell=r["fell"])
            if r["fell"]:
                fell = True
                break
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t_loop
    qpos_a, ref_a = np.concatenate(qpos), np.concatenate(ref)
    ref_a[0] = ref_a[1] if len(ref_a) > 1 else ref_a[0]  # frame 0 had no plan yet: its first target
    t = np.arange(len(qpos_a)) / fps
    command = np.asarray(joystick.command(t), np.float64) if joystick is not None else None
    result = RecedingResult(
        fps=fps, qpos=qpos_a, ref_qpos=ref_a, command=command, segment_start=np.asarray(starts, np.int64),
        plan_latency_s=np.asarray(latency), track_wall_s=np.asarray(track_wall), wall_s=wall, fell=fell,
        expected_frames=total_steps + 1, histories=histories, plans=plans, metrics={}, joystick=joystick,
        obstacles=obstacles, text=text, seed=seed, horizon_s=float(horizon_s), execute_s=float(execute_s),
        stance_weight=float(stance_weight), plan_clearance=float(plan_clearance))
    metrics = receding_metrics(result.arrays())
    return dataclasses.replace(result, metrics=metrics)


def _joystick_error(qpos: np.ndarray, fps: float, command: np.ndarray,
                    segment_start: np.ndarray | None = None) -> dict[str, float]:
    """:meth:`Joystick.evaluate` of ``qpos (T, 36)`` against the per-frame ``command (T, 3)``.

    With ``segment_start`` (frames where a new plan took over) each segment's frames
    ``[s_k + 1, s_{k+1} + 1)`` are measured on their own and the figures are frame-weighted means:
    the tracked plan frames jump back to the robot at every re-plan, and velocities taken across
    those jumps would measure the robot's lag, not what the plans asked for."""
    bounds = [(0, len(qpos))]
    if segment_start is not None and len(segment_start):
        edges = [int(s) + 1 for s in segment_start] + [len(qpos)]
        bounds = list(zip(edges[:-1], edges[1:]))
    rows, weights = [], []
    for a, b in bounds:
        if b - a < 3:
            continue
        j = Joystick.profile(np.arange(b - a) / fps, command[a:b])
        rows.append(j.evaluate(Motion.from_qpos(qpos[a:b], fps)))
        weights.append(b - a)
    if not rows:
        return {}
    w = np.asarray(weights, np.float64) / sum(weights)
    mean = lambda k: float(np.dot(w, [r[k] for r in rows]))  # noqa: E731
    err = mean("joystick_velocity_error_mps")
    lo, hi = bounds[0][0], bounds[-1][1]
    speed = float(np.linalg.norm(command[lo:hi, :2], axis=1).mean())
    return {"velocity_error": err / speed if speed > 0.05 else float("nan"), "velocity_error_mps": err,
            "yaw_rate_error": mean("joystick_yaw_rate_error"), "mean_vx": mean("mean_vx"), "mean_vy": mean("mean_vy"),
            "mean_yaw_rate": mean("mean_yaw_rate")}


def collisions(qpos: np.ndarray, fps: float, scene: Scene) -> dict[str, Any]:
    """Obstacle collisions of ``qpos (T, 36)``: the G1's collision spheres (placed by plain-MuJoCo FK)
    inside an obstacle of ``scene`` (numpy arrays). ``collision_frames`` (frames with any sphere
    inside), ``collision_events`` (separate runs of such frames), ``first_collision_s``,
    ``min_signed_distance_m`` (< 0: penetration depth) and ``collision_bodies`` (names)."""
    cs = collision_spheres()
    fk = fk_mujoco(qpos)
    d = scene.sdf(cs.world(fk.body_pos, fk.body_rot)) - cs.radius  # (T, K)
    hit = d.min(1) < 0
    events = int(hit[0]) + int(np.sum(hit[1:] & ~hit[:-1]))
    bodies = sorted({G1_BODY_NAMES[b] for b in cs.body[(d < 0).any(0)]})
    return {"collision_frames": int(hit.sum()), "collision_events": events,
            "first_collision_s": float(np.argmax(hit) / fps) if hit.any() else None,
            "min_signed_distance_m": float(d.min()), "collision_bodies": bodies}


def receding_metrics(arrays: dict[str, Any]) -> dict[str, Any]:
    """The run's figures from its arrays alone (:meth:`RecedingResult.arrays` or a loaded ``.npz``).

    ``sim_s``, ``fell``, ``fell_at_s``, ``replans``; timing ``plan_latency_s`` (median/max/first),
    ``real_time_factor`` (simulated / wall seconds of the loop) and ``real_time_factor_warm`` (the
    first re-plan's sampling, which compiles, left out); ``joystick`` (closed loop, the robot's real
    motion) and ``joystick_plan`` (the plan frames it tracked, each segment on its own):
    ``velocity_error`` relative to the
    mean commanded speed, ``velocity_error_mps``, ``yaw_rate_error``, mean velocities; ``collisions``
    (:func:`collisions`, with a scene) and ``collisions_plan`` (the same of the plan frames tracked,
    ``ref_qpos``); ``tracking`` (:func:`~motionfm.tracker.rollout.rollout_metrics`).
    """
    fps = float(np.asarray(arrays["fps"]))
    qpos, ref = np.asarray(arrays["qpos"], np.float64), np.asarray(arrays["ref_qpos"], np.float64)
    command = np.asarray(arrays["command"], np.float64) if "command" in arrays else None
    lat = np.asarray(arrays.get("plan_latency_s", []), np.float64)
    track_wall = np.asarray(arrays.get("track_wall_s", []), np.float64)
    wall = float(np.asarray(arrays.get("wall_s", np.nan)))
    sim_s = (len(qpos) - 1) / fps
    fell = bool(np.asarray(arrays.get("fell", False)))
    out: dict[str, Any] = {"sim_s": sim_s, "fell": fell, "fell_at_s": sim_s if fell else None, "replans": int(len(lat))}
    if len(lat):
        warm = wall - lat[0]
        out["plan_latency_s"] = {"median": float(np.median(lat)), "max": float(lat.max()), "first": float(lat[0]),
                                 "median_after_first": float(np.median(lat[1:])) if len(lat) > 1 else None}
        out["track_wall_s_per_segment"] = float(np.median(track_wall)) if len(track_wall) else None
        out["wall_s"] = wall
        out["real_time_factor"] = sim_s / wall if wall > 0 else None
        out["real_time_factor_warm"] = sim_s / warm if warm > 0 else None
    out["joystick"] = (_joystick_error(qpos, fps, command) or None) if command is not None else None
    segments = np.asarray(arrays["segment_start"], np.int64) if "segment_start" in arrays else None
    out["joystick_plan"] = (_joystick_error(ref, fps, command, segments) or None) if command is not None else None
    if "obstacle_cylinders" in arrays:
        scene = Scene(*(np.asarray(arrays[f"obstacle_{k}"], np.float32) for k in ("spheres", "boxes", "cylinders", "capsules")))
        out["collisions"] = collisions(qpos, fps, scene) if scene.num_obstacles else None
        # The plan frames the robot tracked, measured alike: an entry with the plan outside is the tracker's.
        out["collisions_plan"] = collisions(ref, fps, scene) if scene.num_obstacles else None
    else:
        out["collisions"] = out["collisions_plan"] = None
    tr = rollout_metrics({"qpos": qpos, "ref_qpos": ref, "fell": fell,
                          "clip_frames": int(np.asarray(arrays.get("clip_frames", len(qpos))))})
    out["tracking"] = {k: tr[k] for k in ("mpbpe_cm", "mpbpe_local_cm", "joint_error_rad", "max_body_error_m")}
    return out


def format_summary(metrics: dict[str, Any]) -> str:
    """A few lines on a run's figures (:func:`receding_metrics`)."""
    m = metrics
    lines = [f"simulated {m['sim_s']:.2f} s in {m['replans']} re-plans: "
             + (f"FELL at {m['fell_at_s']:.2f} s" if m["fell"] else "stayed up")]
    if m.get("plan_latency_s"):
        p = m["plan_latency_s"]
        after = f", {p['median_after_first']:.2f} s median after the first" if p["median_after_first"] is not None else ""
        lines.append(f"re-plan latency: first {p['first']:.2f} s (compiles){after}, max {p['max']:.2f} s; "
                     f"tracking {m['track_wall_s_per_segment']:.2f} s per segment")
        lines.append(f"real-time factor: {m['real_time_factor']:.2f}x over the loop ({m['wall_s']:.1f} s wall), "
                     f"{m['real_time_factor_warm']:.2f}x without the first re-plan")
    for key, what in (("joystick", "robot (closed loop)"), ("joystick_plan", "plans tracked")):
        j = m.get(key)
        if j:
            lines.append(f"joystick velocity error, {what}: {100 * j['velocity_error']:.0f} % ({j['velocity_error_mps']:.2f} m/s), "
                         f"yaw rate {j['yaw_rate_error']:.2f} rad/s; mean vx {j['mean_vx']:.2f} m/s, vy {j['mean_vy']:.2f} m/s")
    c = m.get("collisions")
    if c:
        lines.append(f"obstacles: {c['collision_events']} collision(s), {c['collision_frames']} frames inside"
                     + (f" from {c['first_collision_s']:.2f} s ({', '.join(c['collision_bodies'])})" if c["collision_frames"] else "")
                     + f"; closest {c['min_signed_distance_m']:+.3f} m"
                     + (f" (the plans tracked: {m['collisions_plan']['min_signed_distance_m']:+.3f} m)" if m.get("collisions_plan") else ""))
    t = m["tracking"]
    lines.append(f"tracking: mpbpe {t['mpbpe_cm']:.1f} cm (local {t['mpbpe_local_cm']:.1f} cm), joints {t['joint_error_rad']:.3f} rad")
    return "\n".join(lines)
