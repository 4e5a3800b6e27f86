#!/usr/bin/env bash
# Recipe of the shipped text-motion evaluator (checkpoints/evaluator), CPU, ~6 min: contrastive
# motion/caption embeddings for FID and R-precision (`motionfm eval diffusion`), trained on the G1
# corpus plus the retargeted CMU walks. Seed 0 holds out the same clips as the diffusion model.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
CMU="${CMU_BVH:-../shared/data/cmu-locomotion-bvh}"
[ -f runs/data/cmu_g1/clips.jsonl ] || .venv/bin/motionfm retarget "$CMU" --out runs/data/cmu_g1
.venv/bin/motionfm train evaluator --data "$DATA" runs/data/cmu_g1 \
    --steps "${STEPS:-1500}" --out runs/evaluator --export checkpoints/evaluator
