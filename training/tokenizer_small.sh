#!/usr/bin/env bash
# Recipe of the shipped tokenizer (checkpoints/tokenizer): the small residual-VQ config, CPU, on the
# G1 corpus plus the CMU walking clips retargeted to the G1 (issue 6). Resumes from
# runs/tokenizer_small if interrupted. Usage: bash training/tokenizer_small.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
CMU="${CMU_BVH:-../shared/data/cmu-locomotion-bvh}"
[ -f runs/data/cmu_g1/clips.jsonl ] || .venv/bin/motionfm retarget "$CMU" --out runs/data/cmu_g1
.venv/bin/motionfm train tokenizer --config small --data "$DATA" runs/data/cmu_g1 --steps "${STEPS:-15000}" \
    --out runs/tokenizer_small --export checkpoints/tokenizer
