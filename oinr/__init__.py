"""O-INR: implicit representations as learned integral operators (ICML 2024), the shared core.

Top level: `encoding` (positional-encoding grids, the input function), `metrics`, `plots`, `errors`,
`paths`. Subpackages, importing only downwards (models -> data -> fit -> downstream):
`models` (operators, peers, the registry), `data` (signals), `fit` (config, runs, the loop),
`downstream` (derivatives, weight interpolation, weight space).
"""

__version__ = "0.1.0"
