"""U-Net: the paper's parameter counts and output sizes, re-derived and measured.

The counts come from the layer formulas (`arith.conv_params`), the output
sizes from the convolution arithmetic (`arith` through `unet_output_side`) and
from the models themselves: the full-size nets run on PyTorch's meta device,
which computes shapes without any arithmetic, so the 572×572 tile costs
nothing. The from-scratch layers (`impl="deepnotes"`) give the same outputs
and gradients as torch.nn's with the same weights.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import deepnotes.models.unet  # noqa: F401  (registers the U-Nets)
from deepnotes.arith import conv_params
from deepnotes.errors import UserError
from deepnotes.models.unet import UNet, center_crop, unet_input_side, unet_output_side
from deepnotes.registry import MODELS
from reference import assert_close, compare_modules

NAMES = ["unet", "unet_tiny", "unet_padded", "unet_padded_small", "unet_padded_tiny"]
PAPER_WIDTHS = [64, 128, 256, 512, 1024]


def output_on_meta(model_name: str, input_size: tuple[int, int, int], **kwargs) -> torch.Size:
    """Output shape of a registered model for one input, computed on the meta device."""
    with torch.device("meta"):
        model = MODELS.create(model_name, input_size=input_size, **kwargs)
        return model(torch.empty(1, *input_size)).shape


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- Parameter counts ----------------------------------------------------------------------


def hand_count(in_channels: int, num_classes: int, batch_norm: bool) -> int:
    """The paper's layers, counted with c_in·c_out·k² (+ c_out): convs and up-convs alike."""

    def double_conv(c_in: int, c_out: int) -> int:
        convs = conv_params(c_in, c_out, 3, bias=not batch_norm)
        convs += conv_params(c_out, c_out, 3, bias=not batch_norm)
        return convs + (2 * 2 * c_out if batch_norm else 0)  # BatchNorm's γ and β

    total = double_conv(in_channels, PAPER_WIDTHS[0])
    for narrow, wide in itertools.pairwise(PAPER_WIDTHS):
        total += double_conv(narrow, wide)  # contracting path
        total += conv_params(wide, narrow, 2)  # 2×2 up-convolution, with bias
        total += double_conv(wide, narrow)  # after concatenation: `wide` channels in
    return total + conv_params(PAPER_WIDTHS[0], num_classes, 1)


@pytest.mark.parametrize(
    ("name", "in_channels", "batch_norm", "expected"),
    [("unet", 1, False, 31_030_658), ("unet_padded", 3, True, 31_037_698)],
)
def test_parameter_counts_are_the_issues_and_the_formulas(name, in_channels, batch_norm, expected):
    card = MODELS.card(name)
    assert card.reference.value == expected
    assert hand_count(in_channels, 2, batch_norm) == expected
    with torch.device("meta"):
        model = MODELS.create(name, num_classes=2, input_size=card.input_size)
    assert card.input_size[0] == in_channels
    assert count(model) == expected


def test_padded_unet_has_bias_only_in_upconvolutions_and_head():
    with torch.device("meta"):
        model = MODELS.create("unet_padded")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(conv.bias is None for conv in convs if conv.kernel_size == (3, 3))
    assert model.head.bias is not None
    batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(batch_norms) == len([c for c in convs if c.kernel_size == (3, 3)]) == 18


# --- Output size: arithmetic and measurement -----------------------------------------------


def test_the_papers_tile_572_gives_388():
    assert unet_output_side(572) == 388
    assert output_on_meta("unet", (1, 572, 572)) == (1, 2, 388, 388)


@pytest.mark.parametrize("bottom", [4, 5, 28, 30])
def test_valid_sizes_follow_the_closed_form_and_the_model(bottom: int):
    side = unet_input_side(bottom)  # 16b + 124
    assert side == 16 * bottom + 124
    assert unet_output_side(side) == 16 * bottom - 60 == side - 184
    assert output_on_meta("unet", (1, side, side))[-2:] == (side - 184, side - 184)


