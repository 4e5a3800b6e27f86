#!/usr/bin/env bash
# Recipe of the shipped tracker (checkpoints/tracker): Brax PPO in MJX on a 2-core CPU, walking,
# stepping and squatting clips (ASAP walk/step/squat + retargeted CMU walks), 15% of clips held out.
# One call = one chunk of STEPS env steps; calling again resumes from runs/tracker_cpu (niced, so it
# shares the machine). Usage:
#   bash training/tracker_cpu.sh            # STEPS=1000000 by default (~20 min on 2 shared cores)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
CMU="${CMU_G1:-/tmp/cmu_g1}"
STEPS="${STEPS:-1000000}"
if [ ! -f "$CMU/clips.jsonl" ]; then
    .venv/bin/motionfm retarget ../shared/data/cmu-locomotion-bvh --out "$CMU"
fi
nice -n 10 .venv/bin/python -m motionfm.tracker.cli train tracker --config cpu \
    --data "$DATA" "$CMU" --include '^(asap/(walk|step|squat)|0[0-9][0-9]_[0-9]+$)' \
    --steps "$STEPS" --num-evals "${NUM_EVALS:-8}" --out runs/tracker_cpu --export checkpoints/tracker "$@"
