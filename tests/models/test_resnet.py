"""ResNet, ResNeXt and SE-ResNet: parameter counts, torchvision's outputs, the from-scratch
layers inside whole networks, and the notes' design claims, each measured.

The full models are compared on one 64×64 image in eval mode (adaptive pooling lets them
take it; 224×224 would only cost time). BatchNorm's affine parameters and running
statistics are randomised first, so that eval-mode BatchNorm is not the identity that
fresh statistics (mean 0, variance 1, γ = 1, β = 0) would make it.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
from torch import nn

import deepnotes.models.resnet
import deepnotes.models.senet  # registers se_resnet50 and its variants
from deepnotes import arith
from deepnotes.errors import UserError
from deepnotes.models.resnet import BasicBlock, Bottleneck, ResidualBlock, ResNet
from deepnotes.models.senet import SqueezeExcitation
from deepnotes.registry import MODELS
from reference import assert_close, compare_modules, randomize_batchnorm

# The numbers (1000 classes, 3×224×224); resnet101/152 from torchvision's docs.
PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "se_resnet50": 28_088_024,
}
TORCHVISION = [name for name in PARAMS if MODELS.card(name).torchvision is not None]
TINY = ["resnet18_tiny", "resnet50_tiny", "resnext50_32x4d_tiny", "se_resnet50_tiny"]


def image(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def loaded(name: str, state_dict: dict[str, torch.Tensor], **kwargs) -> nn.Module:
    """`name` built on the meta device (no slow initialisation), then given these tensors."""
    with torch.device("meta"):
        model = MODELS.create(name, **kwargs)
    model.load_state_dict(state_dict, assign=True)  # strict: every key, every shape
    return model.eval()


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- Parameter counts ----------------------------------------------------------------------


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count_equals_the_reference(name: str):
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = MODELS.create(name)
    assert count(model) == PARAMS[name] == MODELS.card(name).reference.value


def test_resnet18_count_by_hand():
    """11,689,512 from the notes' formulas.

    conv c_in·c_out·k² (no bias), BatchNorm 2c (γ, β), dense n_in·n_out + n_out.
    """

    def conv_bn(c_in: int, c_out: int, k: int) -> int:
        return arith.conv_params(c_in, c_out, k, bias=False) + 2 * c_out

    total = conv_bn(3, 64, 7)  # stem
    c_in = 64
    for c in (64, 128, 256, 512):
        for block in range(2):
            total += conv_bn(c_in, c, 3) + conv_bn(c, c, 3)
            if block == 0 and c_in != c:  # projection shortcut of a stage's first block
                total += conv_bn(c_in, c, 1)
            c_in = c
    total += arith.linear_params(512, 1000)
    assert total == 11_689_512


def test_se_adds_its_formula_to_resnet50():
    """SE-ResNet-50 is ResNet-50's state plus, in each bottleneck, 2C²/r + C/r + C for its SE."""
    with torch.device("meta"):
        se_resnet = MODELS.create("se_resnet50")
        resnet = MODELS.create("resnet50")
    se_blocks = [m for m in se_resnet.modules() if isinstance(m, SqueezeExcitation)]
    assert len(se_blocks) == 3 + 4 + 6 + 3
    for se in se_blocks:
        c = se.channels
        assert count(se) == 2 * c * c // 16 + c // 16 + c
    assert sum(count(se) for se in se_blocks) == 2_530_992 == PARAMS["se_resnet50"] - count(resnet)
    without_se = {k: v.shape for k, v in se_resnet.state_dict().items() if ".se." not in k}
    assert without_se == {k: v.shape for k, v in resnet.state_dict().items()}


# --- The same network as torchvision's -----------------------------------------------------


@pytest.mark.parametrize("name", TORCHVISION)
def test_outputs_match_torchvision(name: str):
    card = MODELS.card(name)
    torch.manual_seed(0)
    theirs = randomize_batchnorm(getattr(torchvision.models, card.torchvision)()).eval()
    ours = loaded(name, card.from_torchvision(theirs.state_dict()))
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    x = image(1, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), theirs(x), torch.float32)


