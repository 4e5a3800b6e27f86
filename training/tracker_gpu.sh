#!/usr/bin/env bash
# The full recipe on one GPU (or several: brax pmaps over all local devices): 4096 envs, the whole
# G1 corpus plus the CMU walks, domain randomisation on (friction, masses, PD gains, pushes,
# observation noise), 2e9 env steps in chunks of CHUNK steps; resumable (re-run to continue).
#   bash training/tracker_gpu.sh            # needs jax with CUDA: pip install -U "jax[cuda12]==0.9.2"
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
CMU="${CMU_G1:-/tmp/cmu_g1}"
CHUNK="${CHUNK:-200000000}"
CHUNKS="${CHUNKS:-10}"
if [ ! -f "$CMU/clips.jsonl" ]; then
    .venv/bin/motionfm retarget ../shared/data/cmu-locomotion-bvh --out "$CMU"
fi
for _ in $(seq "$CHUNKS"); do
    .venv/bin/python -m motionfm.tracker.cli train tracker --config gpu --data "$DATA" "$CMU" \
        --steps "$CHUNK" --out runs/tracker_gpu --export checkpoints/tracker_gpu "$@"
done
.venv/bin/python -m motionfm.tracker.cli eval tracker --data "$DATA" --checkpoint checkpoints/tracker_gpu \
    --split held-out --json > runs/tracker_gpu/eval_heldout.json
