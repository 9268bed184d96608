"""ShuffleNet v1 (g = 3) and v2: the channel shuffle, the units' claims, the counts, torchvision.

The shuffle is checked as a permutation and against `torch.nn.ChannelShuffle`;
its purpose, that groups exchange information, is measured by gradients: after
a grouped convolution alone each output group depends on one input group only,
after the shuffle on all of them. v2 is checked against torchvision's
`shufflenet_v2_x1_0` with its weights loaded; v1, which torchvision lacks,
against the paper's Table 1 (its count by hand, its 137 M multiply-adds).
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import deepnotes.models.shufflenet  # noqa: F401  (registers the models)
from deepnotes.errors import UserError
from deepnotes.models.shufflenet import (
    ShuffleNet,
    ShuffleUnitV1,
    ShuffleUnitV2,
    channel_shuffle,
    from_torchvision,
    shufflenet_v1,
    shufflenet_v2,
)
from deepnotes.registry import MODELS
from deepnotes.summary import summarize
from reference import assert_close, compare_modules, randomize_batchnorm, rel_error

NAMES = [n for n in MODELS.names("shufflenet*")]
FULL = {"shufflenet_v1": shufflenet_v1, "shufflenet_v2_x1_0": shufflenet_v2}
DTYPES = [torch.float32, torch.float64]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def images(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- The channel shuffle -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("channels", "groups"), [(6, 2), (12, 3), (12, 4), (15, 5), (7, 1)])
def test_channel_shuffle_matches_torch(channels: int, groups: int, dtype: torch.dtype):
    x = images(2, channels, 3, 5, seed=channels + groups, dtype=dtype)
    assert torch.equal(channel_shuffle(x, groups), nn.ChannelShuffle(groups)(x))


@settings(max_examples=40, deadline=None)
@given(groups=st.integers(1, 8), per_group=st.integers(1, 8))
def test_channel_shuffle_is_a_permutation(groups: int, per_group: int):
    channels = groups * per_group
    # Each channel holds its own index, so the output names where every channel went.
    x = torch.arange(channels, dtype=torch.float64).view(1, channels, 1, 1).expand(2, -1, 3, 3)
    out = channel_shuffle(x, groups)
    source = out[0, :, 0, 0].long()
    # A permutation: every channel appears exactly once, with its whole map unchanged.
    assert sorted(source.tolist()) == list(range(channels))
    assert torch.equal(out, x[:, source])
    # Channel i·n + j (group i, place j) moves to place j·g + i.
    expected = [i * per_group + j for j in range(per_group) for i in range(groups)]
    assert source.tolist() == expected
    # Invertible: the transpose of a g × n layout is undone by shuffling with n groups.
    assert torch.equal(channel_shuffle(out, per_group), x)


def test_channel_shuffle_rejects_groups_that_do_not_divide():
    with pytest.raises(UserError, match="must divide"):
        channel_shuffle(torch.zeros(1, 10, 2, 2), 3)


def test_channel_shuffle_gradcheck():
    x = images(2, 6, 3, 3, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: channel_shuffle(t, 3), (x,))


def group_dependence(f, in_channels: int, out_channels: int, groups: int) -> torch.Tensor:
    """D[o, i] = Σ |∂(Σ output group o)/∂ input group i|: which input groups each output sees."""
    x = images(1, in_channels, 3, 3, seed=7, dtype=torch.float64).requires_grad_()
    out = f(x)
    n_in, n_out = in_channels // groups, out_channels // groups
    rows = []
    for o in range(groups):
        (grad,) = torch.autograd.grad(
            out[:, o * n_out : (o + 1) * n_out].sum(), x, retain_graph=True
        )
        rows.append(grad.abs().view(groups, n_in, 3, 3).sum(dim=(1, 2, 3)))  # one per input group
    return torch.stack(rows)


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_shuffle_lets_every_group_see_every_group(groups: int):
    in_channels, out_channels = 4 * groups, 6 * groups  # ≥ g channels per group
    torch.manual_seed(groups)
    gconv = nn.Conv2d(in_channels, out_channels, 1, groups=groups).double()
    grouped_alone = group_dependence(gconv, in_channels, out_channels, groups)
    shuffled = group_dependence(
        lambda x: channel_shuffle(gconv(x), groups), in_channels, out_channels, groups
    )
    # A grouped conv alone: output group o depends on input group o only (exact zeros elsewhere).
    eye = torch.eye(groups, dtype=torch.bool)
    assert (grouped_alone[eye] > 0).all()
    assert (grouped_alone[~eye] == 0).all()
    # After the shuffle every output group (what the next grouped conv sees) depends on all.
    assert (shuffled > 0).all()
    # And two grouped convs in a row stay separate without it, mix with it.
    torch.manual_seed(groups + 10)
    gconv2 = nn.Conv2d(out_channels, out_channels, 1, groups=groups).double()
    stacked = group_dependence(lambda x: gconv2(gconv(x)), in_channels, out_channels, groups)
    mixed = group_dependence(
        lambda x: gconv2(channel_shuffle(gconv(x), groups)), in_channels, out_channels, groups
    )
    assert (stacked[~eye] == 0).all()
    assert (mixed > 0).all()


# --- The units -----------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["torch", "deepnotes"])
def test_v1_unit_shapes_and_grouped_weights(impl: str):
    unit = ShuffleUnitV1(48, 48, stride=1, groups=3, impl=impl)
    assert unit(images(2, 48, 6, 6)).shape == (2, 48, 6, 6)
    down = ShuffleUnitV1(48, 96, stride=2, groups=3, impl=impl)
    assert down(images(2, 48, 7, 7)).shape == (2, 96, 4, 4)
    # Grouped 1×1 convs hold 1/g of the dense weights: c_in·c_out/g.
    assert unit.gconv1[0].weight.numel() == 48 * 12 // 3
    assert unit.gconv2[0].weight.numel() == 12 * 48 // 3
    # The depthwise 3×3: one 3×3 filter per channel.
    assert unit.dwconv[0].weight.shape == (12, 1, 3, 3)
    # At stride 2 the branch makes only the new channels; the pooled input fills the rest.
    assert down.gconv2[0].out_channels == 96 - 48
    assert "48, 96, stride=2, groups=3" in repr(down)


def test_v1_downsampling_unit_concatenates_the_pooled_input():
    down = ShuffleUnitV1(12, 48, stride=2, groups=3).eval()
    x = images(2, 12, 8, 8).relu()  # a unit's input comes out of a ReLU
    pooled = nn.AvgPool2d(3, stride=2, padding=1)(x)
    assert torch.equal(down(x)[:, :12], pooled)


def test_v1_unit_with_a_silenced_branch_is_the_identity():
    unit = ShuffleUnitV1(24, 24, stride=1, groups=3).eval()
    nn.init.zeros_(unit.gconv2[1].weight)  # last BatchNorm: γ = 0, β = 0
    nn.init.zeros_(unit.gconv2[1].bias)
    x = images(2, 24, 5, 5).relu()
    assert torch.equal(unit(x), x)


def test_v2_stride1_unit_passes_half_the_channels_through():
    unit = randomize_batchnorm(ShuffleUnitV2(16, 16, stride=1), seed=1).eval()
    x = images(2, 16, 5, 5)
    out = unit(x)
    # The kept half lands on the even places after the 2-group shuffle, untouched.
    assert torch.equal(out[:, 0::2], x[:, :8])
    # The other half is transformed by branch2 (all widths equal: guideline G1).
    assert torch.equal(out[:, 1::2], unit.branch2(x[:, 8:]))
    widths = {m.in_channels for m in unit.branch2 if isinstance(m, nn.Conv2d)}
    assert widths == {8}
    assert not hasattr(unit, "branch1")


def test_v2_downsampling_unit_doubles_the_channels():
    unit = ShuffleUnitV2(24, 48, stride=2)
    assert unit(images(2, 24, 9, 9)).shape == (2, 48, 5, 5)
    # No grouped 1×1 convs (G2): groups only in the depthwise 3×3s.
    for m in unit.modules():
        if isinstance(m, nn.Conv2d):
            assert m.groups == (m.in_channels if m.kernel_size == (3, 3) else 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ShuffleUnitV1(12, 24, stride=1),
        lambda: ShuffleUnitV1(12, 24, stride=3),
        lambda: ShuffleUnitV2(12, 24, stride=1),
        lambda: ShuffleUnitV2(12, 25, stride=2),
        lambda: shufflenet_v2(stem="large"),
        lambda: shufflenet_v2(stages_out_channels=(24, 116, 232)),
    ],
)
def test_bad_settings_raise_user_errors(make):
    with pytest.raises(UserError):
        make()


@pytest.mark.parametrize(
    ("unit", "size"),
    [
        (lambda: ShuffleUnitV1(12, 12, stride=1, impl="deepnotes"), 3),
        (lambda: ShuffleUnitV1(6, 12, stride=2, groups=3, first_groups=1, impl="deepnotes"), 3),
        (lambda: ShuffleUnitV2(6, 6, stride=1, impl="deepnotes"), 3),
        (lambda: ShuffleUnitV2(6, 8, stride=2, impl="deepnotes"), 3),
    ],
)
def test_units_gradcheck(unit, size: int):
    torch.manual_seed(0)
    module = unit().double()
    x = images(2, module.in_channels, size, size, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(module, (x,))


def redundant_shifts(model: nn.Module) -> list[nn.Parameter]:
    """β of each BatchNorm after a depthwise conv: a 1×1 conv and a BatchNorm follow it."""
    shifts = []
    for block in model.modules():
        if isinstance(block, nn.Sequential):
            layers = list(block)
            for conv, norm in itertools.pairwise(layers):
                if isinstance(conv, nn.Conv2d) and conv.groups == conv.in_channels > 1:
                    shifts.append(norm.bias)
    return shifts


def test_a_shift_before_a_linear_layer_and_batchnorm_gets_no_gradient_in_training():
    """Training-mode BatchNorm subtracts the batch mean, so a constant per-channel shift
    before the 1×1 conv that feeds it cancels: that β's gradient is zero (in eval it is not).
    So the reference comparisons freeze it in train mode: both sides would compare noise."""
    torch.manual_seed(3)
    for model in (ShuffleUnitV1(24, 48, 2), ShuffleUnitV2(24, 48, 2)):
        model = randomize_batchnorm(model.double(), seed=3)
        shifts = redundant_shifts(model)
        assert len(shifts) == (1 if isinstance(model, ShuffleUnitV1) else 2)
        for training, vanishes in ((True, True), (False, False)):
            model.train(training).zero_grad()
            out = model(images(4, 24, 6, 6, dtype=torch.float64))
            (out * images(*out.shape, seed=9, dtype=torch.float64)).sum().backward()
            scale = max(p.grad.abs().max() for p in model.parameters())
            biggest = max(p.grad.abs().max() for p in shifts)
            assert (biggest < 1e-12 * scale) == vanishes


def compare_with_torch(ours: nn.Module, theirs: nn.Module, inputs, dtype: torch.dtype) -> None:
    """`compare_modules` in eval mode, then in train mode with the redundant shifts frozen.

    The shifts are found in torch's model and frozen under the same names in ours.
    """
    compare_modules(ours, theirs, inputs, dtype, modes=("eval",))
    frozen = {id(p) for p in redundant_shifts(theirs)}
    ours_by_name = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if id(p) in frozen:
            p.requires_grad_(False)
            ours_by_name[name].requires_grad_(False)
    compare_modules(ours, theirs, inputs, dtype, modes=("train",))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("args", "size"),
    [((24, 24, 1), 6), ((24, 48, 2), 7), ((12, 48, 2), 4)],
)
@pytest.mark.parametrize("version", [1, 2])
def test_units_from_scratch_equal_torch(version: int, args, size: int, dtype: torch.dtype):
    unit = ShuffleUnitV1 if version == 1 else ShuffleUnitV2
    torch.manual_seed(size)
    ours, theirs = unit(*args, impl="deepnotes"), unit(*args, impl="torch")
    randomize_batchnorm(theirs, seed=size)
    inputs = [images(2, args[0], size, size, seed=s) for s in (1, 2)]
    compare_with_torch(ours, theirs, inputs, dtype)


# --- The networks: counts ------------------------------------------------------------------


def v1_count_by_hand(groups: int, widths: tuple[int, ...], repeats: tuple[int, ...]) -> int:
    """Table 1 counted from the layer formulas, independently of the model code."""

    def conv_bn(c_in: int, c_out: int, k: int = 1, g: int = 1) -> int:
        return c_in * c_out * k * k // g + 2 * c_out  # weights, then BatchNorm γ and β

    def unit(c_in: int, c_out: int, stride: int, first_groups: int) -> int:
        mid = c_out // 4
        branch_out = c_out - c_in if stride == 2 else c_out
        return (
            conv_bn(c_in, mid, g=first_groups)
            + conv_bn(mid, mid, k=3, g=mid)
            + conv_bn(mid, branch_out, g=groups)
        )

    total = conv_bn(3, widths[0], k=3)
    c_in = widths[0]
    for stage, (width, repeat) in enumerate(zip(widths[1:], repeats, strict=True)):
        total += unit(c_in, width, 2, 1 if stage == 0 else groups)
        total += (repeat - 1) * unit(width, width, 1, groups)
        c_in = width
    return total + c_in * 1000 + 1000


def test_v1_count_is_table_1_counted_by_hand():
    by_hand = v1_count_by_hand(3, (24, 240, 480, 960), (4, 8, 4))
    assert by_hand == 1_865_728
    assert n_params(shufflenet_v1()) == by_hand
    assert MODELS.card("shufflenet_v1").reference.value == by_hand


def test_v2_count_equals_torchvision():
    assert n_params(shufflenet_v2()) == 2_278_604
    assert n_params(torchvision.models.shufflenet_v2_x1_0()) == 2_278_604
    assert MODELS.card("shufflenet_v2_x1_0").reference.value == 2_278_604


@pytest.mark.parametrize(
    ("name", "paper_macs"), [("shufflenet_v1", 137e6), ("shufflenet_v2_x1_0", 146e6)]
)
def test_multiply_adds_match_the_papers_tables(name: str, paper_macs: float):
    """Table 1 (v1, g = 3, 1×): 137 MFLOPs; Table 5 (v2, 1×): 146 MFLOPs (multiply-adds)."""
    summary = summarize(MODELS.create(name), (3, 224, 224))
    assert summary.total_macs == pytest.approx(paper_macs, rel=0.01)


def test_v1_groups_every_1x1_conv_but_the_first():
    model = shufflenet_v1()
    pointwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert [m.groups for m in pointwise[:2]] == [1, 3]  # stage2.0.gconv1 dense, its gconv2 not
    assert all(m.groups == 3 for m in pointwise[1:])
    assert model.stage2[0].first_groups == 1 and model.stage2[1].first_groups == 3
    assert [len(getattr(model, s)) for s in ("stage2", "stage3", "stage4")] == [4, 8, 4]


@pytest.mark.parametrize("name", list(FULL))
def test_small_variant_keeps_the_widths_and_depths(name: str):
    full = MODELS.create(name)
    small = MODELS.create(f"{name}_small", num_classes=1000, input_size=(3, 16, 16))
    # Only the stem's stride and the max pooling change: not a single parameter differs.
    assert [(k, v.shape) for k, v in small.state_dict().items()] == [
        (k, v.shape) for k, v in full.state_dict().items()
    ]
    assert small.conv1[0].stride == (1, 1) and isinstance(small.maxpool, nn.Identity)
    assert small(images(2, 3, 16, 16)).shape == (2, 1000)


# --- The networks: outputs -----------------------------------------------------------------


def test_v2_matches_torchvision_both_ways():
    torch.manual_seed(0)
    theirs = randomize_batchnorm(torchvision.models.shufflenet_v2_x1_0(), seed=3).eval()
    ours = shufflenet_v2().eval()
    ours.load_state_dict(MODELS.card("shufflenet_v2_x1_0").from_torchvision(theirs.state_dict()))
    x = images(1, 3, 224, 224, seed=4)
    with torch.no_grad():
        expected = theirs(x)
        assert_close(ours(x), expected, torch.float32)
        # And back: our state dict loads into torchvision's model.
        twin = torchvision.models.shufflenet_v2_x1_0().eval()
        twin.load_state_dict(ours.state_dict())
        assert_close(twin(x), expected, torch.float32)


@pytest.mark.parametrize("name", list(FULL))
def test_from_scratch_layers_give_the_same_network(name: str):
    torch.manual_seed(1)
    reference = randomize_batchnorm(MODELS.create(name), seed=5).eval()
    scratch = MODELS.create(name, impl="deepnotes").eval()
    scratch.load_state_dict(reference.state_dict())
    x = images(1, 3, 64, 64, seed=6)
    with torch.no_grad():
        assert rel_error(scratch(x), reference(x)) <= 1e-5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["shufflenet_v1_tiny", "shufflenet_v2_x1_0_tiny"])
def test_tiny_variants_from_scratch_equal_torch(name: str, dtype: torch.dtype):
    torch.manual_seed(2)
    ours = MODELS.create(name, num_classes=5, input_size=(2, 16, 16), impl="deepnotes")
    theirs = randomize_batchnorm(MODELS.create(name, num_classes=5, input_size=(2, 16, 16)), 7)
    compare_with_torch(ours, theirs, [images(4, 2, 16, 16, seed=8)], dtype)


def test_registered_variants():
    assert NAMES == [
        "shufflenet_v1",
        "shufflenet_v1_small",
        "shufflenet_v1_tiny",
        "shufflenet_v2_x1_0",
        "shufflenet_v2_x1_0_small",
        "shufflenet_v2_x1_0_tiny",
    ]
    assert MODELS.card("shufflenet_v2_x1_0").torchvision == "shufflenet_v2_x1_0"
    assert MODELS.card("shufflenet_v1").torchvision is None
    for name in NAMES:
        card = MODELS.card(name)
        model = MODELS.create(name, num_classes=card.num_classes, input_size=card.input_size)
        assert isinstance(model, ShuffleNet)
        if card.variant != "full":  # the full models run at 224 in the tests above
            assert model(images(2, *card.input_size)).shape == (2, card.num_classes)


def test_from_torchvision_keeps_the_keys():
    state = torchvision.models.shufflenet_v2_x1_0().state_dict()
    assert list(from_torchvision(state)) == list(shufflenet_v2().state_dict())
