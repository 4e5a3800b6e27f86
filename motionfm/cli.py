"""``motionfm`` command line: a thin layer over the package's public functions.

Commands:
    motionfm demo [--text "..."] [--clip FILE]     the main job: sample from text, FK, report, pictures
    motionfm data inspect DIR [--json]             physical quality report of a motion folder
    motionfm data build DIR... --data-dir OUT      build the tfds dataset (windows, splits, stats)
        [--weight W ...] [--exclude-licence L ...] (one weight per DIR; also on the train commands)
    motionfm train tokenizer [--config small]      train (or resume) the motion tokenizer
    motionfm train diffusion                       train (or resume) the text-conditioned latent diffusion
    motionfm sample --text "..." --seconds 6       sample G1 motions from text
        [--joystick VX,VY,W] [--obstacles S.json] [--waypoints W.json] [--keyframes K.npz] [--plot P.png]
    motionfm train evaluator --data DIR...         train the contrastive text-motion evaluator
    motionfm eval diffusion [--json]               FID, R-precision, diversity, MM-Dist vs real ceiling
    motionfm eval tokenizer --data DIR [--json]    reconstruction metrics of a tokenizer checkpoint
    motionfm retarget INPUT --out DIR              human motion (BVH) to G1 CSVs + clips.jsonl
    motionfm track MOTION --out rollout.npz        track a motion with the tracker in plain MuJoCo
    motionfm eval tracker --data DIR [--json]      sim-to-sim success rate, mpbpe, joint error
    motionfm train tracker --data DIR...           Brax PPO in MJX, resumable chunks
    motionfm run --joystick-script C.json          receding-horizon generate-and-track loop
    motionfm render MOTION_OR_ROLLOUT --out F.mp4  film the G1 (MuJoCo offscreen)
    motionfm finetune --data DIR --out CKPT        adapt the diffusion model to your motions
    motionfm info                                  versions, devices, data location
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from motionfm.data.corpus import default_data_dir  # noqa: F401  (light: no tfds, no jax; re-exported)

DEFAULT_CLIP = "g1moves/B_ForwardKarate.csv"


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job: text → motion (shipped diffusion + tokenizer) → kinematics, checks, pictures →
    executed by the shipped tracker in plain MuJoCo (rollout + picture).

    Falls back to a recorded clip when no diffusion checkpoint is available (or ``--clip`` is given).
    """
    import numpy as np

    from motionfm.checkpoint import default_checkpoint_dir
    from motionfm.data.quality import inspect_motion
    from motionfm.motion import Motion
    from motionfm.robot import G1_BODY_NAMES, default_fk, fk_mujoco, load_g1
    from motionfm.viz import animate_motion, plot_motion

    out = Path(args.out)
    if args.clip or not (default_checkpoint_dir() / "diffusion" / "metadata.json").is_file():
        clip = Path(args.clip) if args.clip else default_data_dir() / DEFAULT_CLIP
        motion = Motion.load(clip)
        source = str(clip)
        print(f"loaded {clip}: {motion.num_frames} frames at {motion.fps:g} fps ({motion.duration:.1f} s)")
    else:
        from motionfm.pipeline import load_pretrained

        pipe = load_pretrained()
        t0 = time.perf_counter()
        motion = pipe.sample(text=args.text, seconds=args.seconds, seed=args.seed)[0]
        source = f"sampled from {args.text!r} (seed {args.seed})"
        print(f"sampled {args.seconds:g} s from {args.text!r} in {time.perf_counter() - t0:.2f} s (incl. compile)")
        motion = motion.replace(name=f"sample_{args.text.replace(' ', '_')[:40]}")
    robot = load_g1()
    t0 = time.perf_counter()
    def host_fk(qpos):  # JAX forward kinematics, all frames in one batched call, as numpy
        out = default_fk()(qpos)
        return type(out)(*(np.asarray(x) for x in out))

    fk = host_fk(motion.qpos)
    t1 = time.perf_counter()
    ref = fk_mujoco(motion.qpos, robot)
    err = float(np.abs(ref.body_pos - fk.body_pos).max())
    print(f"forward kinematics (MJX, jit incl. compile): {t1 - t0:.2f} s; max |MJX - MuJoCo| = {err:.2e} m")
    report = {"source": source, "name": motion.name, "captions": list(motion.captions),
              "fk_max_abs_err_m": err, **inspect_motion(motion, robot)}
    out.mkdir(parents=True, exist_ok=True)
    stem = motion.name.replace("/", "_") or "motion"
    motion.save(out / f"{stem}.npz")
    kin = out / f"{stem}_kinematics.npz"
    np.savez_compressed(kin, fps=motion.fps, qpos=motion.qpos, body_names=np.array(G1_BODY_NAMES),
                        body_pos=fk.body_pos, body_quat=fk.body_quat)
    png = plot_motion(motion, fk, out / f"{stem}.png", robot)
    files = [out / f"{stem}.npz", kin, png]
    if not args.no_gif:
        files.append(animate_motion(motion, fk, out / f"{stem}.gif", robot, max_seconds=args.gif_seconds))
    if not args.no_track and (default_checkpoint_dir() / "tracker" / "metadata.json").is_file():
        # Execute it: the shipped tracker policy in plain MuJoCo, as it would run on the robot.
        from motionfm.tracker.policy import load_policy
        from motionfm.tracker.rollout import describe, save_rollout, track

        r = track(load_policy(), motion)
        files.append(save_rollout(out / f"{stem}_rollout.npz", r))
        sim = Motion.from_qpos(r["qpos"], r["fps"])
        files.append(plot_motion(sim, host_fk(sim.qpos), out / f"{stem}_tracked.png", robot))
        report["tracking"] = {k: r[k] for k in ("frames", "clip_frames", "fell", "success", "mpbpe_cm", "policy_ms")}
        print(f"tracked in MuJoCo by the shipped policy: {describe(r)}")
    if not args.no_video:  # the G1's meshes in MuJoCo: the tracked rollout (reference as a ghost), else the motion
        from motionfm.render import render_motion, render_rollout

        files.append(render_rollout(r, out / f"{stem}_tracked.mp4") if "tracking" in report
                     else render_motion(motion, out / f"{stem}.mp4"))
    (out / f"{stem}_report.json").write_text(json.dumps(report, indent=2))
    files.append(out / f"{stem}_report.json")
    print(f"quality: {report['verdict']}" + (f" ({'; '.join(report['flags'])})" if report["flags"] else ""))
    print("wrote:\n  " + "\n  ".join(str(f) for f in files))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from motionfm.data.quality import QualityThresholds, format_report, inspect_folder

    th = QualityThresholds(
        max_penetration_cm=args.max_penetration_cm, max_skating_cm_s=args.max_skating_cm_s,
        max_float_cm=args.max_float_cm, max_joint_vel_rad_s=args.max_joint_vel,
    )
    report = inspect_folder(args.dir, th, fps=args.fps, progress=not args.json and sys.stderr.isatty())
    for c in report["clips"]:
        if c["verdict"] == "error":
            print(f"error: {c['error']}", file=sys.stderr)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 1 if report["totals"]["errors"] else 0