# --- The same network from the from-scratch layers -----------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d", "se_resnet50"])
def test_deepnotes_layers_give_the_same_outputs(name: str):
    torch.manual_seed(0)
    reference = randomize_batchnorm(MODELS.create(name, impl="torch")).eval()
    scratch = loaded(name, reference.state_dict(), impl="deepnotes")
    assert type(scratch.conv1).__module__ == "deepnotes.nn.conv"
    x = image(1, 3, 64, 64)
    with torch.no_grad():
        assert_close(scratch(x), reference(x), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", TINY)
def test_tiny_variants_with_deepnotes_layers_train_and_eval(name: str, dtype: torch.dtype):
    """Outputs, input and parameter gradients, and running statistics, in both modes."""
    torch.manual_seed(0)
    reference = MODELS.create(name, num_classes=7, input_size=(2, 16, 16))
    scratch = MODELS.create(name, num_classes=7, input_size=(2, 16, 16), impl="deepnotes")
    compare_modules(scratch, reference, [image(2, 2, 16, 16), image(3, 2, 12, 20, seed=2)], dtype)


def test_gradcheck_blocks_with_deepnotes_layers():
    """A projecting grouped bottleneck with SE, and a projecting basic block, in float64."""
    torch.manual_seed(0)
    se = functools.partial(SqueezeExcitation, reduction=4, impl="deepnotes")
    blocks = [
        deepnotes.models.resnet.make_stage(
            Bottleneck, 4, 2, 1, stride=2, impl="deepnotes", groups=2, attention=se
        ),
        deepnotes.models.resnet.make_stage(BasicBlock, 3, 4, 1, stride=2, impl="deepnotes"),
    ]
    for block in blocks:
        block = block.double()
        x = torch.randn(2, block[0].in_channels, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(block, (x,), fast_mode=True)


# --- The notes' claims ---------------------------------------------------------------------

BLOCKS = {
    "basic": lambda: BasicBlock(16, 16),
    "bottleneck": lambda: Bottleneck(64, 16),
    "resnext": lambda: Bottleneck(64, 16, groups=4, width_per_group=16),
    "se": lambda: Bottleneck(64, 16, attention=functools.partial(SqueezeExcitation, reduction=4)),
    "deepnotes": lambda: Bottleneck(64, 16, impl="deepnotes"),
}


@pytest.mark.parametrize("make_block", BLOCKS.values(), ids=BLOCKS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_block_with_zero_last_gamma_is_the_identity(make_block, mode: str):
    """γ = 0 in the branch's last BatchNorm: F(x) = 0, y = ReLU(x + 0) = x for x ≥ 0."""
    torch.manual_seed(0)
    block = randomize_batchnorm(make_block()).train(mode == "train")
    channels = block.in_channels
    x = torch.relu(image(2, channels, 6, 6))  # a block's input comes out of a ReLU
    with torch.no_grad():
        assert not torch.allclose(block(x), x)  # γ ≠ 0: the branch adds something
        block.zero_init_last()
        nn.init.zeros_(block.last_bn().bias)
        assert torch.equal(block(x), x)


def test_zero_init_residual_makes_every_unprojected_block_the_identity():
    torch.manual_seed(0)
    model = MODELS.create("resnet18_small", zero_init_residual=True).eval()
    seen = []

    def check(block: ResidualBlock, inputs: tuple, output: torch.Tensor) -> None:
        if block.downsample is None:
            seen.append(block)
            assert torch.equal(output, inputs[0])

    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert all(torch.all(b.last_bn().weight == 0) for b in blocks)
    for block in blocks:
        block.register_forward_hook(check)
    with torch.no_grad():
        model(image(1, 3, 16, 16))
    assert len(seen) == 5  # 8 blocks, 3 of them project (the first of stages 2 to 4)


@pytest.mark.parametrize(
    ("name", "projections"),
    [
        # stage by stage: (in → out channels, stride) of the first block's 1×1 shortcut
        ("resnet18", [None, (64, 128, 2), (128, 256, 2), (256, 512, 2)]),
        ("resnet50", [(64, 256, 1), (256, 512, 2), (512, 1024, 2), (1024, 2048, 2)]),
    ],
)
def test_projection_shortcut_only_where_the_shape_changes(name: str, projections: list):
    with torch.device("meta"):
        model = MODELS.create(name)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    for stage, projection in zip(stages, projections, strict=True):
        assert all(block.downsample is None for block in stage[1:])
        shortcut = stage[0].downsample
        if projection is None:
            assert shortcut is None
            continue
        conv, bn = shortcut
        assert (conv.in_channels, conv.out_channels, conv.stride[0]) == projection
        assert conv.kernel_size == (1, 1) and isinstance(bn, nn.BatchNorm2d)


@pytest.mark.parametrize(
    ("name", "size", "shapes"),
    [
        ("resnet18", 224, [(64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]),
        ("resnet50_small", 16, [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]),
    ],
)
def test_four_stages_halve_the_resolution(name: str, size: int, shapes: list):
    model = MODELS.create(name).eval()
    outputs = []
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        stage.register_forward_hook(lambda m, i, out: outputs.append(tuple(out.shape[1:])))
    with torch.no_grad():
        model(image(1, 3, size, size))
    assert outputs == shapes


def test_grouped_convolution_has_one_over_g_of_the_weights():
    with torch.device("meta"):
        resnext, resnet = MODELS.create("resnext50_32x4d"), MODELS.create("resnet50")
    for stage, width in zip(range(1, 5), (128, 256, 512, 1024), strict=True):
        conv = getattr(resnext, f"layer{stage}")[0].conv2
        assert conv.groups == 32 and conv.in_channels == conv.out_channels == width
        dense = width * width * 3 * 3
        assert conv.weight.numel() * 32 == dense == arith.conv_params(width, width, 3, bias=False)
        # twice ResNet-50's width, far fewer weights
        assert getattr(resnet, f"layer{stage}")[0].conv2.out_channels * 2 == width
        assert conv.weight.numel() < getattr(resnet, f"layer{stage}")[0].conv2.weight.numel()


def test_grouped_convolution_is_32_thin_convolutions_stacked():
    """The notes: slice the layer into 32 networks of 4 channels, then stack their outputs."""
    torch.manual_seed(0)
    grouped = nn.Conv2d(128, 128, 3, padding=1, groups=32, bias=False)
    x = image(2, 128, 6, 6)
    thin = [
        nn.functional.conv2d(x_g, w_g, padding=1)
        for x_g, w_g in zip(x.chunk(32, dim=1), grouped.weight.chunk(32, dim=0), strict=True)
    ]
    with torch.no_grad():
        assert_close(torch.cat(thin, dim=1), grouped(x), torch.float32)


@pytest.mark.parametrize("impl", ["torch", "deepnotes"])
def test_se_weights_lie_in_zero_one_and_scale_whole_channels(impl: str):
    torch.manual_seed(0)
    se = SqueezeExcitation(32, reduction=4, impl=impl)
    x = image(3, 32, 5, 7)
    with torch.no_grad():
        weights = se.channel_weights(x)
        assert weights.shape == (3, 32, 1, 1)
        assert torch.all((weights > 0) & (weights < 1))
        assert not torch.allclose(weights[0], weights[1])  # computed from each image
        assert torch.equal(se(x), weights * x)  # one factor per channel, the same at every pixel


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("impl", ["torch", "deepnotes"])
def test_se_block_equals_torchvisions(impl: str, dtype: torch.dtype):
    torch.manual_seed(0)
    ours = SqueezeExcitation(48, reduction=16, impl=impl)
    theirs = torchvision.ops.SqueezeExcitation(48, 3)
    compare_modules(ours, theirs, [image(2, 48, 5, 5), image(1, 48, 3, 8, seed=2)], dtype)


def test_se_block_gradcheck():
    se = SqueezeExcitation(8, reduction=4, impl="deepnotes").double()
    x = torch.randn(2, 8, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(se, (x,))


# --- Variants and arguments ----------------------------------------------------------------


@pytest.mark.parametrize("name", PARAMS)
def test_small_variant_changes_only_the_stem(name: str):
    with torch.device("meta"):
        full = MODELS.create(name, num_classes=10).state_dict()
        small_model = MODELS.create(f"{name}_small", num_classes=10)
    small = small_model.state_dict()
    assert small.keys() == full.keys()
    assert [k for k in full if full[k].shape != small[k].shape] == ["conv1.weight"]
    assert small["conv1.weight"].shape[2:] == (3, 3) and small_model.conv1.stride == (1, 1)
    assert isinstance(small_model.maxpool, nn.Identity)


@pytest.mark.parametrize("name", TINY)
def test_tiny_variants_take_small_images(name: str):
    model = MODELS.create(name, num_classes=5, input_size=(1, 16, 16)).eval()
    with torch.no_grad():
        assert model(image(2, 1, 16, 16)).shape == (2, 5)


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="stem"):
        ResNet(BasicBlock, (2, 2, 2, 2), stem="cifar")
    with pytest.raises(UserError, match="four stages"):
        ResNet(BasicBlock, (2, 2, 2))
    with pytest.raises(UserError, match="groups"):
        MODELS.create("resnet18", groups=32, width_per_group=4)
