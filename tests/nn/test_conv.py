"""Convolutions by unfolding and the transposed convolution, both ways, against torch.nn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deepnotes.errors import UserError
from deepnotes.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from deepnotes.nn.functional import col2im, conv, conv_transpose, conv_transpose_recipe, im2col
from reference import assert_close, compare_modules

DTYPES = [torch.float32, torch.float64]

CONV2D_SETTINGS = [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 3},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2), "stride": 2, "padding": 1},
    {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": (2, 1), "padding": (2, 0),
     "dilation": 2, "groups": 2},
    {"in_channels": 2, "out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": (1, 2)},
    {"in_channels": 3, "out_channels": 5, "kernel_size": 3, "padding": "valid", "bias": False},
    {"in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 1, "groups": 4,
     "padding_mode": "circular"},
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": (2, 1),
     "padding_mode": "reflect"},
    {"in_channels": 3, "out_channels": 4, "kernel_size": (1, 4), "padding": "same",
     "padding_mode": "replicate"},
    {"in_channels": 5, "out_channels": 7, "kernel_size": 1},  # a dense layer at every pixel
]  # fmt: skip

CONV1D_SETTINGS = [
    {"in_channels": 3, "out_channels": 5, "kernel_size": 3},
    {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 2,
     "dilation": 2, "groups": 2},
    {"in_channels": 2, "out_channels": 3, "kernel_size": 4, "padding": "same",
     "padding_mode": "circular", "bias": False},
]  # fmt: skip

TRANSPOSED_SETTINGS = [
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3},
    {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
     "output_padding": 1},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 4), "stride": (2, 3),
     "padding": (0, 2), "output_padding": (1, 2), "groups": 2},
    {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 2,
     "output_padding": 1, "dilation": 2},
    {"in_channels": 3, "out_channels": 2, "kernel_size": 2, "stride": 3, "padding": 2,
     "bias": False},  # p > k − 1: the recipe crops instead of padding
    {"in_channels": 4, "out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1,
     "groups": 4},  # depthwise ×2 upsampling, as in DCGAN/U-Net decoders
]  # fmt: skip


def make_pair(ours_class: type, theirs_class: type, config: dict) -> tuple[nn.Module, nn.Module]:
    """Both layers built from the same seed (so their initial weights agree too)."""
    torch.manual_seed(0)
    ours = ours_class(**config)
    torch.manual_seed(0)
    return ours, theirs_class(**config)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONV2D_SETTINGS)
def test_conv2d_matches_torch(config: dict, dtype: torch.dtype) -> None:
    ours, theirs = make_pair(Conv2d, nn.Conv2d, config)
    c_in = config["in_channels"]
    inputs = [torch.randn(2, c_in, 9, 8), torch.randn(c_in, 7, 10)]  # batched and unbatched
    compare_modules(ours, theirs, inputs, dtype)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONV1D_SETTINGS)
def test_conv1d_matches_torch(config: dict, dtype: torch.dtype) -> None:
    ours, theirs = make_pair(Conv1d, nn.Conv1d, config)
    c_in = config["in_channels"]
    compare_modules(ours, theirs, [torch.randn(3, c_in, 11), torch.randn(c_in, 8)], dtype)


@pytest.mark.parametrize("method", ["fold", "recipe"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", TRANSPOSED_SETTINGS)
def test_conv_transpose2d_matches_torch(config: dict, dtype: torch.dtype, method: str) -> None:
    ours, theirs = make_pair(ConvTranspose2d, nn.ConvTranspose2d, config)
    ours.method = method
    c_in = config["in_channels"]
    compare_modules(ours, theirs, [torch.randn(2, c_in, 5, 6), torch.randn(c_in, 4, 3)], dtype)


@pytest.mark.parametrize("method", ["fold", "recipe"])
def test_conv_transpose2d_output_size_picks_output_padding(method: str) -> None:
    config = {"in_channels": 3, "out_channels": 2, "kernel_size": 3, "stride": (2, 3)}
    ours, theirs = make_pair(ConvTranspose2d, nn.ConvTranspose2d, config)
    ours.method = method
    x = torch.randn(2, 3, 5, 4)  # smallest outputs: 11 × 12; the stride allows up to 12 × 14
    for size in [(11, 12), (12, 14), (2, 2, 12, 13)]:
        compare_modules(
            ours, theirs, [x], torch.float64, modes=("eval",),
            call=lambda module, input, size=size: module(input, output_size=size),
        )  # fmt: skip
    with pytest.raises(UserError, match="not reachable"):
        ours(x, output_size=(13, 12))


def test_same_seed_gives_torch_initial_weights() -> None:
    """kaiming_uniform(a=√5) by hand: U(±1/√fan_in), drawn in torch's order."""
    for ours_class, theirs_class, config in [
        (Conv1d, nn.Conv1d, CONV1D_SETTINGS[1]),
        (Conv2d, nn.Conv2d, CONV2D_SETTINGS[2]),
        (ConvTranspose2d, nn.ConvTranspose2d, TRANSPOSED_SETTINGS[2]),
    ]:
        ours, theirs = make_pair(ours_class, theirs_class, config)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for name, value in theirs.state_dict().items():
            assert_close(ours.state_dict()[name], value, torch.float32, name)
        assert repr(ours) == repr(theirs)


