"""SDM: semantic image synthesis via diffusion models (Wang et al. 2022): official UNet, guidance, samplers."""

from .method import SDM

__all__ = ["SDM"]
