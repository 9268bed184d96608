"""AlexNet, VGG and NiN: counts, torchvision's outputs, both layer libraries, the notes' claims.

AlexNet and the eight VGGs load a randomly initialised torchvision model's
weights and must give its outputs; NiN, which torchvision lacks, is counted by
hand from d2l.ai's configuration. Each model built from the from-scratch
`deepnotes.nn` must compute what the torch.nn one computes with the same
weights. The claims the three architectures teach are measured: two stacked
3×3 convolutions see a 5×5 field with 18/25 of the weights; a 1×1 convolution
is one dense layer applied at every pixel (and an mlpconv block's two of them a
per-pixel MLP); global average pooling has no parameters and leaves one value
per channel.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
import torch
import torchvision
from torch import nn

import deepnotes.models.alexnet
import deepnotes.models.nin
import deepnotes.models.vgg  # the three imports register the models
import deepnotes.nn
from deepnotes import arith
from deepnotes.models.nin import MLPConv
from deepnotes.nn.conv import Conv2d
from deepnotes.nn.linear import Linear
from deepnotes.nn.pooling import AdaptiveAvgPool2d
from deepnotes.registry import MODELS
from reference import assert_close, compare_modules, randomize_batchnorm, rel_error

FAMILIES = ("alexnet", "vgg", "nin")
NAMES = [n for n in MODELS.names() if MODELS.card(n).family in FAMILIES]
FULL = [n for n in NAMES if MODELS.card(n).variant == "full"]
SHARED = [n for n in FULL if MODELS.card(n).torchvision is not None]  # torchvision has them too
SMALL = [n for n in NAMES if MODELS.card(n).variant == "small"]
VGGS = [n for n in FULL if MODELS.card(n).family == "vgg"]
DTYPES = [torch.float32, torch.float64]
ISSUE_COUNTS = {"alexnet": 61_100_840, "vgg11": 132_863_336, "vgg16": 138_357_544}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def images(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def on_meta(name: str, **kwargs) -> nn.Module:
    """The model's structure without allocating or initialising its weights."""
    with torch.device("meta"):
        return MODELS.create(name, **kwargs)


def torchvision_model(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = getattr(torchvision.models, MODELS.card(name).torchvision)()
    return randomize_batchnorm(model, seed).eval()


def with_weights(name: str, state_dict: dict[str, torch.Tensor], **kwargs) -> nn.Module:
    """`name` built without initialising, holding `state_dict` (strictly: every key, no more)."""
    model = on_meta(name, **kwargs)
    model.load_state_dict(state_dict, assign=True)
    return model.eval()


# --- Parameter counts ----------------------------------------------------------------------


@pytest.mark.parametrize("name", FULL)
def test_parameter_count_equals_the_reference(name: str):
    ref = MODELS.card(name).reference
    model = on_meta(name, num_classes=ref.num_classes, input_size=ref.input_size)
    assert n_params(model) == ref.value, ref.source
    assert ISSUE_COUNTS.get(name, ref.value) == ref.value


@pytest.mark.parametrize("name", SHARED)
def test_parameter_count_equals_torchvision(name: str):
    with torch.device("meta"):
        theirs = getattr(torchvision.models, MODELS.card(name).torchvision)()
    assert n_params(on_meta(name)) == n_params(theirs)


def conv(c_in: int, c_out: int, k: int) -> int:
    return arith.conv_params(c_in, c_out, k)


def test_alexnet_count_by_hand():
    convs = conv(3, 64, 11) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3)
    convs += conv(256, 256, 3)
    hidden = arith.dense_after_conv_params(256, 6, 6, 4096) + arith.linear_params(4096, 4096)
    assert convs == 2_469_696
    assert hidden == 54_534_144  # the two hidden dense layers: most of the network
    assert convs + hidden + arith.linear_params(4096, 1000) == 61_100_840


def test_nin_count_by_hand():
    def mlpconv(c_in: int, c_out: int, k: int) -> int:
        return conv(c_in, c_out, k) + 2 * conv(c_out, c_out, 1)

    blocks = [mlpconv(3, 96, 11), mlpconv(96, 256, 5), mlpconv(256, 384, 3)]
    blocks.append(mlpconv(384, 1000, 3))
    assert blocks == [53_568, 746_240, 1_180_800, 5_459_000]
    assert sum(blocks) == MODELS.card("nin").reference.value == 7_439_608


