#!/usr/bin/env bash
# Recipe of the shipped diffusion model (checkpoints/diffusion), CPU: the small DiT (4 x 256, cross-
# attending to 16 MiniLM token states) on the latents of TOKENIZER (default checkpoints/tokenizer,
# training/tokenizer_small.sh) over the whole corpus (training/corpora.sh), 6k steps of 64 windows of
# 128 frames (the preset's steps; STEPS overrides; ~53 min on 2 cores). Resumes from runs/diffusion_text
# if interrupted.
# Usage: bash training/diffusion_small.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source training/corpora.sh
.venv/bin/motionfm train diffusion --config small --data "${CORPORA[@]}" --weight "${WEIGHTS[@]}" \
    --tokenizer "${TOKENIZER:-checkpoints/tokenizer}" ${STEPS:+--steps "$STEPS"} --out runs/diffusion_text \
    --export checkpoints/diffusion
