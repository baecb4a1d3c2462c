"""The generic guided-diffusion UNet: each hook on a tiny config (shapes and behaviour), the encoder-k/v attention
against a hand computation, and PITI's decoders (GLIDE layout) against the official golden outputs and key lists."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from semsynth.nn.attention import AttentionBlock, attend, token_prior
from semsynth.nn.spade import SPADEGroupNorm
from semsynth.nn.unet import UNet
from tests.golden import assert_golden, check_rule_sums, load_case, name_rule_v1, shape_only_state

TINY = dict(in_channels=3, model_channels=16, out_channels=3, num_res_blocks=1, attention_resolutions=(2,),
            channel_mult=(1, 2), num_head_channels=8, norm_groups=4, use_scale_shift_norm=True, resblock_updown=True)


def tiny(**hooks) -> UNet:
    """A tiny float64 UNet with random weights everywhere (zero-initialised convs re-drawn, so every path counts)."""
    torch.manual_seed(0)
    net = UNet(**dict(TINY, **hooks))
    for conv in net._zero_init_convs():
        conv.reset_parameters()
    return net.double().eval()


def inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, 3, 8, 12, generator=generator, dtype=torch.float64), torch.tensor([3, 700][:batch])


def test_plain_unet_shape_and_official_layout() -> None:
    net = tiny()
    x, t = inputs()
    with torch.no_grad():
        assert net(x, t).shape == (2, 3, 8, 12)
    keys = set(net.state_dict())
    assert {"input_blocks.1.0.in_layers.0.weight", "input_blocks.2.0.emb_layers.1.weight",
            "middle_block.1.qkv.weight", "output_blocks.0.0.out_layers.3.weight", "out.2.weight"} <= keys
    assert not any("encoder_kv" in key or "in_norm" in key or "transformer_proj" in key for key in keys)


def test_low_res_channels_are_upsampled_bilinearly_and_concatenated_after_x() -> None:
    net = tiny(low_res_channels=2)
    assert net.input_blocks[0][0].in_channels == 5
    wide = UNet(**dict(TINY, in_channels=5)).double().eval()
    wide.load_state_dict(net.state_dict(), strict=True)
    x, t = inputs()
    low_res = torch.randn(2, 2, 2, 3, dtype=torch.float64)
    upsampled = F.interpolate(low_res, size=(8, 12), mode="bilinear", align_corners=False)
    with torch.no_grad():
        out = net(x, t, low_res=low_res)
        assert torch.equal(out, wide(torch.cat([x, upsampled], dim=1), t))
        assert not torch.allclose(out, net(x, t, low_res=torch.zeros_like(low_res)))


def test_global_embedding_is_projected_and_added_to_the_time_embedding() -> None:
    net = tiny(global_channels=5)
    assert net.transformer_proj.weight.shape == (64, 5)
    x, t = inputs(batch=1)
    embedding = torch.randn(1, 5, dtype=torch.float64)
    plain = UNet(**TINY).double().eval()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("transformer_proj")})
    with torch.no_grad():
        plain.time_embed[2].bias += net.transformer_proj(embedding)[0]
        out = net(x, t, global_embedding=embedding)
        torch.testing.assert_close(out, plain(x, t))
        assert not torch.allclose(out, net(x, t, global_embedding=-embedding))


def test_encoder_tokens_reach_every_attention_block_and_change_the_output() -> None:
    net = tiny(encoder_channels=6)
    kv = [key for key in net.state_dict() if key.endswith("encoder_kv.weight")]
    attention = [name for name, module in net.named_modules() if isinstance(module, AttentionBlock)]
    assert kv == [f"{name}.encoder_kv.weight" for name in attention] and len(kv) == 4
    x, t = inputs()
    tokens = torch.randn(2, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        out = net(x, t, encoder_tokens=tokens)
        assert out.shape == (2, 3, 8, 12)
        assert not torch.allclose(out, net(x, t, encoder_tokens=tokens.flip(0)))


@pytest.mark.parametrize("legacy_order", [True, False])
def test_encoder_kv_block_attends_over_encoder_then_own_tokens(legacy_order: bool) -> None:
    """The block equals attention computed by hand over the keys/values [encoder tokens; own positions]."""
    torch.manual_seed(0)
    channels, heads, ch, length = 16, 2, 8, 12
    block = AttentionBlock(channels, num_head_channels=ch, legacy_order=legacy_order, groups=4,
                           encoder_channels=6).double()
    torch.nn.init.normal_(block.proj_out.weight)
    x = torch.randn(2, channels, 3, 4, dtype=torch.float64)
    tokens = torch.randn(2, 6, 5, dtype=torch.float64)
    qkv = block.qkv(block.norm(x.reshape(2, channels, length)))
    encoder_kv = block.encoder_kv(tokens)

    def part(projected: torch.Tensor, parts: int, index: int, head: int) -> torch.Tensor:
        start = (head * parts + index) * ch if legacy_order else (index * heads + head) * ch
        return projected[:, start:start + ch]

    outs = []
    for head in range(heads):
        q = part(qkv, 3, 0, head)
        k = torch.cat([part(encoder_kv, 2, 0, head), part(qkv, 3, 1, head)], dim=-1)
        v = torch.cat([part(encoder_kv, 2, 1, head), part(qkv, 3, 2, head)], dim=-1)
        weight = torch.softmax(torch.einsum("bct,bcs->bts", q, k) / math.sqrt(ch), dim=-1)
        outs.append(torch.einsum("bts,bcs->bct", weight, v))
    expected = x + block.proj_out(torch.cat(outs, dim=1)).reshape(x.shape)
    with torch.no_grad():
        torch.testing.assert_close(block(x, tokens), expected)


@pytest.mark.parametrize("size", [(8, 8), (16, 16), (4, 8)])
def test_token_prior_weighs_the_tokens_as_the_image_and_centres_them_on_the_query(size: tuple[int, int]) -> None:
    """Per query: the tokens' prior mass equals the image keys' (log-sum-exp log(H*W)), image keys get 0, and the
    heaviest token is the cell under the query (a 4x4 token grid over the image)."""
    h, w = size
    bias = token_prior(size, 16, 2.0).double()
    assert bias.shape == (h * w, 16 + h * w) and not bias[:, 16:].any()
    torch.testing.assert_close(torch.logsumexp(bias[:, :16], dim=1), torch.full((h * w,), math.log(h * w),
                                                                             dtype=torch.float64))
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cell = (rows * 4 // h) * 4 + cols * 4 // w
    assert torch.equal(bias[:, :16].argmax(1), cell.reshape(-1))
    even = token_prior(size, 5, 2.0)   # not a square grid: spread evenly
    torch.testing.assert_close(even[:, :5], torch.full((h * w, 5), math.log(h * w / 5)))


def test_token_locality_makes_each_position_read_its_own_cells_token() -> None:
    """With q.k = 0 everywhere, a position's output is half the prior-weighted token values, half the mean of the
    image values: the bias alone routes each position to its place, and token_locality=None is plain attention."""
    torch.manual_seed(0)
    block = AttentionBlock(8, num_head_channels=8, groups=4, encoder_channels=4, token_locality=50.0).double()
    with torch.no_grad():
        block.qkv.weight[:16].zero_()
        block.qkv.bias[:16].zero_()
        block.proj_out.weight.copy_(torch.eye(8)[..., None])
        block.proj_out.bias.zero_()
    x = torch.randn(1, 8, 4, 4, dtype=torch.float64)
    tokens = torch.randn(1, 4, 4, dtype=torch.float64)   # a 2x2 grid
    with torch.no_grad():
        token_values = block.encoder_kv(tokens)[0, 8:]
        image_mean = block.qkv(block.norm(x.reshape(1, 8, 16)))[0, 16:].mean(1)
        out = (block(x, tokens) - x).reshape(8, 4, 4)
        torch.testing.assert_close(out[:, 0, 0], (token_values[:, 0] + image_mean) / 2, atol=1e-6, rtol=0)
        torch.testing.assert_close(out[:, 3, 0], (token_values[:, 2] + image_mean) / 2, atol=1e-6, rtol=0)
        block.token_locality = None
        plain = (block(x, tokens) - x).reshape(8, 4, 4)[:, 0, 0]
        torch.testing.assert_close(plain, (token_values.sum(1) + image_mean * 16) / 20)


@pytest.mark.parametrize("legacy_order", [True, False])
def test_attention_hands_contiguous_heads_to_the_fused_kernel(legacy_order: bool) -> None:
    """q/k/v reach scaled_dot_product_attention as contiguous [B, heads, T, ch]; the CPU's exact (math) kernel and
    the fused kernel agree to float32 rounding."""
    block = AttentionBlock(64, num_head_channels=16, legacy_order=legacy_order)
    qkv = torch.randn(2, 3 * 64, 256)
    q, k, v = block.heads(qkv, 3)
    assert q.shape == (2, 4, 256, 16) and all(part.is_contiguous() for part in (q, k, v))
    torch.testing.assert_close(attend(q, k, v), F.scaled_dot_product_attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_conditional_norm_is_chosen_per_part() -> None:
    spade = partial(SPADEGroupNorm, label_channels=4, hidden=8, groups=4)
    net = tiny(cond_norms={"input_blocks": spade})
    keys = set(net.state_dict())
    assert "input_blocks.1.0.in_norm.mlp_shared.0.weight" in keys and "input_blocks.1.0.in_layers.1.weight" in keys
    assert "input_blocks.1.0.in_layers.0.weight" not in keys and "input_blocks.1.0.out_layers.2.weight" in keys
    assert "middle_block.0.in_layers.0.weight" in keys and "output_blocks.0.0.out_layers.0.weight" in keys
    x, t = inputs()
    cond = torch.rand(2, 4, 8, 12, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(net(x, t, cond), net(x, t, cond.flip(1)))
    with pytest.raises(ValueError, match="unknown parts"):
        UNet(**TINY, cond_norms={"decoder": spade})


@pytest.mark.parametrize("hook,argument", [(dict(low_res_channels=3), "low_res"),
                                           (dict(global_channels=4), "global_embedding"),
                                           (dict(encoder_channels=4), "encoder_tokens")])
def test_missing_or_unexpected_hook_input_is_a_clear_error(hook: dict, argument: str) -> None:
    x, t = inputs()
    with pytest.raises(ValueError, match=f"built to take {argument}"):
        tiny(**hook)(x, t)
    with pytest.raises(ValueError, match=f"takes no {argument}"):
        tiny()(x, t, **{argument: torch.zeros(2, 3, 4, 6, dtype=torch.float64)})


# -- PITI (GLIDE decoder): official outputs and key names ------------------------------------------------------

def piti_decoder(constructor: dict, **overrides) -> UNet:
    """The decoder of an official PITI constructor: a UNet with the global embedding and encoder-token hooks."""
    c = constructor
    return UNet(in_channels=c["in_channels"], model_channels=c["model_channels"], out_channels=c["out_channels"],
                num_res_blocks=c["num_res_blocks"], attention_resolutions=tuple(c["attention_resolutions"]),
                dropout=c["dropout"], channel_mult=tuple(c["channel_mult"]), num_heads=c["num_heads"],
                num_head_channels=c["num_head_channels"], num_heads_upsample=c["num_heads_upsample"],
                use_scale_shift_norm=c["use_scale_shift_norm"], resblock_updown=c["resblock_updown"],
                global_channels=c["xf_width"], encoder_channels=c["xf_width"], **overrides)


def decoder_rows(rows: list[list]) -> list[list]:
    return [[key[len("decoder."):], *rest] for key, *rest in rows if key.startswith("decoder.")]


# The released PITI decoders (script_util defaults): base 64x64 and the 64 -> 256 upsampler.
PITI_FULL = {"piti_base": ("keys_fullsize_base_mask.json", dict(model_channels=192, num_res_blocks=3,
                                                                 channel_mult=[1, 2, 3, 4],
                                                                 attention_resolutions=[2, 4, 8])),
             "piti_upsampler": ("keys_fullsize_upsample_mask.json", dict(model_channels=192, num_res_blocks=2,
                                                                         channel_mult=[1, 1, 2, 2, 4, 4],
                                                                         attention_resolutions=[8, 16, 32]))}
LOW_RES = {"piti_base": {}, "piti_upsampler": dict(low_res_channels=3)}


@pytest.fixture(scope="module")
def piti_encoder_out() -> dict[str, torch.Tensor]:
    """The official encoder outputs of the piti_base reference mask (the upsampler's encoder has the same keys,
    so the same rule weights and outputs)."""
    return load_case("piti_base").tensors


@pytest.mark.parametrize("name", sorted(PITI_FULL))
def test_piti_decoder_key_names_and_full_size_lists(name: str) -> None:
    case = load_case(name)
    rows = decoder_rows(case.keys())
    net = piti_decoder(case.case["constructor"], **LOW_RES[name])
    assert [[key, list(value.shape)] for key, value in net.state_dict().items()] == [row[:2] for row in rows]
    file, full = PITI_FULL[name]
    full_rows = decoder_rows(case.keys(file))
    with torch.device("meta"):
        net = piti_decoder(dict(case.case["constructor"], num_head_channels=64, **full), **LOW_RES[name])
    assert list(net.state_dict()) == [row[0] for row in full_rows]
    net.load_state_dict(shape_only_state(full_rows), strict=True, assign=True)
    assert all(list(net.state_dict()[key].shape) == shape for key, shape, _ in full_rows)


@pytest.mark.parametrize("name", sorted(PITI_FULL))
def test_piti_decoder_matches_official(name: str, piti_encoder_out: dict[str, torch.Tensor]) -> None:
    case = load_case(name)
    rows = case.keys()
    state = name_rule_v1(rows)
    check_rule_sums(rows, state)
    net = piti_decoder(case.case["constructor"], **LOW_RES[name]).double().eval()
    net.load_state_dict({key[len("decoder."):]: value for key, value in state.items() if key.startswith("decoder.")},
                        strict=True)
    t = case.tensors
    batch = len(t["inputs.x_t"])
    hooks = dict(global_embedding=piti_encoder_out["outputs.xf_proj"].expand(batch, -1),
                 encoder_tokens=piti_encoder_out["outputs.xf_out"].expand(batch, -1, -1))
    if "inputs.low_res" in t:
        hooks["low_res"] = t["inputs.low_res"].expand(batch, -1, -1, -1)
    with torch.no_grad():
        assert_golden(net(t["inputs.x_t"], t["inputs.t"], **hooks), t["outputs.model_out"])
        if name == "piti_base":
            single = net.float()(t["inputs.x_t"].float(), t["inputs.t"].float(),
                                 **{key: value.float() for key, value in hooks.items()})
            assert_golden(single.double(), t["outputs.model_out_fp32_official"].double(), rtol=1e-4)
