"""O-INR: implicit representations as learned integral operators (ICML 2024), the shared core.

Modules: encoding (positional-encoding grids), operator (the conv + sine operator), fitting (the
training loop), config (header overrides), runs (run folders, checkpoints), metrics, data, plots,
baselines (the usual INRs behind the same interface), errors.
"""

__version__ = "0.1.0"
