"""GCDP: the Gaussian-categorical diffusion model of image-layout pairs (Park et al., ICCV 2023)."""

from .method import GCDP

__all__ = ["GCDP"]
