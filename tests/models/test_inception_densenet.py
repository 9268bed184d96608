"""GoogLeNet, the Inception v3 block and DenseNet: parameter counts, torchvision's outputs,
the from-scratch layers in the same networks, and the design claims measured.

torchvision builds the references from random weights (no download); ours load
them through each model's `from_torchvision`. Comparisons first give every
weight and BatchNorm statistic a generic random value (`generic_state`): at
initialisation BatchNorm's running statistics (0, 1) do not fit the activations,
so in evaluation the signal fades and GoogLeNet's output is its last bias,
whatever the input and the layers; and with every β = 0 a ReLU followed by
BatchNorm is scale invariant, so some γ gradients are exactly zero in exact
arithmetic and only rounding noise in floating point.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torchvision
from torch import nn

from deepnotes.models.densenet import DenseBlock, DenseLayer, Transition
from deepnotes.models.inception import (
    GoogLeNetOutputs,
    Inception,
    InceptionAux,
    InceptionV3Block,
    factorized_conv,
)
from deepnotes.registry import MODELS
from reference import assert_close, compare_modules

FULL = ["googlenet", "densenet121", "densenet169"]
# The issue's numbers (googlenet without aux, densenet121) and torchvision's weights' num_params.
REFERENCE_COUNTS = {"googlenet": 6_624_904, "densenet121": 7_978_856, "densenet169": 14_149_480}
# One image; 224 where the forward is cheap, 64×64 (still five halvings) for the DenseNets.
REFERENCE_INPUTS = {"googlenet": 224, "densenet121": 64, "densenet169": 64}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these small convolutions gain little from two, and on shared
    cores a second thread waiting at every barrier makes them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def generic_state(model: nn.Module, seed: int = 0) -> nn.Module:
    """Weights ~ N(0, 2/fan_in); γ and running variances in [0.5, 1.5); β, biases, means in ±0.5."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue  # num_batches_tracked
            if t.dim() > 1:
                t.copy_(torch.randn(t.shape, generator=generator) * math.sqrt(2 / t[0].numel()))
            elif name.endswith(("running_var", ".weight")):
                t.copy_(0.5 + torch.rand(t.shape, generator=generator))
            else:
                t.copy_(torch.rand(t.shape, generator=generator) - 0.5)
    return model


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torchvision_model(name: str, **kwargs) -> nn.Module:
    """torchvision's model as the card says to build it, with random weights."""
    torch.manual_seed(0)
    card = MODELS.card(name)
    kwargs = {**card.torchvision_kwargs, **kwargs}
    model = getattr(torchvision.models, card.torchvision)(weights=None, **kwargs)
    return generic_state(model)


def ours_from_torchvision(name: str, theirs: nn.Module, **kwargs) -> nn.Module:
    ours = MODELS.create(name, **kwargs)
    ours.load_state_dict(MODELS.card(name).from_torchvision(theirs.state_dict()))
    return ours


def seeded_call(module: nn.Module, x: torch.Tensor):
    """Call with the global seed reset, so both models' dropout draws the same masks."""
    torch.manual_seed(7)
    return module(x)


def seeded_outputs(module: nn.Module, x: torch.Tensor):
    """`seeded_call` without autograd: compare_modules then checks outputs and buffers only."""
    with torch.no_grad():
        return seeded_call(module, x)


# --- Parameter counts ----------------------------------------------------------------------


@pytest.mark.parametrize("name", FULL)
def test_parameter_counts_equal_the_references(name: str):
    ref = MODELS.card(name).reference
    assert ref.value == REFERENCE_COUNTS[name]
    assert count(MODELS.create(name)) == REFERENCE_COUNTS[name]
    assert count(torchvision_model(name)) == REFERENCE_COUNTS[name]


