#!/usr/bin/env bash
# Recipe of the shipped diffusion model (checkpoints/diffusion), CPU: trained on the latents of
# TOKENIZER (default checkpoints/tokenizer-v1, the tokenizer the shipped model was trained with; that
# one is reproduced by `motionfm train tokenizer --config checkpoints/tokenizer-v1/metadata.json`)
# over the G1 corpus plus the retargeted CMU walks. TOKENIZER=checkpoints/tokenizer trains on the
# current tokenizer (tokenizer_small.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
CMU="${CMU_BVH:-../shared/data/cmu-locomotion-bvh}"
[ -f runs/data/cmu_g1/clips.jsonl ] || .venv/bin/motionfm retarget "$CMU" --out runs/data/cmu_g1
.venv/bin/motionfm train diffusion --config small --data "$DATA" runs/data/cmu_g1 --tokenizer "${TOKENIZER:-checkpoints/tokenizer-v1}" \
    --steps "${STEPS:-5000}" --out runs/diffusion_small --export checkpoints/diffusion
