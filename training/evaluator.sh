#!/usr/bin/env bash
# Recipe of the shipped text-motion evaluator (checkpoints/evaluator), CPU, ~5 min: contrastive
# motion/caption embeddings for FID and R-precision (`motionfm eval diffusion`), trained on the whole
# corpus (training/corpora.sh). Seed 0 holds out the same clips as the diffusion model.
set -euo pipefail
cd "$(dirname "$0")/.."
source training/corpora.sh
.venv/bin/motionfm train evaluator --data "${CORPORA[@]}" --weight "${WEIGHTS[@]}" \
    --steps "${STEPS:-1500}" --out runs/evaluator_all --export checkpoints/evaluator
