#!/usr/bin/env bash
# Recipe of the shipped tokenizer (checkpoints/tokenizer): the small residual-VQ config, CPU, on the
# G1 corpus plus the CMU walking clips retargeted to the G1 (issue 6). Two stages: 15k steps with 8
# residual levels, then the stack grown to the preset's 12 levels (warm start: the 8 trained levels
# and the conv trunk copied, 4 new codebooks) and 3k steps of fine-tuning. Each stage resumes from
# its run folder if interrupted. Usage: bash training/tokenizer_small.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
CMU="${CMU_BVH:-../shared/data/cmu-locomotion-bvh}"
[ -f runs/data/cmu_g1/clips.jsonl ] || .venv/bin/motionfm retarget "$CMU" --out runs/data/cmu_g1
.venv/bin/motionfm train tokenizer --config small --rvq-levels 8 --data "$DATA" runs/data/cmu_g1 --steps "${STEPS:-15000}" \
    --out runs/tokenizer_small --dataset-dir runs/tokenizer_small/datasets
.venv/bin/motionfm train tokenizer --config small --init-from runs/tokenizer_small --data "$DATA" runs/data/cmu_g1 \
    --steps "${STEPS2:-3000}" --lr 5e-4 --out runs/tokenizer_small_l12 --dataset-dir runs/tokenizer_small/datasets \
    --export checkpoints/tokenizer
