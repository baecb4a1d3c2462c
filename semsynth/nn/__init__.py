"""Building blocks shared by methods: SPADE/ILADE norms, guided-diffusion UNet blocks, attention, spectral norm."""
