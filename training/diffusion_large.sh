#!/usr/bin/env bash
# GPU recipe: the large latent-diffusion model (8 x 512 DiT, 10 s windows) on a big corpus, over the
# latents of a tokenizer trained for it (training/tokenizer_large.sh). Data-parallel over every
# visible device; for several hosts call jax.distributed.initialize() first. Usage:
#   TOKENIZER=checkpoints/tokenizer_large bash training/diffusion_large.sh /data/lafan1_g1 /data/amass_g1 ...
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/motionfm train diffusion --config large --data "$@" --tokenizer "${TOKENIZER:-checkpoints/tokenizer_large}" \
    --steps "${STEPS:-200000}" --batch-size "${BATCH:-256}" --out runs/diffusion_large --export checkpoints/diffusion_large
