#!/usr/bin/env bash
# The full recipe on one GPU (or several: brax pmaps over all local devices): MJX physics, 4096 envs,
# the G1 corpus plus every retargeted corpus in runs/data, domain randomisation on (friction,
# masses, PD gains, pushes, observation noise), along the same curriculum as the CPU recipe, in
# chunks of CHUNK env steps; resumable (re-run to continue), exported after every chunk.
#   bash training/tracker_gpu.sh            # needs jax with CUDA: pip install -U "jax[cuda12]==0.9.2"
set -euo pipefail
cd "$(dirname "$0")/.."
CMU="runs/data/cmu_g1"
if [ ! -f "$CMU/clips.jsonl" ]; then
    .venv/bin/motionfm retarget ../shared/data/cmu-locomotion-bvh --out "$CMU"
fi
.venv/bin/python -m motionfm.tracker.cli train tracker --config gpu --curriculum \
    --steps "${CHUNK:-200000000}" --chunks "${CHUNKS:-10}" --out runs/tracker_gpu --export checkpoints/tracker_gpu "$@"
.venv/bin/python benchmarks/tracker.py --skip-train --checkpoint checkpoints/tracker_gpu --json > runs/tracker_gpu/eval.json
