"""The operators (conv, multiscale, continuous, CZ) and their peers (the MLP INRs, the hash grid), the
ensemble of many models in one computation, and `registry`: the one table that builds them by name."""