@pytest.mark.parametrize("name", VGGS)
def test_vgg_name_counts_its_weight_layers(name: str):
    """vgg11 … vgg19: the number is the count of layers with weights, convs plus 3 dense."""
    modules = list(on_meta(name).modules())
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    dense = [m for m in modules if isinstance(m, nn.Linear)]
    assert len(convs) + len(dense) == int(name[3:5])
    assert len(dense) == 3
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in convs)  # only 3×3


# --- Shapes along the way, by the notes' formula -------------------------------------------


@pytest.mark.parametrize(
    ("name", "feature_shape"),
    [("alexnet", (256, 6, 6)), ("vgg16", (512, 7, 7)), ("nin", (384, 5, 5))],
)
def test_feature_maps_at_224(name: str, feature_shape: tuple[int, int, int]):
    model = on_meta(name)
    with torch.device("meta"):
        x = torch.empty(1, 3, 224, 224)
        assert model.features(x).shape[1:] == feature_shape
        assert model(x).shape == (1, 1000)


@pytest.mark.parametrize("name", SMALL)
def test_small_variants_keep_the_features_and_change_only_the_stem(name: str):
    """Same layer types and widths in `features` as the full model but for the first conv,
    3×3 stride 1; the head may adapt. The declared small input works with other channels
    and classes."""
    full, small = on_meta(MODELS.card(name).variant_of), on_meta(name)

    def layout(features: nn.Module) -> list[tuple]:
        return [(type(m).__name__, getattr(m, "out_channels", None)) for m in features.modules()]

    assert layout(small.features) == layout(full.features)
    stem = next(m for m in small.features.modules() if isinstance(m, nn.Conv2d))
    assert (stem.kernel_size, stem.stride, stem.padding) == ((3, 3), (1, 1), (1, 1))
    _, height, width = MODELS.card(name).input_size
    with torch.device("meta"):
        model = MODELS.create(name, num_classes=7, input_size=(1, height, width))
        assert model(torch.empty(2, 1, height, width)).shape == (2, 7)


# --- Against torchvision -------------------------------------------------------------------


@pytest.mark.parametrize("name", SHARED)
def test_outputs_match_torchvision_with_its_weights(name: str):
    theirs = torchvision_model(name)
    ours = with_weights(name, MODELS.card(name).from_torchvision(theirs.state_dict()))
    side = 224 if name == "alexnet" else 64  # VGG: 64 → 2×2 maps, averaged up to 7×7
    x = images(1, 3, side, side, seed=1)
    with torch.no_grad():
        assert_close(ours(x), theirs(x), torch.float32)


def test_alexnet_dropout_follows_the_hidden_layers_where_torchvision_has_it_before():
    ours, theirs = on_meta("alexnet"), torchvision.models.AlexNet
    kinds = [type(m).__name__ for m in ours.classifier]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    with torch.device("meta"):
        theirs_kinds = [type(m).__name__ for m in theirs().classifier]
    assert theirs_kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    modules = list(ours.modules())
    assert not any(isinstance(m, (nn.Sigmoid, nn.Tanh, nn.AvgPool2d)) for m in modules)
    assert sum(isinstance(m, nn.MaxPool2d) for m in modules) == 3


# --- The from-scratch layers in the real networks ------------------------------------------


@pytest.mark.parametrize(("name", "side"), [("alexnet", 224), ("nin", 96), ("vgg11_bn", 64)])
def test_deepnotes_layers_give_the_torch_outputs(name: str, side: int):
    torch.manual_seed(0)
    reference = randomize_batchnorm(MODELS.create(name), seed=1).eval()
    ours = with_weights(name, reference.state_dict(), impl="deepnotes")
    assert not any(isinstance(m, nn.Conv2d) for m in ours.modules())  # really the other library
    x = images(1, 3, side, side, seed=2)
    with torch.no_grad():
        assert_close(ours(x), reference(x), torch.float32)


