#!/usr/bin/env bash
# Recipe of the shipped tokenizer (checkpoints/tokenizer): the small residual-VQ config, CPU. Three
# stages, each resumed from its run folder if interrupted:
#   1. 15k steps with 8 residual levels on the G1 corpus + the CMU walks (~30 min),
#   2. the stack grown to the preset's 12 levels (the 8 trained levels and the conv trunk copied,
#      4 new codebooks), 3k steps of fine-tuning (~8 min),
#   3. 6k steps on the whole corpus (training/corpora.sh: + Bandai-Namco and CMU subjects 01-09,
#      weights 3/1/3/3) at lr 5e-4 (~29 min on 2 cores). Usage: bash training/tokenizer_small.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source training/corpora.sh
.venv/bin/motionfm train tokenizer --config small --rvq-levels 8 --data "$G1" runs/data/cmu_g1 --steps "${STEPS:-15000}" \
    --out runs/tokenizer_small --dataset-dir runs/tokenizer_small/datasets
.venv/bin/motionfm train tokenizer --config small --init-from runs/tokenizer_small --data "$G1" runs/data/cmu_g1 \
    --steps "${STEPS2:-3000}" --lr 5e-4 --out runs/tokenizer_small_l12 --dataset-dir runs/tokenizer_small/datasets
.venv/bin/motionfm train tokenizer --config small --init-from runs/tokenizer_small_l12 --data "${CORPORA[@]}" \
    --weight "${WEIGHTS[@]}" --steps "${STEPS3:-6000}" --lr 5e-4 --out runs/tokenizer_all --dataset-dir runs/datasets_tok \
    --export checkpoints/tokenizer