def _cmd_build(args: argparse.Namespace) -> int:
    from motionfm.data import G1MotionConfig, build_sources, format_licence_summary, licence_summary

    cfg = G1MotionConfig(name=args.name, fps=args.fps, window=args.window, stride=args.stride,
                         val_fraction=args.val_fraction, split_seed=args.seed, csv_fps=args.csv_fps)
    t0 = time.perf_counter()
    # one folder: built in --data-dir itself (as always); several: one sub-folder each, as training does
    _, _, info = build_sources(args.dir, args.data_dir, cfg, weights=args.weight, exclude_licences=args.exclude_licence,
                               flat=len(args.dir) == 1)
    summary = licence_summary(info)
    print(f"built {len(info)} corpus folder(s) in {time.perf_counter() - t0:.1f} s")
    for row, share in zip(info, summary["corpora"]):
        print(f"{row['corpus']}: {row['clips']} clips ({row['excluded_clips']} excluded), weight {row['weight']:g} "
              f"({share['draw_share']:.1%} of training draws) at {row['dataset']}")
        for name in ("train", "validation"):
            if f"{name}_windows" in row:
                print(f"  {name}: {row[f'{name}_windows']} windows")
        print(f"  licences: {format_licence_summary({'licences': row['licences']})}")
        print(f"  normalisation stats: {Path(row['dataset']) / 'stats.json'}")
    print(f"licences: {format_licence_summary(summary)}")
    return 0


