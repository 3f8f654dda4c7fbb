"""Demonstration datasets: one .npz per episode + meta.json + index.jsonl (see docs/dataset.md).

    from robot_rl_sim.dataset import open_dataset
    ds = open_dataset("data/reach", spec=get_task("panda-reach"))   # ConfigError if the spec differs
    for ep in ds: ep.obs["joint_pos"], ep.actions, ep.flat_obs(spec)
"""

from robot_rl_sim.dataset.format import Episode, spec_mismatches
from robot_rl_sim.dataset.storage import DemoDataset, DemoWriter, open_dataset

__all__ = ["DemoDataset", "DemoWriter", "Episode", "open_dataset", "spec_mismatches"]
