#!/usr/bin/env bash
# Recipe of the shipped tokenizer (checkpoints/tokenizer): the small residual-VQ config on the G1
# corpus, CPU. Resumes from runs/tokenizer_small if interrupted. Usage:
#   bash training/tokenizer_small.sh [extra corpus folders...]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MOTIONFM_DATA:-../shared/data/g1-open-motion}"
STEPS="${STEPS:-20000}"
.venv/bin/motionfm train tokenizer --config small --data "$DATA" "$@" --steps "$STEPS" \
    --out runs/tokenizer_small --export checkpoints/tokenizer