def _tokenizer_configs(args: argparse.Namespace):
    import dataclasses

    from motionfm.tokenizer.train import load_config

    cfg, tc = load_config(args.config)
    if getattr(args, "rvq_levels", None) is not None:
        cfg = dataclasses.replace(cfg, rvq_levels=args.rvq_levels)
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr), ("seed", args.seed)) if v is not None}
    return cfg, dataclasses.replace(tc, **overrides)


def _cmd_train_tokenizer(args: argparse.Namespace) -> int:
    import dataclasses

    import jax

    from motionfm.tokenizer.evaluate import evaluate_folder
    from motionfm.tokenizer.tokenizer import load_tokenizer, save_tokenizer
    from motionfm.data import licence_summary
    from motionfm.tokenizer.train import build_sources, tokenizer_from_run, train

    cfg, tc = _tokenizer_configs(args)
    corpora = args.data or [str(default_data_dir())]
    out = Path(args.out)
    train_src, val_src, info = build_sources(corpora, args.dataset_dir or out / "datasets", cfg, tc,
                                             weights=args.weight, exclude_licences=args.exclude_licence)
    print(f"tokenizer {cfg.quantizer}: {len(train_src)} train windows, {len(val_src) if val_src else 0} validation; "
          f"{jax.device_count()} device(s); {tc.steps} steps of {tc.batch_size}")
    init = None
    if args.init_from:
        src = Path(args.init_from)
        init = tokenizer_from_run(src) if (src / "config.json").is_file() else load_tokenizer(src)
        print(f"warm start from {src} ({init.config.quantizer}, {init.metadata.get('steps', '?')} steps)")
    t0 = time.perf_counter()
    _, _, log = train(cfg, tc, train_src, out, val_source=val_src, init_from=init)
    hours = (time.perf_counter() - t0) / 3600
    val_ids = [i for row in info for i in row["validation_clips"]]
    tok = tokenizer_from_run(out, {"data": info, "training_data": licence_summary(info), "validation_clips": val_ids,
                                   "train_hours_this_run": round(hours, 3),
                                   "devices": [str(d) for d in jax.devices()],
                                   **({"init_from": {"path": str(args.init_from), "steps": init.metadata.get("steps"),
                                                     "train": init.metadata.get("train")}} if init else {})})
    metrics = {}
    for row in info:
        if row["validation_clips"]:
            rep = evaluate_folder(tok, row["corpus"], only=row["validation_clips"])
            metrics[row["corpus"]] = {k: rep[k] for k in ("mpjpe_mm", "root_relative_mpjpe_mm", "joint_rmse_rad", "codebook_usage", "perplexity", "num_clips")}
    tok = dataclasses.replace(tok, metadata={**tok.metadata, "validation_metrics": metrics, "final_train_log": log[-1] if log else {}})
    if args.export:
        print(f"exported {save_tokenizer(args.export, tok)}")
    print(json.dumps(metrics, indent=1))
    return 0


