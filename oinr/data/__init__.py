"""Signals in and out: images, volumes and meshes, sequences (video, NIfTI), IDX data sets; sampling of
cells, tiling of large grids, surfaces. Every loader validates its input and fails with one line."""
