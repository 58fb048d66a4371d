"""Training: configs, loops, checkpoints, metrics."""
