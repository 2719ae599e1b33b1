"""Fitting and runs: header config, run folders and checkpoints, an experiment's start and end, the one
training loop, the one timed fit, memory estimates, and a model rebuilt from its run folder."""
