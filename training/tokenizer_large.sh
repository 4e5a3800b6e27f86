#!/usr/bin/env bash
# GPU recipe: the large residual-VQ tokenizer on a big corpus (LAFAN1-G1, AMASS/PHUMA retargets, ...).
# Data-parallel over every visible device; for several hosts call jax.distributed.initialize() first
# (e.g. via JAX's cluster auto-detection). Usage:
#   bash training/tokenizer_large.sh /data/lafan1_g1 /data/amass_g1 ...
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/motionfm train tokenizer --config large --data "$@" --steps "${STEPS:-200000}" \
    --batch-size "${BATCH:-512}" --lr 2e-4 --out runs/tokenizer_large --export checkpoints/tokenizer_large
