"""Tracker benchmark: training throughput of both physics backends side by side, policy latency,
held-out sim-to-sim metrics per category.

    .venv/bin/python benchmarks/tracker.py [--steps 61440] [--envs 128] [--checkpoint checkpoints/tracker] [--json]

Prints:
  - **end-to-end training env steps/s** (50 Hz control steps: simulation + policy + PPO update,
    brax's PPO with the CPU preset) for the plain-MuJoCo backend and for MJX, measured in this one
    run on the same clips, and their ratio; compile time excluded (the first logged PPO iteration
    is dropped) and reported separately; env-only steps/s (batched step + adaptive reset, no
    policy) for each backend; plain-MuJoCo collection alone (policy + env, no PPO update) and the
    update's share of the training time that follows from it;
  - numpy policy inference latency per step (median, single observation) and its parameter count;
  - plain-MuJoCo evaluation (success rate, mpbpe, joint error, falls) on the clips the checkpoint
    held out of training, overall and per category, and on its training clips for comparison;
    and whether it holds the ``stand`` pose for 10 s;
  - **generated motion executed**: the demo-style prompts of :data:`DEMO_PROMPTS` sampled by the
    shipped generator, ``--generated-seeds`` samples per prompt in one batch and as many single
    draws (seeds 0, 1, ...; the first prompt's at seed 0 is ``motionfm demo``'s own motion,
    reported on its own line), and tracked: how many are
    executed without a fall (``--generated-seeds 0`` skips it), as sampled and with their feet
    planted (``plant_feet=True``: the root path their steps carry), side by side; with ``--stance-foot-weight W`` the same
    prompts and seeds again, sampled with the ``StanceFoot`` guidance cost (walks step instead of
    gliding);
  - **the receding-horizon loop** (``--receding-seeds N``): ``motionfm run`` with
    ``examples/run_joystick.json`` and ``examples/run_obstacles.json`` for 20 s at seeds 0..N-1 with
    this policy and the loop's defaults (``--loop-stance-weight 0``: plans without the stance-foot
    guidance): how many runs stay up, how many enter an obstacle, the closed-loop joystick error,
    and each run's nearest approach to an obstacle, of the robot and of the plans it tracked (an
    entry with the plan outside is the tracker straying).
    Held-out clips and open-loop samples do not exercise it, and a policy better on both fell more
    here (docs/architecture.md), so a chunk passes it before it ships; ``--loop-scenarios N``: the
    same loop on N random scenarios (:func:`motionfm.receding.random_scenario`: joystick scripts of
    2-4 commands, 0-2 cylinders, walking prompts; seeds 90 000 on, apart from the tracker's loop
    corpus): runs up, runs with obstacles and how many of them entered one, when the falls came.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("walk_level1", "squat_level1", "step_forward_back_level1")
DEMO_PROMPTS = ("a person walks forward", "a person walks and turns left", "a person waves with the right hand",
                "a person bows")
"""Walks, waves and bows, as the tracker issue's target names them (``make demo`` samples the first)."""


def _motions():
    from motionfm.cli import default_data_dir
    from motionfm.motion import Motion

    data = default_data_dir()
    return [Motion.load(data / f"asap/{c}.csv", limits="ignore") for c in CLIPS]


def env_throughput(backend: str, n_envs: int, steps: int) -> dict:
    """Batched env step (+ adaptive reset) with random actions, no policy."""
    import jax

    from motionfm.tracker.config import PRESETS
    from motionfm.tracker.env import make_env, wrap_for_tracking

    cfg = dataclasses.replace(PRESETS["cpu"].env, backend=backend)
    env = wrap_for_tracking(make_env(_motions(), cfg))
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    t = time.perf_counter()
    s = reset(jax.random.split(jax.random.PRNGKey(0), n_envs))
    a = 0.3 * jax.random.normal(jax.random.PRNGKey(1), (n_envs, 29))
    s = step(s, a)
    jax.block_until_ready(s.obs)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(steps):
        s = step(s, a)
    jax.block_until_ready(s.obs)
    sps = n_envs * steps / (time.perf_counter() - t)
    return {"backend": backend, "envs": n_envs, "env_steps_per_s": sps, "physics_steps_per_s": sps * cfg.n_substeps,
            "compile_s": compile_s, "sim_dt": cfg.sim_dt, "model": cfg.model}


