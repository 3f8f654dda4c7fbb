"""Manual check (not run by CI): load a `robot-rl dataset to-lerobot` export with LeRobot's own LeRobotDataset.

LeRobot 0.4.4 pins torch < 2.11, so it cannot go into the project's .venv (torch 2.13). How it was run once
(docs/dataset.md): a scratch venv whose .pth adds .venv's site-packages (torch 2.13, pandas, pyarrow), with
`pip install --no-deps lerobot==0.4.4 torchvision==0.28.0 accelerate` plus `datasets<5 huggingface-hub<0.36
draccus jsonlines deepdiff av`; torchvision's `_meta_registrations.py` emptied there, because its CUDA `_C`
ops cannot load against the CPU torch build (no image/video code is used by a state-only dataset). Then:

    HF_HUB_OFFLINE=1 <scratch>/bin/python tests/support/lerobot_load_check.py data/reach data/reach_lerobot
"""

import sys
from pathlib import Path

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

src, root = Path(sys.argv[1]), Path(sys.argv[2])
ds = LeRobotDataset("local/robot_rl_export", root=root)
print("episodes", ds.num_episodes, "frames", ds.num_frames, "fps", ds.fps, "features", sorted(ds.features))
episodes = [dict(np.load(p)) for p in sorted((src / "episodes").glob("episode_*.npz"))]
flat_obs = np.concatenate([e["obs.flat"] for e in episodes])
actions = np.concatenate([e["action"] for e in episodes])
assert len(ds) == len(flat_obs)
for i in range(len(ds)):
    item = ds[i]
    assert np.array_equal(item["observation.state"].numpy(), flat_obs[i]), i
    assert np.array_equal(item["action"].numpy(), actions[i]), i
print("all", len(ds), "frames equal the source .npz; task of frame 0:", ds[0]["task"])
window = LeRobotDataset("local/robot_rl_export", root=root,
                        delta_timestamps={"observation.state": [-0.1, 0.0], "action": [0.0, 0.1, 0.2]})
item = window[5]
assert item["observation.state"].shape == (2, flat_obs.shape[1]) and np.array_equal(item["action"].numpy(),
                                                                                    actions[5:8])
print("LEROBOT CHECK OK")
