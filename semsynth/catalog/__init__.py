"""Weights-catalog entries, one torch-free module per method."""
