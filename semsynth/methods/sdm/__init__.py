"""SDM: semantic image synthesis via diffusion models (Wang et al. 2022): official UNet, guidance, samplers."""
