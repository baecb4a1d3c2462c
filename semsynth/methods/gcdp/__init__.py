"""GCDP: the Gaussian-categorical diffusion model of image-layout pairs (Park et al., ICCV 2023)."""
