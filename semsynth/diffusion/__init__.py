"""Diffusion as processes plus samplers: Gaussian (discrete, respaced; continuous log-SNR) and categorical
processes behind one interface (``process.py``), samplers (DDPM, DDIM, DPM-Solver++) driving one or several of
them from one model call, classifier-free guidance, RePaint-style inpainting and the training losses."""
