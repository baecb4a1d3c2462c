"""Weights-catalog entries per method, torch-free (imported by the method presets)."""