@settings(max_examples=25, deadline=None)
@given(
    groups=st.sampled_from([1, 2]),
    in_size=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_recipe_equals_fold_equals_torch(groups, in_size, kernel, stride, dilation, padding, extra):
    """Any valid setting: the notes' recipe, the scatter (col2im) path and torch agree."""
    output_padding = tuple(e % max(s, d) for e, s, d in zip(extra, stride, dilation, strict=True))
    generator = torch.Generator().manual_seed(sum(in_size + kernel + stride + padding))
    x = torch.randn(2, 2, *in_size, generator=generator, dtype=torch.float64)
    weight = torch.randn(2, 4 // groups, *kernel, generator=generator, dtype=torch.float64)
    bias = torch.randn(4, generator=generator, dtype=torch.float64)
    args = (weight, bias, stride, padding, output_padding, groups, dilation)
    sizes = [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, k, s, p, d, op in zip(
            in_size, kernel, stride, padding, dilation, output_padding, strict=True
        )
    ]
    if min(sizes) < 1:  # padding crops everything away: arith rejects it, as torch does
        for function in (conv_transpose, conv_transpose_recipe):
            with pytest.raises(UserError, match="crops away"):
                function(x, *args)
        return
    expected = F.conv_transpose2d(x, *args)
    assert_close(conv_transpose(x, *args), expected, torch.float64, "fold")
    assert_close(conv_transpose_recipe(x, *args), expected, torch.float64, "recipe")


def test_notes_example_2x2_input_k3_gives_4x4() -> None:
    x = torch.arange(1.0, 5.0, dtype=torch.float64).reshape(1, 1, 2, 2)
    weight = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    output = conv_transpose_recipe(x, weight)
    assert output.shape == (1, 1, 4, 4)
    assert_close(output, F.conv_transpose2d(x, weight), torch.float64)


def test_col2im_is_the_adjoint_of_im2col() -> None:
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩: scattering is the transpose of gathering."""
    kernel, stride, dilation = (3, 2), (2, 3), (2, 1)
    x = torch.randn(2, 3, 11, 10, dtype=torch.float64)
    columns = im2col(x, kernel, stride, dilation)  # (B, C, *k, *out)
    assert columns.shape == (2, 3, 3, 2, 4, 3)
    c = torch.randn(columns.shape, dtype=torch.float64)
    back = col2im(c, stride, dilation)  # (B, C, *full): the pixels the windows touch
    touched = x[..., : back.shape[-2], : back.shape[-1]]
    assert_close((columns * c).sum(), (touched * back).sum(), torch.float64)


def test_gradcheck_conv_by_unfolding() -> None:
    x = torch.randn(1, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: conv(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
        (x, weight, bias),
        fast_mode=True,
    )


@pytest.mark.parametrize("function", [conv_transpose, conv_transpose_recipe])
def test_gradcheck_conv_transpose(function) -> None:
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: function(x, w, b, (2, 3), (1, 0), (1, 2), 2, (1, 2)),
        (x, weight, bias),
        fast_mode=True,
    )


def test_circular_padding_makes_convolution_shift_equivariant() -> None:
    torch.manual_seed(0)
    layer = Conv2d(3, 4, 3, padding=1, padding_mode="circular").double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    shift = (2, -3)
    shifted_then_conv = layer(torch.roll(x, shift, dims=(2, 3)))
    conv_then_shifted = torch.roll(layer(x), shift, dims=(2, 3))
    assert_close(shifted_then_conv, conv_then_shifted, torch.float64)


def test_methods_agree_on_a_layer_and_unknown_method_is_refused() -> None:
    torch.manual_seed(0)
    layer = ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1).double()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    fold = layer(x)
    layer.method = "recipe"
    assert_close(layer(x), fold, torch.float64)
    layer.method = "magic"
    with pytest.raises(UserError, match="method"):
        layer(x)


@pytest.mark.parametrize(
    ("build", "input_shape", "message"),
    [
        (lambda: Conv2d(3, 4, 5), (1, 3, 4, 4), "kernel spans"),
        (lambda: Conv2d(3, 4, 3, dilation=3, padding=1), (1, 3, 4, 4), "kernel spans"),
        (lambda: Conv2d(3, 4, 3), (1, 2, 8, 8), "channels"),
        (lambda: Conv2d(3, 4, 3), (8, 8), "expects"),
        (lambda: Conv2d(3, 4, 3, groups=2), None, "groups"),
        (lambda: Conv2d(3, 4, 3, stride=2, padding="same"), None, "stride 1"),
        (lambda: Conv2d(3, 4, 3, padding="full"), None, "padding"),
        (lambda: Conv2d(3, 4, 3, padding_mode="mirror"), None, "padding_mode"),
        (lambda: ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), (1, 3, 4, 4), "output_pad"),
        (lambda: ConvTranspose2d(3, 4, 2, padding=3), (1, 3, 2, 2), "crops away"),
        (lambda: ConvTranspose2d(3, 4, 3, padding_mode="circular"), None, "zeros"),
    ],
)
def test_bad_settings_raise_user_error(build, input_shape, message) -> None:
    with pytest.raises(UserError, match=message):
        layer = build()
        layer(torch.zeros(input_shape))
