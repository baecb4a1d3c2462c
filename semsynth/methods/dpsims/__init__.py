"""DP-SIMS (Berrada et al., ICLR 2024): a GAN whose discriminator is a frozen pretrained backbone."""

from .method import DPSIMS

__all__ = ["DPSIMS"]
