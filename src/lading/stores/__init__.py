"""Backends that move bytes, and nothing else."""
