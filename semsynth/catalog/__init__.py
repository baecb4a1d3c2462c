"""Weights-catalog entries as torch-free data, one module per method family."""