def _cmd_eval_tokenizer(args: argparse.Namespace) -> int:
    from motionfm.tokenizer import load_tokenizer
    from motionfm.tokenizer.evaluate import evaluate_folder

    tok = load_tokenizer(args.checkpoint)
    only = None
    if args.split == "validation":
        only = tok.metadata.get("validation_clips") or []
    report = evaluate_folder(tok, args.data, fps=args.fps, only=only)
    report["checkpoint"] = str(args.checkpoint or "shipped")
    report["quantizer"] = tok.config.quantizer
    for e in report["errors"]:
        print(f"error: {e['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for c in report["clips"]:
            print(f"{c['id'][:40]:<40} {c['frames']:>6d} frames  mpjpe {c['mpjpe_mm']:7.1f} mm  joints {c['joint_rmse_rad']:.3f} rad")
        print(f"{report['num_clips']} clips: mpjpe {report['mpjpe_mm']:.1f} mm, root-relative {report['root_relative_mpjpe_mm']:.1f} mm, "
              f"joint RMSE {report['joint_rmse_rad']:.4f} rad, codebook usage {report['codebook_usage']:.1%}, perplexity {report['perplexity']:.1f}")
    return 1 if report["errors"] else 0


def _cmd_train_diffusion(args: argparse.Namespace) -> int:
    import dataclasses

    import jax
    import numpy as np

    from motionfm.checkpoint import default_checkpoint_dir
    from motionfm.data import licence_summary
    from motionfm.diffusion import LatentDiffusion, SchedulerConfig, save_diffusion
    from motionfm.diffusion.train import load_config, train, training_data
    from motionfm.pipeline import tokenizer_fingerprint
    from motionfm.tokenizer import load_tokenizer

    model_cfg, tc = load_config(args.config)  # a bad config fails before anything loads
    tok = load_tokenizer(args.tokenizer)
    tc = dataclasses.replace(tc, **{k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr), ("seed", args.seed),
                                                         ("foot_contact_weight", args.foot_contact_weight)) if v is not None})
    model_cfg = dataclasses.replace(model_cfg, **{k: v for k, v in (("width", args.width), ("depth", args.depth)) if v is not None})
    cfg = dataclasses.replace(model_cfg, latent_dim=tok.config.latent_dim,
                              max_tokens=max(model_cfg.max_tokens, tc.window // tok.config.stride))
    sched = SchedulerConfig(prediction_type=args.prediction)
    corpora = args.data or [str(default_data_dir())]
    out = Path(args.out)
    base = None
    if args.init_from:  # warm start: the base's parameters and latent normalisation, a fresh optimiser
        from motionfm.diffusion import load_diffusion

        base = load_diffusion(args.init_from)
        if base.config != cfg:
            raise ValueError(f"{args.init_from}: its denoiser {base.config} differs from this run's {cfg}")
        if base.metadata.get("tokenizer_fingerprint", tokenizer_fingerprint(tok)) != tokenizer_fingerprint(tok):
            raise ValueError(f"{args.init_from}: trained on another tokenizer than {args.tokenizer or 'the shipped one'}")
    src, info, captions, table = training_data(corpora, out, tok, tc, args.weight, args.exclude_licence)
    val_ids = [i for row in info for i in row["validation_clips"]]
    print(f"diffusion: {len(src)} windows, {len(captions)} captions, {jax.device_count()} device(s), {tc.steps} steps of {tc.batch_size}")
    # where load_pretrained finds this tokenizer: relative to the exported checkpoint's folder
    tok_dir = Path(args.tokenizer) if args.tokenizer else default_checkpoint_dir() / "tokenizer"
    tok_ref = os.path.relpath(tok_dir.resolve(), Path(args.export).resolve().parent) if args.export else str(tok_dir.resolve())
    t0 = time.perf_counter()
    state, stats, log = train(tok, cfg, sched, tc, src, {c: i for i, c in enumerate(captions)}, np.asarray(table), out,
                              stats=base.stats if base else None, init_params=base.params if base else None)
    base_steps = int(base.metadata.get("steps", 0)) if base else 0
    base_hours = float(base.metadata.get("train_hours_total", base.metadata.get("train_hours_this_run", 0.0))) if base else 0.0
    hours = (time.perf_counter() - t0) / 3600
    meta = {"train": dataclasses.asdict(tc), "steps": base_steps + int(state.step), "data": info, "training_data": licence_summary(info),
            **({"init_from": {"path": str(args.init_from), "steps": base_steps, "train_hours": base_hours}} if base else {}),
            "validation_clips": val_ids,
            "train_hours_this_run": round(hours, 3), "final_train_log": log[-1] if log else {},
            "train_hours_total": round(hours + base_hours, 3),
            "tokenizer_checkpoint": tok_ref, "tokenizer_fingerprint": tokenizer_fingerprint(tok)}
    if args.export:
        print(f"exported {save_diffusion(args.export, LatentDiffusion(cfg, sched, state.params, stats, tc.window, meta))}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from motionfm.motion import Motion
    from motionfm.pipeline import load_pretrained

    out = Path(args.out)
    if out.suffix.lower() not in (".npz", ".csv"):
        raise ValueError(f"{out}: output must end in .npz or .csv")
    costs = _guidance_costs(args)  # read every goal file before the (slow) model load
    pipe = load_pretrained(args.checkpoint)
    history = Motion.load(args.history) if args.history else None
    t0 = time.perf_counter()
    motions = pipe.sample(text=args.text, seconds=args.seconds, seed=args.seed, num_samples=args.num_samples,
                          history=history, guidance_scale=args.guidance_scale, num_steps=args.steps, guidance=costs,
                          plant_feet=args.plant_feet)
    print(f"sampled {len(motions)} x {args.seconds:g} s in {time.perf_counter() - t0:.2f} s (incl. compile)")
    for i, m in enumerate(motions):
        path = out if len(motions) == 1 else out.with_name(f"{out.stem}_{i}{out.suffix}")
        m.save(path)
        print(f"wrote {path}")
        if costs:
            from motionfm.guidance import evaluate

            print("  guidance: " + ", ".join(f"{k} {v:.3g}" for k, v in evaluate(costs, m).items()))
            if args.plot:
                from motionfm.guidance.plot import plot_paths

                png = Path(args.plot) if len(motions) == 1 else Path(args.plot).with_name(f"{Path(args.plot).stem}_{i}.png")
                plot_paths([m], png, costs=costs, title=args.text or "")
                print(f"  wrote {png}")
    return 0


def _guidance_costs(args: argparse.Namespace) -> list:
    """Guidance costs from the ``sample`` command's goal flags (files are read and checked here)."""
    from motionfm.guidance import FootSkating, StanceFoot, load_keyframes, load_scene, load_waypoints, parse_joystick

    costs: list = []
    if args.joystick:
        costs.append(parse_joystick(args.joystick))
    if args.obstacles:
        costs.append(load_scene(args.obstacles))
    if args.keyframes:
        costs += load_keyframes(args.keyframes)
    if args.waypoints:
        costs.append(load_waypoints(args.waypoints))
    if costs and args.skating_weight > 0:
        costs.append(FootSkating(args.skating_weight))
    if args.stance_foot_weight > 0:  # alone too: it is a plausibility goal of its own
        costs.append(StanceFoot(args.stance_foot_weight))
    return costs


def _cmd_info(args: argparse.Namespace) -> int:
    import jax

    import motionfm
    from motionfm.robot import load_g1

    robot = load_g1()
    print(f"motionfm {motionfm.__version__}, jax {jax.__version__}, devices {jax.devices()}")
    print(f"G1 model: {robot.path}")
    print(f"data: {default_data_dir()}")
    from motionfm.checkpoint import default_checkpoint_dir
    from motionfm.data.corpus import format_licence_summary

    for meta_path in sorted(default_checkpoint_dir().glob("*/metadata.json")):  # what each model was trained on
        meta = json.loads(meta_path.read_text())
        print(f"checkpoint {meta_path.parent.name}: training-data licences {format_licence_summary(meta.get('training_data'))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of the ``motionfm`` command."""
    from motionfm.data.corpus import add_selection_arguments  # light: no tfds, no jax

    p = argparse.ArgumentParser(prog="motionfm", description="Generative motion for the Unitree G1.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the main job: sample a motion from text, check it, write pictures")
    d.add_argument("--text", default="a person walks forward", help="what the robot should do")
    d.add_argument("--seconds", type=float, default=6.0)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--clip", help="use a recorded motion file instead of sampling")
    d.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    d.add_argument("--no-gif", action="store_true", help="skip the animation")
    d.add_argument("--gif-seconds", type=float, default=8.0, help="animation length (s)")
    d.add_argument("--no-track", action="store_true", help="skip executing the motion with the shipped tracker")
    d.add_argument("--no-video", action="store_true", help="skip the MP4 of the tracked rollout (or of the motion)")
    d.set_defaults(func=_cmd_demo)

    data = sub.add_parser("data", help="corpus tools").add_subparsers(dest="data_command", required=True)
    i = data.add_parser("inspect", help="physical quality report of a folder of motion files")
    i.add_argument("dir", help="folder of .csv/.npz motion files (with optional clips.jsonl)")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--fps", type=float, help="frame rate of CSVs not listed in a clips.jsonl")
    i.add_argument("--max-penetration-cm", type=float, default=2.0)
    i.add_argument("--max-skating-cm-s", type=float, default=10.0)
    i.add_argument("--max-float-cm", type=float, default=3.0)
    i.add_argument("--max-joint-vel", type=float, default=30.0, help="rad/s")
    i.set_defaults(func=_cmd_inspect)

    b = data.add_parser("build", help="build the tfds dataset of one or several motion folders")
    b.add_argument("dir", nargs="+", help="folder(s) of motion files (each a tfds manual_dir)")
    b.add_argument("--data-dir", required=True, help="where tfds writes the dataset (several folders: one sub-folder each)")
    b.add_argument("--name", default="", help="builder config name (default: derived from the settings)")
    b.add_argument("--fps", type=float, default=30.0)
    b.add_argument("--window", type=int, default=64)
    b.add_argument("--stride", type=int, default=16)
    b.add_argument("--val-fraction", type=float, default=0.1, help="fraction of clips held out")
    b.add_argument("--seed", type=int, default=0, help="clip split seed")
    b.add_argument("--csv-fps", type=float, help="frame rate of CSVs not listed in a clips.jsonl")
    add_selection_arguments(b)
    b.set_defaults(func=_cmd_build)

    tr = sub.add_parser("train", help="train a stage").add_subparsers(dest="train_command", required=True)
    t = tr.add_parser("tokenizer", help="train the motion tokenizer (resumes from --out)")
    t.add_argument("--config", default="small", help="preset (small, small-vq, small-fsq, large) or a JSON file")
    t.add_argument("--data", nargs="+", help="corpus folders (default: the G1 corpus)")
    add_selection_arguments(t)
    t.add_argument("--out", default="runs/tokenizer", help="run folder (checkpoints, logs); resumed if present")
    t.add_argument("--dataset-dir", help="where the tfds windows are built (default: <out>/datasets)")
    t.add_argument("--export", help="write the trained tokenizer checkpoint here (e.g. checkpoints/tokenizer)")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--rvq-levels", type=int, help="override the config's residual levels")
    t.add_argument("--init-from", help="warm-start a fresh run from a tokenizer checkpoint or run folder "
                   "(fine-tuning; parameters and codebooks of matching shape are copied, e.g. to add RVQ levels)")
    t.set_defaults(func=_cmd_train_tokenizer)

    t = tr.add_parser("diffusion", help="train the text-conditioned latent diffusion model (resumes from --out)")
    t.add_argument("--data", nargs="+", help="corpus folders (default: the G1 corpus)")
    add_selection_arguments(t)
    t.add_argument("--tokenizer", help="tokenizer checkpoint (default: the shipped one)")
    t.add_argument("--out", default="runs/diffusion", help="run folder; resumed if present")
    t.add_argument("--export", help="write the trained diffusion checkpoint here (e.g. checkpoints/diffusion)")
    t.add_argument("--config", default="small", help="preset (small: CPU, the shipped model; large: GPU) or a JSON file")
    t.add_argument("--width", type=int, help="override the preset's transformer width")
    t.add_argument("--depth", type=int, help="override the preset's transformer depth")
    t.add_argument("--prediction", choices=["epsilon", "sample", "v_prediction"], default="v_prediction")
    t.add_argument("--init-from", help="warm-start a fresh run from a diffusion checkpoint (same denoiser and tokenizer; "
                   "its parameters and latent normalisation, a fresh optimiser and schedule)")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--foot-contact-weight", type=float,
                   help="weight of the foot-contact term (sliding of the denoiser's decoded estimate where the training "
                        "motion's feet are down; DiffusionTrainConfig.foot_contact_weight; default: the config's)")
    t.set_defaults(func=_cmd_train_diffusion)

    s = sub.add_parser("sample", help="sample G1 motions from text")
    s.add_argument("--text", help="what the robot should do (omit for unconditional)")
    s.add_argument("--seconds", type=float, default=6.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--num-samples", type=int, default=1)
    s.add_argument("--history", help="a motion file to continue from")
    s.add_argument("--guidance-scale", type=float,
                   help="classifier-free guidance weight (default: the sampler's, motionfm.diffusion.DEFAULT_GUIDANCE_SCALE)")
    s.add_argument("--steps", type=int, help="inference steps (default: the pipeline's, MotionPipeline.num_steps)")
    s.add_argument("--checkpoint", help="diffusion checkpoint (default: the shipped one)")
    s.add_argument("--out", default="motion.npz", help="output .npz or .csv (numbered when several)")
    s.add_argument("--plant-feet", action="store_true",
                   help="move the root so supporting feet do not slide: the path the steps carry, which a tracker walks "
                   "(the generator's walks glide; 'walks backward' then mostly stays put); with guidance, goals are met by stepping")
    g = s.add_argument_group("guidance (goals at sampling time; formats: motionfm.guidance.files)")
    g.add_argument("--joystick", metavar="VX,VY,YAWRATE", help="constant heading-frame velocity command (m/s, m/s, rad/s)")
    g.add_argument("--obstacles", metavar="SCENE.json", help="spheres/boxes/cylinders/capsules to stay out of")
    g.add_argument("--keyframes", metavar="KF.npz", help="poses or partial targets at given times")
    g.add_argument("--waypoints", metavar="WP.json", help="root positions to reach by given times")
    g.add_argument("--skating-weight", type=float, default=0.0, help="weight of a foot-skating regulariser (0: off)")
    g.add_argument("--stance-foot-weight", type=float, default=0.0,
                   help="keep the supporting (lower) foot from sliding, so walks step instead of gliding; 3 is a good start (0: off)")
    g.add_argument("--plot", metavar="PNG", help="also write the root path (and obstacles/goals) as a picture")
    s.set_defaults(func=_cmd_sample)

    ev = sub.add_parser("eval", help="evaluate a stage").add_subparsers(dest="eval_command", required=True)
    e = ev.add_parser("tokenizer", help="reconstruction metrics of the tokenizer on a motion folder")
    e.add_argument("--data", required=True, help="folder of motion files (clips.jsonl optional)")
    e.add_argument("--checkpoint", help="tokenizer checkpoint folder (default: the shipped one)")
    e.add_argument("--split", choices=["all", "validation"], default="all",
                   help="'validation': only the clips the checkpoint held out in training")
    e.add_argument("--fps", type=float, help="frame rate of CSVs not listed in a clips.jsonl")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_cmd_eval_tokenizer)

    from motionfm.tracker.cli import register as register_tracker

    register_tracker(sub, train_group=tr, eval_group=ev)
    from motionfm.evaluation.cli import register as register_evaluation
    register_evaluation(tr, ev)

    sub.add_parser("info", help="versions, devices and paths").set_defaults(func=_cmd_info)

    from motionfm.retarget.cli import register as register_retarget

    register_retarget(sub)
    from motionfm.render_cli import register as register_render

    register_render(sub)
    from motionfm.run_cli import register as register_run

    register_run(sub)
    from motionfm.finetune_cli import register as register_finetune

    register_finetune(sub)
    return p


def host_cpu_key() -> str:
    """A short key of this host's CPU model and instruction-set flags (``/proc/cpuinfo``).

    XLA:CPU compiles for the host's features; an entry compiled on a machine with other
    features (this VM moves between hosts) loads with a "could lead to SIGILL" warning, or worse.
    """
    import hashlib
    import platform

    text = platform.machine() + platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        text += "".join(sorted({ln for ln in lines if ln.startswith(("flags", "model name", "Features"))}))
    except OSError:
        pass
    return f"{platform.machine()}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def compilation_cache_dir() -> Path | None:
    """Where XLA's compiled programs are kept: ``$MOTIONFM_JAX_CACHE`` (default
    ``~/.cache/motionfm/jax``; empty switches the cache off), one sub-folder per host CPU
    (:func:`host_cpu_key`), so code compiled for other CPU features is never loaded."""
    path = os.environ.get("MOTIONFM_JAX_CACHE", str(Path.home() / ".cache" / "motionfm" / "jax"))
    return Path(path) / host_cpu_key() if path else None


def enable_compilation_cache() -> None:
    """Keep XLA's compiled programs on disk between runs in :func:`compilation_cache_dir`: a
    guided ``sample`` compiles for 10-20 s the first time and loads in about a second after."""
    path = compilation_cache_dir()
    if path is not None:
        import jax

        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``motionfm`` command."""
    args = build_parser().parse_args(argv)
    enable_compilation_cache()
    if os.environ.get("MOTIONFM_DISTRIBUTED", "") not in ("", "0"):
        # several hosts: one process per host; JAX reads the cluster (SLURM, Kubernetes, TPU pods) or
        # JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID. The trainers then shard over all.
        import jax

        jax.distributed.initialize()
    from motionfm.motion import MotionFileError

    try:
        return args.func(args)
    except (MotionFileError, FileNotFoundError, NotADirectoryError, ValueError) as e:
        print(f"motionfm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