@pytest.mark.parametrize(
    ("depth", "padding", "height", "width"),
    [(2, 0, 60, 44), (3, 0, 108, 124), (2, 1, 32, 20), (3, 1, 16, 40), (4, 1, 48, 64)],
)
def test_output_size_follows_the_arithmetic_for_other_nets(depth, padding, height, width):
    """Measured by running real (narrow) nets: height and width follow the arithmetic each."""
    model = UNet(
        num_classes=3, input_size=(2, height, width), width=2, depth=depth, padding=padding
    )
    with torch.no_grad():
        out = model(torch.randn(1, 2, height, width))
    expected = (unet_output_side(height, depth, padding), unet_output_side(width, depth, padding))
    assert out.shape == (1, 3, *expected)
    if padding == 1:
        assert expected == (height, width)


def test_the_smallest_tile_and_a_bad_side():
    assert unet_input_side(4) == 188 and unet_output_side(188) == 4
    with pytest.raises(UserError, match="kernel spans"):
        unet_output_side(172)  # bottom side 3: the decoder's maps vanish
    with pytest.raises(UserError, match=r"odd side.*556, 572"):
        MODELS.create("unet", input_size=(1, 570, 570))
    with pytest.raises(UserError, match=r"odd side.*240, 256"):
        MODELS.create("unet_padded", input_size=(3, 250, 256))


def test_center_crop_takes_the_middle():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(center_crop(x, (2, 4)), x[..., 2:4, 1:5])


def test_skips_are_cropped_to_the_decoders_size():
    """Level 0 of the paper's decoder: the 568×568 encoder map cropped to 392×392."""
    shapes = []
    with torch.device("meta"):
        model = MODELS.create("unet")
        up = model.decoder[-1]
        up.conv.register_forward_hook(lambda module, inputs, output: shapes.append(inputs[0].shape))
        model(torch.empty(1, 1, 572, 572))
    assert shapes == [(1, 128, 392, 392)]  # 64 cropped encoder channels + 64 upsampled


@pytest.mark.parametrize("side", [16, 32])
@pytest.mark.parametrize("upsampling", ["transposed", "bilinear"])
def test_padded_small_keeps_the_size_from_16(side: int, upsampling: str):
    model = MODELS.create(
        "unet_padded_small", num_classes=5, input_size=(1, side, side), upsampling=upsampling
    )
    out = model(torch.randn(2, 1, side, side))
    assert out.shape == (2, 5, side, side)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_variants_cards():
    for name in NAMES:
        card = MODELS.card(name)
        assert card.task == "segmentation" and card.family == "unet"
    assert MODELS.card("unet").input_size == (1, 572, 572)
    assert MODELS.card("unet_padded").input_size == (3, 256, 256)
    assert MODELS.card("unet_padded_small").variant_of == "unet_padded"
    assert MODELS.card("unet_padded_small").train_defaults["epochs"] >= 1


# --- From-scratch layers give the same network -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "input_size", "kwargs"),
    [
        ("unet_tiny", (1, 60, 60), {}),
        ("unet_padded_tiny", (3, 32, 32), {"upsampling": "transposed"}),
        ("unet_padded_tiny", (3, 32, 32), {"upsampling": "bilinear"}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_deepnotes_layers_equal_torch_layers(name, input_size, kwargs, dtype):
    """Outputs, input and parameter gradients, BatchNorm buffers; train and eval mode."""
    torch.manual_seed(0)
    theirs = MODELS.create(name, num_classes=4, input_size=input_size, impl="torch", **kwargs)
    ours = MODELS.create(name, num_classes=4, input_size=input_size, impl="deepnotes", **kwargs)
    assert type(ours.head).__module__.startswith("deepnotes.nn")
    x = torch.randn(2, *input_size, generator=torch.Generator().manual_seed(1))
    compare_modules(ours, theirs, [x], dtype=dtype)


def test_deepnotes_layers_equal_torch_layers_in_the_full_padded_net():
    """The full-width net in eval mode at 32×32: 1024 channels at a 2×2 bottom."""
    torch.manual_seed(0)
    theirs = MODELS.create("unet_padded", input_size=(3, 32, 32), impl="torch").eval()
    ours = MODELS.create("unet_padded", input_size=(3, 32, 32), impl="deepnotes").eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert_close(ours(x), theirs(x), torch.float32)
