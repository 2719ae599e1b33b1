"""What reads a fitted representation: one-pass derivatives, weight interpolation, weight space."""
