# Sourced by the recipes: the whole corpus that exists here, retargeted first where missing
# (resumable; ~11 min on 2 cores), and the sampling weights of the shipped stack.
#   G1 corpus (32 min, real G1 motion)      weight 3
#   Bandai-Namco (217 min, CC BY-NC 4.0)    weight 1   -> the weights inherit non-commercial terms
#   CMU cgspeed subjects 01-09 (7 min)      weight 3
#   CMU iClone walks (2 min)                weight 3
# MOTIONFM_DATA, BANDAI_BVH, CMU_MOCAP_BVH, CMU_BVH point elsewhere; RETARGET_WORKERS sets the pool.
SHARED="${SHARED_DATA:-../shared/data}"
G1="${MOTIONFM_DATA:-$SHARED/g1-open-motion}"
W="${RETARGET_WORKERS:-2}"
[ -f runs/data/cmu_g1/clips.jsonl ] || .venv/bin/motionfm retarget "${CMU_BVH:-$SHARED/cmu-locomotion-bvh}" --out runs/data/cmu_g1 --workers "$W"
[ -f runs/data/cmu_mocap_g1/.done ] || { .venv/bin/motionfm retarget "${CMU_MOCAP_BVH:-$SHARED/cmu-mocap-bvh}" --out runs/data/cmu_mocap_g1 --workers "$W" && touch runs/data/cmu_mocap_g1/.done; }
[ -f runs/data/bandai_g1/.done ] || { .venv/bin/motionfm retarget "${BANDAI_BVH:-$SHARED/bandai-namco-bvh}" --out runs/data/bandai_g1 --workers "$W" && touch runs/data/bandai_g1/.done; }
CORPORA=("$G1" runs/data/bandai_g1 runs/data/cmu_mocap_g1 runs/data/cmu_g1)
WEIGHTS=(3 1 3 3)