def test_googlenet_with_auxiliary_heads_has_torchvisions_modules():
    ours = MODELS.create("googlenet", aux_logits=True)
    theirs = torchvision_model("googlenet", aux_logits=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert count(ours) == count(theirs) == 13_004_888


# --- torchvision ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FULL)
def test_outputs_match_torchvision_in_eval(name: str):
    theirs = torchvision_model(name).eval()
    ours = ours_from_torchvision(name, theirs).eval()
    x = randn(1, 3, REFERENCE_INPUTS[name], REFERENCE_INPUTS[name])
    with torch.no_grad():
        assert_close(ours(x), theirs(x), torch.float32)


def test_googlenet_auxiliary_heads_match_torchvision_in_training():
    theirs = torchvision_model("googlenet", aux_logits=True).train()
    ours = ours_from_torchvision("googlenet", theirs, aux_logits=True).train()
    x = randn(2, 3, 64, 64)
    with torch.no_grad():
        out, ref = seeded_call(ours, x), seeded_call(theirs, x)
    assert isinstance(out, GoogLeNetOutputs)
    assert out._fields == ref._fields == ("logits", "aux_logits2", "aux_logits1")
    assert_close(tuple(out), tuple(ref), torch.float32)
    with torch.no_grad():  # evaluation: the main logits only
        assert_close(ours.eval()(x), theirs.eval()(x), torch.float32)


# --- The from-scratch layers in the same networks ------------------------------------------


@pytest.mark.parametrize("name", FULL)
def test_deepnotes_layers_give_torchs_outputs(name: str):
    theirs = generic_state(MODELS.create(name)).eval()
    ours = MODELS.create(name, impl="deepnotes").eval()
    ours.load_state_dict(theirs.state_dict())
    x = randn(1, 3, 64, 64, seed=1)
    with torch.no_grad():
        assert_close(ours(x), theirs(x), torch.float32)


TINY_CASES = [
    ("googlenet_tiny", {}),
    ("googlenet_tiny", {"aux_logits": True}),
    ("densenet121_tiny", {}),
    ("densenet169_tiny", {}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("name", "kwargs"), TINY_CASES)
def test_tiny_variants_match_in_train_and_eval(name: str, kwargs: dict, dtype: torch.dtype):
    """deepnotes.nn vs torch.nn in the same network: outputs and running statistics; in
    float64 also the input and parameter gradients.

    Not the gradients in float32: through a network this deep, torch's own float32
    parameter gradients are up to ~7e-6 (relative) from the float64 ones, so two
    float32 implementations differ by about 1e-5 in rounding alone; float64 decides.
    """
    torch.manual_seed(0)
    kwargs = {"input_size": (3, 32, 32), "num_classes": 7, **kwargs}
    theirs = generic_state(MODELS.create(name, **kwargs))
    ours = MODELS.create(name, impl="deepnotes", **kwargs)
    call = seeded_call if dtype == torch.float64 else seeded_outputs
    compare_modules(ours, theirs, [randn(2, 3, 32, 32), randn(3, 3, 24, 20, seed=1)], dtype,
                    call=call)  # fmt: skip


BLOCKS = {
    "Inception": lambda: Inception(4, 2, 2, 3, 2, 3, 2, impl="deepnotes"),
    "InceptionV3Block": lambda: InceptionV3Block(4, 2, 2, 3, 2, 3, 2, n=3, impl="deepnotes"),
    "InceptionAux": lambda: InceptionAux(4, 3, dropout=0.0, conv_channels=2, hidden=5,
                                         impl="deepnotes"),
    "DenseBlock": lambda: DenseBlock(2, 4, growth_rate=3, bn_size=2, impl="deepnotes"),
    "Transition": lambda: Transition(4, 2, impl="deepnotes"),
}  # fmt: skip


@pytest.mark.parametrize("block", BLOCKS)
def test_gradcheck_on_the_blocks(block: str):
    """Finite differences agree with autograd through each block (train mode, float64)."""
    torch.manual_seed(0)
    module = BLOCKS[block]().double().train()
    x = randn(2, 4, 4, 5).double().requires_grad_()
    assert torch.autograd.gradcheck(module, (x,), fast_mode=True)


# --- Small variants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stem_weights", "head", "first_block"),
    [
        ("googlenet", {"conv1.conv.weight"}, "fc", "inception3a"),
        ("densenet121", {"features.conv0.weight"}, "classifier", "features.denseblock1"),
    ],
)
def test_small_variant_changes_only_the_stem_and_head(name, stem_weights, head, first_block):
    full = MODELS.create(name)
    small = MODELS.create(f"{name}_small", input_size=(1, 16, 16), num_classes=10)
    full_shapes = {k: v.shape for k, v in full.state_dict().items()}
    small_shapes = {k: v.shape for k, v in small.state_dict().items()}
    assert full_shapes.keys() == small_shapes.keys()
    differ = {k for k in full_shapes if full_shapes[k] != small_shapes[k]}
    assert differ == stem_weights | {f"{head}.weight", f"{head}.bias"}
    seen = {}
    small.get_submodule(first_block).register_forward_pre_hook(
        lambda module, args: seen.update(shape=args[0].shape)
    )
    assert small(randn(2, 1, 16, 16)).shape == (2, 10)
    assert seen["shape"][2:] == (8, 8)  # the stem halves the size once (the full: 224 → 28, 56)


# --- Design claims -------------------------------------------------------------------------


def test_densenet_channels_grow_by_the_growth_rate():
    """Layer ℓ of a block reads c_0 + ℓ·k channels and adds k; transitions halve both."""
    model = MODELS.create("densenet121").eval()
    k, shapes = model.growth_rate, {}
    for name, module in model.features.named_children():
        module.register_forward_hook(
            lambda m, args, out, name=name: shapes.update({name: (args[0].shape, out.shape)})
        )
        if isinstance(module, DenseBlock):
            for layer_name, layer in module.items():
                layer.register_forward_hook(
                    lambda m, args, out, key=f"{name}.{layer_name}": shapes.update(
                        {key: (args[0].shape, out.shape)}
                    )
                )
    with torch.no_grad():
        model(randn(1, 3, 64, 64))
    c0 = 64
    for b, num_layers in enumerate((6, 12, 24, 16), start=1):
        for ell in range(num_layers):
            c_in, c_out = shapes[f"denseblock{b}.denselayer{ell + 1}"]
            assert (c_in[1], c_out[1]) == (c0 + ell * k, k)
        block_in, block_out = shapes[f"denseblock{b}"]
        assert (block_in[1], block_out[1]) == (c0, c0 + num_layers * k)
        assert block_out[2:] == block_in[2:]
        if b < 4:
            t_in, t_out = shapes[f"transition{b}"]
            assert t_out[1] == t_in[1] // 2
            assert t_out[2:] == tuple(s // 2 for s in t_in[2:])
            c0 = t_out[1]
    assert [c0 + 16 * k] == [1024] == [model.classifier.in_features]


def test_dense_block_output_holds_its_input_and_every_layers_output():
    torch.manual_seed(0)
    block = DenseBlock(3, 5, growth_rate=4).eval()
    x = randn(2, 5, 6, 6)
    with torch.no_grad():
        out = block(x)
        x1 = block.denselayer1(x)
        x2 = block.denselayer2(torch.cat([x, x1], 1))
        x3 = block.denselayer3(torch.cat([x, x1, x2], 1))
    assert out.shape == (2, 5 + 3 * 4, 6, 6)
    assert torch.equal(out, torch.cat([x, x1, x2, x3], 1))
    assert isinstance(block.denselayer1, DenseLayer)


def branch_outputs_and_module_output(model: nn.Module, x: torch.Tensor, kind: type):
    """For every `kind` module: its output, and its branches run one by one on its input."""
    records = []

    def hook(module, args, out):
        branches = [module.branch1, module.branch2, module.branch3, module.branch4]
        records.append((out, [branch(args[0]) for branch in branches]))

    for module in model.modules():
        if isinstance(module, kind):
            module.register_forward_hook(hook)
    with torch.no_grad():
        model(x)
    return records


def test_inception_concatenates_its_branches_along_channels():
    model = MODELS.create("googlenet").eval()
    records = branch_outputs_and_module_output(model, randn(1, 3, 64, 64), Inception)
    for out, branches in records:
        assert out.shape[1] == sum(b.shape[1] for b in branches)
        assert torch.equal(out, torch.cat(branches, dim=1))
    modules = [m for m in model.modules() if isinstance(m, Inception)]
    # Table 1: the output channels of 3a … 5b
    expected = [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert [out.shape[1] for out, _ in records] == [m.out_channels for m in modules] == expected


def test_inception_v3_block_concatenates_its_branches_along_channels():
    block = InceptionV3Block(6, 3, 4, 5, 2, 7, 1, n=5).eval()
    records = branch_outputs_and_module_output(block, randn(2, 6, 9, 11), InceptionV3Block)
    (out, branches) = records[0]
    assert [b.shape[1] for b in branches] == [3, 5, 7, 1]
    assert out.shape == (2, 3 + 5 + 7 + 1, 9, 11) and block.out_channels == 16
    assert torch.equal(out, torch.cat(branches, dim=1))


def receptive_field(convs: list[nn.Module], channels: int, size: int = 15) -> torch.Tensor:
    """The input pixels the centre output pixel depends on: where its gradient is non-zero."""
    with torch.no_grad():
        for conv in convs:
            conv.weight.fill_(1.0)  # positive weights: no cancellation hides a dependence
    x = torch.zeros(1, channels, size, size, requires_grad=True)
    out = x
    for conv in convs:
        out = conv(out)
    out[0, :, size // 2, size // 2].sum().backward()
    return x.grad[0].abs().sum(0) > 0


@pytest.mark.parametrize("n", [3, 5, 7])
def test_factorised_nxn_has_2n_over_n2_of_the_weights_and_the_same_receptive_field(n: int):
    block = InceptionV3Block(8, 4, 6, 6, 5, 5, 3, n=n)
    one_by_n, n_by_one = block.branch2[1].conv, block.branch2[2].conv
    assert (one_by_n.kernel_size, n_by_one.kernel_size) == ((1, n), (n, 1))
    full = nn.Conv2d(6, 6, n, padding=n // 2, bias=False)
    factorised = one_by_n.weight.numel() + n_by_one.weight.numel()
    assert Fraction(factorised, full.weight.numel()) == Fraction(2 * n, n * n)
    field = receptive_field([one_by_n, n_by_one], 6)
    assert torch.equal(field, receptive_field([full], 6))
    assert field.sum() == n * n


def test_two_3x3_have_18_25_of_a_5x5s_weights_and_its_receptive_field():
    block = InceptionV3Block(8, 4, 6, 6, 5, 5, 3)
    first, second = block.branch3[1].conv, block.branch3[2].conv
    five = nn.Conv2d(5, 5, 5, padding=2, bias=False)
    assert Fraction(first.weight.numel() + second.weight.numel(), five.weight.numel()) == Fraction(
        18, 25
    )
    field = receptive_field([first, second], 5)
    assert torch.equal(field, receptive_field([five], 5))
    assert field.sum() == 25


def test_factorized_conv_keeps_the_size():
    conv = factorized_conv(3, 4, 5, n=7)
    assert conv(randn(2, 3, 9, 10)).shape == (2, 5, 9, 10)
    with pytest.raises(ValueError, match="odd"):
        InceptionV3Block(8, 4, 6, 6, 5, 5, 3, n=4)


def test_googlenet_returns_auxiliary_logits_only_in_training():
    model = MODELS.create("googlenet_tiny", input_size=(3, 32, 32), num_classes=4, aux_logits=True)
    out = model.train()(randn(2, 3, 32, 32))
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 4)] * 3
    (out.logits.sum() + 0.3 * (out.aux_logits1.sum() + out.aux_logits2.sum())).backward()
    assert all(p.grad is not None for p in model.parameters())
    eval_out = model.eval()(randn(2, 3, 32, 32))
    assert isinstance(eval_out, torch.Tensor) and eval_out.shape == (2, 4)
    with pytest.raises(ValueError, match="4a and 4d"):
        MODELS.create("googlenet", depths=(2, 3, 2), aux_logits=True)
