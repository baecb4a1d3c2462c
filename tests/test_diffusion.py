"""Diffusion building blocks: schedules, respacing, posterior, guidance, and that every sampler with the exact
denoiser of a Gaussian data distribution returns samples of that distribution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semsynth.diffusion.gaussian import GaussianProcess
from semsynth.diffusion.guidance import classifier_free
from semsynth.diffusion.losses import hybrid_loss
from semsynth.diffusion.inpainting import repaint
from semsynth.diffusion.projection import low_res_consistent
from semsynth.diffusion.respacing import respace_betas, space_timesteps
from semsynth.diffusion.samplers import ddim, ddpm, dpm_solver_pp
from semsynth.diffusion.schedules import cosine_betas, linear_betas, named_betas
from semsynth.errors import UserError

MU, STD = 0.3, 0.5


def gaussian_denoiser():
    """The exact eps-prediction E[eps | x_t] for data x_0 ~ N(MU, STD^2), as a model callable (x, t_model, cond)."""
    base = torch.cumprod(1 - linear_betas(1000), 0)

    def model(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        ab = base[t].reshape(-1, 1, 1, 1).to(x.dtype)
        return (1 - ab).sqrt() * (x - ab.sqrt() * MU) / (ab * STD ** 2 + 1 - ab)

    return model


def test_schedules() -> None:
    for name in ("linear", "cosine"):
        betas = named_betas(name, 1000)
        assert betas.dtype == torch.float64 and betas.shape == (1000,)
        assert bool((betas > 0).all()) and bool((betas <= 0.999).all())
        assert torch.cumprod(1 - betas, 0)[-1] < 1e-4
    assert torch.allclose(linear_betas(250), linear_betas(1000)[::4] * 4, rtol=0.02)
    assert cosine_betas(10)[0] < cosine_betas(10)[-1]
    with pytest.raises(ValueError):
        named_betas("sigmoid", 10)


def test_respacing_keeps_alpha_bar_and_rejects_impossible_counts() -> None:
    base = linear_betas(1000)
    kept = space_timesteps(1000, "ddim25")
    respaced = GaussianProcess.respaced(base, kept)
    assert torch.allclose(respaced.alphas_cumprod, torch.cumprod(1 - base, 0)[kept], rtol=1e-12)
    assert respaced.model_time(torch.tensor([0, 24])).tolist() == [0, 960]
    assert torch.allclose(respace_betas(base, list(range(1000))), base, rtol=1e-12)
    with pytest.raises(UserError):
        space_timesteps(1000, "ddim999")
    with pytest.raises(UserError):
        space_timesteps(10, "20")


def test_posterior_is_the_gaussian_conditional() -> None:
    diffusion = GaussianProcess(linear_betas(1000))
    x0, noise = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([10, 500])
    x_t = diffusion.add_noise(x0, t, noise)
    mean, variance, _ = diffusion.q_posterior(x0, x_t, t)
    ab_prev = diffusion.alphas_cumprod_prev[t].reshape(-1, 1, 1, 1)
    beta = diffusion.betas[t].reshape(-1, 1, 1, 1)
    ab = diffusion.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    expected = (ab_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - ab_prev) * x_t) / (1 - ab)
    torch.testing.assert_close(mean, expected)
    torch.testing.assert_close(variance.flatten(), (beta * (1 - ab_prev) / (1 - ab)).flatten())
    torch.testing.assert_close(diffusion.x0_from_eps(x_t, t, noise), x0)


def test_guidance_combines_eps_only_with_one_forward() -> None:
    calls = []

    def model(x, t, cond):
        calls.append(x.shape[0])
        return torch.cat([cond[:, :1].expand(-1, 3, -1, -1), 5 + cond[:, :1].expand(-1, 3, -1, -1)], 1)

    x, t, cond = torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long), torch.ones(2, 4, 2, 2)
    out = classifier_free(model, GaussianProcess(linear_betas(10)), 1.5)(x, t, cond)
    assert calls == [4]
    assert torch.equal(out[:, :3], torch.full((2, 3, 2, 2), 1.5))
    assert torch.equal(out[:, 3:], torch.full((2, 3, 2, 2), 6.0))
    assert classifier_free(model, GaussianProcess(linear_betas(10)), 1.0) is model


def test_guidance_interval_runs_the_conditional_pass_alone_from_t_max() -> None:
    calls = []

    def model(x, t, cond):
        calls.append(x.shape[0])
        return torch.cat([cond[:, :1].expand(-1, 3, -1, -1), 5 + cond[:, :1].expand(-1, 3, -1, -1)], 1)

    guided = classifier_free(model, GaussianProcess(linear_betas(10)), 1.5, t_max=500.0)
    x, cond = torch.zeros(2, 3, 2, 2), torch.ones(2, 4, 2, 2)
    late = guided(x, torch.full((2,), 499.0), cond)
    early = guided(x, torch.full((2,), 500.0), cond)
    mixed = guided(x, torch.tensor([499.0, 700.0]), cond)
    assert calls == [4, 2, 4]     # early: no null pass; mixed: one doubled pass, its conditional half reused
    assert torch.equal(late[:, :3], torch.full((2, 3, 2, 2), 1.5)) and torch.equal(early, model(x, None, cond))
    assert torch.equal(mixed[0], late[0]) and torch.equal(mixed[1], early[1])


def test_hybrid_loss_is_small_for_the_exact_model() -> None:
    diffusion = GaussianProcess(linear_betas(1000), channels=1, variance="learned_range")
    x0 = torch.full((4, 1, 8, 8), MU, dtype=torch.float64) + STD * torch.randn(4, 1, 8, 8, dtype=torch.float64)
    t, noise = torch.tensor([0, 10, 300, 999]), torch.randn(4, 1, 8, 8, dtype=torch.float64)
    x_t = diffusion.add_noise(x0, t, noise)
    exact = gaussian_denoiser()(x_t, t, None)
    losses = hybrid_loss(diffusion, torch.cat([exact, torch.zeros_like(exact)], 1), x0, x_t, t, noise)
    worse = hybrid_loss(diffusion, torch.cat([torch.zeros_like(exact), torch.zeros_like(exact)], 1), x0, x_t, t, noise)
    assert losses["mse"] < worse["mse"] and torch.isfinite(losses["vb"]) and losses["vb"] >= 0


@pytest.mark.parametrize("name", ["ddpm", "ddim", "ddim_eta", "dpm-solver++"])
def test_samplers_reproduce_gaussian_data(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    shape = (4096, 1, 1, 1)
    noise = lambda: torch.randn(shape, generator=generator, dtype=torch.float64)  # noqa: E731
    base = linear_betas(1000)
    x_T = noise()
    options = dict(channels=1, variance="fixed_small", clip_denoised=False)
    if name == "dpm-solver++":
        diffusion = GaussianProcess(base, **options)
        x0 = dpm_solver_pp(diffusion, gaussian_denoiser(), x_T, None, steps=20)
    elif name == "ddpm":
        diffusion = GaussianProcess(base, **options)
        x0 = ddpm(diffusion, gaussian_denoiser(), x_T, None, noise)
    else:
        spec = "ddim200" if name == "ddim_eta" else "ddim50"
        diffusion = GaussianProcess.respaced(base, space_timesteps(1000, spec), **options)
        x0 = ddim(diffusion, gaussian_denoiser(), x_T, None, noise, eta=1.0 if name == "ddim_eta" else 0.0)
    assert abs(x0.mean().item() - MU) < 0.03   # first-order samplers lose spread with few steps: DDIM 50+
    assert abs(x0.std().item() - STD) < 0.03


def test_repaint_kept_region_follows_the_noised_original() -> None:
    generator = torch.Generator().manual_seed(1)
    draws: list[torch.Tensor] = []

    def noise() -> torch.Tensor:
        draws.append(torch.randn(1, 1, 4, 4, generator=generator, dtype=torch.float64))
        return draws[-1]

    diffusion = GaussianProcess.respaced(linear_betas(1000), space_timesteps(1000, "5"), channels=1,
                                        variance="fixed_small", clip_denoised=False)
    known = torch.full((1, 1, 4, 4), 0.7, dtype=torch.float64)
    edit = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    edit[..., :2] = True
    states = []
    out = repaint(diffusion, gaussian_denoiser(), noise(), None, known, edit, noise,
                  callback=lambda index, x, x0: states.append((index, x)))
    kept = ~edit[0, 0]
    for step, (index, x) in enumerate(states[:-1]):
        expected = diffusion.add_noise(known, torch.tensor([index - 1]), draws[2 + 2 * step])  # x_T, then step noise
        torch.testing.assert_close(x[0, 0][kept], expected[0, 0][kept], rtol=0, atol=0)
    assert torch.equal(out[0, 0][kept], known[0, 0][kept])
    assert not torch.equal(out[0, 0][~kept], known[0, 0][~kept])


@pytest.mark.parametrize("residual", [False, True])
def test_low_res_projection_keeps_the_sample_on_its_low_res_input(residual: bool) -> None:
    """DDIM (eta 1) on i.i.d. Gaussian pixels: with the projection the sample's 2x2 means are the given 8x8 image
    (to the sampler's last-step precision), without it they are the data's; extra output channels pass through.
    ``residual``: the chain samples the image minus a smooth offset, which the projection adds back first."""
    generator = torch.Generator().manual_seed(0)
    noise = lambda: torch.randn((2, 1, 16, 16), generator=generator, dtype=torch.float64)  # noqa: E731
    denoiser = gaussian_denoiser()
    model = lambda x, t, cond: torch.cat([denoiser(x, t, cond), torch.full_like(x, 0.25)], 1)  # noqa: E731
    low = torch.rand((2, 1, 8, 8), generator=generator, dtype=torch.float64) - 0.5
    area = lambda x, size: F.avg_pool2d(x, x.shape[-1] // size)  # noqa: E731
    offset = F.interpolate(0.5 * low.flip(-1), size=(16, 16), mode="bilinear") if residual else 0.0
    chain = GaussianProcess(linear_betas(1000), channels=1, variance="fixed_small")
    projected = low_res_consistent(model, chain, low, area, iterations=2, offset=offset)
    assert low_res_consistent(model, chain, low, area, iterations=0) is model
    x = torch.randn((2, 1, 16, 16), dtype=torch.float64, generator=generator)
    t = torch.tensor([300, 600])
    assert torch.equal(projected(x, t, None)[:, 1:], torch.full_like(x, 0.25))
    diffusion = GaussianProcess.respaced(linear_betas(1000), space_timesteps(1000, "ddim50"), channels=1,
                                        variance="fixed_small", clip_denoised=False)
    errors = {}
    for name, wrapped in (("plain", lambda x, t, c: model(x, t, c)[:, :1]),
                          ("projected", lambda x, t, c: projected(x, t, c)[:, :1])):
        sample = ddim(diffusion, wrapped, noise(), None, noise, eta=1.0) + offset
        errors[name] = float((area(sample, 8) - low).abs().mean())
    assert errors["projected"] < 0.02 < 0.2 < errors["plain"], errors
