"""Diffusion: schedules, Gaussian and multinomial diffusion, samplers (DDPM, DDIM, DPM-Solver++), guidance."""