def seeded_call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reset the generator before the forward, so both libraries draw the same dropout masks."""
    torch.manual_seed(123)
    return module(x)


def convs_before_batchnorm(model: nn.Module) -> list[nn.Module]:
    """Every convolution that a BatchNorm follows in `features`."""
    return [conv for conv, norm in pairwise(model.features) if "BatchNorm" in type(norm).__name__]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["alexnet_tiny", "nin_tiny", "vgg11_bn_tiny", "vgg16_tiny"])
def test_tiny_variants_train_and_evaluate_alike_in_both_libraries(name: str, dtype: torch.dtype):
    _, height, width = MODELS.card(name).input_size
    size = (2, height, width)
    torch.manual_seed(0)
    theirs = randomize_batchnorm(MODELS.create(name, num_classes=5, input_size=size), seed=1)
    ours = MODELS.create(name, num_classes=5, input_size=size, impl="deepnotes")
    # In training a bias before BatchNorm gets a zero gradient (the next test), which both
    # libraries compute as rounding noise of unrelated size: leave it out of the comparison.
    for conv in convs_before_batchnorm(theirs) + convs_before_batchnorm(ours):
        conv.bias.requires_grad_(False)
    inputs = [images(4, *size, seed=3), images(3, 2, height + 8, width, seed=4)]
    compare_modules(ours, theirs, inputs, dtype, call=seeded_call)


def test_a_bias_before_batchnorm_gets_no_gradient_in_training():
    """BatchNorm subtracts the batch mean, and with it any constant the convolution added."""
    torch.manual_seed(0)
    model = MODELS.create("vgg11_bn_tiny", num_classes=5).double().train()
    model(images(4, 3, 32, 32, seed=11, dtype=torch.float64)).square().sum().backward()
    convs = convs_before_batchnorm(model)
    assert len(convs) == 4
    for conv in convs:
        assert conv.bias.grad.abs().max() <= 1e-12 * conv.weight.grad.abs().max()


def test_mlpconv_gradients_by_finite_differences():
    torch.manual_seed(0)
    block = MLPConv(2, 3, kernel_size=3, stride=2, padding=1, impl="deepnotes").double()
    x = images(2, 2, 5, 6, seed=5, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(block, (x,))


# --- The notes' claims ---------------------------------------------------------------------


def test_two_stacked_3x3_convs_see_a_5x5_field_with_18_25_of_the_weights():
    channels = 4
    stacked = nn.Sequential(*(Conv2d(channels, channels, 3, padding=1, bias=False) for _ in "ab"))
    single = Conv2d(channels, channels, 5, padding=2, bias=False)
    # Weights per pair of channels: 2·3² against 5².
    assert Fraction(n_params(stacked), n_params(single)) == Fraction(18, 25)
    assert n_params(stacked) // channels**2 == 18 and n_params(single) // channels**2 == 25
    # Receptive field by the formula r_out = r_in + (k − 1)·j_in ...
    field = arith.receptive_field
    assert field([arith.Layer(3), arith.Layer(3)])[-1].size == field([arith.Layer(5)])[-1].size == 5
    # ... and measured: the input pixels on which one output pixel depends.
    for net in (stacked, single):
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()  # positive weights: no cancellation can hide a dependency
        x = images(1, channels, 11, 11, seed=6, dtype=torch.float64).abs().requires_grad_()
        net.double()(x)[0, 0, 5, 5].backward()
        rows, cols = (x.grad[0] != 0).any(0).nonzero(as_tuple=True)
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 7, 3, 7)  # 5×5 around (5, 5)


@pytest.mark.parametrize("library", [nn, deepnotes.nn], ids=["torch", "deepnotes"])
def test_a_1x1_conv_is_one_dense_layer_at_every_pixel(library):
    torch.manual_seed(0)
    conv1x1 = library.Conv2d(5, 7, kernel_size=1).double()
    dense = library.Linear(5, 7).double()
    with torch.no_grad():
        dense.weight.copy_(conv1x1.weight[:, :, 0, 0])  # (7, 5, 1, 1) → (7, 5)
        dense.bias.copy_(conv1x1.bias)
    x = images(2, 5, 6, 4, seed=7, dtype=torch.float64)
    per_pixel = dense(x.permute(0, 2, 3, 1))  # (B, H, W, 5) → (B, H, W, 7)
    assert_close(conv1x1(x), per_pixel.permute(0, 3, 1, 2), torch.float64)  # (B, 7, H, W)
    assert n_params(conv1x1) == n_params(dense) == 5 * 7 + 7


@pytest.mark.parametrize("impl", ["torch", "deepnotes"])
def test_an_mlpconv_block_is_a_per_pixel_mlp_after_its_kxk_conv(impl: str):
    torch.manual_seed(0)
    block = MLPConv(3, 6, kernel_size=3, padding=1, impl=impl).double()
    mlp = nn.Sequential(Linear(6, 6), nn.ReLU(), Linear(6, 6), nn.ReLU()).double()
    with torch.no_grad():
        for dense, conv1x1 in zip(list(mlp)[::2], list(block)[2::2], strict=True):
            dense.weight.copy_(conv1x1.weight.flatten(1))  # (6, 6, 1, 1) → (6, 6)
            dense.bias.copy_(conv1x1.bias)
    x = images(2, 3, 7, 5, seed=8, dtype=torch.float64)
    h = block[1](block[0](x))  # the k×k convolution and its ReLU: (B, 6, H, W)
    per_pixel = mlp(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # the MLP on each (i, j)
    assert rel_error(block(x), per_pixel) <= 1e-12


@pytest.mark.parametrize("library", [nn, deepnotes.nn], ids=["torch", "deepnotes"])
def test_global_average_pooling_has_no_parameters_and_one_value_per_channel(library):
    pool = library.AdaptiveAvgPool2d((1, 1))
    assert n_params(pool) == 0 and not list(pool.buffers())
    x = images(3, 6, 5, 7, seed=9, dtype=torch.float64)
    out = pool(x)
    assert out.shape == (3, 6, 1, 1)
    assert_close(out[:, :, 0, 0], x.mean(dim=(2, 3)), torch.float64)


def test_nin_has_no_dense_layer_and_its_logits_are_channel_means():
    torch.manual_seed(0)
    model = MODELS.create("nin_small", num_classes=10, input_size=(1, 16, 16)).eval()
    assert not any(isinstance(m, (nn.Linear, Linear)) for m in model.modules())
    class_block = model.classifier[0]
    assert class_block[-1].out_channels == 10  # one channel per class
    assert isinstance(model.classifier[1], (nn.AdaptiveAvgPool2d, AdaptiveAvgPool2d))
    class_maps = []
    class_block.register_forward_hook(lambda m, i, out: class_maps.append(out.clone()))
    with torch.no_grad():
        logits = model(images(2, 1, 16, 16, seed=10))
    assert_close(logits, class_maps[0].mean(dim=(2, 3)), torch.float32)
    # Everything the head owns sits in the class block's convolutions.
    head = conv(384, 384, 3) + conv(384, 384, 1) + conv(384, 10, 1)
    assert n_params(model.classifier) == n_params(class_block) == head


def test_nin_keeps_d2l_head_and_small_widens_it_without_the_last_relu():
    d2l, small = (on_meta(name, num_classes=10).classifier[0] for name in ("nin", "nin_small"))
    assert [m.out_channels for m in d2l if isinstance(m, nn.Conv2d)] == [10, 10, 10]
    assert isinstance(d2l[-1], nn.ReLU)
    assert [m.out_channels for m in small if isinstance(m, nn.Conv2d)] == [384, 384, 10]
    assert isinstance(small[-1], nn.Conv2d)  # class scores may be negative


def conv_output_power(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Mean square of every convolution's output, in the order they run."""
    powers = []
    hooks = [
        m.register_forward_hook(lambda m, i, out: powers.append(out.square().mean().item()))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return powers


def test_he_initialisation_keeps_the_signal_through_nin():
    torch.manual_seed(0)
    model = MODELS.create("nin_small", num_classes=10, input_size=(3, 16, 16))
    x = images(16, 3, 16, 16, seed=12)
    he = conv_output_power(model, x)
    assert len(he) == 12
    assert max(he) / min(he) < 10  # within an order of magnitude, layer after layer
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()  # PyTorch's default: uniform in ±1/√fan_in, biases too
    default = conv_output_power(model, x)
    assert default[-2] / default[0] < 0.01  # the signal fades before the class layer