def training_throughput(backend: str, n_envs: int, steps: int) -> dict:
    """End-to-end PPO training (brax's ``ppo.train`` through :func:`motionfm.tracker.train.train`)."""
    from motionfm.tracker.config import PRESETS
    from motionfm.tracker.train import train

    base = PRESETS["cpu"]
    cfg = dataclasses.replace(base, env=dataclasses.replace(base.env, backend=backend),
                              ppo=dataclasses.replace(base.ppo, num_envs=n_envs, batch_size=n_envs, num_evals=2))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run:
        _, rows = train(cfg, _motions(), run, num_timesteps=steps, run_evals=False, log=lambda s: None)
    rows = [r for r in rows if "episode/length" in r]
    if len(rows) < 3:
        raise SystemExit(f"--steps {steps} too small: need at least 3 PPO iterations per backend")
    first, last = rows[0], rows[-1]
    sps = (last["step"] - first["step"]) / (last["wall_s"] - first["wall_s"])
    return {"backend": backend, "envs": n_envs, "train_env_steps_per_s": sps, "first_iteration_s": first["wall_s"],
            "env_steps": last["step"], "wall_s": time.perf_counter() - t0}


def collection_throughput(backend: str, n_envs: int, steps: int) -> dict:
    """Experience collection alone: brax's ``generate_unroll`` (policy + env step + resets) with the
    CPU preset's freshly initialised networks, in training's shape (``num_minibatches`` unrolls of
    ``unroll_length`` steps per call), no PPO update. Beside :func:`training_throughput` it splits a training step's time into
    collection and update."""
    import jax
    import jax.numpy as jnp
    from brax.training import acting
    from brax.training.acme import running_statistics, specs
    from brax.training.agents.ppo import networks as ppo_networks

    from motionfm.tracker.config import PRESETS
    from motionfm.tracker.env import make_env, wrap_for_tracking
    from motionfm.tracker.train import network_factory

    cfg = PRESETS["cpu"]
    base = make_env(_motions(), dataclasses.replace(cfg.env, backend=backend))
    env = wrap_for_tracking(base)
    nets = network_factory(cfg)(base.observation_size, base.action_size,
                                preprocess_observations_fn=running_statistics.normalize)
    key = jax.random.PRNGKey(0)
    norm = running_statistics.init_state({k: specs.Array(v, jnp.float32) for k, v in base.observation_size.items()})
    policy = ppo_networks.make_inference_fn(nets)((norm, nets.policy_network.init(key), nets.value_network.init(key)))
    # training_throughput trains with batch_size = n_envs, so a training step collects
    # batch_size * num_minibatches // num_envs = num_minibatches unrolls.
    unroll_length, unrolls = cfg.ppo.unroll_length, cfg.ppo.num_minibatches
    extra = ("truncation", "episode_metrics", "episode_done")

    @jax.jit
    def collect(state, k):
        def one(carry, _):
            s, kk = carry
            kk, nk = jax.random.split(kk)
            s, data = acting.generate_unroll(env, s, policy, kk, unroll_length, extra_fields=extra)
            return (s, nk), data
        (state, _), data = jax.lax.scan(one, (state, k), (), length=unrolls)
        return state, data

    t = time.perf_counter()
    state = jax.jit(env.reset)(jax.random.split(key, n_envs))
    state, data = collect(state, key)
    jax.block_until_ready(data)
    compile_s = time.perf_counter() - t
    calls = max(1, steps // (n_envs * unroll_length * unrolls))
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        state, data = collect(state, jax.random.PRNGKey(i + 1))
    jax.block_until_ready(data)
    wall = time.perf_counter() - t
    return {"backend": backend, "envs": n_envs, "collect_env_steps_per_s": calls * n_envs * unroll_length * unrolls / wall,
            "cores_busy": (time.process_time() - cpu) / wall, "compile_s": compile_s}


def generated_tracking(policy, seeds: int, seconds: float = 6.0, stance_foot_weight: float = 0.0,
                       plant_feet: bool = False) -> dict:
    """Sample each of :data:`DEMO_PROMPTS` ``seeds`` times in one batch (seed 0) and once per seed
    ``0 .. seeds-1`` alone, as ``motionfm demo`` and ``motionfm sample`` do (a batch draws other
    noise than single calls, and the demo's own motion is the single draw of the first prompt at
    seed 0: ``demo`` in the result), with ``StanceFoot`` guidance of that weight when it is
    positive, feet planted with ``plant_feet``; track every sample."""
    from motionfm.data.quality import inspect_motion
    from motionfm.guidance import StanceFoot
    from motionfm.pipeline import load_pretrained
    from motionfm.tracker.rollout import track

    pipe = load_pretrained()
    guidance = [StanceFoot(stance_foot_weight)] if stance_foot_weight > 0 else None
    rows = []
    for prompt in DEMO_PROMPTS:
        batch = pipe.sample(text=prompt, seconds=seconds, seed=0, num_samples=seeds, guidance=guidance, plant_feet=plant_feet)
        singles = [pipe.sample(text=prompt, seconds=seconds, seed=s, guidance=guidance, plant_feet=plant_feet)[0]
                   for s in range(seeds)] if seeds > 1 else []  # a batch of one is the single draw at seed 0
        for draw, motions in (("batch", batch), ("single", singles)):
            for m_i, m in enumerate(motions):
                r = track(policy, m)
                rows.append({"prompt": prompt, "draw": draw, "sample": m_i, "success": bool(r["success"]),
                             "fell": bool(r["fell"]), "seconds_up": r["frames"] / r["fps"], "mpbpe_cm": r["mpbpe_cm"],
                             "stance_foot_speed_cm_s": inspect_motion(m)["stance_foot_speed_cm_s"]})
    demo = next(r for r in rows if r["prompt"] == DEMO_PROMPTS[0] and r["draw"] == ("single" if seeds > 1 else "batch")
                and r["sample"] == 0)
    return {"samples": len(rows), "success": sum(r["success"] for r in rows), "falls": sum(r["fell"] for r in rows),
            "demo": demo, "seconds": seconds, "stance_foot_weight": stance_foot_weight, "plant_feet": plant_feet,
            "rows": rows}


def receding_runs(policy, seeds: int, seconds: float = 20.0, scenarios: bool = False,
                  stance_weight: float | None = None) -> dict:
    """:func:`motionfm.receding.run_receding` executed by ``policy``: with the example joystick
    script and obstacles at seeds ``0 .. seeds-1``, or (``scenarios``) on the random scenarios
    :func:`motionfm.receding.random_scenario` draws from seeds ``90000 + 100 i`` (the tracker's loop
    corpus draws from 1000 on). ``stance_weight``: the plans' stance-foot guidance (``None``: the
    loop's default, :data:`motionfm.receding.STANCE_WEIGHT`)."""
    from motionfm.guidance.files import load_joystick_script, load_scene
    from motionfm.pipeline import load_pretrained
    from motionfm.receding import DEFAULT_TEXT, PLAN_CLEARANCE_M, STANCE_WEIGHT, random_scenario, run_receding, scenario_goals

    stance_weight = STANCE_WEIGHT if stance_weight is None else stance_weight

    pipe = load_pretrained()
    example = (load_joystick_script(ROOT / "examples/run_joystick.json"), load_scene(ROOT / "examples/run_obstacles.json"))
    rows = []
    for i in range(seeds):
        if scenarios:
            seed = 90_000 + 100 * i
            sc = random_scenario(seed, seconds)
            text, (joystick, obstacles) = sc["text"], scenario_goals(sc)
        else:
            seed, text, (joystick, obstacles) = i, DEFAULT_TEXT, example
        m = run_receding(pipe, text, seconds, joystick=joystick, obstacles=obstacles, seed=seed,
                         progress=False, policy=policy, stance_weight=stance_weight).metrics
        rows.append({"seed": seed, "text": text, "fell": bool(m["fell"]), "sim_s": m["sim_s"],
                     "obstacles": obstacles is not None,
                     "obstacle_entries": int(m["collisions"]["collision_events"]) if obstacles is not None else 0,
                     "closest_m": m["collisions"]["min_signed_distance_m"] if obstacles is not None else None,
                     "plan_closest_m": m["collisions_plan"]["min_signed_distance_m"] if obstacles is not None else None,
                     "joystick_error": m["joystick"]["velocity_error"]})
    return {"runs": len(rows), "up": sum(not r["fell"] for r in rows),
            "with_obstacles": sum(r["obstacles"] for r in rows),
            "entered_obstacle": sum(r["obstacle_entries"] > 0 for r in rows), "seconds": seconds,
            "stance_weight": stance_weight, "plan_clearance": PLAN_CLEARANCE_M, "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=61440, help="env steps of each backend's training run")
    p.add_argument("--envs", type=int, default=128)
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints/tracker"))
    p.add_argument("--max-clips", type=int, default=0, help="cap on evaluated clips per split (0: all)")
    p.add_argument("--skip-train", action="store_true", help="skip the throughput runs")
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--generated-seeds", type=int, default=2, help="samples per demo prompt to generate and track (0: skip)")
    p.add_argument("--stance-foot-weight", type=float, default=0.0,
                   help="also track the demo prompts sampled with StanceFoot guidance of this weight (0: skip)")
    p.add_argument("--receding-seeds", type=int, default=0,
                   help="runs of the receding-horizon loop (motionfm run, example joystick + obstacles, 20 s; 0: skip)")
    p.add_argument("--loop-scenarios", type=int, default=0,
                   help="runs of the loop on random scenarios (motionfm.receding.random_scenario, seeds 90000 + 100 i, 20 s; 0: skip)")
    p.add_argument("--loop-stance-weight", type=float, default=None,
                   help="the loop's stance-foot guidance on every plan (default motionfm.receding.STANCE_WEIGHT; 0: off)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from motionfm.tracker.policy import inference_latency_ms, load_policy

    out: dict = {"cpu_count": os.cpu_count()}
    if not args.skip_train:
        out["env"] = [env_throughput(b, args.envs, 40 if b == "mujoco" else 8) for b in ("mujoco", "mjx")]
        out["train"] = [training_throughput(b, args.envs, args.steps) for b in ("mujoco", "mjx")]
        out["train_speedup"] = out["train"][0]["train_env_steps_per_s"] / out["train"][1]["train_env_steps_per_s"]
        # Where plain-MuJoCo training's time goes: collection alone against the whole training step.
        out["collect"] = collection_throughput("mujoco", args.envs, args.steps)
        out["update_share"] = 1.0 - out["train"][0]["train_env_steps_per_s"] / out["collect"]["collect_env_steps_per_s"]
    pol = load_policy(args.checkpoint)
    out["policy"] = {"latency_ms": inference_latency_ms(pol), "params": pol.num_params,
                     "training": pol.metadata.get("training", {})}
    if not args.skip_eval:
        from motionfm.tracker.evaluate import evaluate_checkpoint

        out.update(evaluate_checkpoint(pol, max_clips=args.max_clips))
    if args.generated_seeds:
        out["generated"] = generated_tracking(pol, args.generated_seeds)
        out["generated_planted"] = generated_tracking(pol, args.generated_seeds, plant_feet=True)
        if args.stance_foot_weight > 0:
            out["generated_stance"] = generated_tracking(pol, args.generated_seeds, stance_foot_weight=args.stance_foot_weight)
    if args.receding_seeds:
        out["receding"] = receding_runs(pol, args.receding_seeds, stance_weight=args.loop_stance_weight)
    if args.loop_scenarios:
        out["loop_scenarios"] = receding_runs(pol, args.loop_scenarios, scenarios=True, stance_weight=args.loop_stance_weight)

    if args.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    print(f"{'measure':<52}{'value':>14}")
    print("-" * 66)
    for e in out.get("env", []):
        print(f"{'env-only steps/s, ' + e['backend'] + ', ' + str(e['envs']) + ' envs':<52}{e['env_steps_per_s']:>14.0f}")
    for e in out.get("train", []):
        print(f"{'TRAINING env steps/s (sim+policy+PPO), ' + e['backend']:<52}{e['train_env_steps_per_s']:>14.0f}")
        print(f"{'  first PPO iteration incl. compile (s)':<52}{e['first_iteration_s']:>14.1f}")
    if "train_speedup" in out:
        print(f"{'TRAINING speed-up, mujoco / mjx (same run)':<52}{out['train_speedup']:>14.2f}")
    if "collect" in out:
        print(f"{'collection only (sim+policy, no update), mujoco':<52}{out['collect']['collect_env_steps_per_s']:>14.0f}")
        print(f"{'  cores busy during collection (CPU time / wall)':<52}{out['collect']['cores_busy']:>14.2f}")
        print(f"{'  PPO update share of plain-MuJoCo training time':<52}{out['update_share']:>14.2f}")
    print(f"{'policy latency, numpy, 1 obs (ms)':<52}{out['policy']['latency_ms']:>14.4f}")
    print(f"{'policy parameters':<52}{out['policy']['params']:>14d}")
    tr = out["policy"]["training"]
    if tr:
        print(f"{'training env steps / CPU-hours':<52}{tr.get('env_steps', 0):>8d} / {tr.get('train_seconds', 0) / 3600:>4.2f}")
    if "stand" in out:
        s = out["stand"]
        print(f"{'holds stand for 10 s':<52}{('yes' if s['success'] else 'no (fell at %.1f s)' % (s['frames'] / 50)):>14}")
    for split in ("held_out", "train"):
        r = out.get(f"eval_{split}")
        if not r:
            continue
        for cat, c in [("all", r)] + sorted(r.get("by_category", {}).items()):
            tag = f"[{split}/{cat}]"
            print(f"{tag + ' clips, success, fell':<52}{c['num_clips']:>4d} {c['success_rate']:>5.2f} {c['fall_rate']:>4.2f}")
            print(f"{tag + ' success with mpbpe <= 5 cm':<52}{c['target_rate']:>14.2f}")
            print(f"{tag + ' ... with drift-free mpbpe <= 5 cm (BeyondMimic)':<52}{c['target_rate_local']:>14.2f}")
            print(f"{tag + ' mpbpe / local (cm), joints (rad)':<52}{c['mpbpe_cm']:>5.1f} {c['mpbpe_local_cm']:>4.1f} {c['joint_error_rad']:>4.2f}")
            print(f"{tag + ' feet sliding where the reference stands (cm/s)':<52}{c['foot_slide_cm_s']:>14.1f}")
            print(f"{tag + ' root at the end, along / across (cm, mean ± sd)':<52}"
                  f"{c['end_along_cm']:>+5.1f} ± {c['end_along_sd_cm']:.1f} / {c['end_cross_cm']:+.1f} ± {c['end_cross_sd_cm']:.1f}")
    for key in ("generated", "generated_planted", "generated_stance"):
        g = out.get(key)
        if not g:
            continue
        how = f", StanceFoot {g['stance_foot_weight']:g}" if g["stance_foot_weight"] else (", feet planted" if g["plant_feet"] else "")
        print(f"{'generated (demo prompts' + how + ') without a fall, success':<52}{g['samples'] - g['falls']:>6d} / {g['samples']}, {g['success']}")
        d = g["demo"]
        print(f"{'  the demo motion (single draw, seed 0): success, mpbpe':<52}{('yes' if d['success'] else 'no'):>8} {d['mpbpe_cm']:>5.1f}")
        for prompt in DEMO_PROMPTS:
            rows = [r for r in g["rows"] if r["prompt"] == prompt]
            up = ", ".join(f"{r['seconds_up']:.1f}" for r in rows)  # the batch's samples, then the single draws
            print(f"{'  ' + prompt + ' (s up of ' + str(g['seconds']) + ')':<52}{up:>14}")
            err = ", ".join(f"{r['mpbpe_cm']:.0f}" for r in rows)
            slide = ", ".join(f"{r['stance_foot_speed_cm_s']:.0f}" for r in rows)
            print(f"{'    mpbpe (cm)':<52}{err:>14}")
            print(f"{'    stance-foot speed of the sample (cm/s)':<52}{slide:>14}")
    for key, what in (("receding", "motionfm run, example goals"), ("loop_scenarios", "random scenarios")):
        if key not in out:
            continue
        rc = out[key]
        print(f"{'receding loop (' + what + ', ' + str(rc['runs']) + ' runs): up':<52}{rc['up']:>14d}")
        print(f"{'  runs with obstacles, of them entered one':<52}{str(rc['with_obstacles']) + ', ' + str(rc['entered_obstacle']):>14}")
        fell = ", ".join(f"{r['sim_s']:.1f}" for r in rc["rows"] if r["fell"]) or "-"
        print(f"{'  falls at (s)':<52}{fell:>14}")
        err = ", ".join(f"{100 * r['joystick_error']:.0f}" for r in rc["rows"])
        print(f"{'  closed-loop joystick error (%)':<52}{err:>14}")
        near = [r for r in rc["rows"] if r["closest_m"] is not None]
        if near:  # an entry with the plan outside is the tracker straying; with it inside, the planner's
            print(f"{'  nearest approach, robot / plans tracked (cm)':<52}"
                  + ", ".join(f"{100 * r['closest_m']:.0f}/{100 * r['plan_closest_m']:.0f}" for r in near))
    return 0


if __name__ == "__main__":
    sys.exit(main())
