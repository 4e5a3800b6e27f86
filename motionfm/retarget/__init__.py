"""Human motion capture -> G1 motion: BVH reading, skeleton maps, IK retargeting, physical clean-up.

```python
from motionfm.retarget import retarget_bvh, retarget_joints

res = retarget_bvh("walk.bvh.gz")                # map picked from the joint names (cmu_cc, smpl, bandai_namco, cmu_cgspeed)
res.motion.save("walk_g1.csv")                   # a motionfm.Motion, Unitree CSV layout
res = retarget_joints(joints, fps=30)            # (T, 22|24, 3) SMPL/AMASS joints, Z up, metres
```

Pipeline: :mod:`.bvh` (reader) -> :mod:`.skeleton` (rig -> keypoints, maps in ``maps.json``) ->
:mod:`.contact` (human foot contacts, floor) -> :mod:`.targets` (G1 IK targets) ->
:mod:`.cleanup` (planted feet, swing clearance) -> :mod:`.ik` (mink, per frame, warm-started) ->
:mod:`.cleanup` (ground, limits, speed caps). :mod:`.core` strings them together.
"""

from motionfm.retarget.bvh import Bvh, BvhError, bvh_to_world, read_bvh
from motionfm.retarget.cleanup import CleanupConfig
from motionfm.retarget.contact import ContactConfig, HumanAnalysis, analyse_human
from motionfm.retarget.core import RetargetConfig, RetargetResult, retarget_bvh, retarget_joints, retarget_keypoints
from motionfm.retarget.ik import IKConfig, RetargetError, solve_ik
from motionfm.retarget.skeleton import (
    KEYPOINTS,
    HumanKeypoints,
    SkeletonMap,
    available_maps,
    detect_map,
    get_map,
    keypoints_from_bvh,
    keypoints_from_joints,
)
from motionfm.retarget.targets import TARGET_BODIES, Targets, build_targets, g1_geometry

__all__ = [
    "KEYPOINTS", "TARGET_BODIES", "Bvh", "BvhError", "CleanupConfig", "ContactConfig", "HumanAnalysis",
    "HumanKeypoints", "IKConfig", "RetargetConfig", "RetargetError", "RetargetResult", "SkeletonMap", "Targets",
    "analyse_human", "available_maps", "build_targets", "bvh_to_world", "detect_map", "g1_geometry", "get_map",
    "keypoints_from_bvh", "keypoints_from_joints", "read_bvh", "retarget_bvh", "retarget_joints",
    "retarget_keypoints", "solve_ik",
]
