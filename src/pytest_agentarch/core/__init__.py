"""The pure measurement core: run records, canonical trajectories, statistics, gates, sequential tests, comparisons
and divergence. Plain data in, plain data out: nothing here imports pytest or runs an agent."""
