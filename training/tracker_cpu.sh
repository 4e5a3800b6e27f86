#!/usr/bin/env bash
# Recipe of the shipped tracker (checkpoints/tracker): Brax PPO on plain-MuJoCo physics
# (mujoco.rollout on all cores) on a 2-core CPU, deployment actuation, along the curriculum
# stand + locomotion + gestures -> athletic -> dance + martial arts, on the G1 corpus plus every
# retargeted corpus in runs/data (CMU walks are retargeted here first if missing); 15% of the
# clips of every family held out. Resumable: each chunk (STEPS env steps, a few minutes) ends in a
# brax checkpoint, a curriculum.json update and an export with its progress plot; calling again
# continues from runs/tracker_cpu. Usage:
#   bash training/tracker_cpu.sh                 # CHUNKS=20 chunks of STEPS=4000000 (~11 min each)
set -euo pipefail
cd "$(dirname "$0")/.."
CMU="runs/data/cmu_g1"
if [ ! -f "$CMU/clips.jsonl" ]; then
    .venv/bin/motionfm retarget ../shared/data/cmu-locomotion-bvh --out "$CMU"
fi
# One process per chunk: every chunk compiles brax's training step around a new environment, and
# XLA keeps those programs (with the corpus as constants) alive; in one process 4 chunks on the
# whole corpus grew to 23 GB and were OOM-killed on this 24 GB machine.
for _ in $(seq "${CHUNKS:-20}"); do
    .venv/bin/python -m motionfm.tracker.cli train tracker --config cpu --curriculum \
        --steps "${STEPS:-4000000}" --chunks 1 --num-evals "${NUM_EVALS:-6}" \
        --out runs/tracker_cpu --export checkpoints/tracker "$@"
done
