"""tf.distribute on the existing engines: TF_CONFIG for local clusters, a `--workers N` launcher, the strategy a
process should train under, and per-worker run folders (`cluster.py`)."""
