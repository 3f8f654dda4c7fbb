"""Everything that exists only for simulation: MuJoCo scenes, simulated hardware, tasks, training entry points."""
