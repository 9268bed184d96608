"""Convolution arithmetic checked against the shapes and counts PyTorch layers actually give."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from deepnotes.arith import (
    Layer,
    conv_macs,
    conv_output_size,
    conv_params,
    dense_after_conv_params,
    linear_macs,
    linear_params,
    output_shape,
    pool_output_size,
    receptive_field,
    transposed_conv_macs,
    transposed_conv_recipe,
    transposed_output_size,
)
from deepnotes.errors import UserError

Shape = tuple[int, ...]


def torch_spatial_shape(make_layer: Callable[[], nn.Module], input_shape: Shape) -> Shape | None:
    """Spatial shape a new layer gives on zeros of `input_shape`; None if torch refuses."""
    try:
        with torch.no_grad():
            return tuple(make_layer()(torch.zeros(input_shape)).shape[2:])
    except (RuntimeError, ValueError):
        return None


def arith_shape(compute: Callable[[], Shape]) -> Shape | None:
    """The shape arith computes; None if it raises UserError."""
    try:
        return compute()
    except UserError:
        return None


small = st.integers(1, 4)
pair = st.tuples(small, small)


# --- The notes' worked examples ----------------------------------------------------------


def test_notes_examples_output_sizes():
    assert conv_output_size(5, 4, s=1, p=2) == 6
    assert conv_output_size(5, 3, s=2, p=1) == 3
    assert transposed_output_size(2, 3, s=1, p=0) == 4


def test_notes_examples_agree_with_torch():
    assert nn.Conv2d(1, 1, 4, stride=1, padding=2)(torch.zeros(1, 1, 5, 5)).shape[2:] == (6, 6)
    assert nn.Conv2d(1, 1, 3, stride=2, padding=1)(torch.zeros(1, 1, 5, 5)).shape[2:] == (3, 3)
    assert nn.ConvTranspose2d(1, 1, 3)(torch.zeros(1, 1, 2, 2)).shape[2:] == (4, 4)


def test_notes_transposed_recipe_example():
    assert transposed_conv_recipe(2, 3, s=1, p=0) == {
        "zeros_between": 0,
        "stretched_size": 2,
        "padding_each_side": 2,
        "extra_padding_one_side": 0,
        "padded_size": 6,
        "output_size": 4,
    }


def test_small_conv_params_and_macs_match_torch():
    conv = nn.Conv2d(3, 16, 3, padding=1)
    out_h, out_w = conv(torch.zeros(1, 3, 8, 8)).shape[2:]
    assert conv_params(3, 16, 3) == sum(p.numel() for p in conv.parameters()) == 448
    assert conv_macs(3, 16, 3, (out_h, out_w)) == conv.weight.numel() * out_h * out_w
    assert conv_params(3, 16, 3, bias=False) == conv.weight.numel()


def test_linear_and_dense_after_conv_params_match_torch():
    assert linear_params(10, 4) == sum(p.numel() for p in nn.Linear(10, 4).parameters())
    assert linear_params(10, 4, bias=False) == 40
    assert linear_macs(10, 4, positions=7) == 280
    dense = nn.Linear(8 * 5 * 6, 10)
    assert dense_after_conv_params(8, 5, 6, 10) == sum(p.numel() for p in dense.parameters())


# --- Output sizes against torch, valid and invalid settings alike -------------------------


@settings(max_examples=150, deadline=None)
@given(
    i=st.integers(1, 12),
    k=st.integers(1, 6),
    s=st.integers(1, 3),
    p=st.integers(-1, 3),
    d=st.integers(1, 3),
)
def test_conv1d_output_size_matches_torch(i, k, s, p, d):
    expected = torch_spatial_shape(lambda: nn.Conv1d(1, 1, k, s, p, d), (1, 1, i))
    assert arith_shape(lambda: (conv_output_size(i, k, s, p, d),)) == expected


@settings(max_examples=100, deadline=None)
@given(
    size=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    kernel=pair,
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    groups=st.integers(1, 3),
)
def test_conv2d_output_shape_matches_torch(size, kernel, stride, padding, dilation, groups):
    def make_conv() -> nn.Module:
        return nn.Conv2d(groups, 2 * groups, kernel, stride, padding, dilation, groups)

    expected = torch_spatial_shape(make_conv, (1, groups, *size))
    computed = arith_shape(lambda: output_shape("conv", size, kernel, stride, padding, dilation))
    assert computed == expected


@settings(max_examples=150, deadline=None)
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=pair,
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    output_padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
)
def test_conv_transpose2d_output_shape_matches_torch(
    size, kernel, stride, padding, dilation, output_padding
):
    def make_conv() -> nn.Module:
        return nn.ConvTranspose2d(1, 1, kernel, stride, padding, output_padding, dilation=dilation)

    expected = torch_spatial_shape(make_conv, (1, 1, *size))
    computed = arith_shape(
        lambda: output_shape("transposed", size, kernel, stride, padding, dilation, output_padding)
    )
    assert computed == expected


@settings(max_examples=150, deadline=None)
@given(
    size=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    kernel=pair,
    stride=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    ceil_mode=st.booleans(),
)
def test_max_pool2d_output_shape_matches_torch(size, kernel, stride, padding, dilation, ceil_mode):
    def make_pool() -> nn.Module:
        return nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)

    expected = torch_spatial_shape(make_pool, (1, 1, *size))
    computed = arith_shape(
        lambda: output_shape("pool", size, kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    )
    assert computed == expected


@settings(max_examples=150, deadline=None)
@given(
    size=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    kernel=pair,
    stride=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    ceil_mode=st.booleans(),
)
def test_avg_pool2d_output_shape_matches_torch(size, kernel, stride, padding, ceil_mode):
    expected = torch_spatial_shape(
        lambda: nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode), (1, 1, *size)
    )
    computed = arith_shape(
        lambda: output_shape("pool", size, kernel, stride, padding, ceil_mode=ceil_mode)
    )
    assert computed == expected


def test_pool_stride_defaults_to_kernel():
    assert pool_output_size(8, 2) == 4
    assert output_shape("pool", (8, 9), 3) == (2, 3)
    assert output_shape("conv", (8, 9), 3) == (6, 7)


def test_ceil_mode_drops_a_window_that_would_start_in_the_right_padding():
    # ⌈(5 + 2 − 2)/2⌉ + 1 = 4 windows would start at −1, 1, 3, 5; the last starts past the input.
    assert pool_output_size(5, 2, s=2, p=1, ceil_mode=True) == 3
    assert nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 5, 5)).shape[2:] == (3, 3)


@pytest.mark.parametrize(
    "compute",
    [
        lambda: conv_output_size(0, 3),
        lambda: conv_output_size(5, 0),
        lambda: conv_output_size(5, 3, s=0),
        lambda: conv_output_size(5, 3, d=0),
        lambda: conv_output_size(5, 3, p=-1),
        lambda: conv_output_size(4, 3, d=2),
        lambda: pool_output_size(5, 2, p=2),
        lambda: pool_output_size(2, 3, s=1),
        lambda: transposed_output_size(3, 3, s=2, output_padding=2),
        lambda: transposed_output_size(1, 1, p=1),
        lambda: output_shape("conv", (5, 5), (3, 3, 3)),
        lambda: output_shape("conv", (5, 5), 3, output_padding=1),
        lambda: output_shape("conv", (5, 5), 3, ceil_mode=True),
        lambda: output_shape("deconv", (5, 5), 3),
        lambda: conv_params(4, 6, 3, groups=4),
        lambda: conv_params(6, 4, 3, groups=4),
        lambda: conv_params(4, 4, (3, 0)),
        lambda: linear_params(0, 4),
        lambda: receptive_field([Layer(kernel=3, stride=0)]),
    ],
)
def test_invalid_settings_raise_a_one_line_user_error(compute):
    with pytest.raises(UserError) as raised:
        compute()
    assert "\n" not in str(raised.value)


def test_output_shape_names_the_dimension_that_fails():
    with pytest.raises(UserError, match="dimension 1"):
        output_shape("conv", (5, 2), 3)


# --- Parameter and multiply-add counts ------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    channels_per_group=st.tuples(small, small),
    groups=st.integers(1, 3),
    kernel=pair,
    bias=st.booleans(),
)
def test_conv_params_match_torch(channels_per_group, groups, kernel, bias):
    c_in, c_out = (channels * groups for channels in channels_per_group)
    conv = nn.Conv2d(c_in, c_out, kernel, groups=groups, bias=bias)
    transposed = nn.ConvTranspose2d(c_in, c_out, kernel, groups=groups, bias=bias)
    expected = sum(p.numel() for p in conv.parameters())
    assert conv_params(c_in, c_out, kernel, groups, bias) == expected
    assert sum(p.numel() for p in transposed.parameters()) == expected


@settings(max_examples=40, deadline=None)
@given(c_in=st.integers(1, 6), c_out=st.integers(1, 6), groups=st.integers(2, 4))
def test_groups_that_do_not_divide_the_channels_are_refused_like_torch(c_in, c_out, groups):
    assume(c_in % groups or c_out % groups)
    with pytest.raises(ValueError):
        nn.Conv2d(c_in, c_out, 3, groups=groups)
    with pytest.raises(UserError):
        conv_params(c_in, c_out, 3, groups)


@settings(max_examples=60, deadline=None)
@given(
    channels_per_group=st.tuples(small, small),
    groups=st.integers(1, 3),
    kernel=pair,
    stride=st.integers(1, 2),
    size=st.tuples(st.integers(4, 8), st.integers(4, 8)),
)
def test_conv_macs_count_the_products_torch_sums(channels_per_group, groups, kernel, stride, size):
    # With all-ones inputs and weights and no padding, every product is 1: the outputs
    # sum to the number of multiply-adds.
    c_in, c_out = (channels * groups for channels in channels_per_group)
    conv = nn.Conv2d(c_in, c_out, kernel, stride, groups=groups, bias=False)
    nn.init.ones_(conv.weight)
    with torch.no_grad():
        output = conv(torch.ones(1, c_in, *size, dtype=torch.float32))
    assert conv_macs(c_in, c_out, kernel, tuple(output.shape[2:]), groups) == output.sum().item()


@settings(max_examples=60, deadline=None)
@given(
    channels_per_group=st.tuples(small, small),
    groups=st.integers(1, 3),
    kernel=pair,
    stride=st.integers(1, 3),
    size=st.tuples(st.integers(1, 5), st.integers(1, 5)),
)
def test_transposed_conv_macs_count_the_scattered_products(
    channels_per_group, groups, kernel, stride, size
):
    # Each input pixel scatters ones into the output; without padding none is cropped,
    # so the outputs sum to the number of real (non-zero-inserted) products.
    c_in, c_out = (channels * groups for channels in channels_per_group)
    conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride, groups=groups, bias=False)
    nn.init.ones_(conv.weight)
    with torch.no_grad():
        output = conv(torch.ones(1, c_in, *size))
    assert transposed_conv_macs(c_in, c_out, kernel, size, groups) == output.sum().item()


def test_counting_the_recipe_output_pixels_counts_the_inserted_zeros_too():
    recipe = transposed_conv_recipe(8, 3, s=2, p=1, output_padding=1)
    output_size = (recipe["output_size"],) * 2
    assert output_size == (16, 16)
    recipe_macs = conv_macs(4, 4, 3, output_size)
    assert recipe_macs == 4 * transposed_conv_macs(4, 4, 3, (8, 8))  # s² = 4 times the work


# --- Transposed convolution as a stride-1 convolution ----------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    i=st.integers(1, 6),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 4),
    output_padding=st.integers(0, 2),
    d=st.integers(1, 3),
)
def test_transposed_conv_recipe_computes_what_torch_computes(i, k, s, p, output_padding, d):
    expected_size = arith_shape(lambda: (transposed_output_size(i, k, s, p, d, output_padding),))
    assume(expected_size is not None)
    recipe = transposed_conv_recipe(i, k, s, p, output_padding, d)
    assert (recipe["output_size"],) == expected_size

    generator = torch.Generator().manual_seed(i * 1000 + k * 100 + s * 10 + p)
    inputs = torch.randn(1, 2, i, generator=generator, dtype=torch.float64)
    weight = torch.randn(2, 3, k, generator=generator, dtype=torch.float64)  # (c_in, c_out, k)
    expected = F.conv_transpose1d(
        inputs, weight, stride=s, padding=p, output_padding=output_padding, dilation=d
    )

    stretched = torch.zeros(1, 2, recipe["stretched_size"], dtype=torch.float64)
    stretched[..., :: recipe["zeros_between"] + 1] = inputs
    each_side = recipe["padding_each_side"]
    padded = F.pad(stretched, (each_side, each_side + recipe["extra_padding_one_side"]))
    assert padded.shape[-1] == recipe["padded_size"]
    flipped = weight.transpose(0, 1).flip(-1)  # (c_out, c_in, k), rotated 180°
    torch.testing.assert_close(F.conv1d(padded, flipped, dilation=d), expected)


# --- Receptive fields --------------------------------------------------------------------


def measured_field(convs: nn.Sequential, input_shape: Shape) -> tuple[list[tuple[int, int]], Shape]:
    """Per axis, the first and last input pixel the centre output's gradient reaches; the centre."""
    for conv in convs:
        nn.init.ones_(conv.weight)
    inputs = torch.ones(input_shape, dtype=torch.float64, requires_grad=True)
    output = convs.double()(inputs)
    centre = tuple(size // 2 for size in output.shape[2:])
    output[(0, 0, *centre)].backward()
    reached = inputs.grad[0, 0].nonzero()
    return [(int(axis.min()), int(axis.max())) for axis in reached.unbind(dim=1)], centre


layer_settings = st.builds(
    Layer,
    kernel=st.integers(1, 4),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
)


@settings(max_examples=60, deadline=None)
@given(layers=st.lists(layer_settings, min_size=1, max_size=3))
def test_receptive_field_matches_the_gradient_of_one_output(layers):
    length = 96
    convs = nn.Sequential(
        *(
            nn.Conv1d(1, 1, layer.kernel, layer.stride, layer.padding, layer.dilation, bias=False)
            for layer in layers
        )
    )
    field = receptive_field(layers)[-1]
    (reached,), (centre,) = measured_field(convs, (1, 1, length))
    pixels = field.pixels(centre)
    assume(pixels.start >= 0 and pixels.stop <= length)  # the field fits in the input
    assert reached == (pixels.start, pixels.stop - 1)
    assert field.size == len(pixels)


def test_two_stacked_3x3_convs_see_what_one_5x5_conv_sees():
    two_small = [Layer(3, padding=1), Layer(3, padding=1)]
    assert (
        receptive_field(two_small)[-1].size == receptive_field([Layer(5, padding=2)])[0].size == 5
    )
    convs = nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.Conv2d(1, 1, 3, padding=1, bias=False)
    )
    reached, _ = measured_field(convs, (1, 1, 11, 11))
    assert reached == [(3, 7), (3, 7)]  # 5 pixels around the centre pixel 5, on both axes


def test_vgg16_receptive_fields():
    block = [Layer(3, padding=1)]
    pool = [Layer(2, stride=2)]
    layers = (block * 2 + pool) * 2 + (block * 3 + pool) * 3
    fields = receptive_field(layers)
    assert fields[-2].size == 196  # conv5_3
    assert fields[-1].size == 212  # pool5 (Araujo et al. 2019, table 1)
    assert fields[-1].jump == 32
    assert fields[0].start == 0.5  # a padded 3×3 conv keeps outputs centred on input pixels
