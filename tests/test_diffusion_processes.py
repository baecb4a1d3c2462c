"""The process interface: the categorical (multinomial) process against direct formulas, the continuous log-SNR
Gaussian process, samplers stepping two processes from one model call, the three guidance modes and RePaint over
a joint (image, label) toy."""

from __future__ import annotations

import math

import pytest
import torch

from semsynth.diffusion.categorical import CategoricalProcess, gumbel_sample, index_to_log_onehot, multinomial_kl
from semsynth.diffusion.continuous import ContinuousGaussianProcess
from semsynth.diffusion.gaussian import GaussianProcess
from semsynth.diffusion.guidance import classifier_free
from semsynth.diffusion.inpainting import repaint
from semsynth.diffusion.losses import categorical_loss
from semsynth.diffusion.respacing import space_timesteps
from semsynth.diffusion.samplers import ddim, ddpm, dpm_solver_pp
from semsynth.diffusion.schedules import linear_betas
from semsynth.errors import UserError

K = 4
MU, STD = 0.3, 0.5


def uniform_noise(shape, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return lambda: torch.rand(shape, generator=generator)


def test_categorical_marginal_is_the_repeated_one_step_transition() -> None:
    process = CategoricalProcess.from_log_snr(K, "cosine", 50)
    x0 = torch.tensor([[[2, 0]]])                                                  # [B=1, H=1, W=2]
    probs = index_to_log_onehot(x0, K).exp().double()
    alpha = process.log_alpha.double().exp()
    assert process.log_cumprod_alpha[0] == 0   # alpha_bar is normalised by alpha_bar_0: x_0 is clean
    for t in range(1, 50):
        probs = alpha[t] * probs + (1 - alpha[t]) / K
        if t in (1, 7, 30, 49):
            marginal = process.q_pred(index_to_log_onehot(x0, K), torch.tensor([t])).exp().double()
            torch.testing.assert_close(marginal, probs, rtol=0, atol=2e-5)


def test_categorical_posterior_is_bayes_rule() -> None:
    process = CategoricalProcess.from_log_snr(K, "linear", 20)
    x0_probs = torch.tensor([0.1, 0.6, 0.2, 0.1]).reshape(1, K, 1, 1)                # a predicted (soft) x0
    for t, observed in ((5, 1), (12, 3), (19, 0)):
        alpha_t = process.log_alpha[t].double().exp()
        alpha_bar_prev = process.log_cumprod_alpha[t - 1].double().exp()
        by_hand = []
        for j in range(K):   # q(x_{t-1} = j | x_0) q(x_t = observed | x_{t-1} = j)
            prior = alpha_bar_prev * x0_probs[0, j, 0, 0].double() + (1 - alpha_bar_prev) / K
            likelihood = alpha_t * (j == observed) + (1 - alpha_t) / K
            by_hand.append(prior * likelihood)
        by_hand = torch.stack(by_hand) / sum(by_hand)
        x_t = index_to_log_onehot(torch.tensor([[[observed]]]), K)
        posterior = process.q_posterior(x0_probs.log(), x_t, torch.tensor([t])).exp()
        torch.testing.assert_close(posterior.sum(1), torch.ones(1, 1, 1))
        torch.testing.assert_close(posterior[0, :, 0, 0].double(), by_hand, rtol=1e-5, atol=1e-6)
    at_zero = process.q_posterior(x0_probs.log(), index_to_log_onehot(torch.tensor([[[2]]]), K), torch.tensor([0]))
    # t = 0: x0 replaces q(x_{t-1} | x0), and alpha_0 = 1 makes q(x_0 | x_{-1}) the identity: the posterior is x_t
    torch.testing.assert_close(at_zero.exp(), index_to_log_onehot(torch.tensor([[[2]]]), K).exp())


def test_categorical_kl_and_losses() -> None:
    process = CategoricalProcess.from_log_snr(K, "cosine", 20)
    log_p = torch.log_softmax(torch.randn(2, K, 3, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    assert multinomial_kl(log_p, log_p).abs().max() == 0
    log_x0 = index_to_log_onehot(torch.randint(0, K, (2, 3, 3), generator=torch.Generator().manual_seed(1)), K)
    log_x_t = process.add_noise(log_x0, torch.tensor([9, 0]), uniform_noise((2, K, 3, 3))())
    t = torch.tensor([9, 0])
    exact = categorical_loss(process, 30 * log_x0.exp(), log_x0, log_x_t, t)   # logits that put x0 at ~1
    wrong = categorical_loss(process, 30 * log_x0.exp().roll(1, dims=1), log_x0, log_x_t, t)
    assert exact["kl"][0] < 1e-6 and wrong["kl"][0] > 1
    assert exact["nll"][1] < 1e-6   # official quirk: at index 0 the predicted posterior is x_t (= x_0) itself
    prior = process.kl_prior(log_x0)
    expected = (exact["nll"][1] * 20 + prior[1]) / (math.log(2) * K * 9)           # t = 0 uses the decoder NLL
    torch.testing.assert_close(exact["loss"][1], expected)
    assert bool((prior >= 0).all()) and prior.max() < 0.05   # x_T is nearly uniform


def test_gumbel_sampling_matches_the_probabilities() -> None:
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    log_probs = probs.log().reshape(1, K, 1, 1).expand(1, K, 200, 200)
    draws = gumbel_sample(log_probs, uniform_noise((1, K, 200, 200), seed=3)()).argmax(1)
    frequencies = torch.bincount(draws.flatten(), minlength=K).float() / draws.numel()
    torch.testing.assert_close(frequencies, probs, rtol=0, atol=0.006)


def test_categorical_float32_time_index_quirk_and_checkpoint_buffers() -> None:
    process = CategoricalProcess.from_log_snr(K, "cosine", 100)
    times = ContinuousGaussianProcess(steps=100).reverse_times()
    visited = [int(process.index(times[k:k + 1])) for k in range(100)]
    assert visited[:3] == [99, 99, 98] and visited[-3:] == [3, 2, 1]
    assert sorted(set(range(100)) - set(visited)) == [0, 5, 10, 15, 20, 23, 27, 30, 40, 43, 46, 49]
    state = {f"noise_schedulers_lbl_sample.0.{name}": getattr(process, name).clone() for name in
             ("log_alpha", "log_1_min_alpha", "log_cumprod_alpha", "log_1_min_cumprod_alpha")}
    loaded = CategoricalProcess.from_state_dict(K, state, "noise_schedulers_lbl_sample.0.")
    assert torch.equal(loaded.log_cumprod_alpha, process.log_cumprod_alpha) and loaded.num_steps == 100
    with pytest.raises(ValueError):
        CategoricalProcess.from_state_dict(K, state)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_continuous_process(schedule: str) -> None:
    process = ContinuousGaussianProcess(schedule, channels=2, threshold="none")
    x0 = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    noise = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    t = torch.tensor([0.05, 0.5, 0.9], dtype=torch.float64)
    alpha, sigma = process.alpha_sigma(t, x0)
    torch.testing.assert_close(alpha ** 2 + sigma ** 2, torch.ones_like(alpha))
    x_t = process.add_noise(x0, t, noise)
    torch.testing.assert_close(process.predict_x0(x_t, t, noise), x0)
    torch.testing.assert_close(process.predict_eps(x_t, t, x0), noise)
    lam = process.log_snr(t)
    torch.testing.assert_close(process.inverse_log_snr(lam), t)
    assert bool((lam[:-1] > lam[1:]).all())   # noisier with time


def test_dynamic_thresholding() -> None:
    process = ContinuousGaussianProcess(channels=1, threshold="dynamic")
    x0 = torch.linspace(-3, 3, 101).reshape(1, 1, 1, 101)
    x0 = torch.cat([x0, 0.5 * torch.linspace(-1, 1, 101).reshape(1, 1, 1, 101)])
    t = torch.tensor([0.5, 0.5])
    alpha, sigma = process.alpha_sigma(t, x0)
    out = process.predict_x0(alpha * x0, t, torch.zeros_like(x0))          # eps = 0: x0 comes back before clamping
    s = torch.quantile(x0[0].abs().flatten(), 0.95)
    torch.testing.assert_close(out[0], x0[0].clamp(-s, s) / s)
    torch.testing.assert_close(out[1], x0[1])                                # s clamped to 1: within range, untouched


def continuous_denoiser(process: ContinuousGaussianProcess):
    """Exact eps for data N(MU, STD^2) under the continuous process (the model sees logsnr)."""
    def model(x: torch.Tensor, log_snr: torch.Tensor, cond) -> torch.Tensor:
        a2 = torch.sigmoid(log_snr.double()).reshape(-1, 1, 1, 1)
        return (1 - a2).sqrt() * (x - a2.sqrt() * MU) / (a2 * STD ** 2 + 1 - a2)
    return model


@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpm-solver++"])
def test_continuous_samplers_reproduce_gaussian_data(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    noise = lambda: torch.randn(4096, 1, 1, 1, generator=generator, dtype=torch.float64)  # noqa: E731
    process = ContinuousGaussianProcess("cosine", channels=1, steps=100, threshold="none")
    model = continuous_denoiser(process)
    if name == "ddpm":
        x0 = ddpm(process, model, noise(), None, noise)
    elif name == "ddim":
        x0 = ddim(process, model, noise(), None)
    else:
        x0 = dpm_solver_pp(process, model, noise(), None, steps=20)
    assert abs(x0.mean().item() - MU) < 0.03
    assert abs(x0.std().item() - STD) < 0.03


def joint_toy(steps: int = 10):
    """A discrete Gaussian image process (1 channel, fixed variance) and a K-class label process on one clock, and
    a model that counts its calls: exact eps for N(MU, STD^2) images, logits that favour class 2."""
    image = GaussianProcess.respaced(linear_betas(1000), space_timesteps(1000, str(steps)), channels=1,
                                    variance="fixed_small", clip_denoised=False)
    label = CategoricalProcess.from_log_snr(K, "cosine", steps)
    calls = []
    alpha_bar = torch.cumprod(1 - linear_betas(1000), 0)   # the model sees original steps

    def model(states, t, cond):
        x, log_label = states
        calls.append(t[0].item())
        ab = alpha_bar[t].reshape(-1, 1, 1, 1).to(x.dtype)
        eps = (1 - ab).sqrt() * (x - ab.sqrt() * MU) / (ab * STD ** 2 + 1 - ab)
        logits = torch.zeros(x.shape[0], K, *x.shape[2:], dtype=x.dtype)
        logits[:, 2] = 10.0
        return torch.cat([eps, logits], dim=1)

    return image, label, model, calls


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_two_processes_step_from_one_model_call(sampler: str) -> None:
    image, label, model, calls = joint_toy()
    shape = (256, 1, 2, 2)
    normal = torch.Generator().manual_seed(0)
    gaussian_noise = lambda: torch.randn(shape, generator=normal, dtype=torch.float64)  # noqa: E731
    label_noise = uniform_noise((256, K, 2, 2), seed=1)
    x_T = (gaussian_noise(), label.prior_sample(label_noise()))
    run = ddpm if sampler == "ddpm" else ddim
    x, log_label = run((image, label), model, x_T, None, (gaussian_noise, label_noise))
    assert calls == image.timestep_map.flip(0).tolist()   # one model call per step for both processes
    assert bool((log_label.argmax(1) == 2).all())
    normal.manual_seed(0)                                                # the image alone, same noise stream
    alone = run(image, lambda x, t, cond: model((x, log_label), t, cond)[:, :1], gaussian_noise(), None,
                gaussian_noise)
    assert torch.equal(x, alone) and abs(x.mean().item() - MU) < 0.05
    with pytest.raises(UserError):
        dpm_solver_pp((image, label), model, x_T, None, steps=4)


def test_guidance_modes_on_a_known_output() -> None:
    image = GaussianProcess(linear_betas(10), channels=1)               # eps + variance value
    label = CategoricalProcess.from_log_snr(2, "cosine", 10)
    pattern = torch.arange(4.0).reshape(1, 1, 2, 2)
    calls = []

    def model(states, t, cond):
        calls.append(cond.shape[0])
        on = cond[:, :1]                                                  # 1: conditional, 0: null
        eps = pattern * (1 + on) + 2 * on                                 # cond: 2p + 2, null: p
        return torch.cat([eps, 5 + on, 3 * on, -on], dim=1)               # variance, two logits
    x = (torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2))
    t, cond, s = torch.zeros(1, dtype=torch.long), torch.ones(1, 1, 2, 2), 3.0
    eps_c, eps_u = 2 * pattern + 2, pattern
    plain = classifier_free(model, (image, label), s)(x, t, cond)
    assert calls == [2]
    torch.testing.assert_close(plain[:, :1], eps_u + s * (eps_c - eps_u))
    torch.testing.assert_close(plain[:, 1:], torch.cat([torch.full((1, 1, 2, 2), 6.0), torch.full((1, 1, 2, 2), 3.0),
                                                       torch.full((1, 1, 2, 2), -1.0)], 1))
    both = classifier_free(model, (image, label), s, mode="eps+logits")(x, t, cond)
    torch.testing.assert_close(both[:, :2], plain[:, :2])
    torch.testing.assert_close(both[:, 2:], torch.cat([torch.full((1, 1, 2, 2), 9.0),
                                                      torch.full((1, 1, 2, 2), -3.0)], 1))
    normalized = classifier_free(model, (image, label), s, mode="normalized")(x, t, cond)
    w = s - 1                                                             # PITI eq. 8 with numbers
    mu, mu_u = eps_c.mean(), eps_u.mean()
    var, var_u = eps_c.var(unbiased=False), eps_u.var(unbiased=False)
    eps_hat, mu_hat = eps_c + w * (eps_c - eps_u), mu + w * (mu - mu_u)
    sigma_hat = ((1 + w) ** 2 * var + w ** 2 * var_u).sqrt()
    torch.testing.assert_close(normalized[:, :1], var.sqrt() / sigma_hat * (eps_hat - mu_hat) + mu)
    torch.testing.assert_close(normalized[:, :1].mean(), mu)             # the mean shift is removed
    torch.testing.assert_close(normalized[:, 1:], plain[:, 1:])
    with pytest.raises(ValueError):
        classifier_free(model, (image, label), s, mode="rescaled")


@pytest.mark.parametrize("resample", [1, 2])
def test_repaint_outpaints_an_image_from_a_known_label(resample: int) -> None:
    image, label, model, calls = joint_toy(steps=6)
    normal = torch.Generator().manual_seed(0)
    gaussian_noise = lambda: torch.randn(2, 1, 3, 3, generator=normal, dtype=torch.float64)  # noqa: E731
    label_noise = uniform_noise((2, K, 3, 3), seed=2)
    known_label = index_to_log_onehot(torch.tensor([[[0, 1, 3]] * 3] * 2), K)   # the model itself favours class 2
    known_image = torch.zeros(2, 1, 3, 3, dtype=torch.float64)
    label_edit = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    label_edit[..., 0, :] = True                                         # regenerate the first row of labels only
    states = []
    x, log_label = repaint((image, label), model, (gaussian_noise(), label.prior_sample(label_noise())), None,
                           (known_image, known_label), (None, label_edit), (gaussian_noise, label_noise),
                           resample=resample, callback=lambda time, xs, x0s: states.append(xs[1]))
    assert len(calls) == 6 * resample
    assert torch.equal(log_label[..., 1:, :], known_label[..., 1:, :])
    assert bool((log_label[..., 0, :].argmax(1) == 2).all())
    assert not torch.equal(states[0][..., 1:, :], known_label[..., 1:, :])   # noised along the way
    assert not torch.equal(x, known_image)
    known_everywhere = repaint((image, label), model, (gaussian_noise(), label.prior_sample(label_noise())), None,
                               (known_image, known_label), (None, torch.zeros(1, 1, 3, 3, dtype=torch.bool)),
                               (gaussian_noise, label_noise), resample=resample)
    assert torch.equal(known_everywhere[1], known_label)


def test_repaint_on_a_continuous_clock_with_resampling() -> None:
    """GCDP's configuration: continuous-time image process as the clock, the categorical label on floor(t * T)."""
    image = ContinuousGaussianProcess("cosine", channels=1, steps=8, threshold="none")
    label = CategoricalProcess.from_log_snr(K, "cosine", 8)
    denoiser, calls = continuous_denoiser(image), []

    def model(states, log_snr, cond):
        calls.append(log_snr[0].item())
        logits = torch.zeros(states[0].shape[0], K, *states[0].shape[2:], dtype=states[0].dtype)
        return torch.cat([denoiser(states[0], log_snr, cond), logits], dim=1)

    normal = torch.Generator().manual_seed(0)
    gaussian_noise = lambda: torch.randn(2, 1, 3, 3, generator=normal, dtype=torch.float64)  # noqa: E731
    label_noise = uniform_noise((2, K, 3, 3), seed=4)
    known_label = index_to_log_onehot(torch.tensor([[[0, 1, 3]] * 3] * 2), K)
    x, log_label = repaint((image, label), model, (gaussian_noise(), label.prior_sample(label_noise())), None,
                           (torch.zeros(2, 1, 3, 3, dtype=torch.float64), known_label),
                           (None, torch.zeros(1, 1, 3, 3, dtype=torch.bool)), (gaussian_noise, label_noise), resample=2)
    assert len(calls) == 16 and calls[0] < -15 and calls[0] == calls[1]   # logsnr(1 - 1e-7), twice (resampling)
    assert torch.equal(log_label, known_label) and bool(torch.isfinite(x).all())


@pytest.mark.parametrize("level", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("clock", ["discrete", "continuous"])
def test_repaint_known_level_pastes_the_known_part_at_a_fraction_of_the_time(clock: str, level: float) -> None:
    """``known_level`` noises the known modality to level * t before each call (floored on an integer clock), where
    1 noises it to t; at 0 every call sees the known labels themselves."""
    if clock == "discrete":
        image, label, model, _ = joint_toy(steps=6)
    else:
        image = ContinuousGaussianProcess("cosine", channels=1, steps=6, threshold="none")
        label = CategoricalProcess.from_log_snr(K, "cosine", 6)
        denoiser = continuous_denoiser(image)

        def model(states, log_snr, cond):
            logits = torch.zeros(states[0].shape[0], K, *states[0].shape[2:], dtype=states[0].dtype)
            return torch.cat([denoiser(states[0], log_snr, cond), logits], dim=1)

    known_label = index_to_log_onehot(torch.tensor([[[0, 1, 3]] * 3] * 2), K)
    add_noise = label.add_noise

    def outpaint(known_level: float) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        noised_at, seen = [], []
        label.add_noise = lambda x0, t, noise: noised_at.append(t.clone()) or add_noise(x0, t, noise)
        normal = torch.Generator().manual_seed(0)
        gaussian_noise = lambda: torch.randn(2, 1, 3, 3, generator=normal, dtype=torch.float64)  # noqa: E731
        label_noise = uniform_noise((2, K, 3, 3), seed=4)
        _, log_label = repaint((image, label), lambda states, t, cond: seen.append(states[1]) or model(states, t, cond),
                               (gaussian_noise(), label.prior_sample(label_noise())), None,
                               (torch.zeros(2, 1, 3, 3, dtype=torch.float64), known_label),
                               (None, torch.zeros(1, 1, 3, 3, dtype=torch.bool)), (gaussian_noise, label_noise),
                               paste="before", known_level=known_level)
        return noised_at, seen, log_label

    clock_times, _, _ = outpaint(1.0)                     # level 1 noises the known labels to the clock's t
    noised_at, seen, log_label = outpaint(level)
    assert len(clock_times) == len(seen) == 6 and torch.equal(log_label, known_label)
    if level == 0:
        assert not noised_at and all(torch.equal(state, known_label) for state in seen)
    else:
        expected = [t * level if t.is_floating_point() else (t * level).floor().to(t.dtype) for t in clock_times]
        assert len(noised_at) == 6 and not torch.equal(noised_at[0], clock_times[0])
        for t, want in zip(noised_at, expected):
            torch.testing.assert_close(t, want)
    with pytest.raises(ValueError, match="known_level"):
        outpaint(1.5)
